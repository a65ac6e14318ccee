"""Token estimates for prompt budgets.

specpipe must work offline with no tokenizer files, so sizes are an estimate: one token per four
characters, the usual rule of thumb for English prose and code with BPE vocabularies (cl100k/o200k).
It is deterministic, which matters more here than precision: budgets are targets, not hard limits.
"""

from __future__ import annotations

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """Estimated tokens in ``text`` (ceil of characters / 4); 0 for empty text."""
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
