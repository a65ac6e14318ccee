"""``lorapipe jobs``: list, show, cancel, watch and read events of jobs.

With ``LORAPIPE_API_URL`` set, every command goes to that service over HTTP as the key's user (see
``cli/client.py``); otherwise it works as an operator on the configured database, over all users.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.cli.client import ApiClient, ApiError
from lorapipe.cli.progress import JobProgress
from lorapipe.contract.job_states import JobStatus
from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.jobs import Job
from lorapipe.db.migrate import upgrade
from lorapipe.errors import LorapipeError, NotFoundError
from lorapipe.jobs import store
from lorapipe.settings import get_settings

app = typer.Typer(help="Fine-tuning jobs.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def open_database() -> sessionmaker[Session]:
    """Sessions on the configured database, migrated to the newest schema first."""
    url = get_settings().resolved_database_url
    upgrade(url)
    return make_sessionmaker(create_engine_for(url))


def _job(s: Session, job_id: str) -> Job:
    job = s.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id!r}", param="job_id")
    return job


def _remote() -> ApiClient | None:
    """A client of the configured service, or None to work on the database directly."""
    settings = get_settings()
    if not settings.api_url:
        return None
    key = settings.api_key.get_secret_value() if settings.api_key else None
    return ApiClient(settings.api_url, key)


def _remote_call(client: ApiClient, method: str, path: str, **kwargs: Any) -> Any:
    try:
        return client.call(method, path, **kwargs)
    except ApiError as exc:
        err.print(f"[bold red]error[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    finally:
        client.close()


def _fail(exc: LorapipeError) -> typer.Exit:
    err.print(f"[bold red]error[/] {escape(f'[{exc.code}] {exc}')}")
    return typer.Exit(2)


@app.command("list")
def list_jobs(limit: Annotated[int, typer.Option(min=1, max=1000)] = 20) -> None:
    """The newest jobs (a table on a terminal, tab-separated lines otherwise): the key's user's via
    the service, every user's on the database."""
    client = _remote()
    if client is not None:
        page = _remote_call(client, "GET", "/v1/fine_tuning/jobs", params={"limit": min(limit, 100)})
        rows = [
            (
                j["id"],
                j["status"],
                j["model"],
                j.get("organization_id") or "",
                dt.datetime.fromtimestamp(j["created_at"], dt.UTC).isoformat(timespec="seconds"),
                j.get("fine_tuned_model") or "",
            )
            for j in page["data"]
        ]
        _print_rows(rows)
        return
    with session_scope(open_database()) as s:
        rows = [
            (
                j.id,
                j.status,
                j.model,
                j.owner_id,
                j.created_at.isoformat(timespec="seconds"),
                j.fine_tuned_model or "",
            )
            for j in s.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit))
        ]
    _print_rows(rows)


def _print_rows(rows: Sequence[Sequence[str]]) -> None:
    if not out.is_terminal:
        for row in rows:
            print("\t".join(row))
        return
    table = Table("id", "status", "model", "owner", "created", "fine-tuned model")
    for row in rows:
        table.add_row(*row)
    out.print(table)


@app.command("show")
def show(job_id: str) -> None:
    """One job as JSON (the API's native object: progress, where its attempt is on the backend, cost,
    and the estimate frozen at its creation)."""
    from lorapipe.services.job_views import JobPublic, with_progress

    client = _remote()
    if client is not None:
        shown = _remote_call(client, "GET", f"/api/jobs/{job_id}", params={"include": "estimate"})
        print(json.dumps(shown, indent=2))
        return
    try:
        with session_scope(open_database()) as s:
            job = with_progress(s, JobPublic.from_row(_job(s, job_id), estimate=True))
            print(json.dumps(job.model_dump(mode="json"), indent=2))
    except LorapipeError as exc:
        raise _fail(exc) from None


@app.command("events")
def events(job_id: str, limit: Annotated[int, typer.Option(min=1, max=1000)] = 50) -> None:
    """A job's events, oldest first."""
    client = _remote()
    if client is not None:
        page = _remote_call(client, "GET", f"/v1/fine_tuning/jobs/{job_id}/events", params={"limit": limit})
        for e in reversed(page["data"]):  # the OpenAI list is newest first
            when = dt.datetime.fromtimestamp(e["created_at"], dt.UTC)
            out.print(f"{when:%H:%M:%S} {e['level']:<5} {escape(e['message'])}")
        return
    try:
        with session_scope(open_database()) as s:
            _job(s, job_id)
            for event in store.events_since(s, job_id, 0, limit):
                out.print(f"{event.seq:>5} {event.created_at:%H:%M:%S} {event.level:<5} {event.message}")
    except LorapipeError as exc:
        raise _fail(exc) from None


@app.command("cancel")
def cancel(job_id: str) -> None:
    """Cancel a job; a running one is stopped by the reconciler (SIGTERM, then kill)."""
    from lorapipe.services.jobs import cancel_job

    client = _remote()
    if client is not None:
        job = _remote_call(client, "POST", f"/v1/fine_tuning/jobs/{job_id}/cancel")
        out.print(f"{job['id']}: {job['status']}")
        return
    try:
        with session_scope(open_database()) as s:
            job = cancel_job(s, owner_id=_job(s, job_id).owner_id, job_id=job_id)
            out.print(f"{job.id}: {job.status}")
    except LorapipeError as exc:
        raise _fail(exc) from None


@app.command("watch")
def watch(
    job_id: str, interval: Annotated[float, typer.Option(min=0.2, help="Seconds between polls.")] = 1.0
) -> None:
    """Follow a job: a progress bar with step, loss, eval loss and ETA until it ends. Ctrl-C asks
    whether to cancel the job or only stop watching."""
    import time

    client = _remote()
    if client is not None:
        from lorapipe.cli.train import follow, summary_line

        try:
            final = follow(client, job_id)
        except ApiError as exc:
            err.print(f"[bold red]error[/] {escape(str(exc))}")
            raise typer.Exit(2) from None
        finally:
            client.close()
        out.print(summary_line(final))
        raise typer.Exit(0 if final["status"] == "succeeded" else 1)
    sessions = open_database()
    seq, status = 0, ""
    live = JobProgress(err)
    try:
        with live.display:
            while True:
                with session_scope(sessions) as s:
                    job = _job(s, job_id)
                    status = job.status
                    for event in store.events_since(s, job_id, seq):
                        seq = event.seq
                        data = event.data or {}
                        if data.get("engine_type") == "metrics":
                            live.apply(data)
                        elif event.type != "metrics":
                            live.display.console.print(
                                f"[dim]{event.created_at:%H:%M:%S}[/] {escape(event.message)}"
                            )
                live.show(status)
                if JobStatus(status).is_terminal:
                    break
                time.sleep(interval)
    except KeyboardInterrupt:
        if typer.confirm(
            f"\nCancel job {job_id}? (No = stop watching; the job keeps running)", default=False
        ):
            cancel(job_id)
        raise typer.Exit(0) from None
    with session_scope(sessions) as s:
        job = _job(s, job_id)
        tail = f" -> {job.fine_tuned_model}" if job.fine_tuned_model else ""
        reason = f" ({job.error.get('code')}: {job.error.get('message')})" if job.error else ""
        out.print(f"{job.id}: {job.status}{tail}{escape(reason)}")
    raise typer.Exit(0 if status == "succeeded" else 1)
