"""Which base models a service accepts: catalogued ids, cached or hub-known hub ids, folders under the
operator's allow-list, and never an arbitrary server path (whose refusal does not say if it exists)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lorapipe.errors import UnknownModelError
from lorapipe.models import references
from lorapipe.models.references import check_model_reference, public_model_id
from lorapipe.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def model_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    return path


def refusal(ref: str, settings: Settings) -> UnknownModelError:
    with pytest.raises(UnknownModelError) as info:
        check_model_reference(ref, settings)
    assert info.value.code == "unknown_model" and info.value.http_status == 400
    assert info.value.param == "model"
    return info.value


@pytest.mark.parametrize(
    ("ref", "canonical"),
    [
        ("Qwen/Qwen3-8B", "Qwen/Qwen3-8B"),
        ("qwen3-8b", "Qwen/Qwen3-8B"),
        ("tiny-qwen3", "lorapipe/tiny-qwen3"),
        ("lorapipe/tiny-qwen3-realvocab", "lorapipe/tiny-qwen3-realvocab"),
        ("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct"),
    ],
)
def test_catalogued_models_are_accepted_as_their_id(settings: Settings, ref: str, canonical: str) -> None:
    assert check_model_reference(ref, settings) == canonical


def test_a_server_path_is_refused_alike_whether_it_exists_or_not(settings: Settings, tmp_path: Path) -> None:
    existing = model_folder(tmp_path / "real-model")
    answers = {
        ref: refusal(ref, settings)
        for ref in ("/etc", "/no/such/dir", str(existing), str(tmp_path / "missing-model"))
    }
    texts = {str(e).replace(repr(ref), "REF") for ref, e in answers.items()}
    assert len(texts) == 1, texts  # word for word the same: nothing tells an existing path apart
    (text,) = texts
    assert not any(word in text for word in ("exist", "found", "config.json", "directory"))


def test_only_folders_under_the_allow_list_are_accepted(settings: Settings, tmp_path: Path) -> None:
    allowed = tmp_path / "models"
    inside = model_folder(allowed / "mine")
    outside = model_folder(tmp_path / "other")
    gguf = allowed / "q.gguf"
    gguf.write_bytes(b"GGUF")
    s = settings.model_copy(update={"model_dirs": [allowed]})
    assert check_model_reference(str(inside), s) == str(inside.resolve())
    assert check_model_reference(str(gguf), s) == str(gguf.resolve())
    refusal(str(outside), s)
    refusal(f"{allowed}/../other", s)  # '..' is refused before anything is resolved
    refusal("models/mine", s)  # relative: against which folder?
    refusal("~/mine", s)


def test_a_symlink_out_of_an_allowed_folder_is_refused(settings: Settings, tmp_path: Path) -> None:
    allowed = tmp_path / "models"
    allowed.mkdir()
    secret = model_folder(tmp_path / "secret")
    (allowed / "link").symlink_to(secret)
    s = settings.model_copy(update={"model_dirs": [allowed]})
    refusal(str(allowed / "link"), s)


def test_a_folder_under_the_allow_list_that_is_no_model_says_so(settings: Settings, tmp_path: Path) -> None:
    allowed = tmp_path / "models"
    (allowed / "empty").mkdir(parents=True)
    s = settings.model_copy(update={"model_dirs": [allowed]})
    assert "not a model folder" in str(refusal(str(allowed / "empty"), s))


def test_unknown_names_list_what_is_accepted(settings: Settings, offline: None) -> None:
    error = refusal("gpt-nine", settings)
    assert "Qwen/Qwen3-8B" in (error.hint or "") and "LORAPIPE_MODEL_DIRS" in (error.hint or "")
    assert "offline" in str(refusal("someone/uncached-model", settings))


def test_a_cached_hub_model_is_accepted_offline(settings: Settings, offline: None) -> None:
    repo = settings.resolved_model_cache_dir / "hub" / "models--someone--cached-model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("a" * 40)
    (repo / "snapshots" / ("a" * 40)).mkdir(parents=True)
    (repo / "snapshots" / ("a" * 40) / "config.json").write_text("{}")
    assert check_model_reference("someone/cached-model", settings) == "someone/cached-model"


class FakeHub(BaseHTTPRequestHandler):
    """Answers ``/api/models/<id>`` like the hub: 200 for someone/known-model, 404 RepoNotFound otherwise."""

    def do_GET(self) -> None:
        known = self.path.split("?")[0] == "/api/models/someone/known-model"
        body = json.dumps({"id": "someone/known-model", "sha": "b" * 40} if known else {"error": "nope"})
        self.send_response(200 if known else 404)
        self.send_header("Content-Type", "application/json")
        if not known:
            self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from huggingface_hub import constants

    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(references, "_hub_known", {})
    yield url
    server.shutdown()


def test_a_hub_id_is_accepted_when_the_hub_knows_it(settings: Settings, fake_hub: str) -> None:
    assert check_model_reference("someone/known-model", settings) == "someone/known-model"
    assert "no such model" in str(refusal("someone/unknown-model", settings))


def test_an_unreachable_hub_refuses_uncached_hub_ids(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # discard port: refused at once
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert "did not answer" in str(refusal("someone/some-model", settings))


@pytest.mark.parametrize(
    ("ref", "public"),
    [
        ("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct"),
        ("lorapipe/tiny-qwen3", "lorapipe/tiny-qwen3"),
        ("someone/model@v2", "someone/model"),
        ("/srv/models/my-model", "my-model"),
        ("/srv/models/my-model/", "my-model"),
        ("/srv/models/q.gguf", "q"),
    ],
)
def test_public_model_id_never_is_a_path(ref: str, public: str) -> None:
    assert public_model_id(ref) == public


def test_model_dirs_setting_takes_a_path_list_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORAPIPE_MODEL_DIRS", "/srv/a:/srv/b")
    assert Settings(_env_file=None).model_dirs == [Path("/srv/a"), Path("/srv/b")]  # type: ignore[call-arg]
    monkeypatch.setenv("LORAPIPE_MODEL_DIRS", '["/srv/c"]')
    assert Settings(_env_file=None).model_dirs == [Path("/srv/c")]  # type: ignore[call-arg]
    monkeypatch.setenv("LORAPIPE_MODEL_DIRS", "relative/dir")
    with pytest.raises(ValueError, match="model_dirs"):
        Settings(_env_file=None)  # type: ignore[call-arg]
