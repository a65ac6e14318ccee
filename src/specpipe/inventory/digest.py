"""Markdown digest of an inventory that fits a token budget, most-used items first.

Like a repository map: every candidate line gets a score (its area's weight plus how many files
import its file) and a binary search finds how many top-scored lines fit the budget. Lines are then
printed grouped by area, in a fixed order, so the digest reads like a document, not a ranking.
"""

from __future__ import annotations

from typing import Any

from specpipe.tokens import estimate_tokens

# Why these weights: what a new module most often gets wrong is re-creating auth and DB access.
WEIGHTS = {
    "auth": 100,
    "database": 90,
    "tables": 80,
    "storage": 70,
    "routes": 50,
    "components": 40,
    "hooks": 35,
    "env": 30,
}
TITLES = {
    "auth": "Auth helpers (use these, never add a new auth system)",
    "database": "Database clients (use these)",
    "tables": "Tables",
    "storage": "Storage",
    "routes": "Routes",
    "components": "Components (reuse)",
    "hooks": "Hooks",
    "env": "Environment variables",
}


def _importers(n: int) -> str:
    return f"{n} importer{'' if n == 1 else 's'}"


def _candidates(inv: dict[str, Any]) -> list[tuple[float, str, str]]:
    """(score, area, line) for every optional digest line."""
    out: list[tuple[float, str, str]] = []
    for h in inv["auth"]["helpers"]:
        line = (
            f"- `{h['signature']}` in `{h['file']}:{h['line']}`: {h['does']} "
            f"({_importers(h['importers'])}, {h['confidence']})"
        )
        out.append((WEIGHTS["auth"] + h["importers"], "auth", line))
    for c in inv["database"]["clients"]:
        line = (
            f"- {c['kind']} {c['role']} client `{c['file']}:{c['line']}`: "
            f"{', '.join(f'`{e}`' for e in c['exports'])} ({_importers(c['importers'])}, {c['confidence']})"
            + (
                f"; service-role (admin): {', '.join(f'`{e}`' for e in c['admin_exports'])}"
                if c["admin_exports"]
                else ""
            )
        )
        out.append((WEIGHTS["database"] + c["importers"], "database", line))
    for t in inv["database"]["tables"]:
        cols = ", ".join(t["columns"]) or "columns unknown"
        where = (t["defined_in"] or t["used_in"] or ["?"])[0]
        out.append((WEIGHTS["tables"] + len(t["used_in"]), "tables", f"- `{t['name']}` ({cols}) - `{where}`"))
    for b in inv["storage"]["buckets"]:
        where = (b["defined_in"] or b["used_in"])[0]
        out.append((WEIGHTS["storage"] + len(b["used_in"]), "storage", f"- bucket `{b['name']}` - `{where}`"))
    for h in inv["storage"]["helpers"]:
        line = f"- `{h['signature']}` in `{h['file']}:{h['line']}` ({_importers(h['importers'])}, {h['confidence']})"
        out.append((WEIGHTS["storage"] + h["importers"], "storage", line))
    for r in inv["routes"]:
        bonus = 5 if r["kind"] == "api" else 0
        out.append(
            (
                WEIGHTS["routes"] + bonus,
                "routes",
                f"- {r['method']} `{r['path']}` - `{r['file']}:{r['line']}`",
            )
        )
    for c in inv["ui"]["components"]:
        bonus = 5 if c["kit"] else 0
        out.append(
            (WEIGHTS["components"] + bonus + c["importers"], "components", f"- `{c['name']}` - `{c['file']}`")
        )
    for h in inv["state"]["hooks"]:
        out.append((WEIGHTS["hooks"] + h["importers"], "hooks", f"- `{h['signature']}` - `{h['file']}`"))
    for e in inv["env"]:
        out.append((WEIGHTS["env"] + len(e["sources"]), "env", f"- `{e['name']}`"))
    return out


def _header(inv: dict[str, Any]) -> list[str]:
    fw = ", ".join(
        f"{f['name']} {f['version']}" + (f" ({f['router']} router)" if "router" in f else "")
        for f in inv["frameworks"]
    )
    app = inv["app"]
    lines = [
        f"# Codebase inventory: {inv['codebase']}",
        "",
        f"- App folder: `{app['root']}` ({app['reason']}); paths below are relative to it"
        + (f"; ignored {', '.join(f'`{i}`' for i in app['ignored'])}" if app["ignored"] else ""),
        f"- Frameworks: {fw or 'none detected'}",
        f"- Languages: {', '.join(f'{k} ({v} files)' for k, v in inv['languages'].items()) or 'none'}",
        f"- Auth: {', '.join(inv['auth']['providers']) or 'none detected'}"
        + (
            f"; middleware {', '.join(f'`{m}`' for m in inv['auth']['middleware'])}"
            if inv["auth"]["middleware"]
            else ""
        ),
        f"- Storage: {', '.join(inv['storage']['providers']) or 'none detected'}",
        f"- UI: {', '.join(inv['ui']['libraries']) or 'none detected'}",
        f"- State / data fetching: {', '.join(inv['state']['libraries']) or 'none detected'}",
        f"- Tests: {', '.join(inv['tests']['frameworks']) or 'none detected'} ({inv['tests']['test_files']} files)",
    ]
    for m in inv["database"]["migrations"]:
        lines.append(f"- Migrations: `{m['dir']}` ({m['tool']}, {m['count']} files, named `{m['naming']}`)")
    if inv["database"]["sql_outside_migrations"]:
        files = ", ".join(f"`{x['file']}`" for x in inv["database"]["sql_outside_migrations"])
        lines.append(f"- SQL outside the migration folders (not migrations, not the schema): {files}")
    return lines


def _render(inv: dict[str, Any], chosen: list[tuple[float, str, str]], omitted: int) -> str:
    lines = _header(inv)
    for area in WEIGHTS:
        picked = [c[2] for c in chosen if c[1] == area]
        if picked:
            lines += ["", f"## {TITLES[area]}", "", *picked]
    if omitted:
        lines += ["", f"({omitted} lower-ranked items omitted to fit the budget; see the JSON inventory.)"]
    return "\n".join(lines) + "\n"


def render_digest(inv: dict[str, Any], budget: int) -> str:
    """The digest with as many top-ranked lines as fit in ``budget`` tokens (the header always shows)."""
    ranked = sorted(_candidates(inv), key=lambda c: (-c[0], list(WEIGHTS).index(c[1]), c[2]))
    order = {c: k for k, c in enumerate(ranked)}

    def build(n: int) -> str:
        chosen = sorted(ranked[:n], key=lambda c: order[c])
        return _render(inv, chosen, len(ranked) - n)

    lo, hi = 0, len(ranked)
    while lo < hi:  # the largest n whose rendering fits
        mid = (lo + hi + 1) // 2
        if estimate_tokens(build(mid)) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return build(lo)
