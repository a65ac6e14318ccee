"""Error classification: every failure gets a code, a kind, an exit code and advice."""

from __future__ import annotations

import pytest

from lorapipe.contract.events import ExitCode
from lorapipe.errors import ConfigError, ModelNotFoundError, NonFiniteLossError, TrainingOutOfMemoryError
from lorapipe.training.failures import classify, exit_code_for

pytestmark = pytest.mark.unit


def test_exit_codes_are_the_documented_ones() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3]
    assert [c.name for c in ExitCode] == ["SUCCESS", "SYSTEM_ERROR", "USER_ERROR", "CANCELLED"]


@pytest.mark.parametrize(
    ("exc", "code", "exit_code", "advice"),
    [
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), "out_of_memory", 2, "batch_size"),
        (MemoryError(), "out_of_memory", 2, "qlora"),
        (NonFiniteLossError("loss nan", hint="lower learning_rate"), "non_finite_loss", 2, "learning_rate"),
        (ModelNotFoundError("no model at /m", hint="looked in /m"), "model_not_found", 2, "/m"),
        (ConfigError("bad rank"), "invalid_config", 2, None),
        (KeyError("boom"), "internal_error", 1, "bug"),
    ],
)
def test_classification(exc: BaseException, code: str, exit_code: int, advice: str | None) -> None:
    err = classify(exc)
    assert err.code == code
    assert exit_code_for(err) == exit_code
    if advice:
        assert advice in (err.hint or "") + err.message
    if code == "out_of_memory":
        assert isinstance(err, TrainingOutOfMemoryError)


@pytest.mark.parametrize(
    "exc",
    [
        FileNotFoundError(2, "No such file or directory", "/srv/lorapipe/data/runs/job_1/secret.json"),
        OSError("/srv/lorapipe/models/base does not appear to have a file named config.json"),
        RuntimeError("could not read s3://bucket/runs/job_1/attempt_2/adapter/x?X-Amz-Signature=abc"),
    ],
)
def test_a_library_error_reaches_users_without_paths_or_urls(exc: BaseException) -> None:
    err = classify(exc)
    text = f"{err.message} {err.hint}"
    assert "/srv" not in text and "s3://" not in text and "Signature" not in text, text
    assert "<path>" in text or "<url>" in text
