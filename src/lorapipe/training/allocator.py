"""glibc's allocator, set for training: blocks of 1 MiB and more (activations, logits chunks) get their
own mappings, returned to the system when freed.

By default glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB); from the
first training step on, a step's activations are then carved from the heap, where freed memory stays
resident and fragmented. Measured on SmolLM2-135M (LoRA, 768 tokens, batch 1, CPU): peak RSS 2.35-2.62 GB
with the default, 1.93 GB with a fixed 1 MiB threshold, and 2.2 GB vs 1.1 GB resident between steps.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h); setting it also stops the dynamic raising
THRESHOLD_BYTES = 1024**2


def map_large_blocks(threshold: int = THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes; False where the C library has no ``mallopt``."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, threshold) == 1)
    except (OSError, AttributeError):  # not glibc (musl, macOS): the allocator keeps its own policy
        return False
