"""Auth and storage helpers recognised by what their code does, not by what they are called.

- An **auth helper** is an exported function, class or object (never a component: components render
  markup) whose code reads the session or user (``supabase.auth.getUser()``, ``getServerSession``,
  ``jwt.decode``), or that guards (redirects, throws, answers 401/403) around another auth helper.
- A **storage helper** is an exported function, class or object whose code calls a storage API
  (``supabase.storage.from(...)``, S3 commands, boto3 object calls), or an instance of such a class.

Route handlers, pages, layouts and middleware are consumers, not helpers. Every entry carries its
evidence (the matched call with file:line, the importer count) and a confidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from specpipe.inventory.symbols import Unit

if TYPE_CHECKING:
    from specpipe.inventory.assemble import Scan

CONSUMER_FILE = re.compile(
    r"(^|/)(route|page|layout|loading|error|template|middleware)\.(ts|tsx|js|jsx)$|(^|/)pages/|"
    r"(^|/)(tests?|__tests__|e2e)/|\.(test|spec)\.\w+$"
)
JS_SESSION = re.compile(
    r"\.auth\s*\.\s*(?:getUser|getSession|getClaims|onAuthStateChange)\s*\(|\bgetServerSession\s*\(|"
    r"\bgetToken\s*\(|\bcurrentUser\s*\(\s*\)|(?<![.\w])auth\s*\(\s*\)|\bjwtVerify\s*\(|"
    r"\bjwt\s*\.\s*verify\s*\(|\bverifyIdToken\s*\("
)
JS_GUARD = re.compile(
    r"\bredirect\s*\(|\bstatus\s*:\s*40[13]\b|\bthrow\s+new\s+\w*(?:Unauthori[sz]ed|Forbidden|Auth)\w*\s*\(|"
    r"""\bthrow\s+new\s+Error\s*\(\s*['"`][^'"`]*(?:unauthori[sz]ed|not (?:signed|logged) in|forbidden)""",
    re.IGNORECASE,
)
PY_SESSION = re.compile(
    r"\bjwt\.decode\s*\(|\brequest\.session\b|\.auth\.get_user\s*\(|\bverify_id_token\s*\(|"
    r"""\.(?:headers|cookies)\.get\(\s*["'](?:authorization|session)""",
    re.IGNORECASE,
)
PY_SECURITY = re.compile(
    r"\b(?:OAuth2PasswordBearer|OAuth2AuthorizationCodeBearer|HTTPBearer|APIKey\w+)\s*\("
)
PY_GUARD = re.compile(
    r"HTTPException\s*\([^)]*(?:40[13]|UNAUTHORIZED|FORBIDDEN)|HTTP_40[13]|\bPermissionDenied\b|"
    r"\babort\s*\(\s*40[13]"
)
JS_STORAGE = re.compile(
    r"\.storage\s*\.\s*(?:from|createBucket|getBucket|listBuckets|updateBucket|emptyBucket)\s*\(|"
    r"\bnew\s+S3Client\s*\(|\b(?:Put|Get|Delete|Head|Copy)ObjectCommand\b|\bListObjects(?:V2)?Command\b|"
    r"\bgetSignedUrl\s*\(|\bs3\s*\.\s*(?:upload|putObject|getObject|deleteObject|getSignedUrl\w*)\s*\("
)
PY_STORAGE = re.compile(
    r"\.(?:put_object|upload_file|upload_fileobj|download_file|download_fileobj|get_object|delete_object|"
    r"generate_presigned_url|generate_presigned_post)\s*\(|\.storage\s*\.\s*from_\s*\(|"
    r"""\bboto3\.(?:client|resource)\(\s*["']s3"""
)


@dataclass(frozen=True)
class Hit:
    """Where a unit (or one of its members) does the thing: line and the matched code."""

    line: int
    code: str
    member: str = ""


def imported_by(n: int) -> str:
    """``imported by 3 files`` (the evidence line for an importer count)."""
    return f"imported by {n} file{'' if n == 1 else 's'}"


def confidence(importers: int, strong: bool = True) -> str:
    """high: the app uses it from several files; medium: from one or two; low: unused or weak signal."""
    if not strong:
        return "low" if importers == 0 else "medium"
    return "high" if importers >= 3 else "medium" if importers >= 1 else "low"


def _find(rx: re.Pattern[str], unit: Unit) -> list[Hit]:
    """Matches of ``rx`` in a unit: in its own code and, for classes and objects, per member."""
    hits = []
    if unit.members:
        for name, line, body in unit.members:
            if m := rx.search(body):
                hits.append(Hit(line + body.count("\n", 0, m.start()), " ".join(m.group(0).split()), name))
        if hits:
            return hits
    if m := rx.search(unit.body):
        hits.append(Hit(unit.line + unit.body.count("\n", 0, m.start()), " ".join(m.group(0).split())))
    return hits


def calls(name: str, body: str) -> re.Match[str] | None:
    return re.search(
        rf"(?<![\w.$]){re.escape(name)}\s*(?:<[^<>()]*>)?\s*\(|\bnew\s+{re.escape(name)}\b", body
    )


class Roles:
    """The auth and storage helpers of one scan, JS/TS and Python together."""

    def __init__(self, s: Scan) -> None:
        self.s = s
        self._scheme_names: dict[str, tuple[str, ...]] = {}
        self.auth_units = self._fixpoint(JS_SESSION, JS_GUARD, PY_SESSION, PY_GUARD, security=True)
        self.storage_units = self._fixpoint(JS_STORAGE, None, PY_STORAGE, None, security=False)

    # -- helpers by behaviour ------------------------------------------------------------------
    def _units(self) -> list[tuple[str, Unit, bool]]:
        """(file, unit, is_python) for every candidate definition outside consumer files."""
        out = []
        for path, js in self.s.js.items():
            if not CONSUMER_FILE.search(path):
                out += [(path, u, False) for u in js.units.values() if not u.jsx and u.kind != "type"]
        for path, py in self.s.py.items():
            if not py.routes and not CONSUMER_FILE.search(path):
                out += [(path, u, True) for u in py.units.values()]
        return out

    def _fixpoint(
        self,
        js_rx: re.Pattern[str],
        js_guard: re.Pattern[str] | None,
        py_rx: re.Pattern[str],
        py_guard: re.Pattern[str] | None,
        security: bool,
    ) -> dict[tuple[str, str], tuple[str, list[Hit]]]:
        """(file, unit name) -> (what it does, hits): direct users, then guards around them, then instances."""
        found: dict[tuple[str, str], tuple[str, list[Hit]]] = {}
        units = self._units()
        refs = {(path, is_py): self._references(path, is_py) for path, _u, is_py in units}
        for path, unit, is_py in units:
            rx = py_rx if is_py else js_rx
            hits = [] if unit.kind == "object" and not unit.members else _find(rx, unit)
            if not hits and is_py and security:
                hits = [
                    h for n in self._schemes(path) for h in _find(re.compile(rf"Depends\(\s*{n}\s*\)"), unit)
                ]
            if hits:
                found[(path, unit.name)] = ("direct", hits)
        for _ in range(3):  # guards around helpers, helpers around guards, and instances of helper classes
            added = False
            for path, unit, is_py in units:
                if (path, unit.name) in found:
                    continue
                guard = py_guard if is_py else js_guard
                for ref_name, target in refs[(path, is_py)]:
                    if target not in found or ref_name not in unit.body:
                        continue
                    m = calls(ref_name, unit.body) or re.search(
                        rf"Depends\(\s*{re.escape(ref_name)}\s*\)", unit.body
                    )
                    if m is None:
                        continue
                    ctor = (
                        rf"\s*\w+\s*(?::[^=]+)?=\s*{re.escape(ref_name)}\s*\("
                        if is_py
                        else rf"\s*new\s+{re.escape(ref_name)}\b"
                    )
                    instance = unit.kind == "object" and re.match(ctor, unit.body) is not None
                    g = guard.search(unit.body) if guard is not None else None
                    if instance or g is not None:
                        line = unit.line + unit.body.count("\n", 0, m.start())
                        how = "instance" if instance else "guard"
                        code = (
                            f"{ref_name}(…)"
                            if g is None
                            else f"{ref_name}(…) + {' '.join(g.group(0).split())}"
                        )
                        found[(path, unit.name)] = (how, [Hit(line, code)])
                        added = True
                        break
            if not added:
                break
        return found

    def _schemes(self, path: str) -> tuple[str, ...]:
        """Module-level FastAPI security schemes (``bearer = HTTPBearer()``) of a Python file."""
        if path not in self._scheme_names:
            units = self.s.py[path].units.values()
            names = tuple(u.name for u in units if u.kind == "object" and PY_SECURITY.search(u.body))
            self._scheme_names[path] = names
        return self._scheme_names[path]

    def _references(self, path: str, is_py: bool) -> list[tuple[str, tuple[str, str]]]:
        """Names usable in ``path`` -> (file, unit name) they refer to: same-file units and imports."""
        if is_py:
            py = self.s.py[path]
            refs = [(n, (path, n)) for n in py.units]
            for local, target in py.imports.items():
                mod, _, attr = target.rpartition(".")
                hit = self.s.py_module_file(mod)
                if hit:
                    refs.append((local, (hit, attr)))
            return refs
        js = self.s.js[path]
        refs = [(n, (path, n)) for n in js.units]
        for local, (spec, imported) in js.bindings.items():
            hit = self.s.resolve(path, spec)
            if hit and hit in self.s.js:
                refs.append((local, (hit, self._local_of(hit, imported))))
        return refs

    def _local_of(self, path: str, exported: str) -> str:
        """The unit name behind an export (``default`` -> the default-exported definition's name)."""
        if exported == "default":
            sym = next((x for x in self.s.js[path].exports if x.default), None)
            return sym.name if sym else "default"
        return exported

    def helpers(self, found: dict[tuple[str, str], tuple[str, list[Hit]]], area: str) -> list[dict[str, Any]]:
        """Exported helpers among ``found`` with their evidence, most imported first."""
        out = []
        for path, name, sig, kind, line, doc in self._exported():
            if (path, name) not in found:
                continue
            how, hits = found[(path, name)]
            importers = self.s.name_importers.get((path, name), 0)
            file_importers = self.s.importers.get(path, 0)
            does = {
                "direct": "reads the session or user" if area == "auth" else "calls the storage API",
                "guard": "guards: stops the request when there is no (authorised) user",
                "instance": f"an instance of a {area} helper class",
            }[how]
            out.append(
                {
                    "name": name,
                    "kind": kind,
                    "file": path,
                    "line": line,
                    "signature": sig,
                    "doc": doc,
                    "does": does,
                    "members": sorted({h.member for h in hits if h.member}),
                    "evidence": [
                        f"{path}:{h.line}: {h.member + ': ' if h.member else ''}{h.code}" for h in hits[:3]
                    ]
                    + [f"{name} {imported_by(importers)}; its module {imported_by(file_importers)}"],
                    "importers": importers,
                    "file_importers": file_importers,
                    "confidence": confidence(importers),
                }
            )
        return sorted(out, key=lambda h: (-h["importers"], -h["file_importers"], h["file"], h["line"]))

    def _exported(self) -> list[tuple[str, str, str, str, int, str]]:
        """(file, name, signature, kind, line, doc) of every exported definition."""
        out = []
        for path, js in self.s.js.items():
            for x in js.exports:
                if x.kind not in ("reexport", "namespace", "type"):
                    out.append((path, x.name, x.signature, x.kind, x.line, ""))
        for path, py in self.s.py.items():
            public = set(py.all_names) if py.all_names is not None else None
            for name, u in py.units.items():
                if (public is None and not name.startswith("_")) or (public is not None and name in public):
                    sig = next((f.signature for f in py.functions if f.name == name), name)
                    out.append((path, name, sig, u.kind, u.line, py.docstrings.get(name, "")))
        return out
