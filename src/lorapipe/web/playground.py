"""The adapter playground page: one prompt answered by the base model and by the adapter side by side
(streamed by ``static/playground.js`` from ``POST /v1/chat/completions`` with the browser's own bearer
key), the job's held-out prompts one click away, and the same call as curl and as Python."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from lorapipe.errors import NotFoundError
from lorapipe.services import adapters as adapter_service
from lorapipe.services.adapter_samples import held_out_prompts
from lorapipe.web.deps import DB, PageUser, State
from lorapipe.web.pages import not_found, render

router = APIRouter(include_in_schema=False)

DEFAULT_TEMPERATURE = 0.7
DEFAULT_MAX_TOKENS = 128
EXAMPLE_PROMPT = "Hello! What can you help me with?"
KEY_PLACEHOLDER = "YOUR_LORAPIPE_API_KEY"


def curl_snippet(base_url: str, model: str) -> str:
    """A streamed chat request with curl; the key is read from an environment variable."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": EXAMPLE_PROMPT}],
        "temperature": DEFAULT_TEMPERATURE,
        "max_tokens": DEFAULT_MAX_TOKENS,
        "stream": True,
    }
    # json.dumps escapes nothing a shell would read inside single quotes except the quote itself.
    payload = json.dumps(body, ensure_ascii=False).replace("'", "'\\''")
    return (
        f"export LORAPIPE_API_KEY={KEY_PLACEHOLDER}\n"
        f"curl -N {base_url}/v1/chat/completions \\\n"
        '  -H "Authorization: Bearer $LORAPIPE_API_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{payload}'"
    )


def python_snippet(base_url: str, model: str) -> str:
    """The same request with OpenAI's official Python client."""
    return "\n".join(
        [
            "from openai import OpenAI",
            "",
            f'client = OpenAI(base_url="{base_url}/v1", api_key="{KEY_PLACEHOLDER}")',
            "stream = client.chat.completions.create(",
            f"    model={json.dumps(model)},",
            f'    messages=[{{"role": "user", "content": {json.dumps(EXAMPLE_PROMPT)}}}],',
            f"    temperature={DEFAULT_TEMPERATURE},",
            f"    max_tokens={DEFAULT_MAX_TOKENS},",
            "    stream=True,",
            ")",
            "for chunk in stream:",
            '    print(chunk.choices[0].delta.content or "", end="", flush=True)',
        ]
    )


@router.get("/ui/adapters/{adapter_id}/playground", response_class=HTMLResponse)
def playground(request: Request, state: State, db: DB, user: PageUser, adapter_id: str) -> HTMLResponse:
    try:
        adapter = adapter_service.get_adapter(db, user.id, adapter_id)
    except NotFoundError as exc:
        return not_found(request, user, exc)
    base_url = str(request.base_url).rstrip("/")
    return render(
        request,
        "playground.html",
        user,
        adapter=adapter,
        prompts=held_out_prompts(db, state.settings, user.id, adapter_id),
        temperature=DEFAULT_TEMPERATURE,
        max_tokens=min(DEFAULT_MAX_TOKENS, state.settings.chat_max_tokens),
        max_tokens_limit=state.settings.chat_max_tokens,
        curl=curl_snippet(base_url, adapter.name),
        python=python_snippet(base_url, adapter.name),
    )
