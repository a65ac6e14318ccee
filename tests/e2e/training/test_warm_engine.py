"""The local backend's warm engine with the real engine: attempts forked by the zygote start without
importing torch again, their exit status comes from the zygote's file (also to a restarted service),
and a zygote that dies or hangs costs no submission."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_process import engine_env, write_spec

from lorapipe.backends.base import PollResult, Submission
from lorapipe.backends.local import ENGINE_COMMAND, LocalBackend, process_start_ticks
from lorapipe.backends.warm_engine import WarmEngine, ZygoteUnavailable
from lorapipe.contract.events import ExitCode
from lorapipe.settings import Settings

pytestmark = pytest.mark.e2e


def submission(spec: Path, attempt: str, *, resume: bool = False) -> Submission:
    return Submission(job_id="job", attempt_id=attempt, spec=json.loads(spec.read_text()), resume=resume)


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def poll_until_ended(backend: LocalBackend, handle: dict[str, Any], limit_s: float = 300) -> PollResult:
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + limit_s
    while True:
        result = backend.poll(handle)
        handle = result.handle
        events += result.events
        for event in result.events:  # kept in the handle, as the reconciler's ingestion does
            if event["type"] == "result":
                handle = {**handle, "engine_result": event}
        if result.state != "running":
            result.events = events
            return result
        assert time.monotonic() < deadline, "the run did not end"
        time.sleep(0.05)


def first_event_s(handle: dict[str, Any], since: float) -> float:
    path = Path(handle["events_path"])
    deadline = time.monotonic() + 120
    while not (path.exists() and path.read_bytes().count(b"\n")):
        assert time.monotonic() < deadline, "no first event"
        time.sleep(0.01)
    return time.monotonic() - since


@pytest.fixture
def backend(model_settings: Settings, tmp_path: Path) -> Iterator[LocalBackend]:
    made = LocalBackend(tmp_path / "runs", warm=True, env=engine_env(model_settings))
    yield made
    made.close()


def test_a_warm_attempt_is_forked_by_the_zygote_and_reports_before_an_import_would_end(
    backend: LocalBackend, engine_dataset: Path, tmp_path: Path
) -> None:
    spec = write_spec(tmp_path / "spec.json", engine_dataset, max_steps=2, sample_prompts=0)
    # The first submit waits for the zygote's imports; it fails at once (no such dataset), freeing the slot.
    warmup = backend.submit(submission(write_spec(tmp_path / "w.json", tmp_path / "none.jsonl"), "warmup"))
    assert poll_until_ended(backend, warmup).exit_code == ExitCode.USER_ERROR
    assert backend.warm is not None and backend.warm.info["ready"]
    started = time.monotonic()
    handle = backend.submit(submission(spec, "a1"))
    assert handle["argv"][:3] == list(ENGINE_COMMAND) and handle["argv"][3] == "run"  # the cold path's argv
    assert parent_of(int(handle["pid"])) == backend.warm.pid  # forked, not a fresh interpreter
    # Relative to the zygote's own import of the engine's libraries, measured in this run: a child
    # that imported torch itself could not report sooner than that.
    assert first_event_s(handle, started) < backend.warm.info["import_s"]
    result = poll_until_ended(backend, handle)
    assert result.state == "exited" and result.exit_code == ExitCode.SUCCESS, result.stderr_tail
    assert json.loads(Path(handle["exit_path"]).read_text()) == {"pid": handle["pid"], "returncode": 0}
    assert (Path(handle["out_dir"]) / "adapter_model.safetensors").exists()


def test_exit_codes_come_from_the_zygotes_file_also_after_a_service_restart(
    backend: LocalBackend, engine_dataset: Path, tmp_path: Path
) -> None:
    user_error = backend.submit(submission(write_spec(tmp_path / "bad.json", tmp_path / "none.jsonl"), "a1"))
    result = poll_until_ended(backend, user_error)
    assert result.state == "exited" and result.exit_code == ExitCode.USER_ERROR
    assert json.loads(Path(user_error["exit_path"]).read_text())["returncode"] == ExitCode.USER_ERROR

    # A run killed outright reports nothing: only its parent knows how it ended. A service restarted
    # after its predecessor started the run (a new backend: the run is not its child) reads it.
    spec = write_spec(tmp_path / "spec.json", engine_dataset, max_steps=500, save_steps=1000)
    handle = backend.submit(submission(spec, "a2"))
    first_event_s(handle, time.monotonic())
    restarted = LocalBackend(tmp_path / "runs")
    assert restarted.poll(handle).handle.get("orphan") is True
    restarted.cancel(handle, force=True)  # SIGKILL to the run's process group
    result = poll_until_ended(restarted, handle)
    assert result.state == "exited" and result.exit_code == -signal.SIGKILL


def test_cancel_checkpoints_and_the_warm_retry_resumes_after_it(
    backend: LocalBackend, engine_dataset: Path, tmp_path: Path
) -> None:
    # 100 steps: the cancel must land mid-run even when this loop is descheduled for a second or two.
    spec = write_spec(tmp_path / "spec.json", engine_dataset, max_steps=100, save_steps=1000, dropout=0.0)
    handle = backend.submit(submission(spec, "a1"))
    assert backend.free_slots() == 0  # a warm child takes the slot
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + 240
    while not any(e["type"] == "stage" and e.get("stage") == "training" for e in events):
        assert time.monotonic() < deadline, "training did not start"
        result = backend.poll(handle)
        handle, events = result.handle, events + result.events
        time.sleep(0.05)
    backend.cancel(handle)  # SIGTERM to its process group, as a user's cancel
    result = poll_until_ended(backend, handle)
    assert result.state == "exited" and result.exit_code == ExitCode.CANCELLED, result.stderr_tail
    checkpoints = [e for e in events + result.events if e["type"] == "checkpoint"]
    assert len(checkpoints) == 1
    assert backend.free_slots() == 1

    retry = backend.submit(submission(spec, "a2", resume=True))
    assert "exit_path" in retry and retry["argv"][-1] == "--resume"
    result = poll_until_ended(backend, retry)
    assert result.state == "exited" and result.exit_code == ExitCode.SUCCESS, result.stderr_tail
    trained = [e["step"] for e in result.events if e["type"] == "metrics" and e.get("phase") == "train"]
    assert trained and min(trained) == checkpoints[0]["step"] + 1


def test_a_zygote_killed_mid_run_loses_neither_the_run_nor_the_next_submission(
    backend: LocalBackend, engine_dataset: Path, tmp_path: Path
) -> None:
    # 40 steps: the run must outlive the zygote's kill (after its first event) on a loaded machine.
    spec = write_spec(tmp_path / "spec.json", engine_dataset, max_steps=40, sample_prompts=0)
    handle = backend.submit(submission(spec, "a1"))
    first_event_s(handle, time.monotonic())
    assert backend.warm is not None and backend.warm.pid is not None
    os.kill(backend.warm.pid, signal.SIGKILL)
    # The run goes on without its parent; no exit file is written, so its own result event tells.
    result = poll_until_ended(backend, handle)
    assert result.state == "exited" and result.exit_code == ExitCode.SUCCESS, result.stderr_tail
    assert not Path(handle["exit_path"]).exists()

    # The next submission starts a new zygote and is forked by it.
    again = backend.submit(submission(write_spec(tmp_path / "bad.json", tmp_path / "none.jsonl"), "a2"))
    assert again["zygote"]["pid"] != handle["zygote"]["pid"] and "exit_path" in again
    assert poll_until_ended(backend, again).exit_code == ExitCode.USER_ERROR

    # A zygote that stops answering is killed and the attempt starts cold: never lost.
    pid = backend.warm.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    backend.warm.reply_timeout_s = 1.0
    cold = backend.submit(submission(write_spec(tmp_path / "bad.json", tmp_path / "none.jsonl"), "a3"))
    assert "exit_path" not in cold and parent_of(int(cold["pid"])) == os.getpid()
    assert poll_until_ended(backend, cold).exit_code == ExitCode.USER_ERROR
    assert process_start_ticks(pid) is None  # the hung zygote was killed


def test_a_zygote_that_could_not_fork_safely_refuses_and_attempts_go_cold(tmp_path: Path) -> None:
    """A thread running after the imports (a library that started one) would be missing in every
    child: the zygote says so instead of forking, and the warm path stays off."""
    threaded = (
        sys.executable,
        "-c",
        "import threading, time; threading.Thread(target=time.sleep, args=(60,), daemon=True).start(); "
        "from lorapipe.training.zygote import main; main()",
    )
    warm = WarmEngine(tmp_path / "zygote.log", command=threaded)
    with pytest.raises(ZygoteUnavailable, match="2 Python threads run after the imports"):
        warm.spawn(["presets"], tmp_path / "out", tmp_path / "err", tmp_path / "exit")
    assert warm.disabled and warm.pid is None
    with pytest.raises(ZygoteUnavailable):  # not tried again
        warm.spawn(["presets"], tmp_path / "out", tmp_path / "err", tmp_path / "exit")
