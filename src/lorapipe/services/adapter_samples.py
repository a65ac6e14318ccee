"""The held-out prompts an adapter's ``samples.json`` holds (written by the engine after training):
each with the dataset's own reply and the greedy base and adapter replies of training time. The
dashboard's playground offers them as prompts one click away."""

from __future__ import annotations

import json

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from lorapipe.errors import LorapipeError
from lorapipe.services.adapter_files import adapter_files, file_download
from lorapipe.services.adapters import adapter_row
from lorapipe.settings import Settings

SAMPLES = "samples.json"
MAX_BYTES = 2 * 1024 * 1024
"""A larger samples.json is not read: a few prompts and short replies are a few kilobytes."""


class HeldOutPrompt(BaseModel):
    id: str = ""
    prompt: str
    reference: str = ""
    base: str = ""
    adapter: str = ""


def held_out_prompts(
    session: Session, settings: Settings, owner_id: str, adapter_id: str
) -> list[HeldOutPrompt]:
    """The caller's adapter's held-out prompts; none when it has no readable ``samples.json`` (the job
    ran with ``sample_prompts`` 0, or the file is damaged). Another user's adapter is not found."""
    row = adapter_row(session, owner_id, adapter_id)
    if SAMPLES not in {f.path for f in adapter_files(row)}:
        return []
    data = bytearray()
    try:
        for chunk in file_download(row, SAMPLES, settings).chunks:
            data += chunk
            if len(data) > MAX_BYTES:
                return []
        doc = json.loads(bytes(data))
    except (LorapipeError, OSError, ValueError):
        return []
    items = doc.get("samples") if isinstance(doc, dict) else doc
    prompts = []
    for item in items if isinstance(items, list) else []:
        try:
            prompt = HeldOutPrompt.model_validate(item)
        except ValidationError:
            continue
        if prompt.prompt.strip():
            prompts.append(prompt)
    return prompts
