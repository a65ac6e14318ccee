"""The runpod-pod path on one machine: the fake RunPod REST API (tests/support/fake_runpod_rest.py), whose
pods run the REAL ``python -m lorapipe.worker.pod`` (with the fault-injecting fake engine where training
is not the point), a moto S3 bucket as the shared store, and the service side in-process: SQLite, the
REAL :class:`RunpodPodBackend` and :class:`Reconciler`, ticked by the test."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fake_runpod_rest import FakeRunpodRest
from job_reads import JobReads
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.backends.runpod_pod import RunpodPodBackend
from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.accounts import User
from lorapipe.db.costs import CostRecord
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Job
from lorapipe.db.migrate import upgrade
from lorapipe.services.costs import record_pending_costs
from lorapipe.services.file_uploads import upload_file
from lorapipe.services.job_requests import CreateJobRequest
from lorapipe.services.jobs import create_job
from lorapipe.services.reconciler import Reconciler, ReconcilerPolicy
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore

ROOT = Path(__file__).resolve().parents[3]
EQ12 = ROOT / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"
FAKE_ENGINE = ROOT / "tests/integration/jobs/fake_engine.py"
S3_KEY, S3_SECRET = "testing", "pod-secret-value-never-in-a-spec"
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
IMAGE = "ghcr.io/example/lorapipe-worker:0.1.0"


@dataclass
class PodService(JobReads):
    fake: FakeRunpodRest
    settings: Settings
    sessions: sessionmaker[Session]
    objects: ObjectStore
    backend: RunpodPodBackend
    reconciler: Reconciler
    owner_id: str
    file_id: str

    def create(self, fake: str, *, max_attempts: int = 1, timeout_s: int | None = None) -> str:
        request = CreateJobRequest(
            model="lorapipe/tiny-qwen3",
            training_file=self.file_id,
            backend="runpod-pod",
            preset="cpu-smoke",
            config={"max_steps": 2, "sample_prompts": 0, "validation_split": 0},
            max_attempts=max_attempts,
            timeout_s=timeout_s,
            metadata={"fake": fake},
        )
        with self.sessions() as s:
            return create_job(s, self.objects, self.settings, owner_id=self.owner_id, request=request).id

    def costs(self, job_id: str) -> list[CostRecord]:
        """The job's cost lines, after booking ended attempts (what the service's outbox loop does)."""
        with session_scope(self.sessions) as s:
            record_pending_costs(s)
        with self.sessions() as s:
            rows = list(s.scalars(select(CostRecord).where(CostRecord.job_id == job_id)))
            s.expunge_all()
            return rows

    def pod_id(self, job_id: str, number: int = 1) -> str:
        return str(self.attempts(job_id)[number - 1].handle["pod_id"])

    def tick_until(self, condition: Callable[[], object], limit_s: float, what: str) -> object:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            self.reconciler.tick()
            if value := condition():
                return value
            time.sleep(0.1)
        raise AssertionError(
            f"not reached in {limit_s} s: {what}: {[(p.id, p.status) for p in self.fake.pods.values()]}"
        )

    def run_to_end(self, job_id: str, limit_s: float = 60) -> Job:
        self.tick_until(lambda: self.job(job_id).status in TERMINAL, limit_s, f"{job_id} ends")
        return self.job(job_id)

    def until_training(self, job_id: str, limit_s: float = 60) -> None:
        """Tick until the service has stored a train metrics event of the job (the engine is mid-run)."""
        self.tick_until(
            lambda: any((e.data or {}).get("engine_type") == "metrics" for e in self.events(job_id)),
            limit_s,
            f"{job_id} trains",
        )


def make_stack(tmp_path: Path, s3_endpoint: str) -> tuple[FakeRunpodRest, dict[str, Any]]:
    """A fresh bucket and a fake RunPod account with one network volume in EU-RO-1; the service settings."""
    import s3fs

    bucket = f"pods-{uuid.uuid4().hex[:12]}"
    options = {
        "endpoint_url": s3_endpoint,
        "key": S3_KEY,
        "secret": S3_SECRET,
        "client_kwargs": {"region_name": "eu-west-1"},
    }
    s3fs.S3FileSystem(
        key=S3_KEY, secret=S3_SECRET, endpoint_url=s3_endpoint, client_kwargs={"region_name": "eu-west-1"}
    ).mkdir(bucket)
    fake = FakeRunpodRest.start(tmp_path / "runpod")
    fake.add_volume("vol-eu", "EU-RO-1")
    fake.secrets.update(lorapipe_store=json.dumps(options), aws_secret=S3_SECRET)
    fake.gpu_price_per_hr["NVIDIA H100 80GB HBM3"] = 3.6  # one cent a second
    pod_env = {
        # The pod's own environment: what the image's template or the operator would set.
        "LORAPIPE_DATA_DIR": str(tmp_path / "pod-data"),
        "LORAPIPE_WORKER_DIR": str(tmp_path / "pod-scratch"),
        "LORAPIPE_WORKER_MODEL_CACHE_DIR": str(tmp_path / "runpod-volume" / "models"),
        "LORAPIPE_WORKER_PROGRESS_INTERVAL_S": "0.2",
        "LORAPIPE_WORKER_ENGINE_COMMAND": json.dumps([sys.executable, str(FAKE_ENGINE)]),
        # The fake engine opens its upload URL with plain s3fs defaults.
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": S3_KEY,
        "AWS_SECRET_ACCESS_KEY": "{{ RUNPOD_SECRET_aws_secret }}",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    settings = {
        "data_dir": tmp_path / "service",
        "database_url": f"sqlite:///{tmp_path / 'service.db'}",
        "storage_url": f"s3://{bucket}/lorapipe",
        "storage_options": options,
        "runpod_api_key": fake.api_key,
        "runpod_rest_url": fake.url,
        "runpod_service_id": "test",
        "runpod_pod_gpu": "H100-SXM",
        "runpod_worker_image": IMAGE,
        "runpod_network_volume_id": "vol-eu",
        "runpod_storage_secret": "lorapipe_store",
        "runpod_pod_env": pod_env,
    }
    return fake, settings


def build_service(fake: FakeRunpodRest, values: dict[str, Any], **policy: Any) -> PodService:
    settings = Settings(**values)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    sessions = make_sessionmaker(create_engine_for(settings.resolved_database_url))
    objects = ObjectStore.from_settings(settings)
    backend = RunpodPodBackend(settings, objects)
    knobs = {"interval_s": 0.1, "cancel_grace_s": 30, "retry_backoff_s": 0.0, **policy}
    reconciler = Reconciler(sessions, {backend.name: backend}, objects, policy=ReconcilerPolicy(**knobs))
    with session_scope(sessions) as s:
        user = User(id=new_id("user"), name="ci")
        s.add(user)
        s.flush()
        owner_id = user.id
    with sessions() as s, EQ12.open("rb") as handle:
        file_id = upload_file(
            s, objects, settings, owner_id=owner_id, filename="eq12.jsonl", stream=handle
        ).id
    return PodService(fake, settings, sessions, objects, backend, reconciler, owner_id, file_id)
