"""The web process never imports torch/transformers/peft: with them made unimportable, the API starts
and serves an upload, a job creation and the lists."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = textwrap.dedent(
    """
    import sys
    BLOCKED = ("torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes")

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in the web process")
            return None

    sys.meta_path.insert(0, Block())

    from fastapi.testclient import TestClient
    from lorapipe.server import create_app
    from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
    from lorapipe.db.migrate import upgrade
    from lorapipe.services import accounts
    from lorapipe.settings import Settings

    data_dir, eq12 = sys.argv[1], sys.argv[2]
    settings = Settings(data_dir=data_dir)
    upgrade(settings.resolved_database_url)
    with session_scope(make_sessionmaker(create_engine_for(settings.resolved_database_url))) as s:
        _, key = accounts.create_api_key(s, accounts.create_user(s, "web"))
    auth = {"Authorization": "Bearer " + key}
    # The reconciler thread runs (its imports count) but has no backend, so nothing is started.
    with TestClient(create_app(settings, run_reconciler=True, backends={})) as client:
        f = client.post("/v1/files", headers=auth, files={"file": ("eq.jsonl", open(eq12, "rb"))},
                        data={"purpose": "fine-tune"}).json()
        assert f["status"] == "processed", f
        job = client.post("/v1/fine_tuning/jobs", headers=auth,
                          json={"model": "lorapipe/tiny-qwen3", "training_file": f["id"]})
        assert job.status_code == 200, job.text
        assert client.get("/v1/fine_tuning/jobs", headers=auth).json()["data"]
        assert client.get("/v1/models", headers=auth).status_code == 200
        client.post(f"/v1/fine_tuning/jobs/{job.json()['id']}/cancel", headers=auth)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not loaded, loaded
    print("OK no ML imports")
    """
)


def test_api_serves_with_torch_unimportable(tmp_path: Path) -> None:
    eq12 = Path(__file__).parents[3] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "data"), str(eq12)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OK no ML imports" in done.stdout
