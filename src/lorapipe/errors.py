"""Error hierarchy. Each class has a stable ``code`` the API and the CLI report, a ``kind``
(user, system, capacity, timeout) that decides retries, and the HTTP status the API answers with.

Specific errors also inherit the matching builtin (``ValueError``, ``FileNotFoundError``, ...), so
code that catches builtins keeps working.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

ErrorKind = Literal["user", "system", "capacity", "timeout"]


class LorapipeError(Exception):
    """Base of every error lorapipe raises on purpose."""

    code: ClassVar[str] = "internal_error"
    kind: ClassVar[ErrorKind] = "system"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, param: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.hint = hint

    def to_dict(self) -> dict[str, Any]:
        """The error object the API returns: ``{code, message, param, kind}`` plus a hint."""
        return {
            "code": self.code,
            "message": self.message,
            "param": self.param,
            "kind": self.kind,
            "hint": self.hint,
        }

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


# --- user errors: the caller can fix them; never retried -------------------------------------------


class UserError(LorapipeError):
    code = "invalid_request"
    kind = "user"
    http_status = 400


class ConfigError(UserError, ValueError):
    """A setting or hyperparameter out of range; ``param`` names the field."""

    code = "invalid_config"


class DatasetError(UserError, ValueError):
    """A dataset that cannot be used; the validation report has the details."""

    code = "invalid_dataset"


class DatasetFormatError(DatasetError):
    """The file's format could not be recognised or does not match the one asked for."""

    code = "unknown_dataset_format"


class StorageKeyError(UserError, ValueError):
    """An object-store key that is absolute, escapes its root, or has forbidden characters."""

    code = "invalid_storage_key"


class TooLargeError(UserError):
    code = "file_too_large"
    http_status = 413


class NotFoundError(LorapipeError, LookupError):
    code = "not_found"
    kind = "user"
    http_status = 404


class ObjectNotFoundError(NotFoundError, FileNotFoundError):
    code = "object_not_found"


class ModelNotFoundError(NotFoundError, FileNotFoundError):
    code = "model_not_found"


class ConflictError(LorapipeError):
    code = "conflict"
    kind = "user"
    http_status = 409


class InvalidTransitionError(ConflictError):
    code = "invalid_state_transition"


class AuthError(LorapipeError):
    code = "invalid_api_key"
    kind = "user"
    http_status = 401


# --- errors that are not the caller's fault ------------------------------------------------------


class StorageError(LorapipeError, OSError):
    code = "storage_error"


class IntegrityError(LorapipeError):
    """An artifact whose size or checksum does not match its manifest."""

    code = "artifact_integrity"


class RateLimitedError(LorapipeError):
    """The caller holds as much of a shared resource as one user may (uploads, streams, jobs)."""

    code = "rate_limited"
    kind = "capacity"
    http_status = 429

    def __init__(self, message: str, *, retry_after_s: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


class CapacityError(LorapipeError):
    """No GPU/worker available now; retried with backoff."""

    code = "capacity_unavailable"
    kind = "capacity"
    http_status = 503


class JobTimeoutError(LorapipeError, TimeoutError):
    code = "timeout"
    kind = "timeout"
    http_status = 504


# --- training engine ------------------------------------------------------------------------------


class TrainingOutOfMemoryError(UserError, MemoryError):
    """The run does not fit the device's memory with this config."""

    code = "out_of_memory"


class NonFiniteLossError(UserError, ArithmeticError):
    """The loss or gradient norm became NaN or infinite."""

    code = "non_finite_loss"


# --- models ---------------------------------------------------------------------------------------


class UnknownModelError(ConfigError):
    """A model name that is neither in the catalogue nor a usable path or hub id."""

    code = "unknown_model"


class ModelDownloadError(CapacityError):
    """The hub did not deliver the base model (unreachable, too slow, or no progress): not the caller's
    fault, so the attempt is retried within the job's ``max_attempts``."""

    code = "model_download_failed"


# --- costs ----------------------------------------------------------------------------------------


class BudgetExceededError(UserError):
    """A new job would take this month's spend to 100 % of the user's budget (no override given)."""

    code = "budget_exceeded"
    http_status = 402
