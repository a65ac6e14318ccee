"""``lorapipe serve`` (API + reconciler) and ``lorapipe worker-loop`` (reconciler only)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer
from rich.console import Console

from lorapipe.settings import get_settings

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
    app = create_app(get_settings(), run_reconciler=reconciler, single_user="local" if single_user else None)
    uvicorn.run(app, host=host, port=port, log_level="info")


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
    rec.run(stop)
    outbox_thread.join(timeout=15)
