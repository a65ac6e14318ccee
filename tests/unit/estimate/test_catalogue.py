from __future__ import annotations

import pytest

from lorapipe.errors import ConfigError
from lorapipe.estimate.catalogue import PRICE_KINDS, load_catalogue

pytestmark = pytest.mark.unit

REQUIRED = (
    "L4",
    "L40S",
    "A6000",
    "A100-40GB",
    "A100-80GB-PCIE",
    "A100-80GB-SXM",
    "H100-PCIE",
    "H100-SXM",
    "H200",
    "B200",
)


def test_catalogue_has_the_required_gpus_with_specs():
    cat = load_catalogue()
    ids = [g.id for g in cat.gpus]
    for gid in REQUIRED:
        assert gid in ids
    for g in cat.gpus:
        assert g.memory_gib > 10 and g.bf16_dense_tflops > 50 and g.memory_bandwidth_gbs > 100
        assert g.specs_source in cat.sources


def test_every_price_names_a_known_source_and_a_date():
    cat = load_catalogue()
    priced = 0
    for g in cat.gpus:
        for kind in PRICE_KINDS:
            p = g.price(kind)
            if p is not None:
                priced += 1
                assert p.source in cat.sources, f"{g.id} {kind}: unknown source {p.source}"
                assert p.date.year >= 2025
    assert priced >= 30
    assert "2026-11-28" in cat.prices_as_of and "not live" in cat.prices_as_of


def test_serverless_and_pod_prices_convert_to_per_second():
    h100 = load_catalogue().get("h100")  # alias
    assert h100.id == "H100-SXM"
    assert h100.usd_per_second("serverless_flex") == pytest.approx(0.00116)
    assert h100.usd_per_second("pod_secure") == pytest.approx(3.99 / 3600)
    # flex costs more per second than a secure pod: the reason pods win long jobs
    assert h100.usd_per_second("serverless_flex") > h100.usd_per_second("pod_secure")


def test_lookup_by_runpod_id_and_unknown_gpu():
    cat = load_catalogue()
    assert cat.get("NVIDIA H100 80GB HBM3").id == "H100-SXM"
    with pytest.raises(ConfigError) as e:
        cat.get("V100")
    assert "H100-SXM" in (e.value.hint or "")
