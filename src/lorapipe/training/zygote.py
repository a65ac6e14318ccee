"""The warm engine: one process that imports the engine's libraries once and forks a child per attempt.

    python -m lorapipe.training.zygote      (started by the local backend, never by hand)

A fresh ``python -m lorapipe.training run`` spends ~10 s importing torch, transformers and peft before
its first event; a child forked from this process has them already and reports in milliseconds.

Protocol, one JSON object per line. Once its imports are done it writes ``{"ready": true, "pid",
"import_s", "rss_kb"}`` (or ``{"error": ...}`` and exits when forking would be unsafe). Then each request
on stdin ``{"argv", "env", "cwd", "stdout", "stderr", "exit"}`` is answered on stdout with ``{"pid",
"start_ticks"}`` or ``{"error"}``.

Why it is safe and the same program as the cold path:

- It is a fresh interpreter (the backend starts it with ``subprocess``), never a fork of the service:
  it holds none of the service's database connections, threads or sockets.
- fork() copies only the calling thread. The zygote never runs a tensor operation, so torch's OpenMP
  pool (GNU libgomp's is unusable in a child forked after it started) and CUDA never start here. A
  library that asks ``torch.cuda.is_available()`` while being imported would call cuInit, after which
  no forked child can use the GPU: ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` makes that question go to NVML
  instead. After the imports :func:`fork_hazard` checks that CUDA is not initialised and that no other
  Python thread runs; if one is, the zygote says why and exits, and the backend runs attempts cold.
  Native helper threads that exist by then (OpenBLAS's pool, jemalloc's background thread) register
  their own fork handlers.
- Each child calls setsid (its own session and process group, so the backend's killpg reaches it and
  its helpers) before the zygote answers, points fds 0/1/2 at /dev/null, the events file and the stderr
  file, takes the request's environment and working directory, a fresh interpreter's signal
  dispositions and fresh random state, then runs ``lorapipe.training.__main__.main`` with the cold
  path's argv, the atexit handlers, and exits with its code. Variables read while importing
  (``HF_HUB_OFFLINE``, ``OMP_NUM_THREADS``) keep the zygote's values: the backend restarts the zygote
  when the environment it would give an attempt differs from the one the zygote started with.
- Started with the service rather than on the first job: its imports (~6 s of CPU, ~450 MB resident,
  measured by bench/dispatch.py) overlap the service's start-up, and the first job does not pay them.
- It is the children's parent, so it reaps each and writes its exit status (``subprocess``'s
  convention: -N for signal N) atomically (write, then rename) to the request's exit file. A service
  restarted after a crash thus reads the real exit status of a run its predecessor started.
- When its request pipe closes (the service stopped or died) it takes no more requests, waits for its
  running children, records how each ended, and exits: a run outlives its service as on the cold path.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

PRELOAD = (
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "lorapipe.training.__main__",
    "lorapipe.training.run",
    "lorapipe.training.evaluate",
    # The architectures of the catalogue's models: transformers imports them on the first from_pretrained.
    "transformers.models.llama.modeling_llama",
    "transformers.models.qwen2.modeling_qwen2",
    "transformers.models.qwen3.modeling_qwen3",
)


def preload() -> None:
    import importlib

    for module in PRELOAD:
        importlib.import_module(module)


def fork_hazard() -> str | None:
    """Why forking this process would give a child that cannot train (None = it is safe)."""
    import torch

    if torch.cuda.is_initialized():
        return "CUDA was initialised while importing the engine"
    if threading.active_count() > 1:
        names = ", ".join(t.name for t in threading.enumerate())
        return f"{threading.active_count()} Python threads run after the imports ({names})"
    return None


def start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks), read while the child is unreaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def drain(fd: int) -> None:
    try:
        while len(os.read(fd, 512)) == 512:
            pass
    except BlockingIOError:
        pass


def write_exit(path: Path, pid: int, returncode: int) -> None:
    """Record how a child ended; a reader sees the whole file or none (rename is atomic)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"pid": pid, "returncode": returncode}), "utf-8")
    os.replace(tmp, path)


