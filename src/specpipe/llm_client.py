"""Optional call to an OpenAI-compatible chat endpoint (off by default; every prompt is paste-ready).

Only ``POST {base_url}/chat/completions`` is used, so any compatible server works: a hosted API, a
local vLLM or llama.cpp server. The API key is read from the environment variable the config names,
at call time, and is never written anywhere.
"""

from __future__ import annotations

import os

import httpx

from specpipe.project_config import LlmConfig


class LlmError(RuntimeError):
    """The endpoint failed or answered something that is not a chat completion."""


def complete(cfg: LlmConfig, prompt: str, *, transport: httpx.BaseTransport | None = None) -> str:
    """The assistant's reply to one user message (temperature 0 for repeatable output)."""
    if not cfg.model:
        raise LlmError("llm.model is empty in specpipe.toml")
    headers = {}
    if cfg.api_key_env:
        key = os.environ.get(cfg.api_key_env)
        if not key:
            raise LlmError(f"environment variable {cfg.api_key_env} (llm.api_key_env) is not set")
        headers["Authorization"] = f"Bearer {key}"
    body = {"model": cfg.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0}
    url = cfg.base_url.rstrip("/") + "/chat/completions"
    try:
        with httpx.Client(timeout=cfg.timeout_s, transport=transport) as client:
            response = client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise LlmError(f"{url}: {exc}") from exc
    if response.status_code != 200:
        raise LlmError(f"{url}: HTTP {response.status_code}: {response.text[:200]}")
    try:
        return str(response.json()["choices"][0]["message"]["content"])
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LlmError(f"{url}: not a chat completion: {response.text[:200]}") from exc
