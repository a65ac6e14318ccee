"""The facts about a base model the estimator needs, and the shapes of its adaptable linear layers.

:class:`ModelFacts` is a small typed input so the estimator does not depend on where the facts come
from: the model catalogue (:func:`facts_from_spec` adapts its ``ModelSpec``), a reference list in a
test, or a user-supplied config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")
ROUTER_MODULES = ("gate", "mlp.gate", "router")
SHARED_EXPERT_PREFIX = "shared_expert"


@dataclass(frozen=True)
class ModelFacts:
    """Architecture facts of a causal LM; sizes in parameters, dimensions in elements."""

    id: str
    params: int  # total parameters (MoE: every expert)
    active_params: int  # parameters used per token (dense: == params)
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int  # dense MLP width (MoE: unused unless there are dense layers)
    vocab: int
    tied_embeddings: bool = False
    experts: int = 0  # routed experts per MoE layer (0 = dense model)
    experts_per_token: int = 0
    moe_intermediate: int = 0  # width of one routed expert
    shared_expert_intermediate: int = 0  # width of the always-on shared expert (0 = none)
    attention_layers: int | None = None  # layers with softmax attention (None = all; hybrids have fewer)
    qk_norm: bool = False

    @property
    def is_moe(self) -> bool:
        return self.experts > 0

    @property
    def embedding_params(self) -> int:
        """Input embedding plus output head (counted once when tied)."""
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def linear_params(self) -> int:
        """Parameters in the transformer blocks' linear layers: what 4-/8-bit quantisation compresses.
        Norm weights are tiny and ignored."""
        return max(self.params - self.embedding_params, 0)

    @property
    def active_matmul_params(self) -> int:
        """Parameters multiplied per token: active params minus the input embedding lookup (a gather,
        not a matmul) — the output head stays, it is a real matmul over the vocabulary."""
        return max(self.active_params - self.vocab * self.hidden, 1)

    @property
    def softmax_attention_layers(self) -> int:
        return self.layers if self.attention_layers is None else self.attention_layers


@dataclass(frozen=True)
class LinearShape:
    """One kind of linear layer: its module name, input and output width, and copies in the model."""

    name: str
    d_in: int
    d_out: int
    count: int
    expert: bool = False  # a routed expert (resident for every expert, targeted only on request)


def linear_shapes(m: ModelFacts) -> list[LinearShape]:
    """The adaptable linear layers of the model, per kind (hybrid linear-attention layers are
    approximated by standard attention shapes: their adapters are a few MB either way)."""
    q_out = m.heads * m.head_dim
    kv_out = m.kv_heads * m.head_dim
    shapes = [
        LinearShape("q_proj", m.hidden, q_out, m.layers),
        LinearShape("k_proj", m.hidden, kv_out, m.layers),
        LinearShape("v_proj", m.hidden, kv_out, m.layers),
        LinearShape("o_proj", q_out, m.hidden, m.layers),
    ]
    if not m.is_moe:
        for name, d_in, d_out in (
            ("gate_proj", m.hidden, m.intermediate),
            ("up_proj", m.hidden, m.intermediate),
            ("down_proj", m.intermediate, m.hidden),
        ):
            shapes.append(LinearShape(name, d_in, d_out, m.layers))
        return shapes
    n = m.layers * m.experts
    shapes += [
        LinearShape("experts.gate_proj", m.hidden, m.moe_intermediate, n, expert=True),
        LinearShape("experts.up_proj", m.hidden, m.moe_intermediate, n, expert=True),
        LinearShape("experts.down_proj", m.moe_intermediate, m.hidden, n, expert=True),
        LinearShape("mlp.gate", m.hidden, m.experts, m.layers),
    ]
    if m.shared_expert_intermediate:
        s = m.shared_expert_intermediate
        shapes += [
            LinearShape("shared_expert.gate_proj", m.hidden, s, m.layers),
            LinearShape("shared_expert.up_proj", m.hidden, s, m.layers),
            LinearShape("shared_expert.down_proj", s, m.hidden, m.layers),
        ]
    return shapes


def _matches(shape: LinearShape, names: Sequence[str]) -> bool:
    leaf = shape.name.rsplit(".", 1)[-1]
    for n in names:
        n = n.strip()
        if n == shape.name or shape.name.endswith("." + n):
            return True
        # A bare MLP name ('up_proj') targets every MLP of that kind except routed experts:
        # PEFT matches suffixes, but expert weights are fused parameters, not nn.Linear modules.
        if n == leaf and not shape.expert and "." not in n:
            return True
    return False


def targeted_shapes(
    m: ModelFacts, targets: str | Sequence[str], target_experts: bool = False
) -> list[LinearShape]:
    """The layers a target spec adapts: 'attention', 'all-linear', or module names.
    Routed experts are included only when ``target_experts`` (PEFT ``target_parameters``)."""
    shapes = linear_shapes(m)
    if targets == "attention":
        chosen = [s for s in shapes if s.name in ATTENTION_MODULES]
    elif targets == "all-linear":
        chosen = [s for s in shapes if not s.expert]
    else:
        chosen = [s for s in shapes if _matches(s, [targets] if isinstance(targets, str) else targets)]
    if target_experts:
        chosen += [s for s in shapes if s.expert and s not in chosen]
    return chosen


def lora_params(m: ModelFacts, rank: int, targets: str | Sequence[str], target_experts: bool = False) -> int:
    """Trainable LoRA parameters: Σ r·(d_in + d_out) over the targeted layers."""
    return sum(rank * (s.d_in + s.d_out) * s.count for s in targeted_shapes(m, targets, target_experts))


def facts_from_spec(spec: Any) -> ModelFacts:
    """Adapt a model-catalogue ``ModelSpec`` (read by attribute: ``params_total_b`` in billions,
    ``hidden_size``, ``attention_heads``, a nested ``moe`` and ``linear_attention``) to ModelFacts."""

    def get(obj: Any, *names: str, default: Any = None) -> Any:
        for n in names:
            v = getattr(obj, n, None)
            if v is not None:
                return v
        return default

    billions = get(spec, "params_total_b")
    params = round(float(billions) * 1e9) if billions is not None else int(get(spec, "params"))
    active_b = get(spec, "params_active_b")
    active = (
        round(float(active_b) * 1e9)
        if active_b is not None
        else int(get(spec, "active_params", default=params))
    )
    heads = int(get(spec, "attention_heads", "heads"))
    hidden = int(get(spec, "hidden_size", "hidden"))
    layers = int(get(spec, "layers"))
    moe = get(spec, "moe")
    linear = get(spec, "linear_attention")
    interval = get(linear, "full_attention_interval") if linear is not None else None
    shared = get(moe, "shared_expert_intermediate_size", default=0) if moe is not None else 0
    if moe is not None and shared and int(get(moe, "shared_experts", default=1)) > 1:
        shared = int(shared) * int(get(moe, "shared_experts"))
    return ModelFacts(
        id=str(get(spec, "id")),
        params=params,
        active_params=active,
        layers=layers,
        hidden=hidden,
        heads=heads,
        kv_heads=int(get(spec, "kv_heads", default=heads)),
        head_dim=int(get(spec, "head_dim", default=hidden // heads)),
        intermediate=int(get(spec, "intermediate_size", "intermediate", default=4 * hidden)),
        vocab=int(get(spec, "vocab_size", "vocab")),
        tied_embeddings=bool(get(spec, "tie_word_embeddings", "tied_embeddings", default=False)),
        experts=int(get(moe, "experts", default=0)) if moe is not None else 0,
        experts_per_token=int(get(moe, "experts_per_token", default=0)) if moe is not None else 0,
        moe_intermediate=int(get(moe, "expert_intermediate_size", default=0)) if moe is not None else 0,
        shared_expert_intermediate=int(shared or 0),
        attention_layers=layers // int(interval) if interval else None,
        qk_norm=str(get(spec, "family", default="")).startswith("qwen3"),
    )
