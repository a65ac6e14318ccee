"""The body of ``POST /v1/chat/completions`` as OpenAI's client sends it, and what lorapipe accepts of
it. Anything it cannot honour (``n`` > 1, tools, logprobs, a JSON response format, images) is a 400
naming the field rather than silently ignored."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lorapipe.errors import UserError
from lorapipe.settings import Settings

SEED_BITS = 63


class TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Annotated[str, Field(max_length=200_000)] | list[TextPart] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatRequest(BaseModel):
    """OpenAI's chat completion request (the fields lorapipe reads; others are ignored)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]*$")
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**64)
    n: int | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    logprobs: bool | None = None
    response_format: dict[str, Any] | None = None


def _messages(request: ChatRequest) -> list[dict[str, str]]:
    out = []
    for i, m in enumerate(request.messages):
        where = f"messages.{i}"
        if m.role in ("tool", "function"):
            raise UserError(
                f"{where}.role {m.role!r} is not supported: this service does not call tools",
                param=f"{where}.role",
            )
        if m.content is None:
            raise UserError(f"{where} has no content", param=f"{where}.content")
        if isinstance(m.content, str):
            text = m.content
        else:
            other = [p.type for p in m.content if p.type != "text" or p.text is None]
            if other:
                raise UserError(
                    f"{where}.content has a {other[0]!r} part; only text parts are supported",
                    param=f"{where}.content",
                )
            text = "".join(p.text or "" for p in m.content)
        out.append({"role": "system" if m.role == "developer" else m.role, "content": text})
    return out


def _stops(stop: str | list[str] | None) -> list[str]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > 4 or any(not s or len(s) > 200 for s in stops):
        raise UserError("stop takes up to 4 non-empty strings of at most 200 characters", param="stop")
    return stops


def generation_request(request: ChatRequest, settings: Settings) -> dict[str, Any]:
    """The worker's request fields (all but ``base``/``adapter``), checked against what is allowed."""
    if request.n not in (None, 1):
        raise UserError(f"n={request.n} is not supported; only one choice (n=1) is generated", param="n")
    for field in ("tools", "functions"):
        if getattr(request, field):
            raise UserError(f"{field} are not supported by this service", param=field)
    if request.logprobs:
        raise UserError("logprobs are not supported by this service", param="logprobs")
    if request.response_format and request.response_format.get("type") not in (None, "text"):
        raise UserError("only the text response_format is supported", param="response_format")
    field = "max_completion_tokens" if request.max_completion_tokens is not None else "max_tokens"
    wanted = (
        request.max_completion_tokens if request.max_completion_tokens is not None else request.max_tokens
    )
    if wanted is not None and not 1 <= wanted <= settings.chat_max_tokens:
        raise UserError(
            f"{field}={wanted} is out of range: 1 to {settings.chat_max_tokens} on this service", param=field
        )
    return {
        "messages": _messages(request),
        "max_tokens": wanted or settings.chat_max_tokens,
        "temperature": 1.0 if request.temperature is None else request.temperature,
        "top_p": 1.0 if request.top_p is None else request.top_p,
        "stop": _stops(request.stop),
        # OpenAI takes any 64-bit integer; the generator wants a non-negative one.
        "seed": None if request.seed is None else request.seed % (2**SEED_BITS),
        "time_limit_s": settings.chat_request_timeout_s,
    }
