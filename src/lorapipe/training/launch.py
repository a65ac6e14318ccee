"""Running one job on several processes: the engine re-executes itself under accelerate's launcher and
stays the process every backend talks to.

    python -m lorapipe.training run SPEC --out DIR           (this process: plans, launches, supervises)
      python -m accelerate.commands.launch --num_processes N ... -m lorapipe.training run SPEC --out DIR
          --events-file RANKS/events.jsonl --rank-dir RANKS   (torchrun starts N ranks of the same engine)

The supervisor, in one loop every :data:`POLL_S`:

- relays rank 0's events (it writes them to ``RANKS/events.jsonl``) to its own stream unchanged; the
  final ``error`` and ``result`` wait until every rank has ended, because a rank that died first owns
  the run's failure;
- copies each rank's stderr (``RANKS/rank-N.log``) to its own stderr, keeping the last lines;
- forwards SIGTERM/SIGINT to every rank once (the ranks agree on the step, so one checkpoint is saved);
- when a rank ends without its exit record saying 0, kills the other ranks and the launcher and fails
  the run with that rank's error, its number and its last stderr lines.

Each rank writes ``RANKS/rank-N.json``: its pid when it starts, and its exit code and error when it ends
(a rank killed by a signal never writes the second part).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any, ClassVar

from lorapipe.contract.events import ExitCode
from lorapipe.errors import LorapipeError
from lorapipe.training.distributed import Plan
from lorapipe.training.events import EventWriter
from lorapipe.training.failures import CancelFlag, redact

POLL_S = 0.1
STDERR_TAIL_LINES = 20
KILL_GRACE_S = 10.0
"""How long ranks have to end after a forwarded cancel stops being answered, or the launcher after it is
told to stop, before they are killed."""
CANCEL_GRACE_S = 300.0
"""How long a forwarded cancel may take (a checkpoint of a large adapter) before the ranks are killed."""


class RankFailedError(LorapipeError):
    """A rank of a multi-process run ended without finishing (killed, crashed)."""

    code = "rank_failed"


def launch_args(plan: Plan, *, port: int) -> list[str]:
    """accelerate launch's flags for ``plan``. FSDP: version 2 (per-parameter sharding, PEFT's frozen and
    trainable weights may share a unit), one unit per decoder layer, full state dicts so rank 0 writes a
    normal adapter and checkpoints do not depend on how the weights were sharded."""
    args = ["--num_processes", str(plan.world_size), "--num_machines", "1", "--main_process_port", str(port)]
    args += [
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
    ]  # precision is the engine's (TrainingArguments)
    if plan.mode != "fsdp":
        return [*args, "--multi_gpu"]  # on CPU too: the ranks pick gloo (torchrun, not accelerate's MPI path)
    wrap = ["--fsdp_auto_wrap_policy", "TRANSFORMER_BASED_WRAP"] + (
        ["--fsdp_transformer_layer_cls_to_wrap", ",".join(plan.wrap_classes)] if plan.wrap_classes else []
    )
    return [
        *args,
        "--use_fsdp",
        "--fsdp_version", "2",
        "--fsdp_reshard_after_forward", "true",
        *wrap,
        "--fsdp_use_orig_params", "true",
        "--fsdp_state_dict_type", "FULL_STATE_DICT",
        "--fsdp_cpu_ram_efficient_loading", "false",
        "--fsdp_offload_params", "false",
    ]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RankRecord:
    """A rank's side of the supervision: its stderr into ``rank-N.log`` and its ``rank-N.json``."""

    def __init__(self, rank_dir: Path, rank: int) -> None:
        self.path = rank_dir / f"rank-{rank}.json"
        die_with_parent()  # the launcher killed (with its supervisor): no rank trains on alone
        log = os.open(rank_dir / f"rank-{rank}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        sys.stderr.flush()
        os.dup2(log, 2)
        os.close(log)
        self._write({"pid": os.getpid()})

    def finish(self, exit_code: int, error: dict[str, Any] | None) -> None:
        self._write({"pid": os.getpid(), "exit_code": exit_code, "error": error})

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(self.path)  # the supervisor never reads half a record


class _Tail:
    """New complete lines of a file that another process appends to."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.partial = path, 0, b""

    def lines(self) -> list[str]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *whole, self.partial = (self.partial + data).split(b"\n")
        return [line.decode("utf-8", "replace") for line in whole]


class Supervisor:
    """Runs the launcher and ends the run as one process would (see the module docstring)."""

    HELD: ClassVar[tuple[str, ...]] = ("error", "result")

    def __init__(self, plan: Plan, events: EventWriter, cancel: CancelFlag) -> None:
        self.plan, self.events, self.cancel = plan, events, cancel
        self.rank_dir = Path(tempfile.mkdtemp(prefix="lorapipe-ranks-"))
        self.relay = _Tail(self.rank_dir / "events.jsonl")
        self.logs = {r: _Tail(self.rank_dir / f"rank-{r}.log") for r in range(plan.world_size)}
        self.tails: dict[int, deque[str]] = {r: deque(maxlen=STDERR_TAIL_LINES) for r in self.logs}
        self.held: list[str] = []
        self.cancelled: set[int] = set()
        self.failed: tuple[int, dict[str, Any]] | None = None

    def command(self, engine_args: list[str]) -> list[str]:
        return [
            sys.executable, "-m", "accelerate.commands.launch",
            *launch_args(self.plan, port=_free_port()),
            "-m", "lorapipe.training", *engine_args,
            "--events-file", str(self.rank_dir / "events.jsonl"), "--rank-dir", str(self.rank_dir),
        ]  # fmt: skip

    def run(self, engine_args: list[str]) -> int:
        """Launch the ranks with ``engine_args`` (``run SPEC --out DIR [--resume]``); the run's exit code."""
        # Its own session: a backend's SIGTERM to this process group reaches only this supervisor, which
        # forwards it to the ranks once; a SIGKILL of the group still takes the launcher and the ranks
        # down, through their parent-death signal.
        launcher = subprocess.Popen(
            self.command(engine_args),
            stdout=sys.stderr,
            stderr=sys.stderr,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        forwarded_at: float | None = None
        try:
            while True:
                ended = launcher.poll() is not None
                if self.failed is None and not self.cancel.requested:
                    self.failed = self._first_failure()
                self._pump()
                if ended or self.failed is not None:
                    break
                if self.cancel.requested:
                    # once per rank, and to ranks that report in later (still loading when it came)
                    self._signal_ranks(signal.SIGTERM, skip=self.cancelled)
                    forwarded_at = forwarded_at or time.monotonic()
                if forwarded_at is not None and time.monotonic() - forwarded_at > CANCEL_GRACE_S:
                    break
                time.sleep(POLL_S)
        finally:
            self._stop(launcher)
            self._pump()
        return self._finish(launcher.returncode)

    def _records(self) -> dict[int, dict[str, Any]]:
        found = {}
        for rank in self.logs:
            try:
                found[rank] = json.loads((self.rank_dir / f"rank-{rank}.json").read_text("utf-8"))
            except (FileNotFoundError, ValueError):
                continue
        return found

    def _first_failure(self) -> tuple[int, dict[str, Any]] | None:
        """The rank that has ended without success, preferring one that left no exit record (killed) and
        then the lowest number, when several are seen ending in one poll."""
        gone = []
        for rank, record in self._records().items():
            if record.get("exit_code") == 0 or _alive(int(record["pid"])):
                continue
            gone.append((rank, record))
        gone.sort(key=lambda item: ("exit_code" in item[1], item[0]))
        return gone[0] if gone else None

    def _pump(self) -> None:
        for line in self.relay.lines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("type") in self.HELD:
                self.held.append(line)
            else:
                self.events.relay(line)
        for rank, tail in self.logs.items():
            for line in tail.lines():
                self.tails[rank].append(line)
                print(f"[rank {rank}] {line}", file=sys.stderr)

    def _signal_ranks(self, sig: signal.Signals, skip: set[int] | None = None) -> None:
        """Send ``sig`` to every rank that has reported its pid (and is not in ``skip``, which then
        records it)."""
        for record in self._records().values():
            pid = int(record["pid"])
            if skip is not None:
                if pid in skip:
                    continue
                skip.add(pid)
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                continue

    def _stop(self, launcher: subprocess.Popen[bytes]) -> None:
        if launcher.poll() is None:
            self._signal_ranks(signal.SIGKILL)  # a failed or stuck world: nothing of it is worth saving
            launcher.terminate()
            try:
                launcher.wait(KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                launcher.kill()
                launcher.wait()

    def _emit(self, type_: str, **fields: Any) -> None:
        self.events.follow()
        self.events.emit(type_, **fields)

    def _finish(self, launcher_code: int | None) -> int:
        """The run's exit code; writes the final events."""
        try:
            if self.failed is not None:
                return self._fail(*self.failed)
            result = next((json.loads(x) for x in reversed(self.held) if '"result"' in x), None)
            if result is not None:
                for line in self.held:
                    self.events.relay(line)
                return int(result.get("exit_code", ExitCode.SYSTEM_ERROR))
            if self.cancel.requested:
                self._emit("result", status="cancelled", exit_code=int(ExitCode.CANCELLED), checkpoint=None)
                return ExitCode.CANCELLED
            error = RankFailedError(
                f"the launcher exited {launcher_code} before rank 0 reported a result",
                hint="see the engine's stderr for the launcher's own messages",
            )
            self._emit("error", **error.to_dict())
            self._emit("result", status="failed", exit_code=int(ExitCode.SYSTEM_ERROR))
            return ExitCode.SYSTEM_ERROR
        finally:
            shutil.rmtree(self.rank_dir, ignore_errors=True)

    def _fail(self, rank: int, record: dict[str, Any]) -> int:
        error = record.get("error")
        if not error:
            died = "was killed" if "exit_code" not in record else f"exited {record['exit_code']}"
            error = RankFailedError(
                f"rank {rank} of {self.plan.world_size} {died}; the other ranks were stopped",
                hint="a killed rank is often the kernel's out-of-memory killer: see the machine's log",
            ).to_dict()
        code = int(record.get("exit_code") or ExitCode.SYSTEM_ERROR)
        if code == ExitCode.CANCELLED:  # a rank cancelled by someone else, not through this process
            code = ExitCode.SYSTEM_ERROR
        tail = [redact(line)[:400] for line in self.tails[rank]]
        self._emit("error", **error, rank=rank, stderr_tail=tail)
        self._emit("result", status="failed", exit_code=code)
        return code


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (elsewhere: nothing to ask)."""
    if sys.platform == "linux":
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, ended but not yet reaped by the launcher, is not alive)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
