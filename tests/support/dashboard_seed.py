"""Rows the dashboard's adapter, costs, notifications and settings pages show, written straight into a
test database as the service would leave them: a succeeded job (its training file validated into a
given dataset), its adapter with real files and a manifest listing their sizes and sha256, a cost line
of today, and notifications about the job and the budget."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import session_scope
from lorapipe.db.base import utcnow
from lorapipe.db.costs import CostRecord
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Adapter, Attempt, FileObject, Job
from lorapipe.jobs.transition import transition
from lorapipe.services.notifications import notify

BASE_MODEL = "lorapipe/tiny-qwen3"
SUMMARY = {
    "steps": 12,
    "epochs": 1.0,
    "train_loss_first": 2.91,
    "train_loss_last": 1.87,
    "eval_loss_before": 2.75,
    "eval_loss_after": 2.05,
    "perplexity_before": 15.64,
    "perplexity_after": 7.77,
    "best_eval_loss": 2.05,
    "trained_tokens": 18_432,
    "tokens_per_s": 512.5,
    "train_seconds": 36.0,
    "peak_memory_bytes": 734_003_200,
    "trainable_parameters": 1_048_576,
    "total_parameters": 8_000_000,
}
CONFIG = {
    "preset": "cpu-smoke",
    "method": "lora",
    "rank": 8,
    "alpha": 16,
    "learning_rate": 0.0002,
    "epochs": 1,
    "max_length": 512,
    "target_modules": ["q_proj", "v_proj"],
}
SAMPLES = {
    "version": 1,
    "samples": [
        {
            "id": "ex-1",
            "prompt": "My manager ignores my questions.",
            "reference": "That sounds hard.",
            "base": "Ok.",
            "adapter": "That sounds frustrating; what have you tried?",
        },
    ],
}


@dataclass(frozen=True)
class Seeded:
    job_id: str
    adapter_id: str
    adapter_name: str
    files: dict[str, bytes]


def _files(summary: dict[str, object]) -> dict[str, bytes]:
    return {
        "adapter_model.safetensors": bytes(range(256)) * 64,
        "adapter_config.json": json.dumps({"r": 8, "lora_alpha": 16}).encode(),
        "README.md": b"# a tiny adapter\n",
        "samples.json": json.dumps(SAMPLES).encode(),
        "metrics.json": json.dumps(summary).encode(),
    }


def seed_adapter(
    sessions: sessionmaker[Session],
    owner_id: str,
    folder: Path,
    *,
    dataset_id: str | None = None,
    summary: dict[str, object] | None = None,
    created_at: dt.datetime | None = None,
) -> Seeded:
    """A succeeded job and its adapter, whose files lie in ``folder`` (a manifest lists them)."""
    metrics: dict[str, object] = dict(SUMMARY) if summary is None else summary
    files = _files(metrics)
    folder.mkdir(parents=True, exist_ok=True)
    listed = []
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
        listed.append({"path": rel, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    with session_scope(sessions) as s:
        file = FileObject(
            id=new_id("file"),
            owner_id=owner_id,
            filename="eq12.jsonl",
            purpose="fine-tune",
            bytes=1,
            status="processed",
            dataset_id=dataset_id,
        )
        s.add(file)
        s.flush()
        job = Job(
            id=new_id("job"),
            owner_id=owner_id,
            status=JobStatus.QUEUED.value,
            model=BASE_MODEL,
            training_file=file.id,
            seed=1,
            backend="local",
        )
        s.add(job)
        s.flush()
        transition(s, job, JobStatus.PROVISIONING, "test: picked")
        attempt = Attempt(id=new_id("attempt"), job_id=job.id, number=1, backend="local", status="exited")
        s.add(attempt)
        s.flush()
        transition(s, job, JobStatus.RUNNING, "test: started")
        transition(s, job, JobStatus.SUCCEEDED, "test: artifacts verified")
        manifest = {
            "version": 1,
            "job_id": job.id,
            "base_model": BASE_MODEL,
            "config": CONFIG,
            "dataset": {"train_sha256": "ab" * 32, "train": {"examples": 40}, "validation": {"examples": 4}},
            "metrics": metrics,
            "files": listed,
            "libraries": {"lorapipe": "0.1.0", "torch": "2.5.0", "peft": "0.13.0"},
        }
        (folder / "manifest.json").write_text(json.dumps(manifest), "utf-8")
        name = f"ft:tiny-qwen3:{job.id}"
        adapter = Adapter(
            id=new_id("adapter"),
            owner_id=owner_id,
            job_id=job.id,
            name=name,
            base_model=BASE_MODEL,
            location=str(folder),
            manifest=manifest,
            size_bytes=sum(len(d) for d in files.values()),
        )
        if created_at is not None:
            adapter.created_at = created_at
        s.add(adapter)
        job.fine_tuned_model = name
        s.add(
            CostRecord(
                id=new_id("cost"),
                owner_id=owner_id,
                job_id=job.id,
                attempt_id=attempt.id,
                kind="compute",
                gpu_type="cpu",
                seconds=36.0,
                usd=Decimal("0.0125"),
                price_source="test catalogue",
                details={"backend": "local", "estimate": {"estimated_mid_usd": 0.01}},
            )
        )
        notify(
            s,
            owner_id=owner_id,
            kind="job.succeeded",
            title=f"Job {job.id} succeeded",
            body="Its adapter is ready.",
            job_id=job.id,
        )
        return Seeded(job.id, adapter.id, name, files)


def seed_budget_notification(sessions: sessionmaker[Session], owner_id: str) -> None:
    """A budget warning (it links to the costs page)."""
    month = utcnow().strftime("%Y-%m")
    with session_scope(sessions) as s:
        notify(
            s,
            owner_id=owner_id,
            kind="budget.warning",
            title=f"80 % of your {month} budget reached",
            body="$8.00 booked this month of a $10.00 budget",
            severity="medium",
            data={"month": month},
        )
