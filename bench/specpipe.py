"""Benchmark: specpipe segment + validate on a generated 4,000-line integrated spec.

Run: ``.venv/bin/python bench/specpipe.py``. The target is under 1 s. As a baseline in the same
run it also times a plain read + line split of the same file, so the ratio says how much the
parsing, planning, rendering and checking cost on top of touching the bytes.
The last line is ``RESULT specpipe seconds_4000_lines=<s>``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

TARGET_LINES = 4000


def requirement(section: int, n: int) -> list[str]:
    """One FR block of about 30 lines, alternating the four layers, with code and criteria."""
    # Layers cycle data -> api -> integration -> ui, and each one uses the one before it.
    kind = ("UI Component", "Data Model", "API Endpoint", "Integration")[n % 4]
    rid = f"FR-{section}.{n}"
    code = {
        "Data Model": [
            "```sql",
            f"create table if not exists public.t_{section}_{n} (",
            "  id uuid primary key default gen_random_uuid(),",
            "  owner_id uuid not null references auth.users (id),",
            "  created_at timestamptz not null default now()",
            ");",
            "```",
        ],
        "API Endpoint": [
            "```ts",
            f"// POST /api/s{section}/r{n}",
            "export async function POST(request: Request) {",
            "  const user = await requireUser();",
            f"  const {{ data }} = await createClient().from('t_{section}_{n - 1}').select('*');",
            "  return Response.json({ data });",
            "}",
            "```",
        ],
        "UI Component": [
            "```tsx",
            f"export function Panel{section}x{n}() {{",
            f"  const {{ data }} = useThing{section}x{n - 1}();",
            "  return <Card>{JSON.stringify(data)}</Card>;",
            "}",
            "```",
        ],
        "Integration": [
            "```ts",
            f"export function useThing{section}x{n}() {{",
            f"  return useQuery({{ queryKey: ['s{section}', {n}], queryFn: () => fetch('/api/s{section}/r{n - 1}') }});",
            "}",
            "```",
        ],
    }[kind]
    return [
        f"#### {rid}: Generated requirement {n} of section {section}",
        "",
        f"**Type**: {kind}",
        "",
        f"**Description**: Requirement {rid} extends the module"
        + ("." if kind == "Data Model" else f"; it builds upon FR-{section}.1."),
        "It reuses the existing infrastructure named in the integration summary and adds only new files.",
        "",
        f"**File**: `src/module/s{section}/r{n}.ts`",
        "",
        *code,
        "",
        "**Acceptance Criteria**:",
        f"1. {rid} works for the signed-in owner.",
        "2. Another user's data is never returned.",
        "3. Errors use the existing response envelope.",
        "",
        "**Verification Steps**:",
        "- Run the unit tests of the module.",
        "- Open the page and check the result.",
        "",
    ]


def generate_spec(lines_wanted: int) -> str:
    """A spec of about ``lines_wanted`` lines: preamble, sections of FRs, an appendix."""
    out = ["# Generated Module - Integrated Extension Specification", "", "## INTEGRATION SUMMARY", ""]
    out += [f"- Decision {k}: use the existing infrastructure for concern {k}." for k in range(1, 21)]
    out.append("")
    ids: list[str] = []
    section = 0
    while len(out) < lines_wanted - 40:
        section += 1
        out += [
            f"## SECTION {section}: Generated Section {section} - INTEGRATED",
            "",
            "### Overview",
            "",
            f"Section {section} adds a slice of the module.",
            "",
            "### Features & Requirements (INTEGRATED)",
            "",
        ]
        for n in range(1, 9):
            out += requirement(section, n)
            ids.append(f"FR-{section}.{n}")
        out += ["### Section Summary", "", f"Section {section} done.", ""]
    out += ["## APPENDIX: Complete Feature List", ""]
    out += [f"- {rid}" for rid in ids]
    return "\n".join(out[:lines_wanted] if len(out) > lines_wanted else out) + "\n"


def main() -> int:
    # This file is named like the package; drop its folder from the path so the import finds the package.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from specpipe.plan_model import load_plan
    from specpipe.segment_files import segment_to_files
    from specpipe.spec_parser import parse_spec_file
    from specpipe.validator import validate_plan, validate_spec

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.md"
        spec.write_text(generate_spec(TARGET_LINES))
        n_lines = len(spec.read_text().splitlines())
        plan = Path(tmp) / "out" / "plan.yaml"
        plan.parent.mkdir()

        t0 = time.perf_counter()
        baseline_lines = len(spec.read_text(encoding="utf-8").splitlines())
        baseline = time.perf_counter() - t0

        t0 = time.perf_counter()
        result = segment_to_files(spec, plan, 8000)
        parsed = parse_spec_file(spec)
        findings = validate_spec(parsed, ["Prisma", "NextAuth", "S3"]) + validate_plan(
            load_plan(plan), plan, parsed
        )
        seconds = time.perf_counter() - t0

    errors = [f for f in findings if f.severity == "error"]
    print(f"spec lines: {n_lines} (baseline read saw {baseline_lines})")
    print(
        f"sections: {len(result.plan.sections)}  requirements: {len(result.plan.requirements)}  "
        f"prompts: {len(result.plan.prompts)}  findings: {len(findings)} ({len(errors)} errors)"
    )
    for f in errors[:5]:
        print(f"  {f}")
    print(
        f"baseline read+split: {baseline * 1000:.2f} ms; segment+validate: {seconds:.3f} s "
        f"({seconds / max(baseline, 1e-9):.0f}x baseline)"
    )
    print(f"RESULT specpipe seconds_4000_lines={seconds:.3f}")
    return 0 if seconds < 1 and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
