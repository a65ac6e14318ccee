"""What crosses the RunPod serverless boundary: the job ``input`` the service sends to ``/run``, the
progress the worker posts with ``progress_update`` (RunPod shows the latest one as ``output`` of
``/status`` while the job runs), and the ``output`` of a finished job.

The service keeps its own record of everything (RunPod forgets results 30 minutes after a job ends):
each progress payload repeats the run's lifecycle events and the most recent metrics, so a poll that
misses an update loses no stage, checkpoint, warning or error — only metric points in between, which
the complete event log (uploaded to ``events_uri`` when the attempt ends) restores.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lorapipe.contract.config import config_problems
from lorapipe.contract.spec import TrainingJobSpec
from lorapipe.errors import ConfigError

PAYLOAD_VERSION = 1
#: How many of the latest metrics events each progress payload carries.
RECENT_METRICS = 32
#: How many lifecycle events (stage, checkpoint, warning, error, result) a payload carries at most.
LIFECYCLE_EVENTS = 200


class ServerlessInput(BaseModel):
    """The ``input`` of a RunPod job: one attempt of one job. No secrets: the dataset is a presigned URL
    or a store URL the worker's own credentials open; outputs go to store URLs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(default=PAYLOAD_VERSION, description="Payload schema version.")
    attempt_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    spec: TrainingJobSpec
    resume: bool = Field(default=False, description="Continue from the newest checkpoint in the store.")
    events_uri: str | None = Field(
        default=None, description="Store URL where the worker leaves the attempt's complete event log."
    )

    @field_validator("version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != PAYLOAD_VERSION:
            raise ValueError(
                f"payload version {v} is not supported by this worker (it reads {PAYLOAD_VERSION})"
            )
        return v

    @classmethod
    def parse(cls, raw: Any) -> ServerlessInput:
        """Validate a job input; every problem in one :class:`ConfigError` (a user error: not retried)."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = config_problems(exc)
            raise ConfigError(
                f"{len(problems)} problem(s) in the job input: " + "; ".join(problems),
                param="input",
                hint="the service and the worker image must be the same lorapipe version",
            ) from None


class ServerlessProgress(BaseModel):
    """What the worker posts with ``progress_update`` (RunPod's ``/status`` ``output`` while running)."""

    model_config = ConfigDict(extra="allow")

    kind: str = "lorapipe.progress"
    version: int = PAYLOAD_VERSION
    attempt_id: str
    #: Highest engine ``seq`` the worker has seen.
    seq: int = 0
    #: Lifecycle events so far (bounded) and the latest metrics events, in seq order. Each carries the
    #: worker run's tag ``run`` beside the engine's fields (a job RunPod runs again is two runs).
    events: list[dict[str, Any]] = Field(default_factory=list)


class ServerlessOutput(BaseModel):
    """The ``output`` of a finished RunPod job (alongside RunPod's ``error`` string when it failed)."""

    model_config = ConfigDict(extra="allow")

    kind: str = "lorapipe.result"
    version: int = PAYLOAD_VERSION
    attempt_id: str
    exit_code: int
    seq: int = 0
    events: list[dict[str, Any]] = Field(default_factory=list)
    #: The engine's ``error`` event, when the run failed with one.
    engine_error: dict[str, Any] | None = None
    #: Where the complete event log was stored (None when the upload failed).
    events_uri: str | None = None
    #: Last lines of the engine's stderr, for a failure message (secrets are never printed there).
    stderr_tail: str = ""
    #: The run's manifest (every artifact's path, size and sha256) when it succeeded.
    manifest: dict[str, Any] | None = None
