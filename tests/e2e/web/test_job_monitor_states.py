"""The job monitor in real Chromium for the ends other than success, with the real engine on the tiny
model: a job launched from the new-job page with a field the engine refuses fails and shows its code,
message and advice once, and "retry with changes" reopens the new-job page with its choices; a running
job cancelled from the page (with a reason) shows ``cancelled`` and no ETA. Both fail on any console
error or any 4xx/5xx answer to a request the page made."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from launch_pages import TINY, Watched, wait_for_estimate
from web_live_server import EQ12, LiveServer, live_server

from lorapipe.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture
def running_server(tmp_path: Path, model_settings: Settings) -> Iterator[LiveServer]:
    yield from live_server(tmp_path, model_settings.resolved_model_cache_dir, reconciler=True)


def _dataset(server: LiveServer) -> str:
    with server.api() as api:
        r = api.post("/api/datasets", params={"name": "EQ-12"}, content=EQ12.read_bytes())
        assert r.status_code in (200, 201), r.text
        return str(r.json()["id"])


def test_a_failed_job_shows_its_error_once_and_retries_with_changes(
    browser: Any, running_server: LiveServer
) -> None:
    server = running_server
    dataset_id = _dataset(server)
    watched = Watched(browser, server, {"width": 1280, "height": 900})
    page = watched.page
    try:
        page.goto(f"{server.url}/ui/jobs/new?dataset={dataset_id}")
        page.select_option("#nj-model", TINY)
        page.check("#preset-cpu-smoke")
        wait_for_estimate(page)
        page.click("#nj-advanced summary")
        page.fill("#cfg-target_modules", "no_such_proj")
        page.wait_for_function(
            "() => document.getElementById('nj-config-label').textContent.includes('target_modules')"
        )
        page.wait_for_selector("#launch-open:not([disabled])")
        page.click("#launch-open")
        page.check("#launch-ack")
        page.click("#launch-confirm")
        page.wait_for_url("**/ui/jobs/ftjob-*")
        page.wait_for_selector("#job[data-terminal=true]", state="attached", timeout=240_000)
        page.wait_for_selector("#job-failure")
        main = page.inner_text("main")
        message = page.inner_text("#failure-message")
        advice = page.inner_text("#failure-advice")
        assert "no_such_proj" in message and "not linear layers" in message, message
        assert "choose from" in advice, advice
        # Once: the message and the advice each appear a single time on the page, and no Python repr.
        assert main.count("not linear layers") == 1, main
        assert main.count("choose from") == 1, main
        assert "{'" not in main and "':" not in main
        assert page.inner_text("#failure-code")
        assert page.locator("#job-reason").count() == 0
        assert page.inner_text("#p-eta") == "failed"
        page.screenshot(path="/tmp/lorapipe-web-failed-job.png", full_page=True)

        page.click("#job-failure >> text=Retry with changes")
        page.wait_for_url("**/ui/jobs/new?retry=ftjob-*")
        assert page.eval_on_selector("#nj-dataset", "e => e.value") == dataset_id
        assert page.eval_on_selector("#nj-model", "e => e.value") == TINY
        assert page.is_checked("#preset-cpu-smoke")
        assert page.input_value("#cfg-target_modules") == "no_such_proj"
        assert page.inner_text("#nj-config-label") == "cpu-smoke + 1 override (custom: target_modules)"
        page.fill("#cfg-target_modules", "attention")  # the preset's own value: no override left
        assert page.inner_text("#nj-config-label") == "cpu-smoke"
        wait_for_estimate(page)
        assert not watched.problems, watched.problems
    finally:
        watched.close()


def test_a_cancelled_job_shows_cancelled_and_no_eta(browser: Any, running_server: LiveServer) -> None:
    server = running_server
    dataset_id = _dataset(server)
    with server.api() as api:
        body = {
            "model": TINY,
            "training_file": dataset_id,
            "preset": "cpu-smoke",
            "config": {"max_steps": 5000, "sample_prompts": 0},
        }
        r = api.post("/v1/fine_tuning/jobs", json=body)
        assert r.status_code == 200, r.text
        job_id = r.json()["id"]
        deadline = time.monotonic() + 180
        while (api.get(f"/api/jobs/{job_id}").json()["progress"].get("eta_s")) is None:
            assert time.monotonic() < deadline, "the job never reported progress"
            time.sleep(0.3)
    watched = Watched(browser, server, {"width": 1280, "height": 900})
    page = watched.page
    try:
        page.goto(f"{server.url}/ui/jobs/{job_id}")
        page.wait_for_function(
            "() => /^\\d+m \\d\\ds$|^\\d+h/.test(document.getElementById('p-eta').textContent)"
        )
        page.click("#cancel-open")
        page.fill("#cancel-reason", "changed my mind")
        page.click("#cancel-confirm")
        page.wait_for_selector("#job[data-terminal=true]", state="attached", timeout=120_000)
        assert page.locator("#job-status .badge-cancelled").count() == 1
        assert page.inner_text("#p-eta") == "cancelled"
        assert page.get_attribute("#stepper", "data-ended") == "cancelled"
        assert "changed my mind" in page.inner_text("#events")
        assert page.locator("#retry-job").is_visible()
        page.screenshot(path="/tmp/lorapipe-web-cancelled-job.png", full_page=True)
        assert not watched.problems, watched.problems
    finally:
        watched.close()
