"""Native catalogue routes: training presets (with their sources and reasons) and base models."""

from __future__ import annotations

from fastapi import APIRouter

from lorapipe.api.deps import Caller
from lorapipe.api.params import ResourceId
from lorapipe.services import catalog
from lorapipe.services.catalog import BaseModelPublic, PresetPublic
from lorapipe.services.public import ItemList

router = APIRouter(tags=["catalogue"])


@router.get("/presets", summary="Training presets")
def list_presets(_: Caller) -> ItemList[PresetPublic]:
    return catalog.list_presets()


@router.get("/presets/{name}", summary="One training preset")
def get_preset(_: Caller, name: ResourceId) -> PresetPublic:
    return catalog.get_preset(name)


@router.get("/models", summary="The base-model catalogue")
def list_base_models(_: Caller) -> ItemList[BaseModelPublic]:
    return catalog.list_base_models()


@router.get("/models/{model_id:path}", summary="One catalogued base model (by id or alias)")
def get_base_model(_: Caller, model_id: ResourceId) -> BaseModelPublic:
    return catalog.get_base_model(model_id)
