"""The runpod-pod backend end to end against the fake RunPod REST API on loopback: every attempt runs in a
pod that really runs ``python -m lorapipe.worker.pod`` (the fake engine inside), and whatever happens —
success, failure, cancel, timeout, a service restart — the pod ends terminated, the job's status and
reason follow the pod, and the job's cost is the pod's runtime times its ``costPerHr``."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from pod_service import IMAGE, S3_SECRET, PodService, build_service, make_stack

from lorapipe.backends.runpod_pod import RunpodPodBackend
from lorapipe.backends.runpod_rest import RunpodRest
from lorapipe.services.jobs import cancel_job
from lorapipe.services.reconciler import Reconciler, ReconcilerPolicy

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def svc(tmp_path: Path, s3_endpoint: str) -> Iterator[PodService]:
    fake, values = make_stack(tmp_path, s3_endpoint)
    try:
        yield build_service(fake, values)
    finally:
        fake.stop()


def test_a_successful_job_runs_in_one_pod_which_is_terminated_and_billed_at_its_cost_per_hour(
    svc: PodService,
) -> None:
    job_id = svc.create("succeed")
    job = svc.run_to_end(job_id)
    assert job.status == "succeeded", job.error
    pod = svc.fake.pods[svc.pod_id(job_id)]
    assert pod.status == "TERMINATED" and svc.fake.live_pods() == []
    assert svc.attempts(job_id)[0].exit_code == 0

    created = [r["body"] for r in svc.fake.requests if r["method"] == "POST" and r["path"] == "/v1/pods"]
    assert len(created) == 1
    body = created[0]
    assert body["name"] == f"lorapipe-test.{job_id}.{svc.attempts(job_id)[0].id}"
    assert body["imageName"] == IMAGE and body["gpuTypeIds"] == ["NVIDIA H100 80GB HBM3"]
    assert (body["gpuCount"], body["cloudType"], body["networkVolumeId"]) == (1, "SECURE", "vol-eu")
    assert body["dockerEntrypoint"] + body["dockerStartCmd"] == ["python", "-m", "lorapipe.worker.pod"]
    job_input = json.loads(body["env"]["LORAPIPE_WORKER_POD_JOB"])
    assert job_input["spec"]["dataset"]["uri"].startswith("http")  # presigned, no credentials
    assert body["env"]["LORAPIPE_STORAGE_OPTIONS"] == "{{ RUNPOD_SECRET_lorapipe_store }}"
    assert S3_SECRET not in json.dumps(svc.fake.requests)  # no credential in any request to RunPod
    assert all(r["authorization"] in (None, "<redacted>") for r in svc.fake.requests)

    # Cost: the runtime the service measured x the pod's costPerHr, close to what the fake charged.
    billing = svc.attempts(job_id)[0].handle["billing"]
    assert billing["usd_per_hr"] == pod.cost_per_hr == 3.6
    (record,) = [c for c in svc.costs(job_id) if c.kind == "compute"]
    assert float(record.usd) == pytest.approx(math.ceil(billing["runtime_s"]) * 3.6 / 3600, abs=1e-6)
    assert float(record.seconds) == math.ceil(billing["runtime_s"])
    charged = svc.fake.charged_usd(pod.id)
    assert charged - 0.01 <= float(record.usd) <= charged + 0.03  # within a second under, 3 s over


def test_an_engine_failure_fails_the_job_with_the_engines_reason_and_terminates_the_pod(
    svc: PodService,
) -> None:
    job_id = svc.create("exit1")
    job = svc.run_to_end(job_id)
    assert job.status == "failed"
    assert job.error is not None and job.error["code"] == "disk_full" and job.error["kind"] == "system"
    pod = svc.fake.pods[svc.pod_id(job_id)]
    assert pod.status == "TERMINATED" and svc.attempts(job_id)[0].exit_code == 1
    assert [c.kind for c in svc.costs(job_id)] == ["compute"]


def test_cancel_stops_the_pod_gracefully_then_terminates_it(svc: PodService) -> None:
    job_id = svc.create("slow")
    svc.until_training(job_id)
    with svc.sessions() as s:
        cancel_job(s, owner_id=svc.owner_id, job_id=job_id)
        s.commit()
    job = svc.run_to_end(job_id)
    assert job.status == "cancelled"
    pod = svc.fake.pods[svc.pod_id(job_id)]
    assert pod.signals[0] == "SIGTERM"  # the stop: the engine saved a checkpoint and exited 3
    assert svc.attempts(job_id)[0].exit_code == 3
    assert pod.status == "TERMINATED"
    checkpoints = [e for e in svc.events(job_id) if (e.data or {}).get("engine_type") == "checkpoint"]
    assert checkpoints, "the checkpoint the engine saved on SIGTERM reached the service"


def test_a_job_past_its_timeout_is_stopped_failed_as_a_timeout_and_its_pod_terminated(
    svc: PodService,
) -> None:
    job_id = svc.create("slow", timeout_s=3)
    job = svc.run_to_end(job_id)
    assert job.status == "failed"
    assert job.error is not None and job.error["code"] == "timeout" and job.error["kind"] == "timeout"
    pod = svc.fake.pods[svc.pod_id(job_id)]
    assert pod.status == "TERMINATED" and "SIGTERM" in pod.signals


def test_a_pod_that_dies_without_a_result_fails_the_attempt_with_that_reason(svc: PodService) -> None:
    job_id = svc.create("slow")
    svc.until_training(job_id)
    pod = svc.fake.pods[svc.pod_id(job_id)]
    assert pod.process is not None
    pod.process.kill()  # the machine died: no result, no log flush
    job = svc.run_to_end(job_id)
    assert job.status == "failed"
    assert job.error is not None and job.error["code"] == "pod_exited_without_result"
    assert "before its worker stored a result" in job.error["message"]
    assert pod.status == "TERMINATED"


def test_after_a_restart_the_new_service_stops_the_running_pod_and_sweeps_orphans(
    svc: PodService, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = svc.create("slow")
    svc.until_training(job_id)
    running = svc.pod_id(job_id)
    api = RunpodRest(svc.fake.api_key, svc.fake.url)
    # Pods a crashed service left (created, handle never stored) next to pods that are not ours.
    orphan = api.create_pod(
        {
            "name": "lorapipe-test.ftjob-gone.ftatt-gone",
            "imageName": IMAGE,
            "dockerEntrypoint": ["sleep"],
            "dockerStartCmd": ["60"],
        }
    )
    foreign = api.create_pod(
        {
            "name": "lorapipe-other.ftjob-x.ftatt-y",
            "imageName": IMAGE,
            "dockerEntrypoint": ["sleep"],
            "dockerStartCmd": ["60"],
        }
    )
    mine = api.create_pod(
        {"name": "my notebook", "imageName": IMAGE, "dockerEntrypoint": ["sleep"], "dockerStartCmd": ["60"]}
    )

    # The first service is gone; a new one (new supervisor id) adopts its attempt after the heartbeat.
    backend = RunpodPodBackend(svc.settings, svc.objects)
    restarted = Reconciler(
        svc.sessions,
        {backend.name: backend},
        svc.objects,
        policy=ReconcilerPolicy(interval_s=0.1, heartbeat_timeout_s=0.0, retry_backoff_s=0.0),
    )
    svc.reconciler = restarted
    with caplog.at_level(logging.WARNING, logger="lorapipe"):
        job = svc.run_to_end(job_id)
    assert job.status == "failed"
    assert svc.fake.pods[running].status == "TERMINATED" and "SIGTERM" in svc.fake.pods[running].signals
    assert svc.fake.pods[orphan["id"]].status == "TERMINATED"
    assert svc.fake.pods[foreign["id"]].status == "RUNNING" and svc.fake.pods[mine["id"]].status == "RUNNING"
    assert any(orphan["id"] in r.getMessage() and "sweep" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_real_engine_trains_in_a_pod_and_the_adapter_is_verified(
    tmp_path: Path, s3_endpoint: str
) -> None:
    fake, values = make_stack(tmp_path, s3_endpoint)
    env = dict(values["runpod_pod_env"])
    del env["LORAPIPE_WORKER_ENGINE_COMMAND"]  # the image's own engine: python -m lorapipe.training
    values["runpod_pod_env"] = {**env, "HF_HUB_OFFLINE": "1"}
    try:
        svc = build_service(fake, values)
        job_id = svc.create("real")
        job = svc.run_to_end(job_id, limit_s=540)
        assert job.status == "succeeded", job.error
        assert svc.objects.exists(f"runs/{job_id}/{svc.attempts(job_id)[0].id}/adapter/manifest.json")
        assert fake.pods[svc.pod_id(job_id)].status == "TERMINATED" and fake.live_pods() == []
    finally:
        fake.stop()
