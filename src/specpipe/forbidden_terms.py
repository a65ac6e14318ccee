"""The infrastructure substitution table: rewrite spec-stack terms, and find the ones left.

The table maps a term the structured spec uses (``Prisma``) to what the existing codebase has
(``the existing Supabase client``). Rewriting is deterministic: longest term first, whole words,
prose only (code blocks are left alone, because rewriting code silently breaks it; code that still
uses a forbidden term is reported instead).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from specpipe.spec_parser import code_mask

# A line that names a spec-stack term to reject it or to record what replaced it is a decision
# record, not residue: it is neither reported nor rewritten (rewriting "Original: Prisma" into
# "Original: the existing Supabase client" destroys the record). Three kinds of line qualify:
# a rejection ("do not use", "never", ❌), a replacement phrase ("replaces", "replaced by",
# "instead of", "migrated from"), and a provenance label at the start of the line ("Original
# Infrastructure:", "Previously:", "Reason for change:").
NEGATION = re.compile(r"❌|\b(?:not|never|no longer|don't|without)\b", re.IGNORECASE)
REPLACEMENT = re.compile(
    r"\b(?:replac(?:es|ed|ing)|instead of|rather than|in place of|migrat(?:es|ed|ing) from|"
    r"formerly|swapped for|superseded by)\b",
    re.IGNORECASE,
)
PROVENANCE = re.compile(
    r"^\s*(?:[-*+>|]\s*)*(?:\*\*|__)?\s*(?:original|previous(?:ly)?|former|old|legacy|source stack|was|"
    r"reason for (?:the )?change|migration note)\b[^:]{0,40}:",
    re.IGNORECASE,
)


def describes_replacement(line: str) -> bool:
    """Whether a line rejects a stack term or records what replaced it (never a violation)."""
    return bool(NEGATION.search(line) or REPLACEMENT.search(line) or PROVENANCE.match(line))


@dataclass(frozen=True)
class TermHit:
    """A forbidden term found at a 1-based line."""

    term: str
    line: int
    text: str
    in_code: bool


def _alternative(term: str) -> str:
    """A term as a regex: longer names match in any case (prisma, Prisma); short acronyms such as
    S3 or SWR only as written, since "s3" or "swr" in code is usually something else."""
    return f"(?i:{re.escape(term)})" if len(term) > 3 else re.escape(term)


def _pattern(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w@/.-]){_alternative(term)}(?![\w-])")


def apply_substitutions(text: str, table: dict[str, str]) -> tuple[str, dict[str, int]]:
    """Rewrite prose with the table; returns the new text and how many times each term was replaced.

    One combined pattern (longest term first) replaces in a single pass, so a replacement is never
    itself rewritten by a shorter term.
    """
    if not table:
        return text, {}
    terms = sorted(table, key=lambda t: (-len(t), t.lower()))
    lookup = {t.lower(): t for t in terms}
    rx = re.compile(r"(?<![\w@/.-])(" + "|".join(re.escape(t) for t in terms) + r")(?![\w-])", re.IGNORECASE)
    counts = dict.fromkeys(terms, 0)

    def swap(m: re.Match[str]) -> str:
        term = m.group(1) if m.group(1) in table else lookup[m.group(1).lower()]
        counts[term] += 1
        return table[term]

    lines = text.splitlines()
    mask = code_mask(lines)
    out = [
        line if in_code or describes_replacement(line) else rx.sub(swap, line)
        for line, in_code in zip(lines, mask, strict=True)
    ]
    trailing = "\n" if text.endswith("\n") else ""
    return "\n".join(out) + trailing, {t: n for t, n in counts.items() if n}


def find_terms(lines: list[str], terms: list[str]) -> list[TermHit]:
    """Every occurrence of a forbidden term, skipping lines that reject it (``do not use Prisma``)."""
    patterns = [(t, _pattern(t)) for t in sorted(terms, key=lambda t: (-len(t), t.lower()))]
    mask = code_mask(lines)
    hits: list[TermHit] = []
    for i, line in enumerate(lines):
        if describes_replacement(line):
            continue
        for term, rx in patterns:
            if rx.search(line):
                hits.append(TermHit(term, i + 1, line.strip(), mask[i]))
                break  # one finding per line is enough to act on
    return hits
