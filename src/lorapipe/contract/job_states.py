"""The job status vocabulary: what a job and an attempt can be, as the API, the database's CHECK
constraints, the CLI and the dashboard all name it. Which moves between them are allowed is the job
domain's business (:mod:`lorapipe.jobs.states`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class JobStatus(StrEnum):
    """A fine-tuning job's status. The first five are active, the last three terminal."""

    VALIDATING_FILES = "validating_files"
    QUEUED = "queued"
    PROVISIONING = "provisioning"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL: frozenset[JobStatus] = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE: frozenset[JobStatus] = frozenset(set(JobStatus) - TERMINAL)

#: Status strings as the database CHECK constraint lists them.
STATUS_VALUES: tuple[str, ...] = tuple(s.value for s in JobStatus)

AttemptStatus = Literal["starting", "running", "exited", "lost"]
ATTEMPT_STATUS_VALUES: tuple[str, ...] = ("starting", "running", "exited", "lost")
