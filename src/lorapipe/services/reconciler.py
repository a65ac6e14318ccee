"""The reconciler: one loop that moves jobs forward and keeps the database true.

Each :meth:`Reconciler.tick`:

1. adopts attempts whose supervising process died (a service killed mid-job): the orphaned run is
   stopped with SIGTERM (it checkpoints) and the job is retried from that checkpoint or failed;
2. polls its own attempts: ingests events, beats the heartbeat, kills stalled or timed-out runs,
   and finishes exited ones (verify artifacts -> ``succeeded``; otherwise ``failed``/retry);
3. delivers cancels: SIGTERM, then SIGKILL after the grace period;
4. dispatches queued jobs (``FOR UPDATE SKIP LOCKED`` on PostgreSQL + compare-and-set), so several
   reconcilers on one database never start a job twice;
5. sweeps, every few minutes, uploads abandoned mid-way and rented machines (pods) no live attempt owns.

Length: the phases above share the loop's state and policy and read in the order they run.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from lorapipe.backends.base import Backend, PollResult, Submission
from lorapipe.contract.job_states import JobStatus
from lorapipe.db.base import utcnow
from lorapipe.db.engine import session_scope
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Attempt, Job
from lorapipe.errors import CapacityError, InvalidTransitionError, LorapipeError
from lorapipe.jobs import store
from lorapipe.jobs.ingest import ingest_engine_events
from lorapipe.jobs.layout import attempt_spec
from lorapipe.jobs.schemas import JobError
from lorapipe.jobs.transition import transition
from lorapipe.services import dispatch_wake
from lorapipe.services.attempt_end import finish_attempt
from lorapipe.services.datasets import fail_stale_datasets
from lorapipe.storage import ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcilerPolicy:
    """Timing of the loop, in seconds."""

    interval_s: float = 1.0
    cancel_grace_s: float = 30.0
    #: A running attempt with no new event for this long is stalled: killed, then retried or failed.
    stall_timeout_s: float = 1800.0
    #: An attempt whose supervisor (on another host) has not beaten its heartbeat for this long is lost.
    heartbeat_timeout_s: float = 120.0
    #: Delay before retry n (1-based) is ``retry_backoff_s * 4**(n-1)``.
    retry_backoff_s: float = 5.0
    #: How often the sweep runs: uploads abandoned mid-way (their process died) end in ``error``.
    sweep_interval_s: float = 300.0
    #: A dataset still ``uploading``/``validating`` after this long, or a partial object this old, is
    #: abandoned (well above the longest upload: a live one must never be swept).
    stale_upload_s: float = 6 * 3600.0


#: After a tick that submitted attempts, the next one comes this soon (seconds) to ingest their first events.
FIRST_EVENTS_S = 0.3


def make_worker_id() -> str:
    """``host:pid:nonce`` names this reconciler; the pid lets a restart on the same host see that the
    previous supervisor is dead without waiting for its heartbeat to expire."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _supervisor_dead(worker_id: str | None) -> bool:
    if not worker_id:
        return True
    host, _, rest = worker_id.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Reconciler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        backends: dict[str, Backend],
        objects: ObjectStore,
        *,
        policy: ReconcilerPolicy | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.backends = backends
        self.objects = objects
        self.policy = policy or ReconcilerPolicy()
        self.worker_id = worker_id or make_worker_id()
        self._swept_at: float | None = None
        self._submitted = 0  # attempts the last tick submitted

    # --- the loop ---------------------------------------------------------------------------------

    def tick(self) -> None:
        self.adopt_orphans()
        self.supervise()
        self.deliver_cancels()
        self._submitted = self.dispatch()
        self.sweep()

    def sweep(self, *, now: float | None = None) -> None:
        """Every ``sweep_interval_s``: fail datasets abandoned mid-upload and delete partial objects."""
        now = time.monotonic() if now is None else now
        if self._swept_at is not None and now - self._swept_at < self.policy.sweep_interval_s:
            return
        self._swept_at = now
        stale = dt.timedelta(seconds=self.policy.stale_upload_s)
        with session_scope(self.sessions) as s:
            failed = fail_stale_datasets(s, self.objects, older_than=stale)
        removed = self.objects.purge_incoming(stale)
        if failed or removed:
            log.warning(
                "sweep: %d abandoned upload(s) failed, %d partial object(s) removed", len(failed), removed
            )
        self._sweep_machines()

    def _sweep_machines(self) -> None:
        """Backends that rent machines (an optional ``sweep(live_attempt_ids_reader) -> terminated ids``) terminate
        those no live attempt owns: left by a service that died, or by a terminate that failed."""

        def live() -> set[str]:
            # Called by each backend after it listed its machines (see RunpodPodBackend.sweep).
            with session_scope(self.sessions) as s:
                return {a.id for a in store.open_attempts(s)}

        for name, backend in self.backends.items():
            sweep = getattr(backend, "sweep", None)
            if not callable(sweep):
                continue
            try:
                terminated = sweep(live)
            except LorapipeError as exc:
                log.warning("sweep: %s could not list its machines: %s", name, exc.message)
                continue
            if terminated:
                log.warning(
                    "sweep: %s terminated %d orphaned machine(s): %s",
                    name,
                    len(terminated),
                    ", ".join(terminated),
                )

    def run(self, stop: threading.Event) -> None:
        """Tick until ``stop`` is set; an error in one tick is logged and the loop goes on."""
        log.info("reconciler %s started", self.worker_id)
        try:
            while not stop.is_set():
                dispatch_wake.clear()
                try:
                    self.tick()
                except Exception:  # the loop must outlive a bad row or a flaky database
                    log.exception("reconciler tick failed")
                # Soon after a submit, once: a warm attempt's first events are written within a few
                # tenths of a second, and a user watching the job sees them without a whole interval.
                soon = min(self.policy.interval_s, FIRST_EVENTS_S) if self._submitted else None
                dispatch_wake.wait(stop, soon or self.policy.interval_s)
        finally:
            self.close()

    def close(self) -> None:
        """Backends that hold a process of their own (an optional ``close()``: the local backend's warm
        engine) stop it; the runs they started go on and are adopted by the next reconciler."""
        for name, backend in self.backends.items():
            close = getattr(backend, "close", None)
            if callable(close):
                try:
                    close()
                except Exception:
                    log.exception("closing backend %s failed", name)

    # --- 1. orphans --------------------------------------------------------------------------------

    def adopt_orphans(self) -> None:
        now = utcnow()
        with session_scope(self.sessions) as s:
            for attempt in store.open_attempts(s):
                if attempt.worker_id == self.worker_id:
                    continue
                stale = attempt.heartbeat_at is None or (now - attempt.heartbeat_at).total_seconds() > (
                    self.policy.heartbeat_timeout_s
                )
                if not (_supervisor_dead(attempt.worker_id) or stale):
                    continue
                previous = attempt.worker_id
                attempt.worker_id = self.worker_id
                attempt.handle = {**attempt.handle, "adopted_from": previous}
                backend = self.backends.get(attempt.backend)
                if attempt.handle and backend is not None:
                    # Its supervisor is gone, so its exit status can never be read: stop it cleanly
                    # (the engine checkpoints on SIGTERM) and retry from the checkpoint.
                    backend.cancel(attempt.handle)
                    attempt.term_sent_at = now
                log.warning(
                    "attempt %s of job %s adopted from dead supervisor %s",
                    attempt.id,
                    attempt.job_id,
                    previous,
                )

    # --- 2. supervision ----------------------------------------------------------------------------

    def supervise(self) -> None:
        with session_scope(self.sessions) as s:
            attempt_ids = [a.id for a in store.open_attempts(s) if a.worker_id == self.worker_id]
        for attempt_id in attempt_ids:
            try:
                self._supervise_one(attempt_id)
            except Exception:
                log.exception("supervising attempt %s failed", attempt_id)

    def _supervise_one(self, attempt_id: str) -> None:
        with session_scope(self.sessions) as s:
            attempt = s.get(Attempt, attempt_id)
            job = store.lock_job(s, attempt.job_id) if attempt else None
            if attempt is None or job is None:
                return
            backend = self.backends.get(attempt.backend)
            if backend is None or not attempt.handle:
                # Never submitted (the supervisor died between claim and start): nothing can be running.
                finish_attempt(
                    s, job, attempt, PollResult(state="lost"), self.objects, self.policy.retry_backoff_s
                )
                return
            result = backend.poll(attempt.handle)
            attempt.handle = result.handle
            ingest_engine_events(s, attempt, result.events)
            now = utcnow()
            attempt.heartbeat_at = now
            if result.state == "running":
                self._enforce_limits(s, job, attempt, backend, now)
                return
            finish_attempt(s, job, attempt, result, self.objects, self.policy.retry_backoff_s)

    def _enforce_limits(
        self, s: Session, job: Job, attempt: Attempt, backend: Backend, now: dt.datetime
    ) -> None:
        if attempt.term_sent_at is not None:
            if (now - attempt.term_sent_at).total_seconds() > self.policy.cancel_grace_s:
                backend.cancel(attempt.handle, force=True)
            return
        if attempt.handle.get("queued"):
            return  # waiting for a rented worker: the provider's own queue limit (ttl) applies
        reason: str | None = None
        # A provider that enforces the time limit itself (RunPod's executionTimeout) counts from when its
        # worker started the run; this clock counts from the claim (queue and cold start included), so it
        # would always fire first and turn the provider's resumable timeout into a final failure.
        own_clock = not attempt.handle.get("timed_by_provider")
        if own_clock and job.timeout_s and (now - attempt.started_at).total_seconds() > job.timeout_s:
            reason = "timeout"
        last = attempt.last_event_at or attempt.started_at
        if (now - last).total_seconds() > self.policy.stall_timeout_s:
            reason = "stalled"
        if reason:
            attempt.handle = {**attempt.handle, "stop_reason": reason}
            attempt.term_sent_at = now
            backend.cancel(attempt.handle)
            log.warning("attempt %s stopped: %s", attempt.id, reason)

    # --- 3. cancels --------------------------------------------------------------------------------

    def deliver_cancels(self) -> None:
        now = utcnow()
        with session_scope(self.sessions) as s:
            for job in store.active_jobs(s, frozenset({JobStatus.CANCELLING})):
                attempt = store.current_attempt(s, job.id)
                if attempt is None or attempt.status in ("exited", "lost"):
                    transition(s, job, JobStatus.CANCELLED, "cancelled before the run started")
                    continue
                if (
                    attempt.worker_id != self.worker_id
                    or attempt.term_sent_at is not None
                    or not attempt.handle
                ):
                    # Its supervisor delivers it (once the run has a handle); the grace-period kill
                    # is in _enforce_limits.
                    continue
                backend = self.backends.get(attempt.backend)
                if backend is not None:
                    backend.cancel(attempt.handle)
                attempt.term_sent_at = now

    # --- 4. dispatch -------------------------------------------------------------------------------

    def dispatch(self) -> int:
        """Start queued jobs where there is room; returns how many were submitted."""
        submitted = 0
        for name, backend in self.backends.items():
            free = backend.free_slots()
            if free <= 0:
                continue
            for submission in self._claim(name, free):
                self._start(backend, submission)
                submitted += 1
        return submitted

    def _claim(self, backend_name: str, limit: int) -> list[Submission]:
        claimed: list[Submission] = []
        with session_scope(self.sessions) as s:
            for job in store.claim_queued_jobs(s, limit * 4):
                if job.backend != backend_name or len(claimed) >= limit:
                    continue
                try:
                    transition(s, job, JobStatus.PROVISIONING, f"picked by reconciler {self.worker_id}")
                except InvalidTransitionError:
                    continue  # another reconciler took it first
                number = store.attempt_count(s, job.id) + 1
                resume = store.latest_checkpoint(s, job.id) is not None
                attempt = Attempt(
                    id=new_id("attempt"),
                    job_id=job.id,
                    number=number,
                    backend=backend_name,
                    worker_id=self.worker_id,
                    resume=resume,
                    heartbeat_at=utcnow(),
                )
                s.add(attempt)
                claimed.append(
                    Submission(
                        job_id=job.id,
                        attempt_id=attempt.id,
                        spec=attempt_spec(dict(job.spec), self.objects, job.id, attempt.id),
                        resume=resume,
                        timeout_s=job.timeout_s,
                    )
                )
        return claimed

    def _start(self, backend: Backend, submission: Submission) -> None:
        handle: dict[str, Any] | None = None
        error: LorapipeError | None = None
        try:
            handle = backend.submit(submission)
        except LorapipeError as exc:
            error = exc
        except OSError as exc:
            error = LorapipeError(f"could not start the engine: {exc}")
        with session_scope(self.sessions) as s:
            attempt = s.get(Attempt, submission.attempt_id)
            job = store.lock_job(s, submission.job_id)
            assert attempt is not None and job is not None
            if handle is not None:
                attempt.handle = handle
                attempt.status = "running"
                if job.status == JobStatus.PROVISIONING:
                    where = f"pid {handle['pid']}" if "pid" in handle else backend.name
                    transition(s, job, JobStatus.RUNNING, f"attempt {attempt.number} started ({where})")
                return
            assert error is not None
            attempt.status, attempt.ended_at, attempt.exit_reason = "lost", utcnow(), error.message
            if isinstance(error, CapacityError):
                transition(s, job, JobStatus.QUEUED, f"no capacity: {error.message}")
                job.not_before = utcnow() + dt.timedelta(seconds=self.policy.retry_backoff_s)
            elif job.status == JobStatus.PROVISIONING:
                transition(
                    s,
                    job,
                    JobStatus.FAILED,
                    "the backend refused the job",
                    error=JobError.from_exception(error),
                )
