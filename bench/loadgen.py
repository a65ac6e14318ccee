"""A compiled load generator for bench/api.py: ``hey`` (Debian package ``hey``), so the client does not
take the server's cores or its GIL.

One ``hey`` process per user (each with its own ``Authorization`` header and its share of the clients),
all started together against one URL; their per-request CSV rows are merged, so p50 and p99 are over
every request of the run, not averages of averages. Bounded: each process sends a fixed number of
requests and is killed past ``limit_s``; every address is the loopback server under test.

A request counts as an error when it failed (no CSV row: hey keeps only answered requests) or its status
was not the expected one.
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = "install it: apt-get install -y hey (Debian/Ubuntu package 'hey')"


def find_hey() -> str:
    """The path of ``hey``, or exit naming the package; bench/api.py drives only hey (its CSV rows give
    exact percentiles over several processes). wrk or oha on PATH are named, but not used."""
    path = shutil.which("hey")
    if path is not None:
        return path
    others = [name for name in ("wrk", "oha") if shutil.which(name)]
    seen = f" ({', '.join(others)} found, but this bench drives hey)" if others else ""
    sys.exit(f"bench/api.py needs the compiled load generator 'hey'{seen}; {INSTALL_HINT}")


@dataclass
class Load:
    """The answer of one run: every answered request's latency and status, over all processes."""

    name: str
    sent: int
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    rate: float = 0.0
    clients: int = 0

    def pct(self, q: int) -> float:
        values = self.latencies_ms
        if len(values) < 2:
            return float("nan")
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

    @property
    def p50(self) -> float:
        return self.pct(50)

    @property
    def p99(self) -> float:
        return self.pct(99)

    def line(self, baseline: Load | None = None) -> str:
        ratio = f", p99/healthz-p99 {self.p99 / baseline.p99:.2f}" if baseline is not None else ""
        return (
            f"{self.name:34s} {self.clients:3d} clients {len(self.latencies_ms):6d} requests "
            f"{self.rate:7.0f} req/s  p50 {self.p50:7.1f} ms  p99 {self.p99:7.1f} ms  "
            f"errors {self.errors}{ratio}"
        )


def _parse(text: str) -> tuple[list[float], list[int], float]:
    """hey's CSV: latencies (ms), statuses, and the seconds from the first request's start to the last
    answer."""
    latencies, statuses = [], []
    first, last = float("inf"), 0.0
    for row in csv.DictReader(io.StringIO(text)):
        seconds, offset = float(row["response-time"]), float(row["offset"])
        latencies.append(seconds * 1000)
        statuses.append(int(row["status-code"]))
        first, last = min(first, offset), max(last, offset + seconds)
    return latencies, statuses, max(last - first, 1e-9)


@dataclass(frozen=True)
class Target:
    """One hey process: its URL, headers (one user's key), workers and requests."""

    url: str
    headers: dict[str, str]
    clients: int
    requests: int


def spread(urls_and_headers: list[tuple[str, dict[str, str]]], clients: int, requests: int) -> list[Target]:
    """``clients`` workers and ``requests`` requests shared out over the (URL, headers) pairs."""
    n = len(urls_and_headers)
    return [
        Target(url, headers, clients // n + (i < clients % n), max(1, requests // n))
        for i, (url, headers) in enumerate(urls_and_headers)
        if clients // n + (i < clients % n) > 0
    ]


def run(
    name: str,
    targets: list[Target],
    *,
    qps_per_client: float | None = None,
    method: str = "GET",
    body: Path | None = None,
    content_type: str | None = None,
    expect: int = 200,
    limit_s: float = 120,
) -> Load:
    """Every target's hey process started together; their requests merged into one :class:`Load`.
    ``qps_per_client`` caps each worker's rate (an offered load instead of a closed loop)."""
    hey = find_hey()
    load = Load(name=name, sent=0, clients=sum(t.clients for t in targets))
    with tempfile.TemporaryDirectory(prefix="lorapipe-hey-") as tmp:
        procs: list[tuple[subprocess.Popen[bytes], Path, int]] = []
        for i, target in enumerate(targets):
            # hey gives each worker n // c requests: what it sends is a multiple of the workers.
            n = target.clients * max(1, target.requests // target.clients)
            cmd = [hey, "-n", str(n), "-c", str(target.clients), "-t", "30", "-cpus", "1", "-o", "csv"]
            cmd += ["-m", method]
            if qps_per_client:
                cmd += ["-q", str(qps_per_client)]
            for key, value in target.headers.items():
                cmd += ["-H", f"{key}: {value}"]
            if body is not None:
                cmd += ["-D", str(body)]
            if content_type is not None:
                cmd += ["-T", content_type]
            out = Path(tmp) / f"{i}.csv"
            with out.open("wb") as sink:
                proc = subprocess.Popen([*cmd, target.url], stdout=sink, stderr=subprocess.DEVNULL)
            procs.append((proc, out, n))
        deadline = time.monotonic() + limit_s
        for proc, out, n in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            load.sent += n
            with contextlib.suppress(FileNotFoundError):
                latencies, statuses, seconds = _parse(out.read_text())
                load.latencies_ms += latencies
                for status in statuses:
                    load.statuses[status] = load.statuses.get(status, 0) + 1
                load.rate += len(latencies) / seconds  # the processes ran side by side: rates add up
    answered = len(load.latencies_ms)
    load.errors = (load.sent - answered) + (answered - load.statuses.get(expect, 0))
    return load
