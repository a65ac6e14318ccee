"""PostgreSQL: wake a reconciler in this process the moment any process queues a job.

The database NOTIFYs ``lorapipe_job_queued`` for every job that becomes ``queued`` (a trigger, from the
migrations), whoever wrote it: a ``lorapipe serve --workers N`` server process, another host's API, the
CLI. :func:`listen` LISTENs on it in a thread and calls :func:`lorapipe.services.dispatch_wake.job_queued`
for each, so the reconciler dispatches now instead of at its next tick; the API process that queued the
job wakes its own reconciler directly (SQLite has no such channel, and needs none: one process serves it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.engine import make_url

from lorapipe.db.engine import normalize_url

log = logging.getLogger(__name__)

CHANNEL = "lorapipe_job_queued"
POLL_S = 0.5
"""How often the listening thread looks at its stop flag."""


def listen(
    url: str, stop: threading.Event, on_queued: Callable[[], None] | None = None
) -> threading.Thread | None:
    """A daemon thread that calls ``on_queued`` (default: wake this process's reconciler) whenever a job
    is queued, until ``stop`` is set; None when ``url`` is not PostgreSQL. A lost connection is opened
    again (a wake-up missed meanwhile costs at most one reconciler tick)."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "postgresql":
        return None
    if on_queued is None:
        from lorapipe.services import dispatch_wake

        on_queued = dispatch_wake.job_queued
    conninfo = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    thread = threading.Thread(target=_run, args=(conninfo, stop, on_queued), name="queued-jobs", daemon=True)
    thread.start()
    return thread


def _run(conninfo: str, stop: threading.Event, on_queued: Callable[[], None]) -> None:
    import psycopg

    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                while not stop.is_set():
                    for _ in conn.notifies(timeout=POLL_S):
                        on_queued()
        except psycopg.Error as exc:
            log.warning("listening for queued jobs failed (%s); again in 1 s", exc)
            stop.wait(1.0)
