"""What a requirement builds and what it uses: its layer, the artifacts it provides and consumes.

Artifacts are short typed names (``table:reports``, ``route:POST /api/reports``, ``file:app/x.ts``,
``component:ReportCard``, ``hook:useReports``, ``type:Report``, ``bucket:exports``). They link prompts:
a prompt that consumes an artifact another prompt provides depends on that prompt.
"""

from __future__ import annotations

import re

from specpipe.plan_model import Layer
from specpipe.spec_model import Requirement
from specpipe.spec_parser import REQ_MENTION, code_mask

LAYERS: tuple[Layer, ...] = ("database", "api", "ui", "integration")

# The spec's own "**Type**:" line wins over keyword guessing when it is present.
TYPE_TO_LAYER: tuple[tuple[str, Layer], ...] = (
    ("data model", "database"),
    ("database", "database"),
    ("migration", "database"),
    ("schema", "database"),
    ("infrastructure", "database"),
    ("api", "api"),
    ("endpoint", "api"),
    ("edge function", "api"),
    ("ui", "ui"),
    ("component", "ui"),
    ("page", "ui"),
    ("integration", "integration"),
    ("business logic", "integration"),
    ("hook", "integration"),
)
# Whole words only: the old segmenter matched "ui" inside "build" and put most FRs in every layer.
KEYWORDS = {
    "database": re.compile(
        r"\b(create table|alter table|migrations?|schema|columns?|rls|polic(?:y|ies)|sql|tables?)\b"
    ),
    "api": re.compile(
        r"\b(api|endpoints?|routes?|handlers?|request|response|(?:get|post|put|patch|delete) /)"
    ),
    "ui": re.compile(r"\b(components?|pages?|buttons?|forms?|dialogs?|modals?|cards?|ui|tsx|jsx|layout)\b"),
    "integration": re.compile(
        r"\b(hooks?|usequery|usemutation|state|navigation|webhooks?|notifications?|end-to-end)\b"
    ),
}

TABLE_DEF = re.compile(r"\bcreate\s+table\s+(?:if\s+not\s+exists\s+)?(?:\w+\.)?\"?(\w+)\"?", re.IGNORECASE)
TABLE_USE = re.compile(r"""\.from\(\s*['"](\w+)['"]\s*\)|\breferences\s+(?:\w+\.)?(\w+)""", re.IGNORECASE)
ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE)\s+`?(/[\w/\-\[\]{}:.]*)")
FETCH = re.compile(r"""\bfetch\(\s*[`'"](/[\w/\-\[\]{}:.$]*)""")
FILE = re.compile(r"\*\*File\*\*:?\s*`?([\w@./\-\[\]()]+\.\w+)`?")
EXPORT_FN = re.compile(r"\bexport\s+(?:default\s+)?(?:async\s+)?function\s+(\w+)")
EXPORT_CONST = re.compile(r"\bexport\s+const\s+(\w+)")
EXPORT_TYPE = re.compile(r"\bexport\s+(?:interface|type)\s+(\w+)")
BUCKET_DEF = re.compile(r"storage\.buckets\b[^;]*?values\s*\(\s*'([\w\-]+)'", re.IGNORECASE | re.DOTALL)
BUCKET_USE = re.compile(r"""\.storage\s*\.from\(\s*['"]([\w\-]+)['"]""")
HOOK_USE = re.compile(r"\b(use[A-Z]\w*)\s*\(")
JSX_USE = re.compile(r"<([A-Z]\w+)[\s/>]")


def classify_layer(req: Requirement) -> Layer:
    """The primary layer of a requirement: its Type when given, else the best keyword score."""
    if req.kind:
        kind = req.kind.lower()
        for needle, layer in TYPE_TO_LAYER:
            if needle in kind:
                return layer
    text = req.text.lower()
    scores = {layer: len(rx.findall(text)) for layer, rx in KEYWORDS.items()}
    best = max(LAYERS, key=lambda layer: (scores[layer], -LAYERS.index(layer)))
    return best if scores[best] else "integration"


HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def _symbol(name: str) -> str:
    if name.startswith("use") and name[3:4].isupper():
        return f"hook:{name}"
    return f"component:{name}" if name[:1].isupper() else f"function:{name}"


def provided(req: Requirement, layer: str) -> set[str]:
    """Artifacts a requirement creates."""
    text = req.text
    out = {f"table:{m.lower()}" for m in TABLE_DEF.findall(text)}
    out |= {f"file:{m}" for m in FILE.findall(text)}
    names = EXPORT_FN.findall(text) + EXPORT_CONST.findall(text)
    out |= {_symbol(m) for m in names if m not in HTTP_METHODS}  # route handlers are routes, not components
    out |= {f"type:{m}" for m in EXPORT_TYPE.findall(text)}
    out |= {f"bucket:{m}" for m in BUCKET_DEF.findall(text)}
    if layer == "api":
        out |= {f"route:{method} {path.rstrip('.:')}" for method, path in ROUTE.findall(text)}
    return out


def consumed(req: Requirement, layer: str) -> set[str]:
    """Artifacts a requirement uses; only those some other prompt provides end up as dependencies."""
    text = req.text
    out = {f"table:{(a or b).lower()}" for a, b in TABLE_USE.findall(text)}
    out |= {f"bucket:{m}" for m in BUCKET_USE.findall(text)}
    out |= {f"hook:{m}" for m in HOOK_USE.findall(text)}
    out |= {f"component:{m}" for m in JSX_USE.findall(text)}
    out |= {f"path:{m.rstrip('.:')}" for m in FETCH.findall(text)}
    if layer != "api":
        out |= {f"path:{path.rstrip('.:')}" for _method, path in ROUTE.findall(text)}
    return out


def referenced_requirements(req: Requirement) -> set[str]:
    """Other requirement ids named in a requirement's prose (its prerequisites); code blocks are skipped."""
    lines = req.text.splitlines()
    prose = (line for line, in_code in zip(lines, code_mask(lines), strict=True) if not in_code)
    found = {m for line in prose for m in REQ_MENTION.findall(line)}
    return {m for m in found if m != req.id and not m.startswith(req.id + ".")}
