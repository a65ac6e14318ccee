"""API latency under load, dispatch latency, and a Schemathesis run over the OpenAPI document.

1. For SQLite and PostgreSQL: a real ``lorapipe serve`` process on 127.0.0.1 over a seeded database
   (one job with 250 events); 50 concurrent httpx clients alternate ``GET /v1/fine_tuning/jobs/{id}``
   and ``GET .../events?limit=20`` (bounded count and time). Baseline in the same run: ``GET
   /healthz`` (no auth, no database) under the same load; the ratio shows what auth + database cost.
2. Dispatch: upload EQ-12, ``POST /v1/fine_tuning/jobs`` on the tiny model, and time until the
   child's first event is in the database (ingested by the reconciler); the job is then cancelled.
3. Schemathesis (positive and negative cases, every operation, in-process over ASGI): count the
   cases and the 5xx answers.

    .venv/bin/python bench/api.py [--clients 50] [--requests 40] [--examples 6] [--skip-dispatch]

   The same load again beside a hostile user who holds 40 slow uploads and 200 event streams open
   (bench/hostile.py): its p99 over the quiet p99 is ``hostile_p99_ratio`` (target: within 2x, 0 errors).

Last line: ``RESULT api p99_ms_sqlite=<a> p99_ms_postgres=<b> errors=<n> dispatch_s=<d> hostile_p99_ratio=<r>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import FileObject, Job, JobEvent
from lorapipe.db.migrate import upgrade
from lorapipe.jobs.events import append_event
from lorapipe.jobs.transition import transition
from lorapipe.services import accounts

sys.path.insert(0, str(Path(__file__).parent))
from hostile import load_beside_hostile

HOSTILE_RATIOS: list[float] = []

ROOT = Path(__file__).resolve().parents[1]
EQ12 = ROOT / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"
PG_ADMIN = os.environ.get(
    "LORAPIPE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_database() -> tuple[str, Callable[[], None]] | None:
    """A fresh PostgreSQL database and its dropper, or None when none answers."""
    from sqlalchemy.engine import make_url

    admin_url = make_url(PG_ADMIN).set(database="postgres")
    admin = create_engine_for(admin_url.render_as_string(hide_password=False))
    name = "lp_bench_" + secrets.token_hex(5)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # no server: the PostgreSQL figure is reported as missing
        print(f"PostgreSQL unavailable ({type(exc).__name__}); skipped")
        admin.dispose()
        return None

    def drop() -> None:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return admin_url.set(database=name).render_as_string(hide_password=False), drop


def seed(url: str, events: int = 250) -> tuple[str, str]:
    """Migrate, create a user with a key and one finished job with ``events`` events."""
    key, job_id = _seed_user(url, "bench", events, JobStatus.CANCELLED)
    return key, job_id


def seed_hostile(url: str) -> tuple[str, str]:
    """A second user whose job stays queued (its event streams never end by themselves)."""
    return _seed_user(url, "mallory", 0, None)


def _identity(key: str, job_id: str) -> tuple[dict[str, str], list[str]]:
    paths = [f"/v1/fine_tuning/jobs/{job_id}", f"/v1/fine_tuning/jobs/{job_id}/events?limit=20"]
    return {"Authorization": f"Bearer {key}"}, paths


def _seed_user(url: str, name: str, events: int, end: JobStatus | None) -> tuple[str, str]:
    upgrade(url)
    engine = create_engine_for(url)
    try:
        with session_scope(make_sessionmaker(engine)) as s:
            user = accounts.create_user(s, name)
            _, key = accounts.create_api_key(s, user)
            file = FileObject(
                id=new_id("file"),
                owner_id=user.id,
                filename="b.jsonl",
                purpose="fine-tune",
                bytes=1,
                status="processed",
            )
            s.add(file)
            s.flush()
            job = Job(
                id=new_id("job"),
                owner_id=user.id,
                status="queued",
                model="m",
                training_file=file.id,
                seed=1,
                # The hostile user's job is on a backend no reconciler serves: it stays queued, so its
                # event streams stay open.
                backend="local" if end is not None else "nowhere",
            )
            s.add(job)
            s.flush()
            if end is not None:
                transition(s, job, end, "bench seed")
            for n in range(events):
                append_event(
                    s, job.id, type="metrics", message=f"step {n}", data={"step": n, "loss": 1.0 / (n + 1)}
                )
            return key, job.id
    finally:
        engine.dispose()


class Server:
    """``lorapipe serve`` in its own process (so the load generator does not share its GIL)."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "LORAPIPE_DATA_DIR": str(data_dir),
            "LORAPIPE_DATABASE_URL": url,
            "HF_HUB_OFFLINE": "1",
        }
        self.log = (data_dir / "serve.log").open("ab")
        cmd = [sys.executable, "-m", "lorapipe.cli.main", "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=self.log)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start; see {data_dir / 'serve.log'}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


Identity = tuple[dict[str, str], list[str]]  # one user's headers and the paths it reads


async def load(
    base: str, identities: list[Identity], clients: int, per_client: int, limit_s: float
) -> tuple[list[float], int]:
    """``clients`` concurrent clients, each sending ``per_client`` requests cycling over ``paths``.

    Each client first opens its keep-alive connection with one unmeasured request, and the measured
    requests start together once all are connected: connection set-up is not request latency."""
    latencies: list[float] = []
    errors = 0
    connected = 0
    go = asyncio.Event()

    async def client(i: int) -> None:
        nonlocal errors, connected
        headers, paths = identities[i % len(identities)]
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as http:
            with contextlib.suppress(httpx.HTTPError):
                await http.get(paths[i % len(paths)])
            connected += 1
            if connected == clients:
                go.set()
            await go.wait()
            deadline = time.monotonic() + limit_s
            for n in range(per_client):
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                try:
                    response = await http.get(paths[(i + n) % len(paths)])
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, errors


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else float("nan")


def dispatch_seconds(server: Server, url: str, key: str) -> tuple[float, float]:
    """POST a tiny-model job; seconds until the job is ``running`` (child process started) and until
    the child's first event is in the database."""
    headers = {"Authorization": f"Bearer {key}"}
    with EQ12.open("rb") as fh:
        uploaded = httpx.post(
            f"{server.base}/v1/files",
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
    engine = create_engine_for(url)
    sent = time.time()
    job = httpx.post(f"{server.base}/v1/fine_tuning/jobs", headers=headers, json=body, timeout=60).json()
    of_job = JobEvent.job_id == job["id"]
    try:
        with make_sessionmaker(engine)() as s:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                first = s.scalar(
                    select(func.min(JobEvent.created_at)).where(of_job, JobEvent.attempt_id.is_not(None))
                )
                if first is not None:
                    running = s.scalar(
                        select(func.min(JobEvent.created_at)).where(
                            of_job, JobEvent.message.startswith("running")
                        )
                    )
                    started = running.timestamp() - sent if running else float("nan")
                    return started, first.timestamp() - sent
                s.rollback()
                time.sleep(0.05)
        return float("nan"), float("nan")
    finally:
        httpx.post(f"{server.base}/v1/fine_tuning/jobs/{job['id']}/cancel", headers=headers, timeout=30)
        engine.dispose()


def measure(kind: str, url: str, tmp: Path, args: argparse.Namespace) -> tuple[float, int, float]:
    upgrade(url)
    key, job_id = seed(url)
    # The normal load: the clients of args.users users (one per user would be 50 users; one user for all
    # 50 would be a single heavy user, which the per-user request limit is there to hold back).
    identities = [_identity(key, job_id)]
    for n in range(1, args.users):
        identities.append(_identity(*_seed_user(url, f"bench{n}", 20, JobStatus.CANCELLED)))
    hostile_key, hostile_job = seed_hostile(url)
    data_dir = tmp / kind
    data_dir.mkdir()
    server = Server(url, data_dir)
    try:
        base_lat, _ = asyncio.run(load(server.base, [({}, ["/healthz"])], args.clients, args.requests, 60))
        lat, errors = asyncio.run(load(server.base, identities, args.clients, args.requests, 120))
        p50, p99, b99 = pct(lat, 50), pct(lat, 99), pct(base_lat, 99)
        print(
            f"{kind:8s} {len(lat)} requests, {args.clients} clients: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"errors {errors}; baseline /healthz p99 {b99:.1f} ms (ratio {p99 / b99:.2f})"
        )
        h_lat, h_errors, seen = asyncio.run(
            load_beside_hostile(
                load, server.base, identities, args.clients, args.requests, hostile_key, hostile_job
            )
        )
        h99 = pct(h_lat, 99)
        print(
            f"{kind:8s} beside a hostile user (40 slow uploads + 200 streams, reopened): p99 {h99:.1f} ms, "
            f"errors {h_errors}; ratio to quiet {h99 / p99:.2f}; the hostile user got {dict(seen)}"
        )
        errors += h_errors
        HOSTILE_RATIOS.append(h99 / p99)
        started, dispatch = (float("nan"),) * 2 if args.skip_dispatch else dispatch_seconds(server, url, key)
        if not args.skip_dispatch:
            print(
                f"{kind:8s} dispatch: POST -> running (child started) {started:.2f} s, "
                f"-> child's first event in the database {dispatch:.2f} s"
            )
        return p99, errors, dispatch
    finally:
        server.stop()


def fuzz_operation(op: Any, mode: Any, headers: dict[str, str], examples: int) -> tuple[int, list[str]]:
    """Up to ``examples`` generated cases of one operation; (cases sent, 5xx lines)."""
    import hypothesis
    from hypothesis import HealthCheck, Phase

    cases, failures = 0, []
    settings = hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )

    @settings
    @hypothesis.given(op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        nonlocal cases
        response = case.call(headers=headers)
        cases += 1
        if response.status_code >= 500:
            failures.append(f"{op.method.upper()} {op.path} -> {response.status_code}: {response.text[:120]}")

    # An operation without inputs has no negative cases: hypothesis says "unsatisfiable".
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        run()
    return cases, failures


def fuzz(tmp: Path, examples: int) -> tuple[int, list[str]]:
    """Schemathesis over every operation of the app's OpenAPI document; returns (cases, 5xx lines)."""
    import schemathesis
    from schemathesis.generation.modes import GenerationMode

    from lorapipe.server import create_app
    from lorapipe.settings import Settings

    url = f"sqlite:///{tmp / 'fuzz.db'}"
    key, _ = seed(url, events=5)
    app = create_app(Settings(data_dir=tmp / "fuzz", database_url=url), run_reconciler=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {key}"}
    cases, failures = 0, []
    for result in schema.get_all_operations():
        op = result.ok()  # type: ignore[union-attr]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            n, bad = fuzz_operation(op, mode, headers, examples)
            cases += n
            failures += bad
    return cases, failures


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--users", type=int, default=10, help="The clients belong to this many users.")
    ap.add_argument("--requests", type=int, default=40, help="Requests per client (bounded load).")
    ap.add_argument("--examples", type=int, default=6, help="Schemathesis examples per operation and mode.")
    ap.add_argument("--skip-dispatch", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lorapipe-bench-api-") as name:
        tmp = Path(name)
        p99_sqlite, errors, dispatch = measure("sqlite", f"sqlite:///{tmp / 'bench.db'}", tmp, args)
        p99_pg, dispatch_pg = float("nan"), float("nan")
        pg = postgres_database()
        if pg is not None:
            try:
                p99_pg, pg_errors, dispatch_pg = measure("postgres", pg[0], tmp, args)
                errors += pg_errors
            finally:
                pg[1]()
        cases, failures = fuzz(tmp, args.examples)
        print(f"schemathesis: {cases} cases, {len(failures)} with 5xx")
        for line in failures[:20]:
            print("  5xx", line)
        errors += len(failures)
    worst = max((d for d in (dispatch, dispatch_pg) if d == d), default=float("nan"))
    print(
        f"RESULT api p99_ms_sqlite={p99_sqlite:.1f} p99_ms_postgres={p99_pg:.1f} errors={errors} "
        f"dispatch_s={worst:.2f} hostile_p99_ratio={max(HOSTILE_RATIOS, default=float('nan')):.2f}"
    )


if __name__ == "__main__":
    main()
