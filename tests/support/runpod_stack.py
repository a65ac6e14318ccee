"""The whole RunPod path on one machine, for end-to-end tests: a fake RunPod cloud (``fake_runpod``), a
moto S3 server as the shared object store, and the REAL worker (``python -m lorapipe.worker``) launched
by the fake with the environment a RunPod endpoint would give it. The service side is configured by
:meth:`RunpodStack.service_env` (``lorapipe serve`` then runs jobs with ``backend=runpod-serverless``).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fake_runpod import FakeRunpod, FakeWorker

ROOT = Path(__file__).resolve().parents[2]
S3_KEY, S3_SECRET = "testing", "testing-secret-value-never-logged"
GPU = "A100-80GB-PCIE"


@dataclass
class RunpodStack:
    fake: FakeRunpod
    s3_endpoint: str
    bucket: str
    workdir: Path

    @property
    def storage_url(self) -> str:
        return f"s3://{self.bucket}/lorapipe"

    @property
    def storage_options(self) -> dict[str, Any]:
        return {
            "endpoint_url": self.s3_endpoint,
            "key": S3_KEY,
            "secret": S3_SECRET,
            "client_kwargs": {"region_name": "eu-west-1"},
        }

    def secrets(self) -> list[str]:
        """Values that must never appear in job input, events or logs."""
        return [S3_SECRET, self.fake.api_key, self.fake.worker_api_key]

    def service_env(self, data_dir: Path, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LORAPIPE_", "RUNPOD_"))}
        env.update(
            LORAPIPE_DATA_DIR=str(data_dir),
            LORAPIPE_STORAGE_URL=self.storage_url,
            LORAPIPE_STORAGE_OPTIONS=json.dumps(self.storage_options),
            LORAPIPE_RUNPOD_ENDPOINT_ID=self.fake.endpoint_id,
            LORAPIPE_RUNPOD_API_URL=f"{self.fake.url}/v2",
            LORAPIPE_RUNPOD_API_KEY=self.fake.api_key,
            LORAPIPE_RUNPOD_ENDPOINT_GPU=GPU,
            HF_HUB_OFFLINE="1",
        )
        env.update(extra)
        return env

    def worker_env(self, **extra: str) -> dict[str, str]:
        """What the endpoint's template would set: the store and its credentials, the volume's cache."""
        env = {
            "LORAPIPE_DATA_DIR": str(self.workdir / "worker-data"),
            "LORAPIPE_STORAGE_URL": self.storage_url,
            "LORAPIPE_STORAGE_OPTIONS": json.dumps(self.storage_options),
            "LORAPIPE_WORKER_DIR": str(self.workdir / "worker-scratch"),
            "LORAPIPE_WORKER_MODEL_CACHE_DIR": str(self.workdir / "runpod-volume" / "models"),
            "LORAPIPE_WORKER_MIN_FREE_GB": "0",
            "LORAPIPE_WORKER_PROGRESS_INTERVAL_S": "0.5",
            "LORAPIPE_WORKER_CANCEL_GRACE_S": "60",
            "HF_HUB_OFFLINE": "1",
        }
        env.update(extra)
        return env

    def launch_worker(self, **extra_env: str) -> FakeWorker:
        return self.fake.launch_worker(
            "lorapipe.worker", env=self.worker_env(**extra_env), restart=True, cwd=self.workdir
        )


@contextmanager
def runpod_stack(workdir: Path, s3_endpoint: str, **knobs: Any) -> Iterator[RunpodStack]:
    """A fake RunPod endpoint with the real worker on it, and a fresh bucket on the moto server."""
    import s3fs

    bucket = f"runpod-{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(
        key=S3_KEY, secret=S3_SECRET, endpoint_url=s3_endpoint, client_kwargs={"region_name": "eu-west-1"}
    )
    fs.mkdir(bucket)
    workdir.mkdir(parents=True, exist_ok=True)
    fake = FakeRunpod.start(log_dir=workdir / "runpod-logs")
    for name, value in knobs.items():
        if not hasattr(fake, name):
            raise AttributeError(f"FakeRunpod has no knob {name!r}")
        setattr(fake, name, value)
    try:
        yield RunpodStack(fake=fake, s3_endpoint=s3_endpoint, bucket=bucket, workdir=workdir)
    finally:
        fake.stop(grace_s=5.0)


def everything_captured(stack: RunpodStack, *paths: Path) -> str:
    """Every request the fake saw, every worker log and the given files, as one text to grep."""
    parts = [
        json.dumps(r.__dict__ if hasattr(r, "__dict__") else r, default=str) for r in stack.fake.requests
    ]
    for path in [*sorted((stack.workdir / "runpod-logs").glob("*")), *paths]:
        if path.is_file():
            parts.append(path.read_text("utf-8", "replace"))
    return "\n".join(parts)
