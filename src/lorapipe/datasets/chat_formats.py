"""Readers for the common open formats: OpenAI chat, ShareGPT, Alpaca, prompt/completion."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from lorapipe.contract.conversation import Example, Message, Role
from lorapipe.datasets.record import RecordContext, check_example, single_example

# OpenAI's "developer" role is its newer name for "system".
OPENAI_ROLES: dict[str, Role] = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
}

# Role names seen in ShareGPT-style dumps in the wild.
SHAREGPT_ROLES: dict[str, Role] = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "assistant": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "model": "assistant",
}


def _content_text(content: Any, ctx: RecordContext, path: str) -> str | None:
    """OpenAI content is a string or a list of parts; only text parts can be trained on."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for j, part in enumerate(content):
            if isinstance(part, Mapping) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
                ctx.error(
                    "unsupported_content",
                    f"content part of type {kind!r} is not text",
                    "keep only text parts; images/audio are not supported",
                    f"{path}[{j}]",
                )
                return None
        return "".join(texts)
    ctx.error(
        "wrong_type" if content is not None else "missing_field",
        "message content must be a string or a list of text parts",
        "set 'content' to the message text",
        path,
    )
    return None


def openai_chat(rec: Any, ctx: RecordContext) -> Iterator[Example]:
    if not isinstance(rec, Mapping):
        ctx.error("wrong_type", "record must be a JSON object", 'write {"messages": [...]}', "$")
        return
    msgs = rec.get("messages")
    if not isinstance(msgs, list) or not msgs:
        code = "missing_field" if msgs is None else ("empty_field" if msgs == [] else "wrong_type")
        ctx.error(code, "'messages' must be a non-empty list", "add the conversation as a list", "$.messages")
        return
    if "tools" in rec or "functions" in rec:
        ctx.warning(
            "tools_ignored",
            "tool definitions are ignored: tool calling is not trained",
            "remove 'tools' to silence this",
            "$.tools",
        )
    out: list[Message] = []
    ok = True
    for i, m in enumerate(msgs):
        path = f"$.messages[{i}]"
        if not isinstance(m, Mapping):
            ctx.error("wrong_type", f"message {i} must be an object", '{"role": ..., "content": ...}', path)
            ok = False
            continue
        raw_role = m.get("role")
        role = OPENAI_ROLES.get(raw_role) if isinstance(raw_role, str) else None
        if role is None:
            ctx.error(
                "unknown_role" if raw_role is not None else "missing_field",
                f"unknown role {raw_role!r}" if raw_role is not None else "missing 'role'",
                "use one of system, user, assistant (tool turns are not supported)",
                f"{path}.role",
            )
            ok = False
            continue
        text = _content_text(m.get("content"), ctx, f"{path}.content")
        if text is None:
            ok = False
            continue
        weight = m.get("weight", 1)
        if weight not in (0, 1) or isinstance(weight, bool):
            ctx.error("bad_weight", f"weight must be 0 or 1, got {weight!r}", "use 0 or 1", f"{path}.weight")
            ok = False
            continue
        if weight == 0 and role != "assistant":
            ctx.warning(
                "bad_weight", "weight applies only to assistant messages", "remove it", f"{path}.weight"
            )
        out.append(Message(role=role, content=text, trained=role == "assistant" and weight == 1))
    if ok:
        yield from _checked(ctx, rec, out)


def sharegpt(rec: Any, ctx: RecordContext) -> Iterator[Example]:
    if not isinstance(rec, Mapping):
        ctx.error("wrong_type", "record must be a JSON object", 'write {"conversations": [...]}', "$")
        return
    turns = rec.get("conversations")
    if not isinstance(turns, list) or not turns:
        code = "missing_field" if turns is None else ("empty_field" if turns == [] else "wrong_type")
        ctx.error(code, "'conversations' must be a non-empty list", "add the turns", "$.conversations")
        return
    out: list[Message] = []
    system = rec.get("system")
    if isinstance(system, str) and system.strip():
        out.append(Message(role="system", content=system))
    ok = True
    for i, t in enumerate(turns):
        path = f"$.conversations[{i}]"
        if not isinstance(t, Mapping):
            ctx.error("wrong_type", f"turn {i} must be an object", '{"from": ..., "value": ...}', path)
            ok = False
            continue
        who = t.get("from")
        role = SHAREGPT_ROLES.get(who.lower()) if isinstance(who, str) else None
        if role is None:
            ctx.error(
                "unknown_role" if who is not None else "missing_field",
                f"unknown speaker {who!r}" if who is not None else "missing 'from'",
                f"use one of {', '.join(sorted(SHAREGPT_ROLES))}",
                f"{path}.from",
            )
            ok = False
            continue
        value = ctx.text_field(t, "value", path, required=role == "assistant")
        if value is None and role == "assistant":
            ok = False
            continue
        out.append(Message(role=role, content=value or "", trained=role == "assistant"))
    if ok:
        yield from _checked(ctx, rec, out)


def alpaca(rec: Any, ctx: RecordContext) -> Iterator[Example]:
    if not isinstance(rec, Mapping):
        ctx.error("wrong_type", "record must be a JSON object", '{"instruction":..., "output":...}', "$")
        return
    instruction = ctx.text_field(rec, "instruction", "$")
    output = ctx.text_field(rec, "output", "$")
    extra = ctx.text_field(rec, "input", "$", required=False)
    system = ctx.text_field(rec, "system", "$", required=False)
    if instruction is None or output is None:
        return
    prompt = f"{instruction}\n\n{extra}" if extra and extra.strip() else instruction
    msgs = [Message("system", system)] if system and system.strip() else []
    msgs += [Message("user", prompt), Message("assistant", output, trained=True)]
    yield from _checked(ctx, rec, msgs)


def prompt_completion(rec: Any, ctx: RecordContext) -> Iterator[Example]:
    """Plain ``{"prompt": str, "completion": str}`` or TRL's conversational form (lists of messages)."""
    if not isinstance(rec, Mapping):
        ctx.error("wrong_type", "record must be a JSON object", '{"prompt":..., "completion":...}', "$")
        return
    prompt, completion = rec.get("prompt"), rec.get("completion")
    if isinstance(prompt, list) and isinstance(completion, list):
        yield from openai_chat({**rec, "messages": prompt + completion}, ctx)
        return
    p = ctx.text_field(rec, "prompt", "$")
    c = ctx.text_field(rec, "completion", "$")
    if p is None or c is None:
        return
    yield from _checked(ctx, rec, [Message("user", p), Message("assistant", c, trained=True)])


def _checked(ctx: RecordContext, rec: Mapping[str, Any], msgs: list[Message]) -> Iterator[Example]:
    ex = single_example(ctx, rec, msgs)
    if check_example(ex, ctx):
        yield ex
