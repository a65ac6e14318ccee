"""The job monitor as served: the preset as "cpu-smoke + 1 override", the run's length, the cost booked
so far against the estimate frozen for the job's backend (a warning from 80 %, an alert at 100 %), a
failed job's code, message and advice once, "retry with changes", and no ETA once a job has ended."""

from __future__ import annotations

from decimal import Decimal

import pytest
from native_app import EQ12, Native, add_metrics, finish, start_attempt

from lorapipe.contract.job_states import JobStatus
from lorapipe.db import session_scope
from lorapipe.db.costs import CostRecord
from lorapipe.db.ids import new_id
from lorapipe.db.jobs import Job
from lorapipe.jobs.schemas import JobError
from lorapipe.jobs.transition import transition
from lorapipe.services.job_monitor import _estimated_usd

pytestmark = pytest.mark.integration


def _job(native: Native, **config: object) -> str:
    ds = native.upload("alice", EQ12.read_bytes()).json()["id"]
    body = {"model": "lorapipe/tiny-qwen3", "training_file": ds, "preset": "cpu-smoke", "config": config}
    r = native.client.post("/v1/fine_tuning/jobs", headers=native.auth("alice"), json=body)
    assert r.status_code == 200, r.text
    native.client.cookies.set("lorapipe_key", native.keys["alice"])
    return str(r.json()["id"])


def _page(native: Native, job_id: str) -> str:
    r = native.client.get(f"/ui/jobs/{job_id}")
    assert r.status_code == 200
    return r.text


def test_preset_length_and_no_eta_once_ended(native_sqlite: Native) -> None:
    native = native_sqlite
    job_id = _job(native, max_steps=3)
    attempt = start_attempt(native.sessions, job_id)
    add_metrics(native.sessions, job_id, attempt, 1, loss=1.5, eta_s=125.0, epoch=0.25)
    page = _page(native, job_id)
    assert 'id="job-preset">cpu-smoke + 1 override (max_steps)<' in page
    assert "3 steps (max_steps; the epochs setting, 1, does not apply)" in page
    assert 'id="p-eta">2m 05s<' in page and 'id="p-epoch">0.25<' in page
    finish(native.sessions, job_id, JobStatus.CANCELLING)
    finish(native.sessions, job_id, JobStatus.CANCELLED)
    page = _page(native, job_id)
    assert 'id="p-eta">cancelled<' in page and "2m 05s" not in page
    assert 'data-ended="cancelled"' in page and 'id="retry-job"' in page


def _book(native: Native, job_id: str, usd: float) -> None:
    with session_scope(native.sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None
        job.backend = "runpod-serverless"  # as if it ran there: the estimate's serverless range applies
        s.add(
            CostRecord(
                id=new_id("cost"),
                owner_id=job.owner_id,
                job_id=job_id,
                kind="compute",
                seconds=60.0,
                usd=Decimal(str(usd)),
            )
        )


@pytest.mark.parametrize(("share", "level"), [(0.5, "ok"), (0.85, "warn"), (1.2, "over")])
def test_cost_so_far_against_the_estimate(native_sqlite: Native, share: float, level: str) -> None:
    native = native_sqlite
    job_id = _job(native)
    with session_scope(native.sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None and job.estimate
        low, high = _estimated_usd(job.estimate, "runpod-serverless") or (0.0, 0.0)
    assert 0 < low <= high
    _book(native, job_id, round(high * share, 6))
    page = _page(native, job_id)
    assert f'data-level="{level}"' in page
    assert f"of an estimated ${low:.2f}–${high:.2f}" in page
    assert ("passed 80 %" in page) is (level == "warn")
    assert ("reached the estimate" in page) is (level == "over")


def test_a_local_job_is_not_billed(native_sqlite: Native) -> None:
    native = native_sqlite
    page = _page(native, _job(native))
    assert 'data-level="unbilled"' in page and "no GPU rent is billed" in page


def test_a_failed_job_shows_its_error_once_with_advice(native_sqlite: Native) -> None:
    native = native_sqlite
    job_id = _job(native)
    attempt = start_attempt(native.sessions, job_id)
    with session_scope(native.sessions) as s:
        job = s.get(Job, job_id)
        assert job is not None
        error = JobError(code="out_of_memory", message="CUDA ran out of memory at step 3", kind="user")
        transition(s, job, JobStatus.FAILED, f"attempt 1 failed: {error.message}", error=error)
    assert attempt
    page = _page(native, job_id)
    assert page.count("CUDA ran out of memory at step 3") == 1
    assert 'id="failure-code">out_of_memory<' in page
    assert "Change the setting or the data the message names" in page
    assert f'href="/ui/jobs/new?retry={job_id}"' in page
    assert 'id="job-reason"' not in page and "{&#39;" not in page


def test_the_overview_shows_running_jobs_with_progress_and_failures(native_sqlite: Native) -> None:
    native = native_sqlite
    running = _job(native)
    attempt = start_attempt(native.sessions, running)
    add_metrics(native.sessions, running, attempt, 3, loss=1.25, eta_s=65.0)
    failed = native.job("alice")
    with session_scope(native.sessions) as s:
        job = s.get(Job, failed)
        assert job is not None
        transition(s, job, JobStatus.FAILED, "test", error=JobError(code="x", message="y", kind="user"))
    page = native.client.get("/ui/").text
    section = page.split('id="running-jobs"')[1].split("</section>")[0]
    assert running in section and 'value="3"' in section and "1m 05s" in section and failed not in section
    assert '<span class="stat-value">1</span><span class="stat-label">failed</span>' in page
    assert 'href="/ui/jobs/new"' in page and 'href="/ui/datasets/upload"' in page
