"""The blueprint's decision table: for each infrastructure area, what the new module uses, and why.

Each choice is the top-ranked entry of the inventory (most imported first) and carries that entry's
evidence, so a reader can check it: "AuthService, lib/auth/auth-service.ts:4 — reads the session
(lib/auth/auth-service.ts:10: .auth.getUser(); imported by 4 files; confidence high)". An admin
(service-role) client is never the choice for database access; it is named as the one to avoid.
"""

from __future__ import annotations

from typing import Any


def _helper_row(area: str, helpers: list[dict[str, Any]], fallback: str) -> dict[str, str] | None:
    if not helpers:
        return {"area": area, "choice": "", "use": fallback, "evidence": ""} if fallback else None
    h = helpers[0]
    use = f"`{h['signature']}` from `{h['file']}:{h['line']}`"
    others = [f"`{o['name']}` (`{o['file']}`)" for o in helpers[1:3]]
    if others:
        use += f"; also {', '.join(others)}"
    evidence = f"{h['does']}: {'; '.join(h['evidence'])}; confidence {h['confidence']}"
    return {"area": area, "choice": f"{h['file']}#{h['name']}", "use": use, "evidence": evidence}


def _database_row(clients: list[dict[str, Any]]) -> dict[str, str] | None:
    usable = [c for c in clients if c["role"] != "admin"]
    if not usable:
        return None
    top = usable[0]
    calls = (
        ", ".join(f"`{e}`" for e in top["exports"] if e not in top.get("admin_exports", [])) or "its export"
    )
    use = f"{calls} from `{top['file']}` ({top['kind']}, {top['role']})"
    browser = next((c for c in usable[1:] if c["role"] == "browser" and top["role"] != "browser"), None)
    if browser:
        use += f"; in client components {', '.join(f'`{e}`' for e in browser['exports'])} from `{browser['file']}`"
    admin = [c["file"] for c in clients if c["role"] == "admin" or c.get("admin_exports")]
    if admin:
        use += f"; never the service-role client in {', '.join(f'`{a}`' for a in admin)} for user requests"
    evidence = f"{'; '.join(top['evidence'])}; confidence {top['confidence']}"
    return {"area": "Database access", "choice": top["file"], "use": use, "evidence": evidence}


def _schema_row(migrations: list[dict[str, Any]]) -> dict[str, str] | None:
    if not migrations:
        return None
    m = migrations[0]
    use = f"new migrations in `{m['dir']}` named `{m['naming']}`"
    evidence = f"{m['tool']} folder, {m['count']} migrations ({'; '.join(m['evidence'])}); confidence {m['confidence']}"
    return {"area": "Database schema", "choice": m["dir"], "use": use, "evidence": evidence}


def decisions(inv: dict[str, Any]) -> list[dict[str, str]]:
    """Rows of the decision table: area, choice (``file`` or ``file#name``), use (markdown), evidence."""
    storage = inv["storage"]
    buckets = ", ".join(f"`{b['name']}`" for b in storage["buckets"])
    storage_row = _helper_row("File storage", storage["helpers"], ", ".join(storage["providers"]))
    if storage_row and buckets:
        storage_row["use"] += f"; buckets {buckets}"
    api_files = sorted({r["file"] for r in inv["routes"] if r["kind"] == "api"})
    rows = [
        _helper_row("Authentication", inv["auth"]["helpers"], ", ".join(inv["auth"]["providers"])),
        _database_row(inv["database"]["clients"]),
        _schema_row(inv["database"]["migrations"]),
        storage_row,
    ]
    plain = [
        ("API routes", f"the existing route layout, e.g. `{api_files[0]}`" if api_files else ""),
        ("UI components", ", ".join(inv["ui"]["libraries"])),
        ("Data fetching / state", ", ".join(inv["state"]["libraries"])),
        ("Tests", ", ".join(inv["tests"]["frameworks"])),
    ]
    out = [r for r in rows if r is not None and r["use"]]
    out += [{"area": a, "choice": "", "use": u, "evidence": ""} for a, u in plain if u]
    return out
