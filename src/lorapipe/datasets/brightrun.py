"""brightrun-lora-v4: the original system's format, as a full JSON document or JSON Lines.

Each *training pair* is one turn of a conversation. User turns have ``target_response: null`` and
are skipped (their text reappears in the next pair's history). In every usable pair the current
user message is both the last item of ``conversation_history`` and ``current_user_input``: it is
taken once. One usable pair becomes one :class:`Example` whose only trained message is the target.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from lorapipe.contract.conversation import Example, Message
from lorapipe.datasets.record import RecordContext, check_example

# Scaffolding kept on each example for statistics and lineage.
_PAIR_METADATA = ("persona_archetype", "emotional_arc_key", "training_topic_key", "conversation_phase")


def conversation(rec: Any, ctx: RecordContext) -> Iterator[Example]:
    """One element of the JSON document's ``conversations`` array."""
    if not isinstance(rec, Mapping):
        ctx.error("wrong_type", "conversation must be a JSON object", "", "$")
        return
    meta = rec.get("conversation_metadata")
    conv_id = meta.get("conversation_id") if isinstance(meta, Mapping) else None
    if not isinstance(conv_id, str) or not conv_id:
        ctx.error(
            "missing_field",
            "missing conversation_metadata.conversation_id",
            "every conversation needs its id",
            "$.conversation_metadata.conversation_id",
        )
        return
    pairs = rec.get("training_pairs")
    if not isinstance(pairs, list):
        ctx.error("missing_field", "missing 'training_pairs' list", "", "$.training_pairs")
        return
    for j, p in enumerate(pairs):
        yield from _pair(p, ctx, conv_id, f"$.training_pairs[{j}]")


def pair(rec: Any, ctx: RecordContext) -> Iterator[Example]:
    """One line of the JSONL variant (only pairs with a target are written there)."""
    if isinstance(rec, Mapping) and "_meta" in rec:
        return  # the header line
    conv_id = rec.get("conversation_id") if isinstance(rec, Mapping) else None
    if not isinstance(conv_id, str) or not conv_id:
        ctx.error("missing_field", "missing 'conversation_id'", "every pair needs its conversation id", "$")
        return
    yield from _pair(rec, ctx, conv_id, "$")


def _pair(p: Any, ctx: RecordContext, conv_id: str, path: str) -> Iterator[Example]:
    if not isinstance(p, Mapping):
        ctx.error("wrong_type", "training pair must be a JSON object", "", path)
        return
    if p.get("target_response") is None and "target_response" in p:
        return  # a user turn: nothing to train
    target = ctx.text_field(p, "target_response", path)
    user_input = ctx.text_field(p, "current_user_input", path)
    history = p.get("conversation_history", [])
    if not isinstance(history, list):
        ctx.error("wrong_type", "'conversation_history' must be a list", "", f"{path}.conversation_history")
        return
    if target is None or user_input is None:
        return
    msgs: list[Message] = []
    system = p.get("system_prompt")
    if isinstance(system, str) and system.strip():
        msgs.append(Message("system", system))
    for k, h in enumerate(sorted(history, key=_turn_key)):
        hpath = f"{path}.conversation_history[{k}]"
        if not isinstance(h, Mapping) or h.get("role") not in ("user", "assistant"):
            role = h.get("role") if isinstance(h, Mapping) else None
            ctx.error("unknown_role", f"history role {role!r}", "use user or assistant", f"{hpath}.role")
            return
        content = ctx.text_field(h, "content", hpath)
        if content is None:
            return
        msgs.append(Message(h["role"], content))
    # The current user message already closes the history in this format: never add it twice.
    last = msgs[-1] if msgs else None
    if not (last and last.role == "user" and last.content.strip() == user_input.strip()):
        msgs.append(Message("user", user_input))
    msgs.append(Message("assistant", target, trained=True))

    pair_id = str(p.get("id") or f"turn{p.get('turn_number', ctx.index)}")
    suffix = conv_id[:8]
    ex_id = pair_id if pair_id.endswith(suffix) else f"{pair_id}_{suffix}"
    ex = Example(
        id=ex_id,
        conversation_id=conv_id,
        messages=tuple(msgs),
        metadata=_metadata(p),
        record=ctx.index,
        line=ctx.line,
    )
    if check_example(ex, ctx):
        yield ex


def _turn_key(h: Any) -> int:
    turn = h.get("turn") if isinstance(h, Mapping) else None
    return turn if isinstance(turn, int) else 0


def _metadata(p: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"turn_number": p.get("turn_number")}
    cm = p.get("conversation_metadata")
    if isinstance(cm, Mapping):
        out.update({k: cm[k] for k in _PAIR_METADATA if k in cm})
    tm = p.get("training_metadata")
    if isinstance(tm, Mapping) and "quality_score" in tm:
        out["quality_score"] = tm["quality_score"]
    return out
