"""Native adapter routes: list, detail, download one file or all of them as a zip, rename, delete,
evaluate, check for vLLM."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from lorapipe.api.deps import DB, Caller, State
from lorapipe.api.params import MAX_PATH_LENGTH, PRINTABLE, ResourceId
from lorapipe.api.routes_native_deps import Limit, Offset, StreamCaller
from lorapipe.services import adapters, evaluations
from lorapipe.services.adapter_check import AdapterCheck, check_stored_adapter
from lorapipe.services.adapter_files import FileDownload
from lorapipe.services.adapters import AdapterDetail, AdapterPublic
from lorapipe.services.evaluations import EvaluationPublic, EvaluationRequest
from lorapipe.services.public import Deleted, ItemList, Page

router = APIRouter(prefix="/adapters", tags=["adapters"])


def attachment(download: FileDownload) -> StreamingResponse:
    return StreamingResponse(
        download.chunks,
        media_type=download.media_type,
        headers={"Content-Disposition": download.content_disposition},
    )


@router.get("", summary="Your adapters, newest first, with the total over all of them")
def list_adapters(db: DB, user: Caller, limit: Limit = 20, offset: Offset = 0) -> Page[AdapterPublic]:
    return adapters.list_adapters(db, user.id, limit=limit, offset=offset)


@router.get("/{adapter_id}", summary="An adapter: its files, base model, training summary and manifest")
def get_adapter(db: DB, user: Caller, adapter_id: ResourceId) -> AdapterDetail:
    return adapters.get_adapter(db, user.id, adapter_id)


@router.get(
    "/{adapter_id}/download",
    summary="All of the adapter's files as one zip",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "A zip file, not JSON."}},
)
def download_zip(state: State, user: StreamCaller, adapter_id: ResourceId) -> StreamingResponse:
    with state.sessions() as session:
        return attachment(adapters.download_zip(session, state.settings, user.id, adapter_id))


@router.get(
    "/{adapter_id}/files/{path:path}",
    summary="One file of the adapter (a path its manifest lists, or manifest.json)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes, not JSON."}
    },
)
def download_file(
    state: State,
    user: StreamCaller,
    adapter_id: ResourceId,
    path: Annotated[str, Path(max_length=MAX_PATH_LENGTH, pattern=PRINTABLE)],
) -> StreamingResponse:
    with state.sessions() as session:
        return attachment(adapters.download_file(session, state.settings, user.id, adapter_id, path))


class AdapterUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=255, pattern=adapters.NAME.pattern, description="Letters, digits and :._-"
    )


@router.patch("/{adapter_id}", summary="Rename an adapter (its model id in /v1/models follows)")
def rename_adapter(db: DB, user: Caller, adapter_id: ResourceId, body: AdapterUpdate) -> AdapterPublic:
    return adapters.rename_adapter(db, user.id, adapter_id, body.name)


@router.delete("/{adapter_id}", summary="Delete an adapter (it leaves lists and /v1/models)")
def delete_adapter(state: State, db: DB, user: Caller, adapter_id: ResourceId) -> Deleted:
    return adapters.delete_adapter(db, state.objects, user.id, adapter_id)


@router.post(
    "/{adapter_id}/evaluations",
    status_code=201,
    summary="Evaluate an adapter against its base (a job: held-out loss, perplexity, per category, end of turn)",
)
def create_evaluation(
    state: State, db: DB, user: Caller, adapter_id: ResourceId, body: EvaluationRequest | None = None
) -> EvaluationPublic:
    return evaluations.create_evaluation(
        db,
        state.objects,
        state.settings,
        owner_id=user.id,
        adapter_id=adapter_id,
        request=body or EvaluationRequest(),
    )


@router.get("/{adapter_id}/evaluations", summary="An adapter's evaluations, newest first, with their results")
def list_evaluations(db: DB, user: Caller, adapter_id: ResourceId) -> ItemList[EvaluationPublic]:
    return ItemList[EvaluationPublic](data=evaluations.list_evaluations(db, user.id, adapter_id))


@router.get(
    "/{adapter_id}/check",
    summary="Will this adapter load in vLLM? Each check with its reason, and the exact `vllm serve` command",
)
def check_adapter(
    state: State,
    db: DB,
    user: Caller,
    adapter_id: ResourceId,
    target: Annotated[Literal["vllm"], Query(alias="for", description="Serving engine (vllm).")] = "vllm",
    max_lora_rank: Annotated[
        int | None, Query(ge=1, le=1024, description="The --max-lora-rank of the target server.")
    ] = None,
) -> AdapterCheck:
    return check_stored_adapter(db, state.settings, user.id, adapter_id, max_lora_rank=max_lora_rank)
