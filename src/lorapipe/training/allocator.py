"""glibc's allocator, set for training: blocks of 16 MiB and more (logits chunks, the largest
activations and gradients) get their own mappings, returned to the system when freed.

By default glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB), so from
the first step on even the largest blocks are carved from the heap, where freed memory stays resident
and fragmented. A fixed threshold stops the raising. Where to fix it is a trade of memory for page
faults: every freed mapping is zero-filled again by the kernel when the next step maps it. Measured on
SmolLM2-135M (LoRA, 768 tokens, batch 1, CPU, one epoch of EQ-12; a fresh process per row):

==========  ===========  =============  ===============  ===========
threshold   tokens/s     peak RSS       minor faults     system CPU
==========  ===========  =============  ===============  ===========
1 MiB       146          2,095 MB       17.1 M           28.2 s
4 MiB       185          2,476 MB       2.3 M            4.6 s
16 MiB      192          2,398 MB       1.5 M            3.0 s
default     186          2,422 MB       0.6 M            1.6 s
==========  ===========  =============  ===============  ===========

(the plain Trainer + PEFT script: 153 tokens/s, 2,746 MB). At 1 MiB a small model's activations
(1-5 MB each) are faulted in anew every step: a quarter of the speed for 300 MB. At batch 4
(bench/engine.py, one epoch): 1 MiB gave 4,631 MB at 1.10x the plain script's speed, 16 MiB 7,091 MB at
1.35x (the plain script: 8,652-8,778 MB). Speed is what a run pays for; both stay under the plain
script's memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h); setting it also stops the dynamic raising
THRESHOLD_BYTES = 16 * 1024**2


def map_large_blocks(threshold: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; False where the C library has no ``mallopt``."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1)
    except (OSError, AttributeError):  # not glibc (musl, macOS): the allocator keeps its own policy
        return False
