"""``lorapipe runpod deploy|doctor`` against the fake RunPod REST API: the requests match the documented
shapes, a volume in another datacenter is refused with the reason, and doctor fails a bad setup with
the reason and the fix and passes a good one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_runpod_rest import FakeRunpodRest
from runpod_rest_shapes import body_problems
from typer.testing import CliRunner

from lorapipe.backends.runpod_rest import RunpodRest
from lorapipe.cli.runpod import app
from lorapipe.settings import get_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
IMAGE = "ghcr.io/example/lorapipe-worker:0.4.0"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRunpodRest]:
    rest = FakeRunpodRest.start(tmp_path / "runpod")
    rest.add_volume("vol-eu", "EU-RO-1")
    for key, value in {
        "LORAPIPE_DATA_DIR": str(tmp_path / "data"),
        "LORAPIPE_STORAGE_URL": "s3://bucket/lorapipe",
        "LORAPIPE_RUNPOD_API_KEY": rest.api_key,
        "LORAPIPE_RUNPOD_REST_URL": rest.url,
        "LORAPIPE_RUNPOD_WORKER_IMAGE": IMAGE,
        "LORAPIPE_RUNPOD_ENDPOINT_GPU": "H100-SXM",
        "LORAPIPE_RUNPOD_NETWORK_VOLUME_ID": "vol-eu",
        "LORAPIPE_RUNPOD_MAX_EXECUTION_S": "86400",
        "LORAPIPE_RUNPOD_STORAGE_SECRET": "lorapipe_store",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        yield rest
    finally:
        get_settings.cache_clear()
        rest.stop()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})
    return result.exit_code, result.output


def posts(fake: FakeRunpodRest) -> list[dict[str, object]]:
    return [r for r in fake.requests if r["method"] == "POST"]


def test_deploy_creates_the_template_and_the_endpoint_and_prints_the_service_settings(
    fake: FakeRunpodRest,
) -> None:
    code, output = run("deploy")
    assert code == 0, output
    template, endpoint = (r["body"] for r in posts(fake))
    assert body_problems("TemplateCreateInput", template) == []
    assert body_problems("EndpointCreateInput", endpoint) == []
    assert isinstance(template, dict) and isinstance(endpoint, dict)
    assert template["imageName"] == IMAGE and template["isServerless"] is True
    assert template["volumeMountPath"] == "/runpod-volume"
    assert template["env"]["LORAPIPE_STORAGE_OPTIONS"] == "{{ RUNPOD_SECRET_lorapipe_store }}"
    (created,) = fake.endpoints.values()
    assert endpoint["templateId"] in fake.templates
    assert (endpoint["networkVolumeId"], endpoint["dataCenterIds"]) == ("vol-eu", ["EU-RO-1"])
    assert (
        endpoint["gpuTypeIds"] == ["NVIDIA H100 80GB HBM3"] and endpoint["executionTimeoutMs"] == 86_400_000
    )
    assert f"LORAPIPE_RUNPOD_ENDPOINT_ID={created['id']}" in output
    assert "LORAPIPE_RUNPOD_ENDPOINT_GPU=H100-SXM" in output


def test_deploy_dry_run_prints_the_requests_and_creates_nothing(fake: FakeRunpodRest) -> None:
    code, output = run("deploy", "--dry-run")
    assert code == 0, output
    assert "POST /templates" in output and "POST /endpoints" in output and '"isServerless": true' in output
    assert posts(fake) == [] and fake.endpoints == {}


def test_deploy_refuses_a_volume_outside_the_endpoints_datacenters_with_the_reason(
    fake: FakeRunpodRest,
) -> None:
    code, output = run("deploy", "--datacenter", "US-TX-3")
    assert code == 1
    text = " ".join(output.split())
    assert "vol-eu is in EU-RO-1" in text and "US-TX-3" in text and "cannot mount" in text
    assert "--datacenter EU-RO-1" in text
    assert posts(fake) == []


def test_deploy_refuses_an_unpinned_image(fake: FakeRunpodRest) -> None:
    code, output = run("deploy", "--image", "ghcr.io/example/lorapipe-worker:latest")
    assert code == 1 and "latest" in output and posts(fake) == []


def test_doctor_passes_a_good_setup(fake: FakeRunpodRest, monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = run("deploy")
    assert code == 0, output
    endpoint_id = re.search(r"LORAPIPE_RUNPOD_ENDPOINT_ID=(\S+)", output)
    assert endpoint_id is not None
    monkeypatch.setenv("LORAPIPE_RUNPOD_ENDPOINT_ID", endpoint_id.group(1))
    get_settings.cache_clear()
    code, output = run("doctor")
    assert code == 0, output
    assert "FAIL" not in output
    for name in ("api key", "endpoint", "volume", "image tag", "execution timeout", "idle timeout"):
        assert f"ok   {name}:" in output


def test_doctor_fails_a_bad_setup_with_each_reason_and_fix(
    fake: FakeRunpodRest, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = RunpodRest(fake.api_key, fake.url)
    fake.add_volume("vol-us", "US-TX-3")
    template = api.create_template({"name": "w", "imageName": "ghcr.io/example/lorapipe-worker:latest"})
    endpoint = api.create_endpoint(
        {
            "templateId": template["id"],
            "networkVolumeId": "vol-us",
            "dataCenterIds": ["EU-RO-1"],
            "executionTimeoutMs": 600_000,
            "idleTimeout": 300,
            "workersMin": 1,
        }
    )
    monkeypatch.setenv("LORAPIPE_RUNPOD_ENDPOINT_ID", endpoint["id"])
    monkeypatch.setenv("LORAPIPE_RUNPOD_NETWORK_VOLUME_ID", "vol-us")
    get_settings.cache_clear()
    code, output = run("doctor")
    text = " ".join(output.split())
    assert code == 1
    assert "ok api key" in text and "ok endpoint" in text
    assert (
        "FAIL volume: vol-us is in US-TX-3, the workers in EU-RO-1" in text
        and "dataCenterIds to [US-TX-3]" in text
    )
    assert "FAIL image tag:" in text and "'latest'" in text
    assert "FAIL execution timeout: 600 s; the service admits jobs estimated up to 86400 s" in text
    assert "FAIL idle timeout: 300 s, workersMin 1" in text

    monkeypatch.setenv("LORAPIPE_RUNPOD_API_KEY", "rpa_wrong")
    get_settings.cache_clear()
    code, output = run("doctor")
    assert code == 1 and "FAIL api key" in output and "LORAPIPE_RUNPOD_API_KEY" in output
    assert "rpa_wrong" not in output


def test_deploy_refuses_a_local_object_store(fake: FakeRunpodRest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LORAPIPE_STORAGE_URL")
    get_settings.cache_clear()
    code, output = run("deploy", "--dry-run")
    assert code == 1 and "local folder" in output and "LORAPIPE_STORAGE_URL" in " ".join(output.split())
