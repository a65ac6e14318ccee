"""Dataset reading, and token statistics, throughput and peak memory on synthetic files (50, 200 MB...).

Each measurement is a fresh process (peak RSS and CPU seconds from the kernel's rusage of that child).
Reading: ours = ``lorapipe datasets inspect --no-tokens --json`` streaming a JSON array of single-turn
chats; baseline = ``json.load`` of the whole file, the obvious implementation, side by side.
Tokens: ``lorapipe datasets inspect --json`` (real Qwen3 tokenizer and template, max_length 2048) on
JSONL multi-turn chats; ``--mix real`` (the default): sentences of the EQ-12 demo conversations (real
English: punctuation, numbers, a few non-ASCII characters), 2-16 turns, ~7 KB a conversation like the
125 MB / 17.5k-conversation dump of issue 15, ~1 in 4 over max_length so truncation runs;
``--mix words``: the older mix, a 17-word vocabulary, 2-12 turns (~6.5 KB);
``--compare-src DIR`` runs the same command with another checkout's ``src`` on the same file too
(before/after on one loaded machine: compare the ratio, and MB per CPU second, not absolute times).

    .venv/bin/python bench/datasets.py [--sizes 50 200 1000] [--only read|tokens] [--dir /tmp]
        [--mix real|words] [--compare-src /path/to/old/src]

Last line: ``RESULT datasets mb_per_s=<x> peak_rss_mb_50=<a> peak_rss_mb_200=<b>
tokens_mb_per_s=<t> tokens_peak_rss_mb=<max over sizes>`` (the fields of the parts that ran).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
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


EQ12 = Path(__file__).parents[1] / "src/lorapipe/samples/eq12/EQ-12-conversations-demo.jsonl"


def eq12_sentences() -> list[str]:
    """Every sentence of the EQ-12 demo's texts (about 1,100, ~100 characters each)."""
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, str) and len(value) > 40:
            found.update(s for s in re.split(r"(?<=[.!?])\s+", value) if 15 < len(s) < 400)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    with EQ12.open(encoding="utf-8") as f:
        for line in f:
            walk(json.loads(line))
    return sorted(found)


def write_chats(path: Path, target_mb: int, seed: int = 0, mix: str = "real") -> int:
    """JSON Lines of multi-turn OpenAI chats, about ``target_mb`` MB. Returns the conversation count."""
    rng = random.Random(seed)
    sentences = eq12_sentences() if mix == "real" else []

    def text(lo: int, hi: int) -> str:  # lo-hi sentences (real) or 10x that many words
        if mix == "real":
            return " ".join(rng.choice(sentences) for _ in range(rng.randint(lo, hi)))
        return sentence(rng, rng.randint(10 * lo, 10 * hi))

    n = 0
    with path.open("w", encoding="utf-8") as f:
        while f.tell() < target_mb * 1_000_000:
            messages = [{"role": "system", "content": "You are a careful financial planner."}]
            for _ in range(rng.randint(2, 16) if mix == "real" else rng.randint(2, 12)):
                messages.append({"role": "user", "content": text(1, 5) if mix == "real" else text(1, 6)})
                messages.append(
                    {"role": "assistant", "content": text(2, 8) if mix == "real" else text(4, 20)}
                )
            f.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
            n += 1
    return n


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, dict | None]:
    """(wall seconds, peak RSS MB, CPU seconds, its JSON report if it printed one) of one child process."""
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
    report = None
    if b'"examples"' in out[:2000] or b'"format"' in out[:2000]:
        report = json.loads(out)
        assert report["errors"] == 0, report["problems"][:3]
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, report


def bench_tokens(sizes: list[int], tmp: Path, compare_src: Path | None, mix: str) -> tuple[float, float]:
    """Token statistics on multi-turn files; (mean MB/s, highest peak RSS MB) of ours."""
    cmd = [sys.executable, "-m", "lorapipe.cli.main", "datasets", "inspect", "--json", "--samples", "0"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    runs = [("ours", env)]
    if compare_src is not None:
        runs.append(("compare", {**env, "PYTHONPATH": str(compare_src)}))
    print(
        f"{'size':>6} {'examples':>9} {'KB/conv':>8} {'truncated':>9} {'run':>8} {'MB/s':>6} {'MB/CPU-s':>9} "
        f"{'peak RSS':>9} {'load':>5} {'report':>7}"
    )
    speeds, peaks = [], []
    for mb in sizes:
        path = tmp / f"chats_{mb}mb.jsonl"
        examples = write_chats(path, mb, mix=mix)
        size_mb = path.stat().st_size / 1e6
        reports = []
        for name, run_env in runs:
            wall, rss, cpu, report = measure([*cmd, str(path)], run_env)
            load = os.getloadavg()[0]  # the 1-minute load at the end of the run
            reports.append(report)
            if name == "ours":
                speeds.append(size_mb / wall)
                peaks.append(rss)
            tokens = (report or {}).get("tokens") or {}
            same = "" if len(reports) == 1 else ("same" if reports[0] == report else "DIFFERS")
            print(
                f"{size_mb:>5.0f}M {examples:>9,} {1000 * size_mb / examples:>8.1f} "
                f"{tokens.get('truncated', 0):>9,} {name:>8} {size_mb / wall:>6.2f} {size_mb / cpu:>9.2f} "
                f"{rss:>8.0f}M {load:>5.2f} {same:>7}",
                flush=True,
            )
        path.unlink()
    return sum(speeds) / len(speeds), max(peaks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200], help="file sizes, MB")
    ap.add_argument("--dir", type=Path, default=None, help="where to write the synthetic files")
    ap.add_argument("--only", choices=["read", "tokens"], default=None, help="run one part")
    ap.add_argument("--mix", choices=["real", "words"], default="real", help="multi-turn text (tokens)")
    ap.add_argument("--compare-src", type=Path, default=None, help="another checkout's src, run alongside")
    args = ap.parse_args()
    result = "RESULT datasets"
    if args.only != "tokens":
        result += read_part(args)
    if args.only != "read":
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            mbps, peak = bench_tokens(args.sizes, Path(tmp), args.compare_src, args.mix)
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
            ours_s, ours_rss, _, _ = measure([*ours_cmd, str(path)])
            base_s, base_rss, _, _ = measure([*base_cmd, str(path)])
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
