"""Exact-duplicate detection over one pass of a dataset, in a compact table of 64-bit content digests.

A dict of Python ints costs about 100 bytes an example (two int objects and the dict entry); this
table keeps each digest and its first record in two typed arrays, 16 bytes a slot, at most half full:
at most 32 bytes an example (1M examples, which is several GB of chats: at most 32 MB).
"""

from __future__ import annotations

from array import array


class DigestIndex:
    """64-bit digests seen so far, each with the record it was first seen in.

    Open addressing with linear probing; the digests are hash outputs, so their low bits index
    uniformly. Slot key 0 means empty; the digest 0 itself is kept aside.
    """

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._size = 0
        self._keys = array("Q", bytes(8 * capacity))
        self._records = array("q", bytes(8 * capacity))
        self._zero: int | None = None

    def __len__(self) -> int:
        return self._size + (self._zero is not None)

    def first_seen(self, digest: int, record: int) -> int | None:
        """The record where ``digest`` was first seen; else remember it at ``record`` and return None."""
        if digest == 0:
            if self._zero is None:
                self._zero = record
                return None
            return self._zero
        keys = self._keys
        mask = len(keys) - 1
        i = digest & mask
        while True:
            key = keys[i]
            if key == digest:
                return self._records[i]
            if key == 0:
                break
            i = (i + 1) & mask
        keys[i] = digest
        self._records[i] = record
        self._size += 1
        if 2 * self._size > len(keys):
            self._grow()
        return None

    def _grow(self) -> None:
        old_keys, old_records = self._keys, self._records
        capacity = 2 * len(old_keys)
        self._keys = keys = array("Q", bytes(8 * capacity))
        self._records = records = array("q", bytes(8 * capacity))
        mask = capacity - 1
        for key, record in zip(old_keys, old_records, strict=True):
            if key:
                i = key & mask
                while keys[i]:
                    i = (i + 1) & mask
                keys[i] = key
                records[i] = record
