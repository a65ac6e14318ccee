"""What can be trained and how: the training presets (with their sources and reasons), the base-model
catalogue, and the model list OpenAI clients read (catalogued base models plus the caller's adapters)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from lorapipe.contract.config import PRESET_NAMES, TrainingConfig, parse_config, preset_document
from lorapipe.db.jobs import Adapter
from lorapipe.errors import NotFoundError
from lorapipe.jobs import store
from lorapipe.models.catalog import ModelSpec, find_model_spec, list_models
from lorapipe.services.public import ItemList, ts


class PresetPublic(BaseModel):
    id: str
    object: Literal["preset"] = "preset"
    description: str | None
    source: str | None = Field(description="Where the values come from.")
    date: str | None = Field(description="When they were last reviewed (YYYY-MM-DD).")
    values: dict[str, Any] = Field(description="The fields the preset sets.")
    reasons: dict[str, str] = Field(description="Why, per field.")
    config: TrainingConfig = Field(
        description="Every field the engine will use: the values over the defaults."
    )

    @classmethod
    def named(cls, name: str) -> PresetPublic:
        doc = preset_document(name)
        return cls(
            id=name,
            description=doc.get("description"),
            source=doc.get("source"),
            date=str(doc["date"]) if doc.get("date") is not None else None,
            values=doc["values"],
            reasons=doc.get("reasons") or {},
            config=parse_config({"preset": name, **doc["values"]}),
        )


class _BaseModelObject(BaseModel):
    object: Literal["base_model"] = "base_model"


class BaseModelPublic(ModelSpec, _BaseModelObject):
    """A catalogued base model: identity, source, architecture and licence (``object`` leads, as in
    every object: fields of the last base come first)."""

    @classmethod
    def of(cls, spec: ModelSpec) -> BaseModelPublic:
        return cls.model_validate(spec.model_dump())


class ModelPublic(BaseModel):
    """OpenAI's model object: a catalogued base model or one of the caller's adapters."""

    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="Unix seconds; 0 for catalogued base models.")
    owned_by: str = Field(description="'lorapipe' for base models, the owner's user id for adapters.")

    @classmethod
    def of_adapter(cls, row: Adapter) -> ModelPublic:
        return cls(id=row.name, created=ts(row.created_at), owned_by=row.owner_id)


def list_presets() -> ItemList[PresetPublic]:
    return ItemList[PresetPublic](data=[PresetPublic.named(name) for name in PRESET_NAMES])


def get_preset(name: str) -> PresetPublic:
    if name not in PRESET_NAMES:
        raise NotFoundError(f"no preset {name!r}", param="name", hint=f"one of {', '.join(PRESET_NAMES)}")
    return PresetPublic.named(name)


def list_base_models() -> ItemList[BaseModelPublic]:
    return ItemList[BaseModelPublic](data=[BaseModelPublic.of(spec) for spec in list_models()])


def get_base_model(model_id: str) -> BaseModelPublic:
    """A catalogued base model by id or alias (any case)."""
    spec = find_model_spec(model_id)
    if spec is None:
        raise NotFoundError(f"no model {model_id!r} in the catalogue", param="model_id")
    return BaseModelPublic.of(spec)


def list_openai_models(session: Session, owner_id: str) -> ItemList[ModelPublic]:
    """Every catalogued base model, then the owner's adapters newest first."""
    data = [ModelPublic(id=spec.id, created=0, owned_by="lorapipe") for spec in list_models()]
    data += [ModelPublic.of_adapter(a) for a in store.list_adapters(session, owner_id)]
    return ItemList[ModelPublic](data=data)


def get_openai_model(session: Session, owner_id: str, model_id: str) -> ModelPublic:
    """A catalogued base model by exact id, or one of the owner's adapters by name."""
    if any(spec.id == model_id for spec in list_models()):
        return ModelPublic(id=model_id, created=0, owned_by="lorapipe")
    for adapter in store.list_adapters(session, owner_id):
        if adapter.name == model_id:
            return ModelPublic.of_adapter(adapter)
    raise NotFoundError(f"no model {model_id!r}", param="model")
