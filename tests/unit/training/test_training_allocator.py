"""The engine's allocator setting: freed blocks of 16 MiB and more leave the process (glibc)."""

from __future__ import annotations

import ctypes.util
import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    from lorapipe.training.allocator import map_large_blocks

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    set_ = sys.argv[1] == "set" and map_large_blocks()
    big = torch.empty(30 * 1024**2, dtype=torch.uint8).fill_(1)
    del big  # glibc's default threshold rises to the largest block freed (up to 32 MiB)
    before = rss()
    blocks = [torch.empty(20 * 1024**2, dtype=torch.uint8).fill_(1) for _ in range(16)]  # 320 MiB
    del blocks[::2]  # every other block: what stays resident is up to the allocator
    kept = rss() - before
    print(json.dumps({"set": set_, "kept": kept}))
    """
)


def _kept(mode: str) -> tuple[bool, int]:
    """(whether the threshold was set, bytes still resident of the 320 MiB allocated, half freed)."""
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return bool(result["set"]), int(result["kept"])


@pytest.mark.skipif(
    sys.platform != "linux" or not ctypes.util.find_library("c"), reason="glibc's mallopt on Linux"
)
def test_freed_blocks_of_16_mib_and_more_leave_the_process() -> None:
    (_, default), (was_set, mapped) = _kept("default"), _kept("set")
    assert was_set
    half = 8 * 20 * 1024**2
    assert mapped < half * 1.2  # only the live half stays resident
    assert default > half * 1.6  # glibc's default keeps the freed half too
