"""``lorapipe serve`` (API + reconciler) and ``lorapipe worker-loop`` (reconciler only)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer
from rich.console import Console

from lorapipe.settings import Settings, get_settings

err = Console(stderr=True)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def serve(
    host: Annotated[
        str, typer.Option(help="Address to bind; loopback unless you mean to expose it.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    reconciler: Annotated[bool, typer.Option(help="Run the reconciler loop in this process.")] = True,
    single_user: Annotated[
        bool, typer.Option(help="Requests without an API key act as user 'local' (loopback addresses only).")
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Server processes (PostgreSQL only: SQLite is served by one). With more than one, the "
            "reconciler and outbox loops run once, in the process that supervises them.",
        ),
    ] = 1,
    access_log: Annotated[
        bool,
        typer.Option(
            help="Log every request (uvicorn's access log). Off behind a proxy that keeps its own: one "
            "formatted line per request costs a measurable share of a busy server's CPU."
        ),
    ] = True,
) -> None:
    """Run the HTTP API (OpenAI-compatible under /v1) and, by default, the reconciler."""
    import uvicorn

    from lorapipe.server import create_app

    if host not in LOOPBACK:
        if single_user:
            err.print(
                f"[bold red]error[/] --single-user serves without API keys; bind a loopback address, not {host}"
            )
            raise typer.Exit(2)
        err.print(f"[yellow]warning[/] binding {host}: reachable from other machines (API keys required)")
    if single_user:
        err.print(
            f"[yellow]single-user mode[/]: requests to {host}:{port} without an API key act as user 'local' "
            "(keys are still checked when sent)"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    if workers > 1:
        _serve_workers(
            settings,
            host,
            port,
            workers,
            reconciler=reconciler,
            single_user=single_user,
            access_log=access_log,
        )
        return
    app = create_app(
        settings, run_reconciler=reconciler, single_user="local" if single_user else None, server_process=True
    )
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)


def _serve_workers(
    settings: Settings,
    host: str,
    port: int,
    workers: int,
    *,
    reconciler: bool,
    single_user: bool,
    access_log: bool,
) -> None:
    """``workers`` uvicorn server processes (PostgreSQL only), with the loops in this one."""
    import os

    import uvicorn
    from sqlalchemy.engine import make_url

    from lorapipe.db import create_engine_for, make_sessionmaker
    from lorapipe.db.engine import normalize_url
    from lorapipe.db.migrate import upgrade
    from lorapipe.server import start_loops
    from lorapipe.services.context import AppState
    from lorapipe.storage import ObjectStore

    url = settings.resolved_database_url
    if make_url(normalize_url(url)).get_backend_name() != "postgresql":
        err.print(
            "[bold red]error[/] --workers above 1 needs PostgreSQL (LORAPIPE_DATABASE_URL): one SQLite "
            "file is served by one process"
        )
        raise typer.Exit(2)
    upgrade(url)  # once, before the server processes start (each would otherwise race to it)
    os.environ["LORAPIPE_SERVE_SINGLE_USER"] = "local" if single_user else ""
    engine = create_engine_for(url)
    stop_loops = None
    if reconciler:
        state = AppState(
            settings=settings, sessions=make_sessionmaker(engine), objects=ObjectStore.from_settings(settings)
        )
        stop_loops = start_loops(state, settings)
    try:
        uvicorn.run(
            "lorapipe.server:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
            access_log=access_log,
        )
    finally:
        if stop_loops is not None:
            stop_loops()
        engine.dispose()


def worker_loop(
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between ticks.")] = 1.0,
) -> None:
    """Run only the reconciler (submit queued jobs, ingest events, cancel, retry). Several may run
    against one PostgreSQL database; a job is never submitted twice."""
    from lorapipe.backends.registry import build_backends
    from lorapipe.cli.jobs import open_database
    from lorapipe.services.reconciler import Reconciler, ReconcilerPolicy
    from lorapipe.storage import ObjectStore

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    rec = Reconciler(
        open_database(),
        build_backends(settings),
        ObjectStore.from_settings(settings),
        policy=ReconcilerPolicy(interval_s=interval),
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    err.print(
        f"reconciler {rec.worker_id} running; Ctrl-C stops it (a run left behind is checkpointed and resumed by the next reconciler)"
    )
    from lorapipe.services.outbox_worker import OutboxWorker
    from lorapipe.services.webhook_delivery import DeliveryPolicy

    # Costs, notifications and webhook sends: a deployment may run the API without loops, so the
    # worker carries them (in their own thread; several workers on one database are safe).
    policy = DeliveryPolicy(allow_private_targets=settings.webhook_allow_private_targets)
    outbox = OutboxWorker(rec.sessions, delivery=policy, interval_s=interval, objects=rec.objects)
    outbox_thread = threading.Thread(target=outbox.run, args=(stop,), name="outbox", daemon=True)
    outbox_thread.start()
    from lorapipe.services import queued_jobs

    queued_jobs.listen(settings.resolved_database_url, stop)  # PostgreSQL: woken by any API's new job
    rec.run(stop)
    outbox_thread.join(timeout=15)
