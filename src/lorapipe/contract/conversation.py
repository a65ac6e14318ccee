"""The canonical dataset schema every reader produces and training consumes.

An :class:`Example` is one training sequence: ordered messages, each with its role, its text and
whether its tokens are trained. Several examples can come from one source conversation (a
brightrun-lora-v4 conversation yields one example per assistant turn); ``conversation_id`` groups
them so a train/validation split never puts one conversation on both sides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str
    trained: bool = False
    """True when this message's tokens carry labels (only assistant messages can be trained)."""

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content, "trained": self.trained}


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    """Stable id of this example inside its dataset."""
    conversation_id: str
    """Examples from one source conversation share this id (the split keeps them together)."""
    messages: tuple[Message, ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Scaffolding kept for statistics and lineage (persona, emotional arc, topic, ...)."""
    record: int = 0
    """0-based index of the source record (JSONL line after any header, or JSON array item)."""
    line: int | None = None
    """1-based line of the source record in the file, where known."""

    def chat(self) -> list[dict[str, str]]:
        """The messages as a chat-template input (``[{"role", "content"}, ...]``)."""
        return [{"role": m.role, "content": m.content} for m in self.messages]

    def to_dict(self) -> dict[str, Any]:
        """JSON form; the canonical JSONL line of this example."""
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "messages": [m.to_dict() for m in self.messages],
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, record: int = 0, line: int | None = None) -> Example:
        """Inverse of :meth:`to_dict` (trusted input: the canonical JSONL we write ourselves)."""
        return cls(
            id=str(d["id"]),
            conversation_id=str(d["conversation_id"]),
            messages=tuple(
                Message(role=m["role"], content=m["content"], trained=bool(m.get("trained", False)))
                for m in d["messages"]
            ),
            metadata=dict(d.get("metadata") or {}),
            record=record,
            line=line,
        )

    def content_hash(self) -> str:
        """Digest of roles, contents and trained flags: equal exactly for duplicates (128-bit blake2b)."""
        h = hashlib.blake2b(digest_size=16)
        for m in self.messages:
            # Length-prefixed fields: no two different message lists feed the same bytes.
            data = m.content.encode("utf-8")
            h.update(f"{m.role}:{int(m.trained)}:{len(data)}:".encode())
            h.update(data)
        return h.hexdigest()
