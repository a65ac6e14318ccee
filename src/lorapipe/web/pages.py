"""Dashboard pages. Each reads through the same functions as the ``/api`` routes (one query per
concept), and renders a template; none writes."""

from __future__ import annotations

import datetime as dt
import itertools
from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates

from lorapipe.api import routes_native_adapters as adapters_api
from lorapipe.api import routes_native_datasets as datasets_api
from lorapipe.api import routes_native_jobs as jobs_api
from lorapipe.api.deps import DB, State
from lorapipe.api.routes_native_files import stream_file, stream_zip
from lorapipe.api.routes_native_stats import dashboard_stats
from lorapipe.contract.config import PRESET_NAMES
from lorapipe.contract.job_states import JobStatus
from lorapipe.db.accounts import User
from lorapipe.db.datasets import Dataset, DatasetStatus
from lorapipe.errors import LorapipeError, NotFoundError
from lorapipe.jobs import store
from lorapipe.models.catalog import list_models
from lorapipe.services import datasets as dataset_service
from lorapipe.web.auth import page_user
from lorapipe.web.report_view import histogram_bars

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(resources.files("lorapipe.web") / "templates"))
PageUser = Annotated[User, Depends(page_user)]
PAGE = 20
SAMPLE_EXAMPLES = 2


def _when(value: int | None) -> str:
    if value is None:
        return "–"
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _size(value: int | None) -> str:
    if value is None:
        return "–"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(seconds)
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


templates.env.filters.update(when=_when, size=_size, number=_number, duration=_duration)


def render(request: Request, name: str, user: User, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"user": user, **context})


def not_found(request: Request, user: User, exc: NotFoundError) -> HTMLResponse:
    """The page for an object that does not exist or is not the user's (the same answer for both)."""
    page = render(request, "not_found.html", user, message=exc.message)
    page.status_code = 404
    return page


@router.get("/", response_class=RedirectResponse)
def root() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/login", response_class=HTMLResponse)
def login(request: Request, next: Annotated[str, Query(max_length=2000)] = "/ui/") -> HTMLResponse:
    # Only local paths: the page never sends a browser elsewhere after login.
    target = next if next.startswith("/") and not next.startswith("//") else "/ui/"
    return templates.TemplateResponse(request, "login.html", {"user": None, "next": target})


@router.get("/ui/", response_class=HTMLResponse)
def overview(request: Request, db: DB, user: PageUser) -> HTMLResponse:
    return render(
        request,
        "overview.html",
        user,
        stats=dashboard_stats(db, user.id),
        jobs=jobs_api.list_jobs(db, user, None, 5, 0)["data"],
        datasets=datasets_api.list_datasets(db, user, None, None, 5, 0)["data"],
    )


@router.get("/ui/datasets", response_class=HTMLResponse)
def datasets(
    request: Request,
    db: DB,
    user: PageUser,
    status: DatasetStatus | None = None,
    q: Annotated[str | None, Query(max_length=255)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    listing = datasets_api.list_datasets(db, user, status, q, PAGE, (page - 1) * PAGE)
    return render(
        request,
        "datasets.html",
        user,
        listing=listing,
        page=page,
        status=status.value if status else "",
        q=q or "",
        statuses=[s.value for s in DatasetStatus],
    )


def _sample_examples(state: State, dataset: Dataset) -> list[dict[str, Any]]:
    """The first canonical examples (message level), shown when the report has no tokenized samples."""
    if dataset.status != DatasetStatus.READY:
        return []
    try:
        examples = dataset_service.iter_canonical_examples(state.objects, dataset)
        return [ex.to_dict() for ex in itertools.islice(examples, SAMPLE_EXAMPLES)]
    except LorapipeError:
        return []


@router.get("/ui/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_detail(request: Request, state: State, db: DB, user: PageUser, dataset_id: str) -> HTMLResponse:
    try:
        row = dataset_service.get_dataset(db, user.id, dataset_id)
    except NotFoundError as exc:
        return not_found(request, user, exc)
    report = row.report or {}
    tokens = report.get("tokens")
    return render(
        request,
        "dataset.html",
        user,
        dataset=datasets_api.dataset_object(row),
        report=report,
        tokens=tokens,
        bars=histogram_bars(tokens["histogram"]) if tokens else None,
        examples=[] if report.get("samples") else _sample_examples(state, row),
        models=[spec.id for spec in list_models()],
        presets=PRESET_NAMES,
    )


@router.get("/ui/jobs", response_class=HTMLResponse)
def jobs(
    request: Request,
    db: DB,
    user: PageUser,
    status: JobStatus | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    listing = jobs_api.list_jobs(db, user, status, PAGE, (page - 1) * PAGE)
    return render(
        request,
        "jobs.html",
        user,
        listing=listing,
        page=page,
        status=status.value if status else "",
        statuses=[s.value for s in JobStatus],
    )


@router.get("/ui/jobs/{job_id}", response_class=HTMLResponse)
def job_detail(request: Request, db: DB, user: PageUser, job_id: str) -> HTMLResponse:
    try:
        job = store.get_job(db, user.id, job_id)
    except NotFoundError as exc:
        return not_found(request, user, exc)
    adapter = next((a for a in store.list_adapters(db, user.id) if a.job_id == job.id), None)
    training = store.get_file(db, user.id, job.training_file) if job.training_file else None
    return render(
        request,
        "job.html",
        user,
        job=jobs_api.native_job(db, job),
        terminal=JobStatus(job.status).is_terminal,
        adapter=adapters_api.adapter_object(adapter) if adapter else None,
        dataset_id=training.dataset_id if training else None,
    )


@router.get("/ui/adapters", response_class=HTMLResponse)
def adapters(
    request: Request, db: DB, user: PageUser, page: Annotated[int, Query(ge=1, le=100_000)] = 1
) -> HTMLResponse:
    listing = adapters_api.list_adapters(db, user, PAGE, (page - 1) * PAGE)
    return render(request, "adapters.html", user, listing=listing, page=page)


# Downloads for plain links (a link cannot carry a bearer header); read-only, cookie-identified.
@router.get("/ui/adapters/{adapter_id}/download")
def adapter_zip(state: State, user: PageUser, adapter_id: str) -> StreamingResponse:
    with state.sessions() as session:
        row = adapters_api.get_adapter(session, user.id, adapter_id)
    return stream_zip(row)


@router.get("/ui/adapters/{adapter_id}/files/{path:path}")
def adapter_file(state: State, user: PageUser, adapter_id: str, path: str) -> Response:
    with state.sessions() as session:
        row = adapters_api.get_adapter(session, user.id, adapter_id)
    return stream_file(row, path)
