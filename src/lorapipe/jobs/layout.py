"""Where a job's files live in the object store — one layout for every backend:

- ``runs/<job id>/<attempt id>/adapter/``: the finished adapter, its manifest (written last), model card,
  samples and metrics, uploaded by the engine before it reports success; verified from here, and
  downloaded from here (``Adapter.location`` is this folder's store URL).
- ``runs/<job id>/checkpoints/checkpoint-<step>/``: every checkpoint, mirrored as it is saved and shared by
  the job's attempts, so a retry on another machine resumes from the newest complete one.
"""

from __future__ import annotations

from typing import Any

from lorapipe.storage import ObjectStore


def adapter_prefix(job_id: str, attempt_id: str) -> str:
    return f"runs/{job_id}/{attempt_id}/adapter"


def checkpoints_prefix(job_id: str) -> str:
    return f"runs/{job_id}/checkpoints"


def attempt_spec(spec: dict[str, Any], objects: ObjectStore, job_id: str, attempt_id: str) -> dict[str, Any]:
    """The job's spec with this attempt's output locations filled in (store URLs; no credentials)."""
    output = {
        **(spec.get("output") or {}),
        "upload_uri": objects.url_for(adapter_prefix(job_id, attempt_id)),
        "checkpoint_uri": objects.url_for(checkpoints_prefix(job_id)),
    }
    return {**spec, "output": output}
