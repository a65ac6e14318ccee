"""What a user is told when the token-count child fails: the child's own message, never a server path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lorapipe.services.dataset_tokens import _last_json_line, failure_reason


def run_child(request: dict[str, object]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "lorapipe.datasets.token_count", json.dumps(request)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def request(tmp_path: Path, file: Path, fmt: str | None = None) -> dict[str, object]:
    return {
        "file": str(file),
        "format": fmt,
        "model": "tiny-qwen3",
        "max_length": 512,
        "samples": 0,
        "data_dir": str(tmp_path / "data"),
        "model_cache_dir": str(tmp_path / "models"),
    }


def test_a_crashed_child_names_no_server_path(tmp_path: Path) -> None:
    missing = tmp_path / "lorapipe-tokens-x" / "upload"
    done = run_child(request(tmp_path, missing))
    assert done.returncode != 0 and str(missing) in done.stderr  # the traceback names the server's file
    reason = failure_reason(_last_json_line(done.stdout), done.returncode, done.stderr, [str(tmp_path)])
    assert "/" not in reason and "upload" not in reason and "Errno" not in reason
    assert reason == "the counting process stopped unexpectedly"


def test_the_childs_own_error_is_kept_and_paths_in_it_are_removed(tmp_path: Path) -> None:
    data = tmp_path / "upload"
    data.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n', encoding="utf-8")
    done = run_child(request(tmp_path, data, fmt="no-such-format"))
    answer = _last_json_line(done.stdout)
    assert done.returncode == 1 and answer is not None and "error" in answer
    reason = failure_reason(answer, done.returncode, done.stderr, [str(data)])
    assert reason.startswith("unknown format 'no-such-format'")

    answer = {"error": {"message": f"no tokenizer in {tmp_path}/models/x (line 3, $.messages[0].role)"}}
    reason = failure_reason(answer, 1, "", [str(tmp_path)])
    assert str(tmp_path) not in reason and reason.endswith("(line 3, $.messages[0].role)")
    assert failure_reason({"error": {"message": "see /srv/lorapipe/cache/tok.json"}}, 1, "", []) == (
        "see <server path>"
    )
