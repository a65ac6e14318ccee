"""``POST /v1/chat/completions``: OpenAI's chat completion over a base model or one of your adapters,
whole or as server-sent ``chat.completion.chunk`` events ending with ``data: [DONE]``.

Errors found before the first token (a bad field, an unknown model, a full queue, a model that does
not load) are ordinary error answers; one after it is sent as a last ``data: {"error": ...}`` event,
which OpenAI's client raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from lorapipe.api import schemas_v1
from lorapipe.api.deps import DB, Caller, State
from lorapipe.api.errors import error_body
from lorapipe.api.sse import format_event
from lorapipe.errors import LorapipeError
from lorapipe.services import chat
from lorapipe.services.chat_request import ChatRequest
from lorapipe.services.chat_run import ChatRun

router = APIRouter(prefix="/v1", responses=schemas_v1.ERROR_RESPONSES)


def _sse(run: ChatRun, include_usage: bool) -> Iterator[bytes]:
    try:
        for chunk in chat.chunks(run, include_usage):
            yield format_event(chunk)
    except LorapipeError as exc:
        yield format_event(error_body(exc.http_status, exc.code, str(exc), exc.param, exc.kind))
    yield b"data: [DONE]\n\n"


@router.post(
    "/chat/completions",
    summary="Chat with a base model or one of your fine-tuned models (stream: true for SSE chunks)",
    response_model=None,
)
def chat_completions(
    state: State, db: DB, user: Caller, body: ChatRequest
) -> dict[str, Any] | StreamingResponse:
    run = chat.start_chat(db, state.settings, user.id, body)
    if not body.stream:
        return chat.completion(run)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(
        _sse(run, include_usage),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
