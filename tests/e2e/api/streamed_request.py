"""An HTTP/1.1 request whose body is streamed from a generator over a plain socket, with the response
read by another thread while the body is still going out (a server may answer before reading it);
and a watcher that samples a server process's memory and the files it holds open, from /proc."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


@dataclass
class StreamedResult:
    status: int
    body: dict[str, Any]
    #: Body bytes the client had written when the response arrived / in all.
    sent_at_response: int
    sent: int


def _read_response(sock: socket.socket, out: dict[str, Any], progress: list[int]) -> None:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return
            data += chunk
        out["sent_at_response"] = progress[0]
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        out["status"] = int(lines[0].split()[1])
        out["body"] = json.loads(rest[:length] or b"{}")
    except OSError:
        return


def stream_request(
    port: int,
    path: str,
    headers: dict[str, str],
    body: Iterable[bytes],
    *,
    chunked: bool = True,
    timeout_s: float = 120.0,
) -> StreamedResult:
    """POST ``body`` (chunked unless ``headers`` carries a Content-Length) and return the response.

    The whole body is offered even after the response came (the server decides what to read);
    a connection the server closes ends the sending.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    lines = [f"POST {path} HTTP/1.1", f"host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if chunked:
        lines.append("transfer-encoding: chunked")
    response: dict[str, Any] = {}
    progress = [0]
    reader = threading.Thread(target=_read_response, args=(sock, response, progress), daemon=True)
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        reader.start()
        try:
            for chunk in body:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                progress[0] += len(chunk)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server closed the connection: what it answered is what counts
        reader.join(timeout_s)
    finally:
        sock.close()
    assert "status" in response, f"no response after sending {progress[0]} body bytes"
    return StreamedResult(response["status"], response["body"], response["sent_at_response"], progress[0])


def json_body(total_bytes: int) -> Iterator[bytes]:
    """A valid JSON job request of about ``total_bytes``, in 1 MiB pieces (never held whole)."""
    yield b'{"model": "lorapipe/tiny-qwen3", "training_file": "'
    piece = b"a" * MIB
    for _ in range(total_bytes // MIB):
        yield piece
    yield b'"}'


def multipart_body(boundary: str, file_bytes: int, purpose: str = "fine-tune") -> Iterator[bytes]:
    """A ``/v1/files`` upload: ``purpose``, then a file of ``file_bytes`` JSONL-ish bytes."""
    yield (
        f'--{boundary}\r\ncontent-disposition: form-data; name="purpose"\r\n\r\n{purpose}\r\n'
        f'--{boundary}\r\ncontent-disposition: form-data; name="file"; filename="big.jsonl"\r\n'
        "content-type: application/octet-stream\r\n\r\n"
    ).encode()
    line = b'{"messages": [{"role": "user", "content": "' + b"x" * 1000 + b'"}]}\n'
    piece = line * (MIB // len(line))
    sent = 0
    while sent < file_bytes:
        chunk = piece[: file_bytes - sent]
        sent += len(chunk)
        yield chunk
    yield f"\r\n--{boundary}--\r\n".encode()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def held_file_bytes(pid: int, folders: tuple[Path, ...]) -> int:
    """Bytes in the regular files in ``folders`` that ``pid`` holds open (deleted and anonymous
    temporary files included: /proc/PID/fd reaches them) plus those lying in the folders."""
    total, seen = 0, set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith(tuple(str(f) for f in folders)):
                info = os.stat(f"/proc/{pid}/fd/{fd}")
                if info.st_ino not in seen:
                    seen.add(info.st_ino)
                    total += info.st_size
        except OSError:
            continue
    for root, _, names in (entry for folder in folders for entry in os.walk(folder)):
        for name in names:
            try:
                info = os.stat(os.path.join(root, name))
            except OSError:
                continue
            if info.st_ino not in seen:
                seen.add(info.st_ino)
                total += info.st_size
    return total


@dataclass
class ProcessWatch:
    """Samples a process's RSS and the file bytes it holds in ``folders`` every 20 ms."""

    pid: int
    folders: tuple[Path, ...]
    peak_rss: int = 0
    peak_files: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ProcessWatch:
        self.baseline_rss = rss_bytes(self.pid)
        self.baseline_files = held_file_bytes(self.pid, self.folders)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, rss_bytes(self.pid))
            self.peak_files = max(self.peak_files, held_file_bytes(self.pid, self.folders))
            time.sleep(0.02)

    def __exit__(self, *_: object) -> None:
        time.sleep(0.2)  # what the server does just after answering counts too
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.peak_rss = max(self.peak_rss, rss_bytes(self.pid))

    @property
    def rss_growth(self) -> int:
        return self.peak_rss - self.baseline_rss

    @property
    def file_growth(self) -> int:
        return self.peak_files - self.baseline_files
