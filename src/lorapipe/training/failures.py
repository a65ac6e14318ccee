"""How a run ends: the documented exit codes, and turning any exception into a coded error with advice.

Exit codes of ``python -m lorapipe.training``:

====  =============  =====================================================================
code  name           meaning
====  =============  =====================================================================
0     SUCCESS        adapter and manifest written (and uploaded when asked)
1     SYSTEM_ERROR   not the caller's fault (bug, disk, network); retrying may help
2     USER_ERROR     bad spec/config/data, missing model, out of memory, NaN loss: fix, then rerun
3     CANCELLED      SIGTERM/SIGINT: a checkpoint was saved when training had started; no final adapter
====  =============  =====================================================================

The ``error`` event carries ``code``, ``kind``, ``message``, ``param`` and ``hint``. It reaches users,
so the text of a library's exception goes into it with paths and URLs replaced (:func:`redact`); the
whole traceback stays on stderr for the operator.
"""

from __future__ import annotations

import re
import signal
from typing import Any

from lorapipe.contract.events import ExitCode
from lorapipe.errors import (
    LorapipeError,
    ModelNotFoundError,
    TrainingOutOfMemoryError,
)


class CancelFlag:
    """Set by SIGTERM/SIGINT; the engine checks it between stages and the Trainer after each step."""

    def __init__(self) -> None:
        self.requested = False

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: Any) -> None:
        self.requested = True


class Cancelled(Exception):
    """Raised inside the engine once a cancel request has been honoured."""

    def __init__(self, checkpoint: str | None) -> None:
        super().__init__("cancelled" + (f" after saving {checkpoint}" if checkpoint else " before training"))
        self.checkpoint = checkpoint


OOM_HINT = "use a smaller batch_size or max_length, enable gradient_checkpointing, or method 'qlora'"
NAN_HINT = (
    "lower learning_rate (e.g. halve it), keep max_grad_norm at 1.0, or use precision 'bf16' not 'fp16'"
)


_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_PATH = re.compile(r"(?<![\w.:/-])(?:~|\.{1,2})?/[^\s'\"<>(),:;]+")


def redact(text: str) -> str:
    """``text`` without URLs (``<url>``) or absolute and dotted paths (``<path>``)."""
    return _PATH.sub("<path>", _URL.sub("<url>", text))


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    text = str(exc).lower()
    return name == "OutOfMemoryError" or "out of memory" in text or "cuda error: out of memory" in text


def classify(exc: BaseException) -> LorapipeError:
    """The coded error for ``exc``: our own errors pass through; known library failures get advice."""
    if isinstance(exc, LorapipeError):
        return exc
    if _is_oom(exc):
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        return TrainingOutOfMemoryError(f"out of memory: {redact(first_line)}", hint=OOM_HINT)
    if isinstance(exc, OSError) and (
        "does not appear to have a file named" in str(exc) or "not a valid" in str(exc)
    ):
        return ModelNotFoundError(
            redact(str(exc)[:500]), param="model", hint="check the model path or hub id"
        )
    if isinstance(exc, ImportError) and "bitsandbytes" in str(exc):
        return LorapipeError(
            redact(str(exc)), param="config.method", hint="install bitsandbytes on a CUDA machine for qlora"
        )
    return LorapipeError(
        f"{type(exc).__name__}: {redact(str(exc)[:500])}", hint="a bug or an environment problem"
    )


def exit_code_for(error: LorapipeError) -> ExitCode:
    return ExitCode.USER_ERROR if error.kind == "user" else ExitCode.SYSTEM_ERROR
