"""The engine as a process: exact resume after SIGKILL, SIGTERM -> checkpoint + "cancelled", exit codes.
Each run is started cold (``python -m lorapipe.training``) and forked by the warm engine (``launch``);
the uninterrupted reference run is always cold, so a warm run's losses are checked against it."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from engine_process import Event, run_engine, train_losses, write_spec

from lorapipe.backends.warm_engine import WarmEngine
from lorapipe.contract.events import ExitCode
from lorapipe.settings import Settings

pytestmark = pytest.mark.e2e

RESUME_TOLERANCE = 1e-6
"""Absolute difference allowed between the losses of the resumed and the uninterrupted run. On one
machine the restored model, optimizer, scheduler, data order and RNG give bit-identical losses; the
tolerance only absorbs kernel nondeterminism on other hardware."""


def test_resume_after_sigkill_continues_the_loss_curve_exactly(
    engine_dataset: Path, model_settings: Settings, tmp_path: Path, launch: WarmEngine | None
) -> None:
    # dropout on, 2.7 epochs, accumulation 2, cosine schedule: every piece of state matters
    spec = write_spec(tmp_path / "spec.json", engine_dataset, max_steps=24, eval_steps=4, save_steps=4)
    code, straight = run_engine(spec, tmp_path / "straight", model_settings)
    assert code == ExitCode.SUCCESS

    def kill_after_checkpoint_8(event: Event, pid: int) -> bool:
        if event["type"] == "checkpoint" and event["step"] >= 8:
            os.kill(pid, signal.SIGKILL)
            return True
        return False

    out = tmp_path / "interrupted"
    code, first = run_engine(spec, out, model_settings, on_event=kill_after_checkpoint_8, warm=launch)
    assert code == -signal.SIGKILL
    assert not (out / "adapter_model.safetensors").exists()
    code, resumed = run_engine(spec, out, model_settings, resume=True, warm=launch)
    assert code == ExitCode.SUCCESS

    expected, got = train_losses(straight), train_losses(resumed)
    resumed_from = min(got) - 1
    assert resumed_from >= 8 and max(got) == 24
    for step in range(resumed_from + 1, 25):
        assert abs(got[step] - expected[step]) <= RESUME_TOLERANCE, step
    final_straight = straight[-1]["metrics"]
    final_resumed = resumed[-1]["metrics"]
    assert abs(final_straight["eval_loss_after"] - final_resumed["eval_loss_after"]) <= RESUME_TOLERANCE
    assert final_resumed["trained_tokens"] == final_straight["trained_tokens"]
    assert resumed[0]["seq"] > first[-1]["seq"]  # the stream continues, never repeats a seq
    logged = [json.loads(x)["seq"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged == sorted(set(logged))


def test_sigterm_saves_a_checkpoint_and_exits_cancelled_without_an_adapter(
    engine_dataset: Path, model_settings: Settings, tmp_path: Path, launch: WarmEngine | None
) -> None:
    spec = write_spec(tmp_path / "spec.json", engine_dataset, max_steps=60, save_steps=1000, dropout=0.0)
    out = tmp_path / "out"

    def terminate_when_training(event: Event, pid: int) -> bool:
        if event["type"] == "stage" and event["stage"] == "training":
            os.kill(pid, signal.SIGTERM)
        return False

    code, events = run_engine(spec, out, model_settings, on_event=terminate_when_training, warm=launch)
    assert code == ExitCode.CANCELLED
    result = events[-1]
    assert result["type"] == "result" and result["status"] == "cancelled" and result["exit_code"] == 3
    checkpoints = [e for e in events if e["type"] == "checkpoint"]
    assert len(checkpoints) == 1 and checkpoints[0]["step"] < 60
    ckpt = out / checkpoints[0]["path"]
    assert (ckpt / "adapter_model.safetensors").exists() and (ckpt / "trainer_state.json").exists()
    assert result["checkpoint"].endswith(checkpoints[0]["path"])
    for final in ("adapter_model.safetensors", "adapter_config.json", "manifest.json", "README.md"):
        assert not (out / final).exists(), final

    code, resumed = run_engine(spec, out, model_settings, resume=True, warm=launch)
    assert code == ExitCode.SUCCESS and resumed[-1]["status"] == "succeeded"
    assert min(train_losses(resumed)) == checkpoints[0]["step"] + 1
    assert (out / "adapter_model.safetensors").exists()


def test_user_errors_exit_2_with_a_coded_error_event(
    model_settings: Settings, tmp_path: Path, launch: WarmEngine | None
) -> None:
    spec = write_spec(tmp_path / "spec.json", tmp_path / "missing.jsonl")
    code, events = run_engine(spec, tmp_path / "out", model_settings, warm=launch)
    assert code == ExitCode.USER_ERROR
    error = next(e for e in events if e["type"] == "error")
    assert (
        error["code"] == "object_not_found"
        and error["kind"] == "user"
        and "missing.jsonl" in error["message"]
    )
    assert events[-1] == {**events[-1], "type": "result", "status": "failed", "exit_code": 2}
