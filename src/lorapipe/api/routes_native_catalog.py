"""Native catalogue routes: training presets (with their sources and reasons) and base models."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from lorapipe.api.deps import Caller
from lorapipe.contract.config import PRESET_NAMES, parse_config, preset_document
from lorapipe.errors import NotFoundError
from lorapipe.models.catalog import ModelSpec, find_model_spec, list_models

router = APIRouter(tags=["catalogue"])


def preset_object(name: str) -> dict[str, Any]:
    doc = preset_document(name)
    return {
        "id": name,
        "object": "preset",
        "description": doc.get("description"),
        "source": doc.get("source"),
        "date": str(doc["date"]) if doc.get("date") is not None else None,
        "values": doc["values"],
        "reasons": doc.get("reasons") or {},
        # Every field the engine will use, the preset's values over the defaults.
        "config": parse_config({"preset": name, **doc["values"]}).model_dump(mode="json"),
    }


def model_object(spec: ModelSpec) -> dict[str, Any]:
    return {"object": "base_model", **spec.model_dump(mode="json")}


@router.get("/presets", summary="Training presets")
def list_presets(_: Caller) -> dict[str, Any]:
    return {"object": "list", "data": [preset_object(name) for name in PRESET_NAMES]}


@router.get("/presets/{name}", summary="One training preset")
def get_preset(_: Caller, name: str) -> dict[str, Any]:
    if name not in PRESET_NAMES:
        raise NotFoundError(f"no preset {name!r}", param="name", hint=f"one of {', '.join(PRESET_NAMES)}")
    return preset_object(name)


@router.get("/models", summary="The base-model catalogue")
def list_base_models(_: Caller) -> dict[str, Any]:
    return {"object": "list", "data": [model_object(spec) for spec in list_models()]}


@router.get("/models/{model_id:path}", summary="One catalogued base model (by id or alias)")
def get_base_model(_: Caller, model_id: str) -> dict[str, Any]:
    spec = find_model_spec(model_id)
    if spec is None:
        raise NotFoundError(f"no model {model_id!r} in the catalogue", param="model_id")
    return model_object(spec)
