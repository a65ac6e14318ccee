"""The published reference table: every row within ±25 % of our VRAM estimate (or the fit constraint).

Run ``lorapipe estimate references`` to see the same table with the figures.
"""

from __future__ import annotations

import pytest

from lorapipe.estimate.references import check_vram_references

pytestmark = pytest.mark.unit

ROWS = check_vram_references()


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_reference_point_within_tolerance(row):
    assert row.ok, (
        f"{row.name}: ours {row.estimate_gib} GiB vs published {row.reference_gib} GiB ({row.detail})"
    )


def test_the_table_covers_the_required_points():
    names = " | ".join(r.name for r in ROWS)
    for required in (
        "Qwen3-Next-80B-A3B QLoRA",
        "Llama-3.1-8B LoRA 2048×2",
        "Llama-3.1-8B QLoRA",
        "70B QLoRA fits 80 GB, not 48 GB",
        "LLaMA-Factory LoRA 16-bit 7B",
        "LLaMA-Factory QLoRA 4-bit 7B",
    ):
        assert required in names
    assert len(ROWS) >= 12
