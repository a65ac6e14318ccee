"""The dashboard in real headless Chromium: upload EQ-12 through the form and read its report; watch
a job's progress arrive over the event stream."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from web_live_server import EQ12, LiveServer

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import session_scope
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Attempt, Job, MetricPoint
from lorapipe.jobs.events import append_event
from lorapipe.jobs.transition import transition

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def test_upload_eq12_and_read_the_report(page: Any, server: LiveServer) -> None:
    page.set_input_files("#upload-file", str(EQ12))
    page.fill("#upload-name", "EQ-12 sample")
    page.select_option("#upload-count", "")  # counted by hand below
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/ui/datasets/ds_*")
    assert page.inner_text("#dataset-name") == "EQ-12 sample"
    assert page.inner_text("#count-examples") == "44"
    assert page.locator(".badge-ready").first.is_visible()
    trained = page.locator("#rendered-sample mark.trained")
    assert trained.count() >= 2 and trained.first.is_visible()
    assert "No problems found" in page.inner_text("#problems-title + *")
    page.screenshot(path="/tmp/lorapipe-web-dataset.png", full_page=True)

    # Token figures: counted by the server in a child process with the tiny model's tokenizer.
    page.select_option("#tokens-model", "lorapipe/tiny-qwen3")
    page.click("#tokens-form button[type=submit]")
    page.wait_for_selector("svg.histogram rect", state="attached", timeout=120_000)
    assert page.locator("svg.histogram rect").count() >= 5
    assert page.locator("#rendered-sample pre.rendered mark.trained").count() >= 1
    assert "<|im_start|>assistant" in page.inner_text("#rendered-sample pre.rendered >> nth=0")
    assert page.inner_text("#count-examples") == "44"
    page.screenshot(path="/tmp/lorapipe-web-dataset-tokens.png", full_page=True)

    # The estimate lives on the new-job page: memory by part, fit and cost per GPU, a recommendation.
    page.click("#estimate-link")
    page.wait_for_url("**/ui/jobs/new?dataset=ds_*")
    page.select_option("#nj-model", "Qwen/Qwen3-8B")
    page.wait_for_selector("#est-cost tbody tr")
    page.wait_for_function(
        "() => document.getElementById('est-summary').textContent.startsWith('Recommended: ')"
    )
    assert page.locator("#est-cost tbody tr").count() >= 10
    assert page.locator("#est-vram tr[data-part=total]").count() == 1
    page.locator("#estimate-panel").screenshot(path="/tmp/lorapipe-web-estimate.png")

    page.goto(server.url + "/ui/datasets")
    assert "EQ-12 sample" in page.inner_text("#datasets-table")
    with server.api() as api:
        listed = api.get("/api/datasets").json()
    assert listed["total"] == 1 and listed["data"][0]["statistics"]["examples"] == 44


def test_an_invalid_upload_shows_located_problems(page: Any, server: LiveServer, tmp_path: Any) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"messages":[{"role":"user","content":"hi"}]}\n{"messages": [nope\n', "utf-8")
    page.set_input_files("#upload-file", str(broken))
    # The browser's pre-check finds the broken line before anything is sent.
    page.wait_for_selector("#precheck.bad")
    assert "line 2" in page.inner_text("#precheck")
    assert page.locator("#upload-form button[type=submit]").is_disabled()
    # What only the server sees (no trained reply anywhere) is reported by line on the dataset page.
    unusable = tmp_path / "unusable.jsonl"
    unusable.write_text(
        '{"messages":[{"role":"user","content":"hi"}]}\n{"messages":[{"role":"user","content":"ho"}]}\n',
        "utf-8",
    )
    page.set_input_files("#upload-file", str(unusable))
    page.wait_for_selector("#precheck.ok")
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/ui/datasets/ds_*")
    assert page.locator("[role=alert]").first.is_visible()
    rows = page.locator("#problems-table tbody tr")
    assert rows.count() >= 1
    lines = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())]
    assert any(line.startswith("2") for line in lines), lines  # the broken record is located


def test_a_send_before_the_pre_check_finished_still_sends(page: Any, server: LiveServer) -> None:
    # A slow read of the chosen file (a loaded machine, a network disk): the click on send comes while
    # the pre-check still runs. It must wait for the check, not be dropped (CI saw the page stay put).
    # The read finishes only when the test releases it (after the click), however slow the machine.
    page.evaluate(
        """() => {
          const read = Blob.prototype.text;
          Blob.prototype.text = function () {
            return new Promise((done) => { window.releaseRead = () => done(read.call(this)); });
          };
        }"""
    )
    page.set_input_files("#upload-file", str(EQ12))
    page.fill("#upload-name", "sent early")
    page.wait_for_function("() => typeof window.releaseRead === 'function'")  # the check is reading
    assert page.locator("#precheck").is_hidden()  # the check has not finished
    page.click("#upload-form button[type=submit]")
    page.evaluate("() => window.releaseRead()")
    page.wait_for_url("**/ui/datasets/ds_*")
    assert page.inner_text("#dataset-name") == "sent early"


def _running_job(server: LiveServer) -> tuple[str, str]:
    """A job created through the API (tiny model, cpu-smoke), moved to running as the reconciler would."""
    with server.api() as api:
        file = api.post(
            "/v1/files", files={"file": ("eq12.jsonl", EQ12.read_bytes())}, data={"purpose": "fine-tune"}
        )
        body = {"model": "lorapipe/tiny-qwen3", "training_file": file.json()["id"], "preset": "cpu-smoke"}
        job_id = api.post("/v1/fine_tuning/jobs", json=body).json()["id"]
    with session_scope(server.sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None
        transition(s, job, JobStatus.PROVISIONING, "submitted to the local backend")
        attempt = Attempt(id=new_id("attempt"), job_id=job_id, number=1, backend="local", status="running")
        s.add(attempt)
        s.flush()
        transition(s, job, JobStatus.RUNNING, "the engine started")
    return job_id, attempt.id


def _report_steps(
    server: LiveServer, job_id: str, attempt_id: str, halfway: threading.Event | None = None
) -> None:
    """What ingestion stores for an engine that trains 8 steps and evaluates at 4 and 8; with
    ``halfway``, it stops after step 4 until that event is set."""
    for step in range(1, 9):
        if step == 5 and halfway is not None:
            assert halfway.wait(timeout=60), "the test never let the engine go on"
        time.sleep(0.35)
        values: dict[str, Any] = {
            "phase": "train",
            "total_steps": 8,
            "epoch": step / 8,
            "loss": 2.4 - 0.15 * step,
            "eta_s": 8.0 * (8 - step),
            "elapsed_s": 8.0 * step,
        }
        with session_scope(server.sessions) as s:
            append_event(
                s,
                job_id,
                type="metrics",
                message=f"Step {step}/8: training loss={values['loss']:.3f}",
                data={"step": step, **values},
                attempt_id=attempt_id,
            )
            s.add(MetricPoint(job_id=job_id, attempt_id=attempt_id, step=step, values=values))
            if step % 4 == 0:
                ev = {"phase": "eval", "total_steps": 8, "eval_loss": 2.5 - 0.1 * step}
                append_event(
                    s,
                    job_id,
                    type="metrics",
                    message=f"Step {step}/8: eval loss",
                    data={"step": step, **ev},
                    attempt_id=attempt_id,
                )
                s.add(MetricPoint(job_id=job_id, attempt_id=attempt_id, step=step, values=ev))


def test_job_page_follows_progress_over_sse(page: Any, server: LiveServer) -> None:
    job_id, attempt_id = _running_job(server)
    streams: list[str] = []
    page.on("request", lambda request: streams.append(request.url) if "/stream" in request.url else None)
    page.goto(f"{server.url}/ui/jobs/{job_id}")
    page.wait_for_function("() => document.getElementById('stream-state').textContent.startsWith('Live')")
    assert page.inner_text("#p-step") == "–"

    halfway = threading.Event()
    engine = threading.Thread(target=_report_steps, args=(server, job_id, attempt_id, halfway))
    engine.start()
    # The engine stops after step 4 until the page shows step 4, over the one stream the page opened
    # before the engine reported anything: the stream is live, not a replay (a page that shows
    # progress only when the job ends never gets there; one that re-fetches the stream to catch up
    # opens more than one).
    try:
        page.wait_for_function("() => document.getElementById('p-step').textContent === '4'", polling=50)
        assert page.inner_text("#p-eval") == "2.1" and page.inner_text("#p-total") == "8"
        assert len(streams) == 1, streams
    finally:
        halfway.set()
    engine.join()
    page.wait_for_function("() => document.getElementById('p-step').textContent === '8'")
    assert page.inner_text("#p-total") == "8"
    assert page.inner_text("#p-loss") == "1.2" and page.inner_text("#p-eval") == "1.7"
    assert page.inner_text("#p-eta") == "0m 00s"
    assert page.get_attribute("#job-progress", "value") == "8"
    assert page.locator("#loss-chart path.train").count() == 1
    assert page.locator("#loss-chart circle.eval-point").count() == 2
    assert page.locator("#events li").count() >= 13  # 3 status + 8 train + 2 eval
    page.screenshot(path="/tmp/lorapipe-web-job.png", full_page=True)

    with session_scope(server.sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None
        transition(s, job, JobStatus.SUCCEEDED, "1 artifact(s) verified against the manifest")
    # The stream ends and the page reloads once to show the final record.
    page.wait_for_selector("#job[data-terminal=true]")
    assert page.locator("#job-status .badge-succeeded").is_visible()
    assert page.locator("#cancel-open").is_hidden()


def test_cancel_from_the_job_page(page: Any, server: LiveServer) -> None:
    job_id, _ = _running_job(server)
    page.goto(f"{server.url}/ui/jobs/{job_id}")
    page.click("#cancel-open")
    page.fill("#cancel-reason", "wrong dataset")
    page.click("#cancel-confirm")
    page.wait_for_function("() => document.querySelector('#job-status .badge').textContent === 'cancelling'")
    with server.api() as api:
        job = api.get(f"/api/jobs/{job_id}").json()
    assert job["status"] == "cancelling" and job["status_reason"].endswith("wrong dataset")
