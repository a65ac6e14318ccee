"""The reconciler with the local backend and real child processes, on SQLite and PostgreSQL.

The child is a fault-injecting engine (fake_engine.py) that speaks the engine's process contract;
each test drives the real reconciler, backend, state machine and database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from job_factories import FAKE, FAST, fake_spec, queue_job, run_until, store
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lorapipe.backends.local import LocalBackend, process_start_ticks
from lorapipe.contract.job_states import JobStatus
from lorapipe.db import session_scope
from lorapipe.db.jobs import Adapter, Attempt, Checkpoint, Job, JobEvent, MetricPoint
from lorapipe.jobs.transition import transition
from lorapipe.services import dispatch_wake
from lorapipe.services.reconciler import Reconciler, ReconcilerPolicy

pytestmark = pytest.mark.integration


@pytest.fixture
def make_reconciler(tmp_path: Path, sessions: sessionmaker[Session]) -> Callable[..., Reconciler]:
    def build(slots: int = 1, worker_id: str | None = None) -> Reconciler:
        backend = LocalBackend(tmp_path / "runs", slots=slots, engine_command=FAKE)
        return Reconciler(sessions, {"local": backend}, store(tmp_path), policy=FAST, worker_id=worker_id)

    return build


def count(sessions: sessionmaker[Session], model: type, job_id: str) -> int:
    with session_scope(sessions) as s:
        return int(s.scalar(select(func.count()).select_from(model).where(model.job_id == job_id)) or 0)


def test_success_records_events_metrics_and_verified_adapter(sessions, make_reconciler) -> None:
    rec = make_reconciler()
    job_id = queue_job(sessions, "succeed")
    job = run_until(rec, sessions, job_id, {"succeeded", "failed"})
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:tiny:{job_id}" and job.trained_tokens == 1234
    assert count(sessions, MetricPoint, job_id) == 4 and count(sessions, Adapter, job_id) == 1
    events_before = count(sessions, JobEvent, job_id)
    # Reading the same stream again adds nothing: ingestion is idempotent by (attempt, seq).
    with session_scope(sessions) as s:
        attempt = s.scalars(select(Attempt).where(Attempt.job_id == job_id)).one()
        attempt.status, attempt.handle = "running", {**attempt.handle, "offset": 0}
    rec.supervise()
    assert count(sessions, JobEvent, job_id) == events_before


@pytest.mark.parametrize(
    ("fake", "code", "kind"),
    [
        ("exit2", "invalid_dataset", "user"),
        ("exit1", "disk_full", "system"),
        ("crash", "engine_failed", "system"),
    ],
)
def test_nonzero_exit_fails_with_the_engine_error(sessions, make_reconciler, fake, code, kind) -> None:
    job = run_until(make_reconciler(), sessions, queue_job(sessions, fake), {"succeeded", "failed"})
    assert job.status == "failed" and job.fine_tuned_model is None
    assert job.error is not None and job.error["code"] == code and job.error["kind"] == kind
    if fake == "exit2":  # the engine's advice reaches the user
        assert job.error["message"] == "dataset has no assistant turns (add assistant replies)"
        assert job.error["param"] == "dataset"
    assert count(sessions, Adapter, job.id) == 0


@pytest.mark.parametrize("fake", ["bad_checksum", "missing"])
def test_exit_zero_with_bad_artifacts_is_failed(sessions, make_reconciler, fake) -> None:
    job = run_until(make_reconciler(), sessions, queue_job(sessions, fake), {"succeeded", "failed"})
    assert job.status == "failed" and job.error is not None
    assert job.error["code"] == "artifact_integrity" and job.fine_tuned_model is None
    assert count(sessions, Adapter, job.id) == 0


def test_system_failure_is_retried_with_a_new_attempt(sessions, make_reconciler) -> None:
    job = run_until(
        make_reconciler(), sessions, queue_job(sessions, "flaky", max_attempts=2), {"succeeded", "failed"}
    )
    assert job.status == "succeeded"
    assert count(sessions, Attempt, job.id) == 2


def _pid_of(sessions: sessionmaker[Session], job_id: str) -> int:
    with session_scope(sessions) as s:
        attempt = s.scalars(select(Attempt).where(Attempt.job_id == job_id)).one()
        return int(attempt.handle["pid"])


@pytest.mark.parametrize("fake", ["sleep", "ignore_term"])
def test_cancel_stops_the_process(sessions, make_reconciler, fake) -> None:
    rec = make_reconciler()
    job_id = queue_job(sessions, fake)
    run_until(rec, sessions, job_id, {"running"})
    time.sleep(0.3)
    rec.tick()
    pid = _pid_of(sessions, job_id)
    with session_scope(sessions) as s:
        transition(s, s.get(Job, job_id), JobStatus.CANCELLING, "user asked")
    job = run_until(rec, sessions, job_id, {"cancelled", "failed", "succeeded"})
    assert job.status == "cancelled"
    assert process_start_ticks(pid) is None, "the engine process is still alive"


def _engine_events(sessions: sessionmaker[Session], job_id: str) -> int:
    with session_scope(sessions) as s:
        query = select(func.count()).where(JobEvent.job_id == job_id, JobEvent.engine_seq.is_not(None))
        return int(s.scalar(query) or 0)


def test_orphan_after_supervisor_death_is_stopped_and_resumed(sessions, make_reconciler) -> None:
    first = make_reconciler()
    job_id = queue_job(sessions, "sleep", max_attempts=2)
    run_until(first, sessions, job_id, {"running"})
    # Until the engine's first event is stored: its SIGTERM handler (which checkpoints) is in place by
    # then, and the adoption below stops it with SIGTERM (a fixed wait was too short on a loaded machine).
    deadline = time.monotonic() + 30
    while not _engine_events(sessions, job_id):
        assert time.monotonic() < deadline, "the engine sent no event"
        first.tick()
        time.sleep(0.05)
    pid = _pid_of(sessions, job_id)
    # The first service "dies": its worker id now names a pid that does not exist on this host.
    with session_scope(sessions) as s:
        attempt = s.scalars(select(Attempt).where(Attempt.job_id == job_id)).one()
        host = attempt.worker_id.split(":")[0]
        attempt.worker_id = f"{host}:{2**22 + 7}:dead"
    with session_scope(sessions) as s:
        s.get(Job, job_id).spec = fake_spec(job_id, "succeed")
    second = make_reconciler()
    job = run_until(second, sessions, job_id, {"succeeded", "failed"})
    assert process_start_ticks(pid) is None
    assert job.status == "succeeded"
    with session_scope(sessions) as s:
        attempts = s.scalars(select(Attempt).where(Attempt.job_id == job_id).order_by(Attempt.number)).all()
        assert [a.status for a in attempts] == ["lost", "exited"]
        assert attempts[1].resume is True and attempts[1].handle["argv"][-1] == "--resume"
        assert s.scalar(select(func.count()).select_from(Checkpoint).where(Checkpoint.job_id == job_id)) == 1


@pytest.mark.parametrize(("fake", "status"), [("succeed", "succeeded"), ("exit2", "failed")])
def test_an_orphan_that_ended_before_adoption_is_judged_by_its_own_result(
    sessions, make_reconciler, fake, status
) -> None:
    """The service died and its run ended on its own before a new service adopted it (a slow
    restart): not a lost run to retry, but the ending the engine reported, verified as usual."""
    first = make_reconciler()
    job_id = queue_job(sessions, fake, max_attempts=2)
    run_until(first, sessions, job_id, {"running"})  # started, never polled by ``first`` again
    pid = _pid_of(sessions, job_id)
    with session_scope(sessions) as s:
        attempt = s.scalars(select(Attempt).where(Attempt.job_id == job_id)).one()
        attempt.worker_id = f"{attempt.worker_id.split(':')[0]}:{2**22 + 7}:dead"
    deadline = time.monotonic() + 30
    while process_start_ticks(pid) is not None:  # a zombie (never reaped by ``first``) counts as gone
        assert time.monotonic() < deadline, "the fake engine did not end"
        time.sleep(0.05)
    job = run_until(make_reconciler(), sessions, job_id, {"succeeded", "failed"})
    assert job.status == status, job.error
    assert count(sessions, Attempt, job_id) == 1  # no retry: a retry of a finished run cannot succeed
    if status == "succeeded":
        assert count(sessions, Adapter, job_id) == 1 and job.trained_tokens == 1234
    else:
        assert job.error is not None and job.error["code"] == "invalid_dataset"


def test_two_reconcilers_never_submit_a_job_twice(sessions, tmp_path: Path) -> None:
    """On PostgreSQL the claim is FOR UPDATE SKIP LOCKED; on SQLite one writer at a time. On both,
    transition()'s compare-and-set rejects the loser of a race."""
    import threading

    job_ids = [queue_job(sessions, "succeed") for _ in range(12)]
    recs = [
        Reconciler(
            sessions,
            {"local": LocalBackend(tmp_path / "runs", slots=12, engine_command=FAKE)},
            store(tmp_path),
            policy=FAST,
        )
        for _ in range(2)
    ]
    barrier = threading.Barrier(2)

    def race(rec: Reconciler) -> None:
        barrier.wait()
        for _ in range(3):
            rec.dispatch()

    threads = [threading.Thread(target=race, args=(r,)) for r in recs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with session_scope(sessions) as s:
        per_job = dict(s.execute(select(Attempt.job_id, func.count()).group_by(Attempt.job_id)).all())
        owners = set(s.scalars(select(Attempt.worker_id)))
    assert per_job == {job_id: 1 for job_id in job_ids}
    assert owners <= {r.worker_id for r in recs}
    deadline = time.monotonic() + 60
    succeeded = 0
    while time.monotonic() < deadline and succeeded < 12:
        for r in recs:
            r.supervise()
        with session_scope(sessions) as s:
            succeeded = s.scalar(select(func.count()).select_from(Job).where(Job.status == "succeeded")) or 0
        time.sleep(0.1)
    assert succeeded == 12


def test_timeout_stops_the_run_and_fails_with_kind_timeout(sessions, make_reconciler) -> None:
    job_id = queue_job(sessions, "sleep", max_attempts=3)
    with session_scope(sessions) as s:
        s.get(Job, job_id).timeout_s = 1
    job = run_until(make_reconciler(), sessions, job_id, {"succeeded", "failed", "cancelled"})
    assert job.status == "failed" and job.error is not None
    assert job.error["kind"] == "timeout" and count(sessions, Attempt, job_id) == 1


def test_stalled_run_is_killed_and_retried(sessions, tmp_path) -> None:
    backend = LocalBackend(tmp_path / "runs", engine_command=FAKE)
    policy = ReconcilerPolicy(interval_s=0.05, cancel_grace_s=0.5, retry_backoff_s=0.0, stall_timeout_s=1.0)
    rec = Reconciler(sessions, {"local": backend}, store(tmp_path), policy=policy)
    job_id = queue_job(sessions, "ignore_term", max_attempts=2)
    job = run_until(rec, sessions, job_id, {"succeeded", "failed", "cancelled"}, limit_s=40)
    assert job.status == "failed" and job.error is not None and job.error["code"] == "stalled"
    assert count(sessions, Attempt, job_id) == 2


def test_the_loop_sweeps_uploads_abandoned_mid_way(sessions, tmp_path: Path) -> None:
    """A dataset whose upload process died stays ``uploading`` forever unless something sweeps it: the
    reconciler loop does, and removes the partial object it left."""
    from lorapipe.db.datasets import Dataset, DatasetStatus

    objects = store(tmp_path)
    policy = ReconcilerPolicy(interval_s=0.05, stale_upload_s=0.0, sweep_interval_s=3600)
    rec = Reconciler(sessions, {}, objects, policy=policy)
    objects.fs.makedirs(f"{objects.root}/.incoming", exist_ok=True)
    objects.fs.pipe(f"{objects.root}/.incoming/partial", b"half an upload")
    with session_scope(sessions) as s:
        s.add(Dataset(id="ds_stuck", owner_id="u", name="stuck", status=DatasetStatus.UPLOADING))
    time.sleep(0.05)
    rec.tick()
    with session_scope(sessions) as s:
        assert s.get(Dataset, "ds_stuck").status == DatasetStatus.ERROR
    assert not objects.fs.exists(f"{objects.root}/.incoming/partial")
    with session_scope(sessions) as s:  # the next sweep waits for its interval
        s.add(Dataset(id="ds_later", owner_id="u", name="later", status=DatasetStatus.UPLOADING))
    rec.tick()
    with session_scope(sessions) as s:
        assert s.get(Dataset, "ds_later").status == DatasetStatus.UPLOADING


def test_a_queued_job_wakes_the_loop_instead_of_waiting_for_its_interval(sessions, tmp_path: Path) -> None:
    """Creating a job (services/jobs.py) wakes this process's reconciler: with a warm engine the
    wait for the next tick would be most of the time to the job's first event."""
    import threading

    def started(job_id: str) -> None:
        deadline = time.monotonic() + 30  # a quarter of the loop's interval
        while True:
            with session_scope(sessions) as s:
                if s.get(Job, job_id).status == "running":
                    return
            assert time.monotonic() < deadline, "the job was not started before the loop's next tick"
            time.sleep(0.05)

    backend = LocalBackend(tmp_path / "runs", slots=2, engine_command=FAKE)
    rec = Reconciler(sessions, {"local": backend}, store(tmp_path), policy=ReconcilerPolicy(interval_s=120))
    first = queue_job(sessions, "sleep")
    stop = threading.Event()
    loop = threading.Thread(target=rec.run, args=(stop,))
    loop.start()
    try:
        started(first)  # by the loop's first tick
        time.sleep(1.5)  # past the quick tick after a submit: the loop now waits its 120 s
        second = queue_job(sessions, "sleep")
        dispatch_wake.job_queued()
        started(second)
    finally:
        stop.set()
        loop.join(timeout=5)
        for pid in list(backend._children):
            backend.cancel({"pid": pid}, force=True)
    assert not loop.is_alive()  # stop is seen within the wait, not after the interval
