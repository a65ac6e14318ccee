"""The service is killed with SIGKILL mid-job and started again: the job must not stay ``running``.
The orphaned engine is stopped (it checkpoints on SIGTERM) and the job resumes from its checkpoint
in a new attempt, or ends with a clear reason."""

from __future__ import annotations

import os
import re
import signal
import time

import httpx
import pytest
from live_service import EQ12, Service, pid_alive

# About 3 minutes on 2 busy cores (two engine start-ups); the fast in-process variant with a
# fault-injecting engine is tests/integration/jobs/test_reconciler.py::test_orphan_after_...
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_sigkilled_service_resumes_the_job_from_its_checkpoint(service: Service) -> None:
    auth = {"Authorization": f"Bearer {service.key}"}
    api = httpx.Client(base_url=service.base, headers=auth, timeout=30)
    with EQ12.open("rb") as handle:
        file_id = api.post(
            "/v1/files", files={"file": ("eq12.jsonl", handle)}, data={"purpose": "fine-tune"}
        ).json()["id"]
    body = {
        "model": "lorapipe/tiny-qwen3",
        "training_file": file_id,
        "preset": "cpu-smoke",
        # Long enough (40 steps of 4 micro-batches) that the run is still mid-job when the test sees its
        # first checkpoint, however slowly the service ingests events on a loaded machine: a 12-step run
        # had already ended by then on CI, so the job succeeded without a retry to test.
        "config": {"max_steps": 40, "save_steps": 4, "gradient_accumulation_steps": 4, "sample_prompts": 0},
    }
    job_id = api.post("/v1/fine_tuning/jobs", json=body).json()["id"]

    def events() -> list[dict[str, object]]:
        """Every event, newest first (two attempts of 40 steps hold more than one page)."""
        found: list[dict[str, object]] = []
        params: dict[str, object] = {"limit": 100}
        while True:
            page = api.get(f"/v1/fine_tuning/jobs/{job_id}/events", params=params).json()
            found += page["data"]
            if not page["has_more"]:
                return found
            params["after"] = page["data"][-1]["id"]

    deadline = time.monotonic() + 300
    while not any(str(e["message"]).startswith("Checkpoint saved") for e in events()):
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.5)
    started = next(str(e["message"]) for e in events() if str(e["message"]).startswith("running"))
    pid = int(re.search(r"pid (\d+)", started).group(1))  # type: ignore[union-attr]

    # Frozen before its supervisor dies and until the new service has adopted it, so the run is still
    # mid-job when adopted however slowly the service restarts (a run that ends during the outage is
    # test_reconciler.py's test_an_orphan_that_ended_before_adoption_is_judged_by_its_own_result).
    os.killpg(pid, signal.SIGSTOP)
    assert service.proc is not None
    service.proc.send_signal(signal.SIGKILL)
    service.proc.wait(timeout=10)
    assert pid_alive(pid), "the engine should outlive its supervisor (its own session)"
    service.start()
    deadline = time.monotonic() + 120
    while "adopted from dead supervisor" not in service.log_path.read_text():
        assert time.monotonic() < deadline, "the restarted service did not adopt the orphaned run"
        time.sleep(0.2)
    os.killpg(pid, signal.SIGCONT)  # it now handles the adopter's SIGTERM: checkpoint, exit 3

    deadline = time.monotonic() + 420
    job: dict[str, object] = {}
    while time.monotonic() < deadline:
        job = api.get(f"/v1/fine_tuning/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(1)
    assert not pid_alive(pid), "the orphaned engine is still running"
    messages = [str(e["message"]) for e in reversed(events())]
    assert job["status"] == "succeeded", (job, messages)
    # The retry says why and where it resumed from; the second attempt continued after that checkpoint
    # instead of training again from step 1.
    assert any("attempt_lost" in m and "from the last checkpoint" in m for m in messages), messages
    second = messages[messages.index(next(m for m in messages if m.startswith("running: attempt 2"))) :]
    steps = [int(m.split()[1].split("/")[0]) for m in second if re.match(r"Step \d+/\d+: training loss", m)]
    # How far the first attempt got before the restart depends on the machine's speed: the second one
    # trains what is left after the checkpoint it resumed from (nothing, when that was the last step),
    # never a step before the first checkpoint and never one past max_steps.
    assert all(4 < step <= 40 for step in steps), second
    assert not steps or steps[-1] == 40, second
