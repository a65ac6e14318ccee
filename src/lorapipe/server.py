"""The service process assembled: the API (/v1, /api) and the dashboard (/ui) on one FastAPI app.
``create_app(settings)`` migrates the database on start-up and, unless
told otherwise, runs the reconciler and outbox loops in background threads of the same process
(``lorapipe serve --workers N`` runs them once, in its supervising process: :func:`start_loops`)."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from lorapipe.api.body_limit import BodyLimitMiddleware, BodyLimits, key_check, user_of
from lorapipe.api.errors import install_error_handlers
from lorapipe.api.fair_share import FairShareMiddleware
from lorapipe.api.json_body import JsonBodyCheckMiddleware
from lorapipe.api.routes_chat import router as chat_router
from lorapipe.api.routes_native import router as native_router
from lorapipe.api.routes_native_costs import router as costs_router
from lorapipe.api.routes_native_notifications import router as notifications_router
from lorapipe.api.routes_native_webhooks import router as webhooks_router
from lorapipe.api.routes_v1 import router as v1_router
from lorapipe.backends.base import Backend
from lorapipe.db import create_engine_for, make_sessionmaker
from lorapipe.db.engine import create_loop_reader_for, create_reader_for
from lorapipe.db.migrate import upgrade
from lorapipe.services.chat_worker import stop_worker
from lorapipe.services.context import AppState
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore
from lorapipe.web import mount_dashboard

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    run_reconciler: bool = True,
    backends: dict[str, Backend] | None = None,
    reconciler_interval_s: float = 1.0,
    single_user: str | None = None,
    server_process: bool = False,
) -> FastAPI:
    """The API over the database and object store named by ``settings``.

    ``backends`` overrides the registry's (tests pass a fault-injecting engine); the reconciler
    thread is imported lazily so an API-only process does not load the backend code.
    ``single_user`` names a user (created when missing) that requests without an API key act as;
    only ``lorapipe serve --single-user`` on a loopback address sets it. ``server_process``: the app
    is its process's only one (``lorapipe serve``), which freezes what start-up made (see
    :func:`freeze_startup_objects`).
    """
    url = settings.resolved_database_url
    engine = create_engine_for(url)
    # The hot reads' own connections: SQLite's on the event loop, PostgreSQL's in autocommit.
    loop_reader = create_loop_reader_for(url)
    reader = create_reader_for(url, pool_size=settings.api_threads)
    state = AppState(
        settings=settings,
        sessions=make_sessionmaker(engine),
        objects=ObjectStore.from_settings(settings),
        loop_sessions=make_sessionmaker(loop_reader) if loop_reader is not None else None,
        read_sessions=make_sessionmaker(reader) if reader is not None else None,
        loop_reader=loop_reader,
        reader=reader,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        upgrade(url)
        if single_user is not None:
            state.single_user_id = _ensure_user(state, single_user)
        stop_loops = (
            start_loops(state, settings, backends=backends, interval_s=reconciler_interval_s)
            if run_reconciler
            else None
        )
        if server_process:
            freeze_startup_objects()
        try:
            yield
        finally:
            if stop_loops is not None:
                stop_loops()
            stop_worker(settings)  # the chat inference child, if a request started it
            engine.dispose()
            for extra in (loop_reader, reader):
                if extra is not None:
                    extra.dispose()

    app = FastAPI(
        title="lorapipe",
        version="0.1.0",
        summary="LoRA fine-tuning jobs; OpenAI-compatible under /v1",
        lifespan=lifespan,
    )
    app.state.lorapipe = state
    install_error_handlers(app)
    limits = BodyLimits(upload_bytes=settings.max_upload_bytes, json_bytes=settings.max_json_body_bytes)
    app.add_middleware(JsonBodyCheckMiddleware)  # inside the body limit: reads only capped bodies
    app.add_middleware(BodyLimitMiddleware, limits=limits, authenticate=key_check(state))
    # Outermost: one user's flood is refused before it reaches a thread, a connection or a body.
    app.add_middleware(
        FairShareMiddleware, max_requests_per_user=settings.max_requests_per_user, resolve=user_of(state)
    )
    app.include_router(v1_router)
    app.include_router(chat_router)
    for router in (notifications_router, webhooks_router, costs_router):
        app.include_router(router)
    app.include_router(native_router)
    mount_dashboard(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def start_loops(
    state: AppState,
    settings: Settings,
    *,
    backends: dict[str, Backend] | None = None,
    interval_s: float = 1.0,
) -> Callable[[], None]:
    """The reconciler and the outbox worker, each in a thread of this process (and, on PostgreSQL, the
    listener that wakes the reconciler for a job queued elsewhere: :mod:`lorapipe.services.queued_jobs`);
    answers a function that stops them. Imported lazily, so an API-only process does not load the
    backend code."""
    from lorapipe.backends.registry import build_backends
    from lorapipe.services import queued_jobs
    from lorapipe.services.outbox_worker import OutboxWorker
    from lorapipe.services.reconciler import Reconciler, ReconcilerPolicy
    from lorapipe.services.webhook_delivery import DeliveryPolicy

    stop = threading.Event()
    reconciler = Reconciler(
        state.sessions,
        backends if backends is not None else build_backends(settings),
        state.objects,
        policy=ReconcilerPolicy(interval_s=interval_s),
    )
    thread = threading.Thread(target=reconciler.run, args=(stop,), name="reconciler", daemon=True)
    thread.start()
    # Costs, notifications and webhook sends in their own thread: a slow receiver must not delay job
    # supervision.
    outbox = OutboxWorker(
        state.sessions,
        delivery=DeliveryPolicy(allow_private_targets=settings.webhook_allow_private_targets),
        interval_s=interval_s,
        objects=state.objects,
    )
    outbox_thread = threading.Thread(target=outbox.run, args=(stop,), name="outbox", daemon=True)
    outbox_thread.start()
    # PostgreSQL: a job queued by any other process (another server process, the CLI) wakes it too.
    listener = queued_jobs.listen(settings.resolved_database_url, stop)

    def stop_both() -> None:
        stop.set()
        thread.join(timeout=10)
        outbox_thread.join(timeout=15)
        if listener is not None:
            listener.join(timeout=5)

    return stop_both


def worker_app() -> FastAPI:
    """The app of one of ``lorapipe serve --workers N``'s server processes (uvicorn's factory): the API
    only; the supervising process runs the loops, once (``LORAPIPE_SERVE_SINGLE_USER`` carries
    ``--single-user``)."""
    from lorapipe.settings import get_settings

    single_user = os.environ.get("LORAPIPE_SERVE_SINGLE_USER") or None
    return create_app(get_settings(), run_reconciler=False, single_user=single_user, server_process=True)


def freeze_startup_objects() -> None:
    """For a server process, once its app has started: everything made so far (modules, mappers,
    schemas, routes, migrations, backends) lives as long as the process, so it is moved out of the
    garbage collector's sight. A full collection then walks only what requests made since: under load
    (bench/api.py, SQLite) its pauses went from ~100 ms (p50) to ~26 ms. Not for a process that builds
    many apps (tests): what is frozen is never collected."""
    gc.collect()
    gc.freeze()


def _ensure_user(state: AppState, name: str) -> str:
    from lorapipe.db import session_scope
    from lorapipe.errors import NotFoundError
    from lorapipe.services import accounts

    with session_scope(state.sessions) as s:
        try:
            return accounts.find_user(s, name).id
        except NotFoundError:
            return accounts.create_user(s, name).id