class Zygote:
    def __init__(self, requests: int, replies: int) -> None:
        self.requests = requests
        self.replies = replies
        self.children: dict[int, Path] = {}  # pid -> its exit file
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that the wakeup fd is written
        signal.set_wakeup_fd(self.wake_w)

    def reply(self, message: dict[str, Any]) -> None:
        os.write(self.replies, (json.dumps(message) + "\n").encode())

    def serve(self) -> None:
        """Answer requests until the pipe closes, then until the last child has ended."""
        pending = b""
        accepting = True
        while accepting or self.children:
            watched = [self.wake_r, self.requests] if accepting else [self.wake_r]
            # The timeout only guards against a lost wakeup; SIGCHLD normally ends the wait.
            ready, _, _ = select.select(watched, [], [], 5.0)
            if self.wake_r in ready:
                drain(self.wake_r)
            self.reap()
            if self.requests in ready:
                chunk = os.read(self.requests, 65536)
                if not chunk:
                    accepting = False
                    continue
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    try:
                        request = json.loads(line)
                    except ValueError as exc:
                        self.reply({"error": f"not a JSON request: {exc}"})
                        continue
                    self.reply(self.spawn(request))

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            exit_path = self.children.pop(pid, None)
            if exit_path is not None:
                write_exit(exit_path, pid, os.waitstatus_to_exitcode(status))

    def spawn(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            # Opened here, so a path that cannot be written is an answer, not a child that dies unseen.
            out = os.open(request["stdout"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            err = os.open(request["stderr"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except (OSError, KeyError) as exc:
            return {"error": f"cannot open the attempt's files: {exc}"}
        started_r, started_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(started_r)
            self.become_engine(request, out, err, started_w)
        os.close(started_w)
        os.close(out)
        os.close(err)
        os.read(started_r, 1)  # end of file once the child has its own session (or has died)
        os.close(started_r)
        self.children[pid] = Path(request["exit"])
        return {"pid": pid, "start_ticks": start_ticks(pid)}

    def become_engine(self, request: dict[str, Any], out: int, err: int, started: int) -> NoReturn:
        """In the child: become ``python -m lorapipe.training ARGV`` and exit with its code."""
        code = 1
        try:
            os.setsid()
            os.close(started)
            signal.set_wakeup_fd(-1)
            for fd in (self.requests, self.replies, self.wake_r, self.wake_w):
                os.close(fd)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            devnull = os.open(os.devnull, os.O_RDONLY)
            for fd, target in ((devnull, 0), (out, 1), (err, 2)):
                os.dup2(fd, target)
                os.close(fd)
            os.environ.clear()
            os.environ.update(request["env"])
            os.chdir(request["cwd"])
            reseed()
            code = run_engine([str(a) for a in request["argv"]])
        except BaseException:  # anything at all: the child must never return into the zygote's loop
            traceback.print_exc()
        finally:
            atexit._run_exitfuncs()  # as the interpreter would at exit
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(OSError, ValueError):
                    stream.flush()
            os._exit(code)


def reseed() -> None:
    """Fresh entropy for numpy's global generator, as a new interpreter gets (Python's ``random`` is
    reseeded at fork by the interpreter itself); otherwise every child would share the zygote's state.
    The engine seeds all of them from the job's seed before training anyway."""
    import numpy

    numpy.random.seed()


def run_engine(argv: list[str]) -> int:
    """``python -m lorapipe.training ARGV``'s exit code: ``sys.exit(main())`` with SystemExit's rules."""
    from lorapipe.training import __main__ as engine

    sys.argv = [engine.__file__, *argv]
    try:
        return engine.main(argv)
    except SystemExit as exc:  # argparse's usage errors, or an explicit exit
        if exc.code is None or isinstance(exc.code, int):
            return int(exc.code or 0)
        print(exc.code, file=sys.stderr)
        return 1


def main() -> int:
    started = time.monotonic()
    # The protocol gets its own descriptors; fd 1 then points at stderr and fd 0 at /dev/null, so a
    # library that prints while being imported cannot corrupt the replies or read a request.
    requests, replies = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # stopped by closing its pipe, never by a terminal
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"
    preload()
    zygote = Zygote(requests, replies)
    hazard = fork_hazard()
    if hazard is not None:
        zygote.reply({"error": f"cannot fork attempts safely: {hazard}"})
        return 1
    zygote.reply(
        {
            "ready": True,
            "pid": os.getpid(),
            "import_s": round(time.monotonic() - started, 3),
            "rss_kb": rss_kb(),
        }
    )
    zygote.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
