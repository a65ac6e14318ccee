"""Chat over ``/v1/chat/completions`` with the official ``openai`` client against a live ``lorapipe serve``:
a full queue is a 429 at once (not a hang); a tiny-model adapter trained through the real path answers
differently from its base (greedy, seeded), whole and streamed alike, with usage counted; another
user's ``ft:`` id is a 404; ``lorapipe adapters check`` passes the adapter for vLLM through the service.
Generation runs in the service's inference child process (the web process imports no torch:
tests/integration/api/test_no_torch.py)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from live_service import EQ12, LORAPIPE, Service, free_port
from openai import OpenAI

pytestmark = pytest.mark.e2e

BASE = "lorapipe/tiny-qwen3"
ASK = [{"role": "system", "content": "You are kind."}, {"role": "user", "content": "I feel lost at work."}]


def _key(env: dict[str, str], user: str) -> str:
    subprocess.run([*LORAPIPE, "users", "create", user], env=env, check=True, capture_output=True)
    made = subprocess.run(
        [*LORAPIPE, "keys", "create", "--user", user], env=env, check=True, capture_output=True
    )
    return made.stdout.decode().strip()


@pytest.fixture
def chat_service(tmp_path: Path) -> Iterator[tuple[Service, str]]:
    """A live service whose chat queue holds one waiting request (one runs), and a second user's key."""
    env = {
        **os.environ,
        "LORAPIPE_DATA_DIR": str(tmp_path / "data"),
        "HF_HUB_OFFLINE": "1",
        "LORAPIPE_CHAT_QUEUE_LENGTH": "1",
        "LORAPIPE_CHAT_MAX_REQUESTS_PER_USER": "4",
        "LORAPIPE_CHAT_MAX_TOKENS": "32",
    }
    env.pop("LORAPIPE_DATABASE_URL", None)
    svc = Service(env=env, log_path=tmp_path / "serve.log", port=free_port(), key=_key(env, "ci"))
    other = _key(env, "other")
    svc.start()
    try:
        yield svc, other
    finally:
        svc.stop()


def _flood(service: Service, n: int) -> list[httpx.Response]:
    """``n`` chat requests sent at the same moment; their answers in completion order."""
    answers: list[httpx.Response] = []
    start = threading.Barrier(n)
    body = {"model": BASE, "messages": ASK, "max_tokens": 32, "temperature": 0}

    def send() -> None:
        with httpx.Client(base_url=service.base, headers=service.auth, timeout=600) as http:
            start.wait()
            answers.append(http.post("/v1/chat/completions", json=body))

    threads = [threading.Thread(target=send) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def _wait_succeeded(client: OpenAI, job_id: str) -> str:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        job = client.fine_tuning.jobs.retrieve(job_id)
        if job.status in ("succeeded", "failed", "cancelled"):
            assert job.status == "succeeded", job.error
            assert job.fine_tuned_model
            return job.fine_tuned_model
        time.sleep(1)
    raise AssertionError(f"{job_id} did not finish")


def test_chat_with_an_adapter_and_its_base(chat_service: tuple[Service, str]) -> None:
    service, other_key = chat_service
    # The inference worker starts on the first request (seconds: it imports torch), so of four sent
    # at once one runs, one waits and the rest are refused at once.
    answers = _flood(service, 4)
    statuses = [a.status_code for a in answers]
    assert sorted(set(statuses)) == [200, 429], statuses
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.headers["Retry-After"].isdigit()
    assert refused.json()["error"]["code"] == "rate_limited"
    assert answers[0].status_code == 429, "a refusal came only after a reply: the queue made it wait"

    client = OpenAI(base_url=f"{service.base}/v1", api_key=service.key, max_retries=0)
    with EQ12.open("rb") as handle:
        uploaded = client.files.create(file=handle, purpose="fine-tune")
    small = {"preset": "cpu-smoke", "config": {"max_steps": 8, "sample_prompts": 0, "learning_rate": 0.005}}
    job = client.fine_tuning.jobs.create(
        model=BASE, training_file=uploaded.id, suffix="chat", extra_body=small
    )
    ft = _wait_succeeded(client, job.id)

    def ask(model: str) -> openai.types.chat.ChatCompletion:
        return client.chat.completions.create(model=model, messages=ASK, max_tokens=24, temperature=0, seed=7)

    tuned, base = ask(ft), ask(BASE)
    assert tuned.model == ft and base.model == BASE
    assert tuned.choices[0].message.content != base.choices[0].message.content
    assert ask(ft).choices[0].message.content == tuned.choices[0].message.content  # greedy + seeded
    usage = tuned.usage
    assert usage is not None and usage.prompt_tokens > 10 and 1 <= usage.completion_tokens <= 24
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert tuned.choices[0].finish_reason in ("stop", "length")

    stream = client.chat.completions.create(
        model=ft,
        messages=ASK,
        max_tokens=24,
        temperature=0,
        seed=7,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == tuned.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == tuned.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage == usage

    stranger = OpenAI(base_url=f"{service.base}/v1", api_key=other_key, max_retries=0)
    with pytest.raises(openai.NotFoundError) as missing:
        stranger.chat.completions.create(model=ft, messages=ASK, max_tokens=4)
    assert missing.value.body is not None and missing.value.body["param"] == "model"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model=ft, messages=ASK, n=2)
    assert bad.value.body is not None and bad.value.body["param"] == "n"  # type: ignore[index]

    adapter_id = httpx.get(f"{service.base}/api/adapters", headers=service.auth).json()["data"][0]["id"]
    env = {**service.env, "LORAPIPE_API_URL": service.base, "LORAPIPE_API_KEY": service.key}
    checked = subprocess.run(
        [*LORAPIPE, "adapters", "check", adapter_id, "--for", "vllm"], env=env, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"--enable-lora --max-lora-rank 16 --lora-modules {ft}=./" in checked.stdout
