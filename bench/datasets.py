"""Dataset reading throughput and peak memory on synthetic files of about 50 MB and 200 MB.

Each measurement is a fresh process (peak RSS from the kernel's rusage of that child):
ours = ``lorapipe datasets inspect --no-tokens --json`` streaming the file; baseline = ``json.load``
of the whole file, the obvious implementation, run side by side on the same file.

    .venv/bin/python bench/datasets.py [--sizes 50 200] [--dir /tmp]

Last line: ``RESULT datasets mb_per_s=<x> peak_rss_mb_50=<a> peak_rss_mb_200=<b>``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = [
    "the",
    "money",
    "plan",
    "feel",
    "worry",
    "budget",
    "save",
    "house",
    "loan",
    "rate",
    "pay",
    "month",
    "year",
    "family",
    "help",
    "clear",
    "step",
]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def write_array(path: Path, target_mb: int, seed: int = 0) -> int:
    """A single JSON array of OpenAI chat records, about ``target_mb`` MB. Returns the record count."""
    rng = random.Random(seed)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        f.write("[\n")
        while f.tell() < target_mb * 1_000_000:
            rec = {
                "messages": [
                    {"role": "system", "content": "You are a careful financial planner."},
                    {"role": "user", "content": sentence(rng, rng.randint(10, 60))},
                    {"role": "assistant", "content": sentence(rng, rng.randint(40, 200))},
                ]
            }
            f.write(("," if n else "") + json.dumps(rec) + "\n")
            n += 1
        f.write("]\n")
    return n


def measure(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    out = proc.stdout.read() if proc.stdout else b""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed: {proc.stderr.read() if proc.stderr else ''!r}")
    if b'"examples"' in out[:2000] or b'"format"' in out[:2000]:
        report = json.loads(out)
        assert report["errors"] == 0, report["problems"][:3]
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200], help="file sizes, MB")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the synthetic files")
    args = ap.parse_args()
    ours_cmd = [sys.executable, "-m", "lorapipe.cli.main", "datasets", "inspect", "--no-tokens", "--json"]
    base_cmd = [sys.executable, "-c", "import json,sys; json.load(open(sys.argv[1], encoding='utf-8'))"]
    rss: dict[int, float] = {}
    speeds = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(
            f"{'size':>6} {'records':>9} {'ours MB/s':>10} {'ours RSS':>9} {'json.load MB/s':>15} "
            f"{'json.load RSS':>14} {'RSS ratio':>10}"
        )
        for mb in args.sizes:
            path = Path(tmp) / f"synthetic_{mb}mb.json"
            records = write_array(path, mb)
            size_mb = path.stat().st_size / 1e6
            ours_s, ours_rss = measure([*ours_cmd, str(path)])
            base_s, base_rss = measure([*base_cmd, str(path)])
            rss[mb] = ours_rss
            speeds.append(size_mb / ours_s)
            print(
                f"{size_mb:>5.0f}M {records:>9,} {size_mb / ours_s:>10.1f} {ours_rss:>8.0f}M "
                f"{size_mb / base_s:>15.1f} {base_rss:>13.0f}M {ours_rss / base_rss:>10.2f}"
            )
            path.unlink()
    mbps = sum(speeds) / len(speeds)
    a, b = rss.get(50, rss[args.sizes[0]]), rss.get(200, rss[args.sizes[-1]])
    print(f"RESULT datasets mb_per_s={mbps:.1f} peak_rss_mb_50={a:.0f} peak_rss_mb_200={b:.0f}")


if __name__ == "__main__":
    main()
