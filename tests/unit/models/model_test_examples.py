"""EQ-12 (brightrun-lora-v4 JSONL) as canonical examples, for model-layer tests and benchmarks.

A small stand-in for the datasets reader so these tests do not depend on it: the last history item is
the current user input (not repeated), null targets are skipped, only the target is trained.
"""

from __future__ import annotations

import importlib.resources
import json

from lorapipe.contract.conversation import Example, Message


def eq12_examples() -> list[Example]:
    path = importlib.resources.files("lorapipe.samples") / "eq12" / "EQ-12-conversations-demo.jsonl"
    examples: list[Example] = []
    for n, line in enumerate(path.read_text("utf-8").splitlines()):
        record = json.loads(line)
        if "_meta" in record or not record.get("target_response"):
            continue
        messages = [Message("system", record["system_prompt"])]
        messages += [Message(h["role"], h["content"]) for h in record["conversation_history"]]
        if messages[-1].role != "user" or messages[-1].content != record["current_user_input"]:
            messages.append(Message("user", record["current_user_input"]))
        messages.append(Message("assistant", record["target_response"], trained=True))
        examples.append(Example(record["id"], record["conversation_id"], tuple(messages), line=n + 1))
    return examples
