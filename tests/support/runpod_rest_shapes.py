"""The shapes of RunPod's management REST API v1 that lorapipe relies on, as pinned in
``tests/fixtures/runpod_rest_v1.json`` (from RunPod's OpenAPI document), and the check of a request body
against them: what the fake REST API answers 400 for, and what the contract tests hold lorapipe's own
requests to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTRACT = json.loads((Path(__file__).parents[1] / "fixtures" / "runpod_rest_v1.json").read_text("utf-8"))
SCHEMAS: dict[str, Any] = CONTRACT["schemas"]
ARRAYS = {"allowedCudaVersions", "countryCodes", "cpuFlavorIds", "dataCenterIds", "dockerEntrypoint",
          "dockerStartCmd", "gpuTypeIds", "ports", "networkVolumeIds"}  # fmt: skip
INTEGERS = {"containerDiskInGb", "gpuCount", "minRAMPerGPU", "minVCPUPerGPU", "vcpuCount", "volumeInGb",
            "executionTimeoutMs", "idleTimeout", "scalerValue", "workersMax", "workersMin"}  # fmt: skip
BOOLEANS = {
    "globalNetworking",
    "interruptible",
    "locked",
    "supportPublicIp",
    "isPublic",
    "isServerless",
    "flashboot",
}


def body_problems(schema: str, body: Any) -> list[str]:
    """What is wrong with ``body`` as a ``schema`` request, per the pinned document (empty = valid)."""
    spec = SCHEMAS[schema]
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    problems = [f"unknown field {k!r}" for k in body if k not in spec["properties"]]
    problems += [f"{k!r} is required" for k in spec.get("required", []) if k not in body]
    for key, value in body.items():
        if key in ARRAYS and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.append(f"{key!r} must be an array of strings")
        if key in INTEGERS and (not isinstance(value, int) or isinstance(value, bool)):
            problems.append(f"{key!r} must be an integer")
        if key in BOOLEANS and not isinstance(value, bool):
            problems.append(f"{key!r} must be a boolean")
        if key == "env" and not (isinstance(value, dict) and all(isinstance(v, str) for v in value.values())):
            problems.append("'env' must be an object of strings")
        if key in spec.get("enums", {}) and value not in spec["enums"][key]:
            problems.append(f"{key!r} must be one of {spec['enums'][key]}")
        if isinstance(value, int) and key in spec.get("minimum", {}) and value < spec["minimum"][key]:
            problems.append(f"{key!r} must be >= {spec['minimum'][key]}")
        if isinstance(value, int) and key in spec.get("maximum", {}) and value > spec["maximum"][key]:
            problems.append(f"{key!r} must be <= {spec['maximum'][key]}")
    for key, allowed in (
        ("gpuTypeIds", CONTRACT["gpuTypeIds"]),
        ("dataCenterIds", CONTRACT["dataCenterIds"]),
    ):
        problems += [f"{key!r}: unknown value {v!r}" for v in body.get(key) or [] if v not in allowed]
    return problems
