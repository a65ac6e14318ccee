"""``/api/keys``: the caller's own API keys: list (never a secret), create (the secret is in the create
answer only), revoke. Another user's key is a 404 like a missing one."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from lorapipe.api.deps import DB, Caller
from lorapipe.api.params import PRINTABLE, ResourceId
from lorapipe.services import key_views
from lorapipe.services.key_views import MAX_NAME, KeyCreated, KeyPublic
from lorapipe.services.public import ItemList

router = APIRouter(prefix="/keys", tags=["keys"])


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None, max_length=MAX_NAME, pattern=PRINTABLE, description="A label, e.g. where it is used."
    )


@router.get("", summary="Your API keys (prefixes only, never the secrets)")
def list_keys(db: DB, user: Caller) -> ItemList[KeyPublic]:
    return key_views.list_keys(db, user)


@router.post("", status_code=201, summary="Create an API key; the answer shows the secret once")
def create_key(db: DB, user: Caller, body: KeyCreate) -> KeyCreated:
    return key_views.create_key(db, user, body.name)


@router.post("/{key_id}/revoke", summary="Revoke one of your API keys (at once)")
def revoke_key(db: DB, user: Caller, key_id: ResourceId) -> KeyPublic:
    return key_views.revoke_key(db, user, key_id)
