"""Dashboard pages. Each reads through the same service functions as the ``/api`` routes (one query
per concept, the same objects), and renders a template; none writes."""

from __future__ import annotations

import datetime as dt
import enum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from lorapipe.contract.job_states import JobStatus
from lorapipe.db.accounts import User
from lorapipe.db.datasets import DatasetStatus
from lorapipe.errors import LorapipeError, NotFoundError, UserError
from lorapipe.models.catalog import list_models
from lorapipe.services import adapters as adapter_service
from lorapipe.services import dataset_views, job_views
from lorapipe.services.dataset_views import DatasetPublic, DatasetSort, ExamplePublic
from lorapipe.services.job_monitor import STAGES, monitor_view
from lorapipe.services.stats import dashboard_stats
from lorapipe.web.deps import DB, PageUser, State
from lorapipe.web.report_view import histogram_bars
from lorapipe.web.security import safe_next

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(resources.files("lorapipe.web") / "templates"))
STATIC = Path(str(resources.files("lorapipe.web") / "static"))
PAGE = 20
DEFAULT_COUNT_MODEL = "Qwen/Qwen3-8B"
"""Tokenizer an upload is counted with unless the user picks another (every Qwen3 size shares it)."""
S = TypeVar("S", bound=enum.StrEnum)
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


def status_filter(kind: type[S], value: str) -> S | None:
    """A list's status filter: empty is "any" (what the form's first option sends); an unknown value
    is a :class:`UserError` (answered with a styled page)."""
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(s.value for s in kind)
        raise UserError(f"status={value!r} is not a status; use one of {names}", param="status") from None


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


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    # Browsers ask for it on every site; a 404 there is a console error on every page.
    return FileResponse(
        STATIC / "favicon.svg", media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
    )


@router.get("/ui/login", response_class=HTMLResponse)
def login(request: Request, next: Annotated[str, Query(max_length=2000)] = "/ui/") -> HTMLResponse:
    # Only local paths: the page never sends a browser elsewhere after login.
    return templates.TemplateResponse(request, "login.html", {"user": None, "next": safe_next(next)})


@router.get("/ui/", response_class=HTMLResponse)
def overview(request: Request, db: DB, user: PageUser) -> HTMLResponse:
    return render(
        request,
        "overview.html",
        user,
        stats=dashboard_stats(db, user.id),
        jobs=job_views.list_jobs_with_progress(db, user.id, limit=5).data,
        running=job_views.list_jobs_with_progress(db, user.id, status=JobStatus.RUNNING, limit=5).data,
        datasets=dataset_views.list_datasets(db, user.id, limit=5).data,
    )


@router.get("/ui/datasets", response_class=HTMLResponse)
def datasets(
    request: Request,
    db: DB,
    user: PageUser,
    status: Annotated[str, Query(max_length=32)] = "",
    q: Annotated[str | None, Query(max_length=255)] = None,
    sort: DatasetSort = "-created",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    chosen = status_filter(DatasetStatus, status)
    listing = dataset_views.list_datasets(
        db, user.id, status=chosen, q=q, sort=sort, limit=PAGE, offset=(page - 1) * PAGE
    )
    return render(
        request,
        "datasets.html",
        user,
        listing=listing,
        page=page,
        status=status,
        q=q or "",
        sort=sort,
        statuses=[s.value for s in DatasetStatus],
        **_upload_choices(),
    )


def _upload_choices() -> dict[str, Any]:
    """The upload panel's "count tokens with" choices: every catalogued model, Qwen3 8B chosen."""
    return {"count_models": list_models(), "default_count_model": DEFAULT_COUNT_MODEL}


@router.get("/ui/datasets/upload", response_class=HTMLResponse)
def dataset_upload(request: Request, user: PageUser) -> HTMLResponse:
    return render(request, "dataset_upload.html", user, **_upload_choices())


def _sample_examples(db: DB, state: State, user: User, dataset: DatasetPublic) -> list[ExamplePublic]:
    """The first canonical examples (message level), shown when the report has no tokenized samples."""
    if dataset.status != DatasetStatus.READY:
        return []
    try:
        return dataset_views.list_examples(db, state.objects, user.id, dataset.id, limit=SAMPLE_EXAMPLES).data
    except LorapipeError:
        return []


@router.get("/ui/datasets/{dataset_id}", response_class=HTMLResponse)
def dataset_detail(request: Request, state: State, db: DB, user: PageUser, dataset_id: str) -> HTMLResponse:
    try:
        dataset = dataset_views.get_dataset(db, user.id, dataset_id)
    except NotFoundError as exc:
        return not_found(request, user, exc)
    report = dataset_views.find_report(db, user.id, dataset_id)
    tokens = report.tokens if report else None
    return render(
        request,
        "dataset.html",
        user,
        dataset=dataset,
        report=report,
        tokens=tokens,
        bars=histogram_bars(tokens.histogram) if tokens else None,
        examples=[] if report and report.samples else _sample_examples(db, state, user, dataset),
        models=[spec.id for spec in list_models()],
        # Set by the upload page: the page starts counting with this model (static/dataset.js).
        auto_count=request.query_params.get("count", "")[:255],
    )


@router.get("/ui/jobs", response_class=HTMLResponse)
def jobs(
    request: Request,
    db: DB,
    user: PageUser,
    status: Annotated[str, Query(max_length=32)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    listing = job_views.list_jobs_with_progress(
        db, user.id, status=status_filter(JobStatus, status), limit=PAGE, offset=(page - 1) * PAGE
    )
    return render(
        request,
        "jobs.html",
        user,
        listing=listing,
        page=page,
        status=status,
        statuses=[s.value for s in JobStatus],
    )


def _dataset_name(db: DB, user: User, dataset_id: str | None) -> str | None:
    if dataset_id is None:
        return None
    try:
        return dataset_views.get_dataset(db, user.id, dataset_id).name
    except NotFoundError:
        return None  # deleted since: the page shows the file id


@router.get("/ui/jobs/{job_id}", response_class=HTMLResponse)
def job_detail(request: Request, db: DB, user: PageUser, job_id: str) -> HTMLResponse:
    try:
        # With its frozen estimate: the page sets the cost so far against it.
        job = job_views.get_job_with_progress(db, user.id, job_id, estimate=True)
    except NotFoundError as exc:
        return not_found(request, user, exc)
    dataset_id = job_views.training_dataset_id(db, user.id, job)
    return render(
        request,
        "job.html",
        user,
        job=job,
        terminal=job.status.is_terminal,
        adapter=adapter_service.adapter_of_job(db, user.id, job.id),
        dataset_id=dataset_id,
        dataset_name=_dataset_name(db, user, dataset_id),
        monitor=monitor_view(db, user.id, job),
        stages=STAGES,
    )
