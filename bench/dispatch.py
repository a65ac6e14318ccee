"""Dispatch latency of the local backend, cold (a fresh ``python -m lorapipe.training`` per attempt) and
warm (forked by the zygote that imported torch and transformers once), side by side in one run.

For each mode: a real ``lorapipe serve`` (LORAPIPE_ENGINE_WARM=0 or 1) on its own SQLite database;
upload EQ-12, then ``POST /v1/fine_tuning/jobs`` on the tiny model, and time from the POST to

- the job's first engine event in the database (ingested by the reconciler), and
- the engine's ``tokenizing`` stage event, its first after the model is loaded (``model_loaded``),

then cancel the job and wait for it to end. ``--jobs`` jobs per mode, one after the other; the figures
are the medians over the jobs after the first (the first after a service start may wait for the
zygote's imports, which overlap with the service's start-up; it is printed too).

    .venv/bin/python bench/dispatch.py [--jobs 3]

Last line: ``RESULT dispatch cold_first_event_s=<a> warm_first_event_s=<b> warm_model_loaded_s=<c>
ratio=<a/b>``. bench/api.py imports :func:`dispatch_times` to time a job on its own server.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from lorapipe.contract.job_states import TERMINAL
from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.jobs import JobEvent
from lorapipe.db.migrate import upgrade
from lorapipe.services import accounts
from serve_process import ServeProcess

ROOT = Path(__file__).resolve().parents[1]
EQ12 = ROOT / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"
MODEL_LOADED = "Stage tokenizing"  # the engine's first event once the base model and adapter are loaded


@dataclass(frozen=True)
class DispatchTimes:
    """Seconds from the job's POST (NaN: not seen within the limit)."""

    running_s: float  # the job is ``running`` (the attempt's process was started)
    first_event_s: float  # the engine's first event is in the database
    model_loaded_s: float  # the engine's ``tokenizing`` stage event is in the database


def dispatch_times(base: str, key: str, database_url: str, *, limit_s: float = 300) -> DispatchTimes:
    """POST a tiny-model job to the service at ``base`` as ``key``'s user and time its dispatch from the
    rows in ``database_url``; the job is then cancelled (and waited for, so the next one finds a slot)."""
    headers = {"Authorization": f"Bearer {key}"}
    with EQ12.open("rb") as fh:
        uploaded = httpx.post(
            f"{base}/v1/files",
            headers=headers,
            files={"file": fh},
            data={"purpose": "fine-tune"},
            timeout=120,
        ).json()
    body = {
        "model": "lorapipe/tiny-qwen3",
        "training_file": uploaded["id"],
        "preset": "cpu-smoke",
        "config": {"max_steps": 2, "sample_prompts": 0},
    }
    engine = create_engine_for(database_url)
    sessions = make_sessionmaker(engine)
    sent = time.time()
    job = httpx.post(f"{base}/v1/fine_tuning/jobs", headers=headers, json=body, timeout=60).json()
    of_job = JobEvent.job_id == job["id"]

    def first(*where: object) -> float:
        with session_scope(sessions) as s:
            at = s.scalar(select(func.min(JobEvent.created_at)).where(of_job, *where))  # type: ignore[arg-type]
        return at.timestamp() - sent if at is not None else float("nan")

    try:
        deadline = time.monotonic() + limit_s
        loaded = float("nan")
        while time.monotonic() < deadline and loaded != loaded:
            loaded = first(JobEvent.attempt_id.is_not(None), JobEvent.message.startswith(MODEL_LOADED))
            time.sleep(0.05)
        return DispatchTimes(
            running_s=first(JobEvent.message.startswith("running")),
            first_event_s=first(JobEvent.attempt_id.is_not(None)),
            model_loaded_s=loaded,
        )
    finally:
        httpx.post(f"{base}/v1/fine_tuning/jobs/{job['id']}/cancel", headers=headers, timeout=30)
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            status = httpx.get(f"{base}/v1/fine_tuning/jobs/{job['id']}", headers=headers, timeout=30).json()
            if status["status"] in {str(s) for s in TERMINAL}:
                break
            time.sleep(0.2)
        engine.dispose()


class Service:
    """``lorapipe serve`` in its own process, with its own data folder and SQLite database."""

    def __init__(self, data_dir: Path, warm: bool) -> None:
        data_dir.mkdir(parents=True)
        self.database_url = f"sqlite:///{data_dir / 'lorapipe.db'}"
        upgrade(self.database_url)
        engine = create_engine_for(self.database_url)
        with session_scope(make_sessionmaker(engine)) as s:
            _, self.key = accounts.create_api_key(s, accounts.create_user(s, "bench"))
        engine.dispose()
        self.process = ServeProcess(
            data_dir, self.database_url, env={"LORAPIPE_ENGINE_WARM": "1" if warm else "0"}
        )
        self.base = self.process.base

    def stop(self) -> None:
        self.process.stop()


def zygote_rss_mb(data_dir: Path) -> float:
    """Resident memory of the warm engine a service at ``data_dir`` started (NaN when none runs)."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"lorapipe.training.zygote" in argv and str(data_dir).encode() in environ:
            status = (proc / "status").read_text()
            return int(status.split("VmRSS:")[1].split()[0]) / 1024
    return float("nan")


def measure(mode: str, tmp: Path, jobs: int) -> list[DispatchTimes]:
    service = Service(tmp / mode, warm=mode == "warm")
    try:
        times = [dispatch_times(service.base, service.key, service.database_url) for _ in range(jobs)]
        rss = f", zygote RSS {zygote_rss_mb(tmp / mode):.0f} MB" if mode == "warm" else ""
    finally:
        service.stop()
    for n, t in enumerate(times, 1):
        print(
            f"{mode:5s} job {n}: POST -> running {t.running_s:.2f} s, -> first engine event "
            f"{t.first_event_s:.2f} s, -> model loaded {t.model_loaded_s:.2f} s{rss if n == 1 else ''}",
            flush=True,
        )
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=3, help="jobs per mode (the first one is not counted)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lorapipe-dispatch-") as tmp:
        cold, warm = (measure(mode, Path(tmp), max(2, args.jobs)) for mode in ("cold", "warm"))
    cold_first = statistics.median(t.first_event_s for t in cold[1:])
    warm_first = statistics.median(t.first_event_s for t in warm[1:])
    warm_loaded = statistics.median(t.model_loaded_s for t in warm[1:])
    cold_loaded = statistics.median(t.model_loaded_s for t in cold[1:])
    print(
        f"median: cold first event {cold_first:.2f} s, model loaded {cold_loaded:.2f} s; "
        f"warm first event {warm_first:.2f} s, model loaded {warm_loaded:.2f} s "
        f"(model loaded ratio {cold_loaded / warm_loaded:.2f})"
    )
    print(
        f"RESULT dispatch cold_first_event_s={cold_first:.2f} warm_first_event_s={warm_first:.2f} "
        f"warm_model_loaded_s={warm_loaded:.2f} ratio={cold_first / warm_first:.2f}"
    )


if __name__ == "__main__":
    main()
