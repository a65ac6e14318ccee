"""``lorapipe serve --workers N``: several server processes on PostgreSQL (SQLite refuses), the loops
once in the supervising process, and a key revoked through one process refused by every other at once."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from live_service import LORAPIPE, free_port

from lorapipe.db import create_engine_for, make_sessionmaker, session_scope
from lorapipe.db.migrate import upgrade
from lorapipe.services import accounts

pytestmark = pytest.mark.e2e


def _children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(proc.name))
    return found


def test_several_workers_share_one_database(database_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "LORAPIPE_DATA_DIR": str(tmp_path / "data"), "LORAPIPE_DATABASE_URL": database_url}
    port = free_port()
    cmd = [*LORAPIPE, "serve", "--port", str(port), "--workers", "2"]
    if database_url.startswith("sqlite"):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "needs PostgreSQL" in done.stderr
        return
    upgrade(database_url)
    engine = create_engine_for(database_url)
    with session_scope(make_sessionmaker(engine)) as s:
        user = accounts.create_user(s, "w")
        _, secret = accounts.create_api_key(s, user)
    engine.dispose()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log)
    base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {secret}"}
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        else:
            raise AssertionError((tmp_path / "serve.log").read_text()[-3000:])
        time.sleep(2)  # both server processes up
        cmdlines = [Path(f"/proc/{p}/cmdline").read_bytes() for p in _children(proc.pid)]
        assert sum(b"spawn_main" in c for c in cmdlines) == 2, cmdlines  # the two server processes
        with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
            # Fresh connections land on either process: each caches the key, then it is revoked.
            for _ in range(20):
                with httpx.Client(base_url=base, headers=auth, timeout=10) as one:
                    assert one.get("/v1/fine_tuning/jobs").status_code == 200
            key_id = client.get("/api/keys").json()["data"][0]["id"]
            assert client.post(f"/api/keys/{key_id}/revoke").status_code == 200
            for _ in range(20):
                with httpx.Client(base_url=base, headers=auth, timeout=10) as one:
                    assert one.get("/v1/fine_tuning/jobs").status_code == 401
        text = (tmp_path / "serve.log").read_text()
        # One reconciler for the whole service: the supervisor's, not one per server process.
        assert len(re.findall(r"reconciler \S+ started", text)) == 1, text[-3000:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
