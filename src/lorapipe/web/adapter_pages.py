"""The adapter pages: the list (newest first or best held-out loss first) and one adapter's page
(before/after loss and perplexity, training summary, configuration, the dataset it came from, files
with sizes and sha256, base-vs-adapter replies to held-out prompts), and the downloads for plain links.

Rename and delete are ``fetch`` calls to ``/api/adapters`` (``static/app.js``), like every write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from lorapipe.errors import NotFoundError
from lorapipe.services import adapters as adapter_service
from lorapipe.services import dataset_views, job_views
from lorapipe.services import evaluations as evaluation_service
from lorapipe.services.adapter_files import FileDownload
from lorapipe.services.adapter_samples import held_out_prompts
from lorapipe.services.adapters import AdapterSort
from lorapipe.services.dataset_views import DatasetPublic
from lorapipe.services.job_views import NativeJobPublic
from lorapipe.web.deps import DB, PageUser, State
from lorapipe.web.pages import PAGE, not_found, render

router = APIRouter(include_in_schema=False)

#: The configuration fields shown first, in this order; the rest follow alphabetically.
CONFIG_FIRST = (
    "preset",
    "method",
    "rank",
    "alpha",
    "dropout",
    "learning_rate",
    "epochs",
    "max_steps",
    "batch_size",
    "gradient_accumulation_steps",
    "max_length",
    "target_modules",
)


@dataclass(frozen=True)
class Comparison:
    """One figure before and after training; ``change`` is after/before - 1 (None when unknown)."""

    label: str
    before: float | None
    after: float | None

    @property
    def change(self) -> float | None:
        if self.before is None or self.after is None or self.before == 0:
            return None
        return self.after / self.before - 1


def _number(summary: dict[str, Any], key: str) -> float | None:
    value = summary.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def comparisons(summary: dict[str, Any]) -> list[Comparison]:
    return [
        Comparison(
            "Held-out loss", _number(summary, "eval_loss_before"), _number(summary, "eval_loss_after")
        ),
        Comparison("Perplexity", _number(summary, "perplexity_before"), _number(summary, "perplexity_after")),
        Comparison(
            "Training loss", _number(summary, "train_loss_first"), _number(summary, "train_loss_last")
        ),
    ]


def config_rows(config: dict[str, Any]) -> list[tuple[str, Any]]:
    """The resolved configuration as (field, value), the usual hyperparameters first."""
    first = [(k, config[k]) for k in CONFIG_FIRST if k in config]
    rest = sorted((k, v) for k, v in config.items() if k not in CONFIG_FIRST)
    return first + rest


@router.get("/ui/adapters", response_class=HTMLResponse)
def adapters(
    request: Request,
    db: DB,
    user: PageUser,
    sort: AdapterSort = "date",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    listing = adapter_service.list_adapters(db, user.id, limit=PAGE, offset=(page - 1) * PAGE, sort=sort)
    return render(request, "adapters.html", user, listing=listing, page=page, sort=sort)


@router.get("/ui/adapters/{adapter_id}", response_class=HTMLResponse)
def adapter_detail(request: Request, state: State, db: DB, user: PageUser, adapter_id: str) -> HTMLResponse:
    try:
        adapter = adapter_service.get_adapter(db, user.id, adapter_id)
    except NotFoundError as exc:
        return not_found(request, user, exc)
    manifest = adapter.manifest or {}
    job: NativeJobPublic | None
    dataset: DatasetPublic | None = None
    try:
        job = job_views.get_job_with_progress(db, user.id, adapter.job_id)
    except NotFoundError:
        job = None
    dataset_id = job_views.training_dataset_id(db, user.id, job) if job else None
    if dataset_id:
        try:
            dataset = dataset_views.get_dataset(db, user.id, dataset_id)
        except NotFoundError:
            dataset = None  # deleted since: the id still names it
    config = manifest.get("config") if isinstance(manifest.get("config"), dict) else {}
    facts = manifest.get("dataset") if isinstance(manifest.get("dataset"), dict) else {}
    return render(
        request,
        "adapter.html",
        user,
        adapter=adapter,
        summary=adapter.summary,
        comparisons=comparisons(adapter.summary),
        config=config_rows(config or {}),
        facts=facts or {},
        libraries=manifest.get("libraries") or {},
        job=job,
        dataset_id=dataset_id,
        dataset=dataset,
        samples=held_out_prompts(db, state.settings, user.id, adapter_id),
        evaluations=evaluation_service.list_evaluations(db, user.id, adapter_id),
    )


def attachment(download: FileDownload) -> StreamingResponse:
    return StreamingResponse(
        download.chunks,
        media_type=download.media_type,
        headers={"Content-Disposition": download.content_disposition},
    )


# Downloads for plain links (a link cannot carry a bearer header); read-only, cookie-identified.
@router.get("/ui/adapters/{adapter_id}/download")
def adapter_zip(state: State, user: PageUser, adapter_id: str) -> StreamingResponse:
    with state.sessions() as session:
        return attachment(adapter_service.download_zip(session, state.settings, user.id, adapter_id))


@router.get("/ui/adapters/{adapter_id}/files/{path:path}")
def adapter_file(state: State, user: PageUser, adapter_id: str, path: str) -> StreamingResponse:
    with state.sessions() as session:
        return attachment(adapter_service.download_file(session, state.settings, user.id, adapter_id, path))
