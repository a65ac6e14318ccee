"""Response schemas of the /v1 routes, for the OpenAPI document: OpenAI's object shapes, open to the
additional fields we add (``extra="allow"``), so clients that know OpenAI's shapes keep working."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lorapipe.contract.job_states import JobStatus


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class JobErrorOut(_Open):
    code: str
    message: str
    param: str | None = None
    kind: Literal["user", "system", "capacity", "timeout"] = Field(
        description="Decides retries; our addition."
    )


class FileOut(_Open):
    id: str
    object: Literal["file"]
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"]
    status_details: str | None = None


class JobOut(_Open):
    id: str
    object: Literal["fine_tuning.job"]
    created_at: int
    finished_at: int | None = None
    model: str
    fine_tuned_model: str | None = None
    organization_id: str
    status: JobStatus
    training_file: str
    validation_file: str | None = None
    hyperparameters: dict[str, Any]
    result_files: list[str]
    trained_tokens: int | None = None
    seed: int
    error: JobErrorOut | None = None
    metadata: dict[str, str] | None = None
    backend: str = Field(description="Where the job runs (our addition).")
    status_reason: str | None = Field(
        default=None, description="Why the job is in its status (our addition)."
    )


class EventOut(_Open):
    id: str
    object: Literal["fine_tuning.job.event"]
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    type: Literal["message", "metrics"]
    data: dict[str, Any]


class CheckpointOut(_Open):
    id: str
    object: Literal["fine_tuning.job.checkpoint"]
    created_at: int
    fine_tuning_job_id: str
    fine_tuned_model_checkpoint: str
    step_number: int
    metrics: dict[str, Any]


class FileDeletedOut(_Open):
    id: str
    object: Literal["file"]
    deleted: bool


class ModelOut(_Open):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class _Page(_Open):
    object: Literal["list"]
    has_more: bool
    first_id: str | None = None
    last_id: str | None = None


class FileList(_Page):
    data: list[FileOut]


class JobList(_Page):
    data: list[JobOut]


class EventList(_Page):
    data: list[EventOut]


class CheckpointList(_Page):
    data: list[CheckpointOut]


class ModelList(_Open):
    object: Literal["list"]
    data: list[ModelOut]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str
    kind: Literal["user", "system", "capacity", "timeout"]


class ErrorOut(BaseModel):
    """OpenAI's error envelope, with our ``kind``."""

    error: ErrorBody


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": what}
    for status, what in (
        (400, "Invalid request; `param` names the field"),
        (401, "Missing, unknown or revoked API key"),
        (404, "No such object, or it belongs to another user"),
        (409, "Conflict: a state the object cannot leave, or an Idempotency-Key reused with another body"),
        (413, "Upload larger than the limit"),
    )
}
