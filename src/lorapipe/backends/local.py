"""The local backend: the engine as a child process, ``python -m lorapipe.training run``.

Why the design is as it is:

- The child writes its event stream to a file (not a pipe), so a service that is killed and
  restarted can read whatever the child reported, from a stored byte offset, and a child never
  blocks or dies on a full or broken pipe.
- The child gets its own session (process group), so SIGTERM/SIGKILL reach any helpers it spawned,
  and a Ctrl-C in the service's terminal is not delivered to the training run.
- A handle stores the pid and the process start time (``/proc/<pid>/stat``), so a restarted service
  never signals an unrelated process that happens to reuse the pid.
- ``warm``: attempts of the engine itself are forked by a zygote that imported torch and transformers
  once (:mod:`lorapipe.backends.warm_engine`, :mod:`lorapipe.training.zygote`): the first event comes
  in ~0.1 s instead of ~10 s. The child is the same program with the same argv, session, files and
  signals; cancel signals its process group as before. The zygote reaps it and writes its exit status
  to ``<attempt>.exit``, which :meth:`LocalBackend.poll` reads, also for a run an earlier service
  process started. A custom ``engine_command`` (fault-injecting engines in tests) always starts cold;
  so does an attempt the zygote cannot fork (it is restarted; a submission is never lost).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from lorapipe.backends.base import PollResult, Submission, event_lines
from lorapipe.backends.warm_engine import WarmEngine, ZygoteUnavailable
from lorapipe.contract.events import ExitCode
from lorapipe.errors import CapacityError

ENGINE_COMMAND: tuple[str, ...] = (sys.executable, "-m", "lorapipe.training")
STDERR_TAIL_BYTES = 4000


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # Field 22; split after the command name, which is in parentheses and may contain spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited; it only waits to be reaped
        return None
    return int(fields[19])


class LocalBackend:
    """Runs attempts as child processes of this service, at most ``slots`` at a time.

    ``runs_dir`` holds one folder per job (shared by its attempts, so a retry resumes from the
    checkpoints the earlier attempt left). ``engine_command`` is the program started with
    ``run SPEC --out DIR [--resume]`` appended; tests point it at fault-injecting engines, which
    run cold. ``warm`` forks the engine's attempts from a zygote, started here (see the module).
    """

    name = "local"

    def __init__(
        self,
        runs_dir: Path,
        *,
        slots: int = 1,
        engine_command: tuple[str, ...] = ENGINE_COMMAND,
        env: dict[str, str] | None = None,
        warm: bool = False,
    ) -> None:
        if warm and engine_command != ENGINE_COMMAND:
            raise ValueError("warm attempts run the engine itself: a custom engine_command runs cold")
        self.runs_dir = runs_dir
        self.slots = slots
        self.engine_command = engine_command
        self.env = env
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._forked: dict[int, dict[str, Any]] = {}  # pid -> handle of a running warm attempt
        self.warm = WarmEngine(runs_dir / "warm-engine.log", env) if warm else None
        if self.warm is not None:
            self.warm.start()

    def close(self) -> None:
        """Stop the zygote (the service is stopping); running attempts go on, as on the cold path."""
        if self.warm is not None:
            self.warm.stop()

    # --- capacity ---------------------------------------------------------------------------------

    def free_slots(self) -> int:
        running = sum(1 for child in self._children.values() if child.poll() is None)
        running += sum(1 for handle in self._forked.values() if _forked_state(handle)[0] == "running")
        return max(0, self.slots - running)

    # --- lifecycle --------------------------------------------------------------------------------

    def submit(self, submission: Submission) -> dict[str, Any]:
        if self.free_slots() <= 0:
            raise CapacityError(f"all {self.slots} local slot(s) are busy")
        job_dir = self.runs_dir / submission.job_id
        out_dir = job_dir / "out"
        out_dir.mkdir(parents=True, exist_ok=True)
        spec_path = job_dir / "spec.json"
        spec_path.write_text(json.dumps(submission.spec, indent=2), "utf-8")
        events_path = job_dir / f"{submission.attempt_id}.events.jsonl"
        stderr_path = job_dir / f"{submission.attempt_id}.stderr.log"
        args = ["run", str(spec_path), "--out", str(out_dir)] + (["--resume"] if submission.resume else [])
        argv = [*self.engine_command, *args]
        handle: dict[str, Any] = {
            "host": socket.gethostname(),
            "out_dir": str(out_dir),
            "events_path": str(events_path),
            "stderr_path": str(stderr_path),
            "offset": 0,
            "argv": argv,
        }
        if self.warm is not None:
            exit_path = job_dir / f"{submission.attempt_id}.exit"
            try:
                forked = self.warm.spawn(args, events_path, stderr_path, exit_path)
            except ZygoteUnavailable:
                pass  # started cold below; the zygote is started again for the next attempt
            else:
                handle |= {
                    "pid": forked["pid"],
                    "start_ticks": forked["start_ticks"],
                    "exit_path": str(exit_path),
                    "zygote": {"pid": self.warm.pid, "start_ticks": process_start_ticks(self.warm.pid or 0)},
                }
                self._forked[int(forked["pid"])] = handle
                return handle
        with events_path.open("ab") as stdout, stderr_path.open("ab") as stderr:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
                env=self.env,
                close_fds=True,
            )
        self._children[child.pid] = child
        return handle | {"pid": child.pid, "start_ticks": process_start_ticks(child.pid)}

    def poll(self, handle: dict[str, Any]) -> PollResult:
        pid = int(handle["pid"])
        child = self._children.get(pid)
        ours = child is not None or pid in self._forked
        # Read the exit status first, then the file: every line written before exit is then seen.
        if child is not None:
            state, exit_code = ("running", None) if (code := child.poll()) is None else ("exited", code)
        elif "exit_path" in handle:  # forked by a zygote, which records how its children end
            state, exit_code = _forked_state(handle)
        else:
            state, exit_code = ("running" if _alive(handle) else "gone"), None
        events, offset = read_events(Path(handle["events_path"]), int(handle.get("offset", 0)))
        new_handle = {**handle, "offset": offset}
        if state == "running":
            # Not ours: started by an earlier service process (its exit file, if warm, will tell how it ends).
            return PollResult(
                events=events, state="running", handle=new_handle | ({} if ours else {"orphan": True})
            )
        tail = stderr_tail(Path(handle["stderr_path"]))
        self._children.pop(pid, None)
        self._forked.pop(pid, None)
        if exit_code is None:
            exit_code = reported_exit_code(handle, events)
        if exit_code is not None and (ours or exit_code != ExitCode.CANCELLED):
            return PollResult(
                events=events, state="exited", exit_code=exit_code, handle=new_handle, stderr_tail=tail
            )
        return PollResult(events=events, state="lost", handle=new_handle, stderr_tail=tail)

    def cancel(self, handle: dict[str, Any], *, force: bool = False) -> None:
        pid = int(handle["pid"])
        if pid not in self._children and not _alive(handle):
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL if force else signal.SIGTERM)


def _alive(handle: dict[str, Any], key: str | None = None) -> bool:
    """Whether the process the handle names (or its ``key`` entry: the zygote) still runs."""
    if handle.get("host", socket.gethostname()) != socket.gethostname():
        return False  # a pid on another machine: never signal a local process by that number
    named = handle.get(key) if key else handle
    if not isinstance(named, dict) or not named.get("pid"):
        return False
    ticks = process_start_ticks(int(named["pid"]))
    return ticks is not None and ticks == named.get("start_ticks")


def _forked_state(handle: dict[str, Any]) -> tuple[str, int | None]:
    """(``running`` | ``exited`` | ``gone``, exit code) of an attempt a zygote forked.

    Its exit file is written once the zygote has reaped it; until then it is running while it, or the
    zygote that is about to record its end, lives. ``gone``: it ended while no zygote was its parent
    (the zygote was killed), so how is known only from what it reported.
    """
    exit_code = read_exit_file(Path(handle["exit_path"]), int(handle["pid"]))
    if exit_code is not None:
        return "exited", exit_code
    if _alive(handle) or _alive(handle, "zygote"):
        return "running", None
    return "gone", None


def read_exit_file(path: Path, pid: int) -> int | None:
    """The exit status a zygote recorded for ``pid`` (subprocess's convention), or None."""
    try:
        record = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    code = record.get("returncode") if isinstance(record, dict) and record.get("pid") == pid else None
    return code if isinstance(code, int) else None


def reported_exit_code(handle: dict[str, Any], events: list[dict[str, Any]]) -> int | None:
    """The exit code an engine reported in its ``result`` event (its last, written just before it
    exits), from ``events`` or from an earlier poll (``handle["engine_result"]``); None without one.

    The exit status of a cold run started by an earlier service process can never be read (nor that
    of a warm one whose zygote died), yet such a run may end on its own while no service supervises
    it (a restart that takes longer than the rest of the run). Judged by its own report, a finished
    adapter is verified and kept; taken for lost, it was retried, and the retry found its output
    folder already holding that adapter and failed. A run that is not ours and ended ``cancelled``
    (reported, or its exit file's 3) was stopped before it ended (the new supervisor's SIGTERM): the
    caller treats it as lost, to be resumed from its checkpoint.
    """
    results = [e for e in events if e.get("type") == "result"]
    result = results[-1] if results else handle.get("engine_result")
    code = result.get("exit_code") if isinstance(result, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def read_events(path: Path, offset: int) -> tuple[list[dict[str, Any]], int]:
    """Complete JSON lines after byte ``offset``; returns them and the offset after the last one.

    A line without its newline is still being written and is left for the next read. A line that
    is not a JSON object with an integer ``seq`` (stray output) is skipped.
    """
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk = handle.read()
    except FileNotFoundError:
        return [], offset
    end = chunk.rfind(b"\n")
    if end < 0:
        return [], offset
    events = event_lines(chunk[: end + 1])
    return events, offset + end + 1


def stderr_tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - STDERR_TAIL_BYTES))
            return handle.read().decode("utf-8", "replace").strip()
    except FileNotFoundError:
        return ""
