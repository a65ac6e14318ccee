"""What a RunPod worker (a serverless job or a pod) is given for one attempt: the spec with the data as
short-lived URLs, and where its event log goes. Shared by both RunPod backends so they cannot drift."""

from __future__ import annotations

from typing import Any

from lorapipe.backends.base import Submission
from lorapipe.contract.serverless import ServerlessInput
from lorapipe.contract.spec import TrainingJobSpec
from lorapipe.errors import LorapipeError, StorageError
from lorapipe.storage import ObjectStore


def events_key(submission: Submission) -> str:
    """The store key of the attempt's event log (the worker writes it; the service reads it)."""
    return f"runs/{submission.job_id}/{submission.attempt_id}/events.jsonl"


def worker_input(submission: Submission, objects: ObjectStore, presign_s: int) -> dict[str, Any]:
    """The attempt as :class:`ServerlessInput` JSON. No secret in it: the dataset (and validation file)
    is a presigned HTTPS URL when the store can sign one, else its store URL, which the worker opens with
    its own credentials; the model cache is the worker's network volume, never the service's folder."""

    def presigned(ref: dict[str, Any]) -> dict[str, Any]:
        try:
            return {**ref, "uri": objects.presigned_url(objects.key_of(ref["uri"]), expires_s=presign_s)}
        except (StorageError, LorapipeError):
            return ref

    spec = TrainingJobSpec.parse(submission.spec).model_dump(mode="json")
    spec["dataset"] = presigned(spec["dataset"])
    if spec.get("validation"):
        spec["validation"] = presigned(spec["validation"])
    spec["model_cache_dir"] = None
    payload = ServerlessInput(
        attempt_id=submission.attempt_id,
        spec=TrainingJobSpec.parse(spec),
        resume=submission.resume,
        events_uri=objects.url_for(events_key(submission)),
    )
    return payload.model_dump(mode="json")
