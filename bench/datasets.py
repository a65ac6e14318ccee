"""Dataset reading, and token statistics, throughput and peak memory on synthetic files (50, 200 MB...).

Each measurement is a fresh process (peak RSS and CPU seconds from the kernel's rusage of that child).
Reading: ours = ``lorapipe datasets inspect --no-tokens --json`` streaming a JSON array of single-turn
chats; baseline = ``json.load`` of the whole file, the obvious implementation, side by side.
Tokens: ``lorapipe datasets inspect --json`` (real Qwen3 tokenizer and template, max_length 2048) on
JSONL multi-turn chats (2-12 user/assistant turns, ~1 in 6 over max_length, so truncation runs);
``--compare-src DIR`` runs the same command with another checkout's ``src`` on the same file too
(before/after on one loaded machine: compare the ratio, and MB per CPU second, not absolute times).

    .venv/bin/python bench/datasets.py [--sizes 50 200 1000] [--only read|tokens] [--dir /tmp]
        [--compare-src /path/to/old/src]

Last line: ``RESULT datasets mb_per_s=<x> peak_rss_mb_50=<a> peak_rss_mb_200=<b>
tokens_mb_per_s=<t> tokens_peak_rss_mb=<max over sizes>`` (the fields of the parts that ran).
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


def write_chats(path: Path, target_mb: int, seed: int = 0) -> int:
    """JSON Lines of multi-turn OpenAI chats, about ``target_mb`` MB. Returns the conversation count."""
    rng = random.Random(seed)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        while f.tell() < target_mb * 1_000_000:
            messages = [{"role": "system", "content": "You are a careful financial planner."}]
            for _ in range(rng.randint(2, 12)):
                messages.append({"role": "user", "content": sentence(rng, rng.randint(10, 60))})
                messages.append({"role": "assistant", "content": sentence(rng, rng.randint(40, 200))})
            f.write(json.dumps({"messages": messages}) + "\n")
            n += 1
    return n


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MB, CPU seconds) of one child process."""
    start = time.perf_counter()
    # stdout to a file: a pipe nobody reads would block a child whose report outgrows it.
    with tempfile.TemporaryFile() as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.PIPE, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        sink.seek(0)
        out = sink.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed: {proc.stderr.read() if proc.stderr else ''!r}")
    if b'"examples"' in out[:2000] or b'"format"' in out[:2000]:
        report = json.loads(out)
        assert report["errors"] == 0, report["problems"][:3]
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def bench_tokens(sizes: list[int], tmp: Path, compare_src: Path | None) -> tuple[float, float]:
    """Token statistics on multi-turn files; (mean MB/s, highest peak RSS MB) of ours."""
    cmd = [sys.executable, "-m", "lorapipe.cli.main", "datasets", "inspect", "--json", "--samples", "0"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    runs = [("ours", env)]
    if compare_src is not None:
        runs.append(("compare", {**env, "PYTHONPATH": str(compare_src)}))
    print(f"{'size':>6} {'examples':>9} {'run':>8} {'MB/s':>6} {'MB/CPU-s':>9} {'peak RSS':>9}")
    speeds, peaks = [], []
    for mb in sizes:
        path = tmp / f"chats_{mb}mb.jsonl"
        examples = write_chats(path, mb)
        size_mb = path.stat().st_size / 1e6
        for name, run_env in runs:
            wall, rss, cpu = measure([*cmd, str(path)], run_env)
            if name == "ours":
                speeds.append(size_mb / wall)
                peaks.append(rss)
            print(
                f"{size_mb:>5.0f}M {examples:>9,} {name:>8} {size_mb / wall:>6.2f} {size_mb / cpu:>9.2f} {rss:>8.0f}M"
            )
        path.unlink()
    return sum(speeds) / len(speeds), max(peaks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200], help="file sizes, MB")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the synthetic files")
    ap.add_argument("--only", choices=["read", "tokens"], default=None, help="run one part")
    ap.add_argument("--compare-src", type=Path, default=None, help="another checkout's src, run alongside")
    args = ap.parse_args()
    result = "RESULT datasets"
    if args.only != "tokens":
        result += read_part(args)
    if args.only != "read":
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            mbps, peak = bench_tokens(args.sizes, Path(tmp), args.compare_src)
        result += f" tokens_mb_per_s={mbps:.2f} tokens_peak_rss_mb={peak:.0f}"
    print(result)


def read_part(args: argparse.Namespace) -> str:
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
            ours_s, ours_rss, _ = measure([*ours_cmd, str(path)])
            base_s, base_rss, _ = measure([*base_cmd, str(path)])
            rss[mb] = ours_rss
            speeds.append(size_mb / ours_s)
            print(
                f"{size_mb:>5.0f}M {records:>9,} {size_mb / ours_s:>10.1f} {ours_rss:>8.0f}M "
                f"{size_mb / base_s:>15.1f} {base_rss:>13.0f}M {ours_rss / base_rss:>10.2f}"
            )
            path.unlink()
    mbps = sum(speeds) / len(speeds)
    a, b = rss.get(50, rss[args.sizes[0]]), rss.get(200, rss[args.sizes[-1]])
    return f" mb_per_s={mbps:.1f} peak_rss_mb_50={a:.0f} peak_rss_mb_200={b:.0f}"


if __name__ == "__main__":
    main()
