"""Find the :class:`ModelFacts` of a model id: the model catalogue, the reference list, or a local
folder's ``config.json`` (tiny test models, local checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lorapipe.errors import ModelNotFoundError
from lorapipe.estimate.model_facts import ModelFacts, facts_from_spec
from lorapipe.estimate.references import reference_models


def facts_from_hf_config(model_id: str, cfg: dict[str, Any]) -> ModelFacts:
    """Facts from a Hugging Face ``config.json`` (dense or MoE Llama/Qwen-style decoder).
    Parameters are counted from the shapes (biases ignored: < 0.1 %)."""
    text = cfg.get("text_config", cfg)  # multimodal wrappers keep the decoder under text_config
    h, layers = int(text["hidden_size"]), int(text["num_hidden_layers"])
    heads = int(text["num_attention_heads"])
    kv = int(text.get("num_key_value_heads") or heads)
    hd = int(text.get("head_dim") or h // heads)
    inter = int(text.get("intermediate_size") or 4 * h)
    vocab = int(text["vocab_size"])
    tied = bool(cfg.get("tie_word_embeddings", text.get("tie_word_embeddings", False)))
    experts = int(text.get("num_experts") or text.get("n_routed_experts") or 0)
    top_k = int(text.get("num_experts_per_tok") or 0)
    moe_i = int(text.get("moe_intermediate_size") or 0)
    shared_i = int(text.get("shared_expert_intermediate_size") or 0)
    attn = h * heads * hd + 2 * h * kv * hd + heads * hd * h
    if experts:
        mlp_total = experts * 3 * h * moe_i + 3 * h * shared_i + h * experts
        mlp_active = top_k * 3 * h * moe_i + 3 * h * shared_i + h * experts
    else:
        mlp_total = mlp_active = 3 * h * inter
    embed = vocab * h * (1 if tied else 2)
    norms = layers * 2 * h + h
    layer_types = text.get("layer_types")
    attention_layers = sum(1 for t in layer_types if t == "full_attention") if layer_types else None
    return ModelFacts(
        id=model_id,
        params=embed + norms + layers * (attn + mlp_total),
        active_params=embed + norms + layers * (attn + mlp_active),
        layers=layers,
        hidden=h,
        heads=heads,
        kv_heads=kv,
        head_dim=hd,
        intermediate=inter,
        vocab=vocab,
        tied_embeddings=tied,
        experts=experts,
        experts_per_token=top_k,
        moe_intermediate=moe_i,
        shared_expert_intermediate=shared_i,
        attention_layers=attention_layers,
        qk_norm=str(text.get("model_type", "")).startswith("qwen3"),
    )


def known_model_facts(model_id: str) -> ModelFacts | None:
    """Facts from the model catalogue (its figures are rounded to 0.1 B, which moves the weights by
    < 1 %) or the reference list; None when neither knows ``model_id``. Reads no file."""
    spec = _catalogue_spec(model_id)
    if spec is not None:
        try:
            return facts_from_spec(spec)
        except (TypeError, ValueError, AttributeError):
            pass  # a spec without the facts we need: try the reference list
    refs = reference_models()
    if model_id in refs:
        return refs[model_id]
    by_name = {k.split("/")[-1].lower(): v for k, v in refs.items()}
    return by_name.get(model_id.split("/")[-1].lower())


def resolve_model_facts(model_id: str, model_dir: Path | None = None) -> ModelFacts:
    """Facts for ``model_id``: :func:`known_model_facts`, else ``model_dir`` (or ``model_id`` as a
    path) holding a ``config.json``."""
    known = known_model_facts(model_id)
    if known is not None:
        return known
    folder = model_dir or Path(model_id)
    if (folder / "config.json").is_file():
        return facts_from_hf_config(model_id, json.loads((folder / "config.json").read_text("utf-8")))
    raise ModelNotFoundError(
        f"model={model_id!r}: no architecture facts (not in the model catalogue or the reference list)",
        param="model",
        hint="use a catalogue model id or a local folder with config.json",
    )


def _catalogue_spec(model_id: str) -> Any:
    """The model catalogue's spec for ``model_id``, or None (unknown id, or no catalogue installed)."""
    try:
        from lorapipe.models import catalog
    except ImportError:
        return None
    return catalog.find_model_spec(model_id)
