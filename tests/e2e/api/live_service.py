"""A live ``lorapipe serve`` on 127.0.0.1: a real process whose engine children are real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[3]
EQ12 = ROOT / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"
LORAPIPE = [sys.executable, "-m", "lorapipe.cli.main"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def engine_pids(under: Path) -> set[int]:
    """Live processes running the training engine on a spec file below ``under`` (the test's own folder:
    other tests' engines are not counted): started as ``python -m lorapipe.training run SPEC ...``, or
    forked by the local backend's warm engine (whose command line is the zygote's), known by the
    attempt's events file (``*.events.jsonl``) it holds open."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        mine = any(arg.startswith(str(under).encode()) for arg in argv)
        cold = b"lorapipe.training" in argv and b"run" in argv and mine
        if (cold or _holds_events_file(proc, under)) and pid_alive(int(proc.name)):
            found.add(int(proc.name))
    return found


def _holds_events_file(proc: Path, under: Path) -> bool:
    try:
        targets = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
    except OSError:  # gone, or another user's
        return False
    return any(t.startswith(str(under)) and t.endswith(".events.jsonl") for t in targets)


@dataclass
class Service:
    env: dict[str, str]
    log_path: Path
    port: int
    key: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*LORAPIPE, "serve", "--port", str(self.port)], env=self.env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(self.log_path.read_text())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
