"""The service's end of the warm engine (:mod:`lorapipe.training.zygote`): starts it, asks it to fork
attempts, stops it.

The zygote is started as soon as the backend is built (service start), without waiting for it: its
imports (~6-10 s of CPU, ~450 MB resident) overlap with the service's own start-up and the first job
finds it ready. A submit that comes while it is still importing waits for it (the rest of an import
is shorter than a whole cold start). When it cannot be started, dies, or does not answer, the caller
runs the attempt cold; a zygote that died after it was ready is started again on the next submit,
one that could never get ready (or refuses because forking would be unsafe) is not tried again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ZYGOTE_COMMAND: tuple[str, ...] = (sys.executable, "-m", "lorapipe.training.zygote")


class ZygoteUnavailable(Exception):
    """The warm engine cannot fork this attempt; the caller starts it cold."""


class WarmEngine:
    """One zygote process at a time, started with ``env`` (None = this process's environment)."""

    def __init__(
        self,
        log_path: Path,
        env: dict[str, str] | None = None,
        *,
        command: tuple[str, ...] = ZYGOTE_COMMAND,
        ready_timeout_s: float = 180.0,
        reply_timeout_s: float = 10.0,
    ) -> None:
        self.log_path = log_path
        self.env = env
        self.command = command
        self.ready_timeout_s = ready_timeout_s
        self.reply_timeout_s = reply_timeout_s
        self.info: dict[str, Any] = {}  #: the zygote's ready line: pid, import_s, rss_kb
        self.disabled: str | None = None  #: why the warm path is off for good
        self._proc: subprocess.Popen[bytes] | None = None
        self._env: dict[str, str] = {}
        self._pending = b""

    def _wanted_env(self) -> dict[str, str]:
        return dict(self.env if self.env is not None else os.environ)

    def start(self) -> None:
        """Start the zygote (without waiting for its imports) unless one is already running."""
        if self.disabled or (self._proc is not None and self._proc.poll() is None):
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._env = self._wanted_env()
        with self.log_path.open("ab") as stderr:
            self._proc = subprocess.Popen(
                self.command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,  # a Ctrl-C in the service's terminal is not its business
                env=self._env,
                close_fds=True,
            )
        self.info, self._pending = {}, b""

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def spawn(self, argv: list[str], stdout: Path, stderr: Path, exit_path: Path) -> dict[str, Any]:
        """Fork ``python -m lorapipe.training ARGV``; returns ``{"pid", "start_ticks"}``. Raises
        :class:`ZygoteUnavailable` when it cannot (the zygote is then stopped, or off for good)."""
        if self.disabled:
            raise ZygoteUnavailable(self.disabled)
        if self._proc is not None and self._env != self._wanted_env():
            self.stop()  # what the zygote read while importing must be what a cold start would read
        self.start()
        if not self.info:
            ready = self._read(time.monotonic() + self.ready_timeout_s)
            if ready is None or not ready.get("ready"):
                why = ready.get("error") if ready else "it did not get ready"
                self._give_up(f"the warm engine could not start: {why}")
            assert ready is not None
            self.info = ready
            log.info(
                "warm engine %s ready: imports %.1f s, %d MB resident",
                ready.get("pid"),
                ready.get("import_s", 0),
                int(ready.get("rss_kb", 0)) // 1024,
            )
        request = {
            "argv": argv,
            "env": self._wanted_env(),
            "cwd": os.getcwd(),
            "stdout": str(stdout),
            "stderr": str(stderr),
            "exit": str(exit_path),
        }
        assert self._proc is not None and self._proc.stdin is not None
        try:
            self._proc.stdin.write((json.dumps(request) + "\n").encode())
            self._proc.stdin.flush()
        except OSError as exc:
            self._restart_later(f"its pipe broke: {exc}")
        answer = self._read(time.monotonic() + self.reply_timeout_s)
        if answer is None:
            self._restart_later("it did not answer")
        assert answer is not None
        if "pid" not in answer:
            raise ZygoteUnavailable(str(answer.get("error", answer)))
        return answer

    def _read(self, deadline: float) -> dict[str, Any] | None:
        """The zygote's next JSON line, or None when it exits or ``deadline`` passes first."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        try:
            answer = json.loads(line)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None

    def _restart_later(self, why: str) -> None:
        log.warning("warm engine %s stopped: %s; this attempt starts cold", self.pid, why)
        self._kill()
        raise ZygoteUnavailable(why)

    def _give_up(self, why: str) -> None:
        log.warning("%s; attempts start cold from now on (see %s)", why, self.log_path)
        self.disabled = why
        self._kill()
        raise ZygoteUnavailable(why)

    def _kill(self) -> None:
        """Only the zygote itself: its children are in their own sessions and keep running."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
        self._proc, self.info = None, {}

    def stop(self) -> None:
        """Close its request pipe: it exits once the runs it forked have ended (they are not stopped)."""
        proc, self._proc, self.info = self._proc, None, {}
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)  # reaped now when it had no runs; otherwise it lingers for them
