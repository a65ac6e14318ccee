"""Chat with a base model or one of your adapters: OpenAI's chat completion, whole or streamed.

``model`` is first looked up among the caller's live adapters by name (``ft:...``, or whatever it was
renamed to): another user's adapter is "not found", like every resource. Otherwise it must be a base
model this service accepts (:func:`~lorapipe.models.references.check_model_reference`). An adapter's
files are copied once from the object store into ``<data_dir>/inference/adapters/<id>/`` (checked
against the manifest's sha256) for the worker to load; the worker itself is
:mod:`lorapipe.services.chat_worker`.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lorapipe.db.jobs import Adapter
from lorapipe.errors import IntegrityError, NotFoundError, UserError
from lorapipe.models.catalog import find_model_spec
from lorapipe.models.references import cached_hub_folder, check_model_reference
from lorapipe.services.adapter_files import adapter_files, file_download
from lorapipe.services.chat_request import ChatRequest, generation_request
from lorapipe.services.chat_run import ChatRun
from lorapipe.services.chat_worker import chat_slots, wait_turn, worker_for
from lorapipe.settings import Settings


@dataclass(frozen=True)
class ChatTarget:
    """What ``model`` names: a base reference, and the adapter on it (``{"key", "path"}``) if any."""

    base: str
    adapter: dict[str, str] | None


def _owned_adapter(session: Session, owner_id: str, name: str) -> Adapter | None:
    return session.scalars(
        select(Adapter).where(
            Adapter.owner_id == owner_id, Adapter.name == name, Adapter.deleted_at.is_(None)
        )
    ).first()


def local_adapter(row: Adapter, settings: Settings) -> Path:
    """The adapter's files in the local cache, copied from its store location on first use."""
    folder = settings.data_dir / "inference" / "adapters" / row.id
    if (folder / "adapter_config.json").is_file():
        return folder
    partial = folder.with_name(f"{row.id}.{uuid.uuid4().hex[:8]}.partial")
    partial.mkdir(parents=True)
    try:
        expected = {f.path: f.sha256 for f in adapter_files(row)}
        for path, sha in expected.items():
            if path == "manifest.json":
                continue
            digest = hashlib.sha256()
            (partial / path).parent.mkdir(parents=True, exist_ok=True)
            with (partial / path).open("wb") as out:
                for chunk in file_download(row, path, settings).chunks:
                    digest.update(chunk)
                    out.write(chunk)
            if sha and digest.hexdigest() != sha:
                raise IntegrityError(f"adapter {row.id}: {path} does not match its manifest")
        with contextlib.suppress(OSError):  # another request copied it first
            partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def _base(ref: str, settings: Settings) -> str:
    """A base model this service accepts and already has: a chat request never starts a hub download
    (gigabytes, minutes) in the shared worker; training a job on the model downloads it."""
    base = check_model_reference(ref, settings, param="model")
    spec = find_model_spec(base)
    on_hub = spec.source == "hub" if spec is not None else not Path(base).is_absolute()
    if on_hub and cached_hub_folder(base, settings) is None:
        raise UserError(
            f"model {ref!r} is not downloaded on this service",
            param="model",
            hint="fine-tune a job on it first: that downloads it",
        )
    return base


def resolve_target(session: Session, settings: Settings, owner_id: str, model: str) -> ChatTarget:
    """The base and adapter ``model`` names for this caller (404 for an adapter that is not theirs)."""
    row = _owned_adapter(session, owner_id, model)
    if row is not None:
        path = local_adapter(row, settings)
        return ChatTarget(_base(row.base_model, settings), {"key": row.id, "path": str(path)})
    if model.startswith("ft:"):
        raise NotFoundError(f"no model {model!r}", param="model")
    return ChatTarget(_base(model, settings), None)


def start_chat(session: Session, settings: Settings, owner_id: str, request: ChatRequest) -> ChatRun:
    """Check the request, take a place in the queue (429 when full), wait for the worker's turn and
    start generating: errors before the first token are raised here, so they are HTTP errors."""
    fields = generation_request(request, settings)
    target = resolve_target(session, settings, owner_id, request.model)
    session.close()  # no connection held while generating
    places = chat_slots(settings)
    places.acquire(owner_id)
    worker = worker_for(settings)
    try:
        wait_turn(worker, settings)
    except BaseException:
        places.release(owner_id)
        raise

    def release() -> None:
        worker.turn.release()
        places.release(owner_id)

    events = worker.run({"base": target.base, "adapter": target.adapter, **fields})
    try:
        first = next(events)
    except BaseException:
        events.close()
        release()
        raise
    return ChatRun(request.model, events, first, release)


def _usage(done: dict[str, Any]) -> dict[str, int]:
    prompt, completion = int(done["prompt_tokens"]), int(done["completion_tokens"])
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(run: ChatRun) -> dict[str, Any]:
    """The whole reply as OpenAI's ``chat.completion`` object."""
    parts, done = [], None
    for event in run.all_events():
        if event["type"] == "delta":
            parts.append(event["text"])
        elif event["type"] == "done":
            done = event
    assert done is not None
    return {
        "id": run.id,
        "object": "chat.completion",
        "created": run.created,
        "model": run.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(parts), "refusal": None},
                "logprobs": None,
                "finish_reason": done["finish_reason"],
            }
        ],
        "usage": _usage(done),
    }


def chunks(run: ChatRun, include_usage: bool) -> Iterator[dict[str, Any]]:
    """The reply as OpenAI's ``chat.completion.chunk`` objects: the role first, then the text as it
    comes, then the finish reason (and, when asked, a last chunk with only the usage)."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {
            "id": run.id,
            "object": "chat.completion.chunk",
            "created": run.created,
            "model": run.model,
            "choices": [choice],
        }

    yield chunk({"role": "assistant", "content": ""})
    for event in run.all_events():
        if event["type"] == "delta":
            yield chunk({"content": event["text"]})
        elif event["type"] == "done":
            yield chunk({}, event["finish_reason"])
            if include_usage:
                yield {**chunk({}), "choices": [], "usage": _usage(event)}
