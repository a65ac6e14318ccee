"""``lorapipe serve`` in a process of its own for the benchmarks (so the load generator and the
measuring code never share its GIL), on a free loopback port, logging to ``DATA_DIR/serve.log``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """Started (and answering ``/healthz``) when constructed; ``stop()`` ends it."""

    def __init__(
        self, data_dir: Path, database_url: str, *extra: str, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        full_env = {
            **os.environ,
            "LORAPIPE_DATA_DIR": str(data_dir),
            "LORAPIPE_DATABASE_URL": database_url,
            "HF_HUB_OFFLINE": "1",
            **(env or {}),
        }
        self.log = (data_dir / "serve.log").open("ab")
        cmd = [sys.executable, "-m", "lorapipe.cli.main", "serve", "--port", str(self.port), *extra]
        self.proc = subprocess.Popen(cmd, env=full_env, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the service did not start; see {data_dir / 'serve.log'}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
