"""The issue's "must show" in real Chromium against a live service whose reconciler trains the tiny model:
sign in, upload EQ-12 by drag-and-drop, read its report (44 examples) and labelled histogram, "Train on
this dataset", pick the tiny model and a preset, watch the estimate change with the preset, launch after
acknowledging the cost, watch the loss chart receive points while the job runs, see the completion
banner, open the adapter page and download a file whose sha256 matches the manifest, see the job's
notification and its cost on the Costs page. The test fails on any console error and on any 4xx/5xx
answer to a request the page made."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from launch_pages import TINY, Watched, drop_file, wait_for_estimate
from web_live_server import EQ12, LiveServer, live_server

from lorapipe.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

RUN_STEPS = 120
"""Steps of the launched run: long enough on the tiny model for the page to see it running."""


@pytest.fixture
def running_server(tmp_path: Path, model_settings: Settings) -> Iterator[LiveServer]:
    yield from live_server(tmp_path, model_settings.resolved_model_cache_dir, reconciler=True)


def test_upload_launch_watch_and_download(browser: Any, running_server: LiveServer) -> None:
    server = running_server
    watched = Watched(browser, server, {"width": 1440, "height": 1000})
    page = watched.page
    try:
        # Overview quick action -> upload page; drop EQ-12; the browser's pre-check reads its first records.
        page.click("#quick-actions >> text=Upload a dataset")
        page.wait_for_url("**/ui/datasets/upload")
        page.select_option("#upload-count", TINY)
        page.fill("#upload-name", "EQ-12 sample")
        drop_file(page, "#drop-zone", EQ12)
        page.wait_for_selector("#precheck.ok")
        assert "look right" in page.inner_text("#precheck")
        assert "EQ-12-conversations-demo.jsonl" in page.inner_text("#drop-file")
        page.click("#upload-form button[type=submit]")
        page.wait_for_url("**/ui/datasets/ds_*")
        assert page.inner_text("#count-examples") == "44"
        # Token counting started by itself; the page reloads with the labelled histogram.
        page.wait_for_selector("svg.histogram rect", state="attached", timeout=180_000)
        assert page.locator("svg.histogram rect").count() >= 5
        axes = page.text_content("svg.histogram") or ""
        assert "examples" in axes and "tokens per example" in axes
        assert page.inner_text("#count-examples") == "44"
        page.screenshot(path="/tmp/lorapipe-web-launch-dataset.png", full_page=True)

        # Train on this dataset -> the new-job page with it chosen.
        page.click("#train-on-dataset")
        page.wait_for_url("**/ui/jobs/new?dataset=ds_*")
        dataset_id = page.url.split("dataset=")[1]
        assert page.eval_on_selector("#nj-dataset", "e => e.value") == dataset_id
        page.select_option("#nj-model", TINY)
        balanced = wait_for_estimate(page)
        assert page.inner_text("#nj-config-label") == "balanced"
        page.check("#preset-cpu-smoke")
        page.wait_for_function(
            "(before) => document.getElementById('estimate-panel').innerText !== before"
            " && document.getElementById('est-state').textContent === ''",
            arg=balanced,
        )
        smoke = wait_for_estimate(page)
        assert smoke != balanced
        assert "8 steps (" in page.inner_text("#est-run") and "r=8" in page.inner_text("#est-run")
        # One field changed in the advanced panel: the configuration reads as the preset plus an override.
        page.click("#nj-advanced summary")
        page.fill("#cfg-max_steps", str(RUN_STEPS))
        page.wait_for_function(
            f"() => document.getElementById('est-run').innerText.includes('{RUN_STEPS} steps (')"
        )
        assert page.inner_text("#nj-config-label") == "cpu-smoke + 1 override (custom: max_steps)"
        assert page.locator("[data-field=max_steps].changed").count() == 1
        page.wait_for_selector("#checklist [data-check=fits].ok")
        assert page.locator("#checklist li.ok").count() == 3
        page.screenshot(path="/tmp/lorapipe-web-launch-new-job.png", full_page=True)

        # Launch: the dialog states the cost and waits for the tick.
        page.click("#launch-open")
        page.wait_for_selector("#launch-dialog[open]")
        assert "no GPU rent" in page.inner_text("#launch-cost")
        assert page.locator("#launch-confirm").is_disabled()
        page.check("#launch-ack")
        page.click("#launch-confirm")
        page.wait_for_url("**/ui/jobs/ftjob-*")
        job_id = page.url.rsplit("/", 1)[1]

        # The loss chart receives points while the job is still running.
        page.wait_for_function(
            "() => Number(document.getElementById('loss-chart').dataset.points) >= 2"
            " && !['succeeded', 'failed', 'cancelled'].includes(document.getElementById('job').dataset.status)",
            polling=100,
            timeout=240_000,
        )
        running_points = int(page.get_attribute("#loss-chart", "data-points") or 0)
        assert page.locator("#stepper li.current").inner_text() in ("Training", "Evaluating", "Saving")
        page.wait_for_selector("#job[data-terminal=true]", state="attached", timeout=300_000)
        assert page.locator("#job-status .badge-succeeded").count() == 1, page.inner_text("main")[:2000]
        assert int(page.get_attribute("#loss-chart", "data-points") or 0) >= running_points
        assert page.inner_text("#p-eta") == "succeeded"
        assert page.inner_text("#job-preset") == "cpu-smoke + 1 override (max_steps)"
        assert page.locator("#stepper li[data-step=done].current").count() == 1
        banner = page.locator("#completion-banner")
        assert banner.is_visible() and "Training finished" in banner.inner_text()
        assert "unbilled" in (page.get_attribute("#job-cost-check", "data-level") or "")
        events = page.inner_text("#events")
        assert f"Step {RUN_STEPS}/{RUN_STEPS}" in events
        assert not any(
            len(part) > 6
            for part in events.replace("=", " ").split()
            if part.count(".") == 1 and part.replace(".", "").isdigit()
        )
        page.screenshot(path="/tmp/lorapipe-web-launch-job.png", full_page=True)

        # The adapter page (part B's) from the banner; one of its files downloads with the manifest's sha256.
        page.click("#open-adapter")
        page.wait_for_url("**/ui/adapters/*")
        adapter_id = page.url.rsplit("/", 1)[1]
        with server.api() as api:
            adapter = api.get(f"/api/adapters/{adapter_id}").json()
            assert api.get(f"/api/jobs/{job_id}").json()["status"] == "succeeded"
        listed = {f["path"]: f["sha256"] for f in adapter["files"]}
        link = page.locator("#files a[download]").first
        path = link.inner_text().strip()
        assert path in listed, (path, sorted(listed))
        with page.expect_download() as download:
            link.click()
        data = Path(download.value.path()).read_bytes()
        assert hashlib.sha256(data).hexdigest() == listed[path]
        page.screenshot(path="/tmp/lorapipe-web-launch-adapter.png", full_page=True)

        # Evaluate it from its page: a job like any other, then base vs adapter on the adapter's page.
        assert page.locator("#no-evaluations").count() == 1
        page.click("[data-action=evaluate-adapter]")
        page.wait_for_url("**/ui/jobs/*")
        page.wait_for_selector("#job[data-terminal=true]", state="attached", timeout=300_000)
        assert page.locator("#job-status .badge-succeeded").count() == 1, page.inner_text("main")[:2000]
        page.click("#open-evaluation")
        page.wait_for_url(f"**/ui/adapters/{adapter_id}#evaluations")
        evaluation = page.locator("#evaluations .evaluation").first
        assert "succeeded" in evaluation.inner_text()
        rows = evaluation.locator("tbody tr")
        assert [(rows.nth(i).locator("th").text_content() or "").strip() for i in range(2)] == [
            "base",
            "adapter",
        ]
        losses = [float(rows.nth(i).locator("td").first.inner_text()) for i in range(2)]
        assert losses[1] < losses[0], losses  # the adapter learned the held-out conversations' style

        # The notification about the job (bell panel, linking to it) and its cost line on the Costs page,
        # both booked by the service's outbox thread after the job ended.
        deadline = time.monotonic() + 60
        while True:
            page.goto(f"{server.url}/ui/costs")
            if job_id in (page.text_content("main") or ""):
                break
            assert time.monotonic() < deadline, "the job's cost never reached the Costs page"
            page.wait_for_timeout(500)
        assert page.locator(f"#costs-table a[href='/ui/jobs/{job_id}']").count() >= 1
        page.click("#bell")
        page.wait_for_selector("#notif-panel:not([hidden])")
        assert page.locator(f"#notif-panel a.note-link[href*='{job_id}']").count() >= 1
        assert not watched.problems, watched.problems
    finally:
        watched.close()
