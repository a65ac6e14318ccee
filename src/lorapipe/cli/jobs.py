"""``lorapipe jobs``: list, show, cancel and read events of jobs, on the configured database."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.migrate import upgrade
from lorapipe.errors import LorapipeError, NotFoundError
from lorapipe.jobs import store
from lorapipe.jobs.records import Job
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


def _fail(exc: LorapipeError) -> typer.Exit:
    err.print(f"[bold red]error[/] {escape(f'[{exc.code}] {exc}')}")
    return typer.Exit(2)


@app.command("list")
def list_jobs(limit: Annotated[int, typer.Option(min=1, max=1000)] = 20) -> None:
    """The newest jobs of every user."""
    with session_scope(open_database()) as s:
        table = Table("id", "status", "model", "owner", "created", "fine-tuned model")
        for job in s.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit)):
            created = job.created_at.isoformat(timespec="seconds")
            table.add_row(job.id, job.status, job.model, job.owner_id, created, job.fine_tuned_model or "")
        out.print(table)


@app.command("show")
def show(job_id: str) -> None:
    """One job as JSON (the API's object)."""
    from lorapipe.api.shapes import job_object

    try:
        with session_scope(open_database()) as s:
            print(json.dumps(job_object(_job(s, job_id)), indent=2))
    except LorapipeError as exc:
        raise _fail(exc) from None


@app.command("events")
def events(job_id: str, limit: Annotated[int, typer.Option(min=1, max=1000)] = 50) -> None:
    """A job's events, oldest first."""
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

    try:
        with session_scope(open_database()) as s:
            job = cancel_job(s, owner_id=_job(s, job_id).owner_id, job_id=job_id)
            out.print(f"{job.id}: {job.status}")
    except LorapipeError as exc:
        raise _fail(exc) from None
