"""One contract for every engine the service runs: the real ``python -m lorapipe.training`` and the
fault-injecting fake the job-service tests use (tests/integration/jobs/fake_engine.py) both take a
TrainingJobSpec, print events that parse with ``lorapipe.contract.events`` in strictly increasing
``seq`` and end with one ``result``, exit 0, and leave in ``spec.output.upload_uri`` an adapter that
``verify_artifacts`` accepts (every sha256 read back, a loadable adapter). A drift in either fails here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from engine_process import engine_env, write_spec

from lorapipe.contract.events import ExitCode, MetricsEvent, ResultEvent, parse_event
from lorapipe.jobs.artifacts import verify_artifacts
from lorapipe.settings import Settings
from lorapipe.storage import ObjectStore

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[3]
ENGINES = {
    "real": [sys.executable, "-m", "lorapipe.training"],
    "fake": [sys.executable, str(ROOT / "tests/integration/jobs/fake_engine.py")],
}


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_the_engine_contract(
    engine: str, engine_dataset: Path, model_settings: Settings, tmp_path: Path
) -> None:
    store = ObjectStore((tmp_path / "store").as_uri())
    spec_path = write_spec(tmp_path / "spec.json", engine_dataset, max_steps=4, eval_steps=2, save_steps=2)
    spec = json.loads(spec_path.read_text())
    spec["output"] = {"upload_uri": store.url_for("run/adapter"), "checkpoint_uri": store.url_for("run/ckpt")}
    spec["metadata"] = {"fake": "succeed"}
    spec_path.write_text(json.dumps(spec))
    done = subprocess.run(
        [*ENGINES[engine], "run", str(spec_path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
        env=engine_env(model_settings),
    )
    assert done.returncode == ExitCode.SUCCESS, done.stderr[-2000:]
    events = [parse_event(json.loads(line)) for line in done.stdout.splitlines()]
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs)) and seqs[0] == 1
    assert any(isinstance(e, MetricsEvent) and e.phase == "train" for e in events)
    results = [e for e in events if isinstance(e, ResultEvent)]
    assert len(results) == 1 and results[0] is events[-1]
    assert results[0].status == "succeeded" and results[0].exit_code == 0
    assert isinstance((results[0].metrics or {}).get("trained_tokens"), int)
    verified = verify_artifacts(store, "run/adapter")
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(verified.files)
