"""Fixtures for the RunPod failure tests: a fake RunPod endpoint with a fresh bucket (``stack``), the
real worker on it (``launch``), and the service side in-process (``make_service``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from runpod_service import EQ12, RunpodService, service_settings
from runpod_stack import RunpodStack, runpod_stack

from lorapipe.backends.runpod_serverless import RunpodServerlessBackend
from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.accounts import User
from lorapipe.db.ids import new_id
from lorapipe.db.migrate import upgrade
from lorapipe.services.file_uploads import upload_file
from lorapipe.services.reconciler import Reconciler, ReconcilerPolicy
from lorapipe.storage import ObjectStore

#: The fake's documented policy minimums (5 s, 10 s) lowered so timeouts and TTLs fit a test.
FAST_POLICY = {"min_execution_timeout_ms": 1000, "min_ttl_ms": 1000}


@pytest.fixture(scope="session")
def worker_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workers' model cache ("network volume"), shared by the session: the tiny model is built once."""
    return tmp_path_factory.mktemp("runpod-volume") / "models"


@pytest.fixture
def stack(tmp_path: Path, s3_endpoint: str) -> Iterator[RunpodStack]:
    """A fake RunPod endpoint (no worker yet) and a fresh bucket; policy minimums lowered."""
    with runpod_stack(tmp_path / "rp", s3_endpoint, **FAST_POLICY, kill_grace_s=30.0) as s:
        yield s


@pytest.fixture
def launch(stack: RunpodStack, worker_models: Path) -> Callable[..., Any]:
    """``launch(**env)``: start the real worker on the endpoint (relaunched when it exits) and wait until
    it asks for a job."""

    def start(**env: str) -> Any:
        worker = stack.launch_worker(LORAPIPE_WORKER_MODEL_CACHE_DIR=str(worker_models), **env)
        worker.wait_ready(60)
        return worker

    return start


@pytest.fixture
def make_service(stack: RunpodStack, tmp_path: Path) -> Iterator[Callable[..., RunpodService]]:
    """``make_service(**settings)``: the service side for ``stack`` (one per test), with EQ-12 uploaded."""
    engines: list[Any] = []
    handlers: list[logging.Handler] = []
    root = logging.getLogger("lorapipe")
    level = root.level

    def build(
        backend_client: Any = None, unchecked: dict[str, Any] | None = None, **extra: Any
    ) -> RunpodService:
        settings = service_settings(stack, tmp_path / "service", **extra)
        # Values below a setting's production minimum (a queue TTL of seconds), set without validation.
        settings = settings.model_copy(update=unchecked or {})
        upgrade(settings.resolved_database_url)
        engine = create_engine_for(settings.resolved_database_url)
        engines.append(engine)
        sessions = make_sessionmaker(engine)
        log_path = tmp_path / "service.log"
        handler = logging.FileHandler(log_path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        handlers.append(handler)
        objects = ObjectStore.from_settings(settings)
        sleeps: list[float] = []
        backend = RunpodServerlessBackend(settings, objects, client=backend_client, sleep=sleeps.append)
        reconciler = Reconciler(
            sessions,
            {backend.name: backend},
            objects,
            policy=ReconcilerPolicy(interval_s=0.2, cancel_grace_s=60, retry_backoff_s=0.0),
        )
        with session_scope(sessions) as s:
            user = User(id=new_id("user"), name="ci")
            s.add(user)
            s.flush()
            owner_id = user.id
        with sessions() as s, EQ12.open("rb") as handle:
            file_id = upload_file(
                s, objects, settings, owner_id=owner_id, filename="eq12.jsonl", stream=handle
            ).id
        return RunpodService(
            stack=stack,
            settings=settings,
            sessions=sessions,
            objects=objects,
            backend=backend,
            reconciler=reconciler,
            owner_id=owner_id,
            file_id=file_id,
            log_path=log_path,
            sleeps=sleeps,
        )

    try:
        yield build
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
        for engine in engines:
            engine.dispose()
