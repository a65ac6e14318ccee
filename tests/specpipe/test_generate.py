"""blueprint / merge: strict templates, repo-relative paths, the substitution pass, the optional LLM call."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from specpipe.cli import app
from specpipe.forbidden_terms import apply_substitutions
from specpipe.templating import TemplateInputError, render, template_variables

HERE = Path(__file__).parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(HERE / "fixtures" / "codebases" / "nextjs-supabase", tmp_path / "web")
    shutil.copy(HERE / "fixtures" / "specs" / "reports-spec.md", tmp_path / "spec.md")
    result = CliRunner().invoke(
        app,
        [
            "init",
            str(tmp_path),
            "--name",
            "Acme Reports",
            "--abbrev",
            "rep",
            "--codebase",
            "web",
            "--spec",
            "spec.md",
        ],
    )
    assert result.exit_code == 0, result.output
    return tmp_path


def run(project: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, [*args, "--config", str(project / "specpipe.toml")])
    assert result.exit_code == code, result.output
    return result.output


@pytest.mark.unit
def test_strict_rendering_names_missing_and_reports_unused_inputs() -> None:
    needed = template_variables("merge.md.j2")
    values: dict[str, Any] = dict.fromkeys(needed, "")
    values.update(blueprint_docs=[], substitutions={}, sections=[])
    with pytest.raises(TemplateInputError, match="output_path"):
        render("merge.md.j2", {k: v for k, v in values.items() if k != "output_path"})
    result = render("merge.md.j2", values | {"stray_input": "x"})
    assert result.unused == ["stray_input"]
    assert (
        "{{PLACEHOLDER}}" in result.text
    )  # the literal example in the instructions, escaped in the template


@pytest.mark.integration
def test_blueprint_embeds_the_inventory_with_repo_relative_paths(project: Path) -> None:
    out = run(project, "blueprint")
    assert "paste it into a fresh agent session" in out
    text = (project / "specpipe-out" / "rep-blueprint-prompt.md").read_text()
    assert "not a comparison of two" in text and "Build it separately" in text
    assert "`async requireUser()` in `src/lib/auth.ts:12`" in text
    assert "| Authentication | `async requireUser()` from `src/lib/auth.ts:12`; also `getUser`" in text
    assert "| Database access | `createClient()` from `src/lib/supabase/server.ts` (supabase, server)" in text
    assert "Existing codebase: `web`" in text and "`specpipe-out/rep-inventory.json`" in text
    assert str(project) not in text  # no absolute paths leak into the prompt
    assert 'spec says "Prisma" -> use the existing Supabase client' in text
    assert (project / "specpipe-out" / "rep-inventory.json").is_file()  # made on the way


@pytest.mark.integration
def test_merge_prompt_lists_the_spec_sections_and_documents(project: Path) -> None:
    doc = project / "docs" / "strategy.md"
    doc.parent.mkdir()
    doc.write_text("# strategy\n")
    run(project, "merge", "--doc", str(doc))
    text = (project / "specpipe-out" / "rep-merge-prompt.md").read_text()
    assert "- Blueprint document: `docs/strategy.md`" in text
    assert "`## SECTION 2b: Data Bridge - INTEGRATED`" in text
    assert "Save the result as `specpipe-out/rep-integrated-spec.md`" in text


@pytest.mark.unit
def test_substitution_is_whole_word_prose_only_and_single_pass() -> None:
    table = {"S3": "Supabase Storage", "AWS S3": "the exports bucket", "Prisma": "the Supabase client"}
    text = "Upload to AWS S3 via S3.\nUse Prisma, not prisma-like S3x.\n```ts\nprisma.user.find()\n```\n"
    out, counts = apply_substitutions(text, table)
    assert out.splitlines()[0] == "Upload to the exports bucket via Supabase Storage."
    assert out.splitlines()[1] == "Use Prisma, not prisma-like S3x."  # a line that says "not" is a decision
    assert "prisma.user.find()" in out
    assert counts == {"AWS S3": 1, "S3": 1}


@pytest.mark.integration
def test_merge_substitute_reports_leftover_terms_with_lines(project: Path) -> None:
    draft = project / "draft.md"
    draft.write_text(
        "# Spec\n\nStore files in S3.\n\n```ts\nimport { PrismaClient } from 'prisma';\nconst p = Prisma;\n```\n"
    )
    out = run(project, "merge", "--substitute", str(draft), code=1)
    assert "replaced S3 x1" in out
    assert "specpipe-out/rep-integrated-spec.md:7: error FORBIDDEN_TERM: 'Prisma' in code" in out
    written = (project / "specpipe-out" / "rep-integrated-spec.md").read_text()
    assert "Store files in the existing Supabase Storage buckets." in written


class _FakeOpenAI(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _FakeOpenAI.requests.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        )
        reply = {"choices": [{"message": {"role": "assistant", "content": "# Blueprint answer\n"}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_endpoint() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _FakeOpenAI.requests.clear()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.integration
def test_blueprint_llm_call_to_an_openai_compatible_endpoint(
    project: Path, fake_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = project / "specpipe.toml"
    text = cfg.read_text().replace('base_url = "http://127.0.0.1:8000/v1"', f'base_url = "{fake_endpoint}"')
    cfg.write_text(
        text.replace('model = ""', 'model = "tiny"').replace('api_key_env = ""', 'api_key_env = "SP_KEY"')
    )
    monkeypatch.delenv("SP_KEY", raising=False)
    run(project, "blueprint", "--llm", code=2)  # the named key variable is not set: a clear error
    monkeypatch.setenv("SP_KEY", "k-123")
    out = run(project, "blueprint", "--llm")
    assert "rep-blueprint-answer.md (model answer)" in out
    assert (project / "specpipe-out" / "rep-blueprint-answer.md").read_text() == "# Blueprint answer\n"
    (request,) = _FakeOpenAI.requests
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer k-123"
    assert request["body"]["model"] == "tiny"
    assert "Module Extension Blueprint" in request["body"]["messages"][0]["content"]
