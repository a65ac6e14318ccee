"""Job states and the explicit table of allowed transitions.

The table is the whole contract: a transition not listed here is rejected by
:func:`lorapipe.jobs.transition.transition`, the only code that writes ``jobs.status``.
"""

from __future__ import annotations

from lorapipe.contract.job_states import JobStatus
from lorapipe.errors import InvalidTransitionError

S = JobStatus
#: from-state -> the states it may move to. Why each edge exists:
#: - queued <- provisioning/running: a capacity or system failure retried from the last checkpoint.
#: - cancelling is reachable only while something may be running; a job that never reached a
#:   backend is cancelled directly.
#: - cancelling -> succeeded/failed: the process finished (or crashed) before it saw the signal;
#:   the outcome that really happened is recorded, never papered over as "cancelled".
ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    S.VALIDATING_FILES: frozenset({S.QUEUED, S.FAILED, S.CANCELLED}),
    S.QUEUED: frozenset({S.PROVISIONING, S.FAILED, S.CANCELLED}),
    S.PROVISIONING: frozenset({S.RUNNING, S.QUEUED, S.CANCELLING, S.FAILED, S.CANCELLED}),
    S.RUNNING: frozenset({S.QUEUED, S.CANCELLING, S.SUCCEEDED, S.FAILED}),
    S.CANCELLING: frozenset({S.CANCELLED, S.SUCCEEDED, S.FAILED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}
del S


def check_transition(current: JobStatus | str, target: JobStatus | str) -> tuple[JobStatus, JobStatus]:
    """Validate ``current -> target`` against :data:`ALLOWED`; return both as enums.

    Raises :class:`InvalidTransitionError` (HTTP 409) for an unknown state or an edge not in the table.
    """
    try:
        src, dst = JobStatus(current), JobStatus(target)
    except ValueError as exc:
        raise InvalidTransitionError(f"unknown job status: {exc}", param="status") from exc
    if dst not in ALLOWED[src]:
        allowed = ", ".join(sorted(ALLOWED[src])) or "none (terminal)"
        raise InvalidTransitionError(
            f"a job cannot go from {src.value} to {dst.value}",
            param="status",
            hint=f"from {src.value} the allowed next states are: {allowed}",
        )
    return src, dst
