"""The ``/v1`` answers keep OpenAI's shapes: the routes send the service's object as JSON bytes
(FastAPI no longer validates them against the response model), so every answer is checked here against
its response model in :mod:`lorapipe.api.schemas_v1`, and validating it changes no value."""

from __future__ import annotations

from typing import Any

import pytest
from api_harness import Api
from pydantic import BaseModel
from test_v1 import create, upload

from lorapipe.api import schemas_v1

pytestmark = pytest.mark.integration


def _same_after_validation(model: type[BaseModel], answer: Any) -> None:
    checked = model.model_validate(answer).model_dump(mode="json")
    assert checked == answer  # nothing coerced, nothing added: the bytes sent are the model's


def test_every_v1_answer_has_its_openai_shape(api: Api) -> None:
    f = upload(api, api.alice)
    _same_after_validation(schemas_v1.FileOut, f)
    created = create(api, api.alice, f["id"], model="Qwen/Qwen3-8B", preset="balanced")
    assert created.headers["content-type"] == "application/json"
    job = created.json()
    _same_after_validation(schemas_v1.JobOut, job)
    get = api.client.get
    url = f"/v1/fine_tuning/jobs/{job['id']}"
    shapes: list[tuple[type[BaseModel], str, dict[str, str]]] = [
        (schemas_v1.FileOut, f"/v1/files/{f['id']}", {}),
        (schemas_v1.FileList, "/v1/files", {}),
        (schemas_v1.JobOut, url, {}),
        (schemas_v1.JobOut, url, {"include": "estimate"}),
        (schemas_v1.JobList, "/v1/fine_tuning/jobs", {}),
        (schemas_v1.EventList, f"{url}/events", {}),
        (schemas_v1.CheckpointList, f"{url}/checkpoints", {}),
        (schemas_v1.ModelList, "/v1/models", {}),
        (schemas_v1.ModelOut, "/v1/models/lorapipe/tiny-qwen3", {}),
    ]
    for model, path, params in shapes:
        r = get(path, headers=api.alice, params=params)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"] == "application/json", path
        _same_after_validation(model, r.json())
    events = get(f"{url}/events", headers=api.alice).json()
    assert events["data"] and events["first_id"] == events["data"][0]["id"]
    cancelled = api.client.post(f"{url}/cancel", headers=api.alice)
    _same_after_validation(schemas_v1.JobOut, cancelled.json())
    deleted = api.client.delete(f"/v1/files/{f['id']}", headers=api.alice)
    _same_after_validation(schemas_v1.FileDeletedOut, deleted.json())
    # Errors keep OpenAI's error object.
    missing = get("/v1/fine_tuning/jobs/ftjob-missing", headers=api.alice)
    assert missing.status_code == 404
    schemas_v1.ErrorOut.model_validate(missing.json())
