"""Reference models and published memory figures the estimator is checked against.

``data/reference_models.json`` holds architecture facts for models the catalogue may not know
(Llama 8B/70B, LLaMA-Factory's size classes); ``data/vram_references.json`` the published peak
memory of real runs. :func:`check_vram_references` compares each with our estimate.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from lorapipe.estimate.catalogue import GpuCatalogue, load_catalogue
from lorapipe.estimate.config import EstimateConfig
from lorapipe.estimate.model_facts import ModelFacts
from lorapipe.estimate.vram import GIB, estimate_vram


def _data(name: str) -> Any:
    return json.loads(resources.files("lorapipe.estimate").joinpath("data", name).read_text("utf-8"))


@functools.cache
def reference_models() -> dict[str, ModelFacts]:
    """Reference facts by model id (the ``source`` of each stays in the data file)."""
    out: dict[str, ModelFacts] = {}
    for row in _data("reference_models.json")["models"]:
        fields = {k: v for k, v in row.items() if k != "source"}
        out[row["id"]] = ModelFacts(**fields)
    return out


@dataclass(frozen=True)
class ReferenceCheck:
    """One reference row: the published figure (or fit constraint), ours, and whether they agree."""

    name: str
    model: str
    reference_gib: float | None
    estimate_gib: float
    error_pct: float | None
    ok: bool
    detail: str


def check_vram_references(catalogue: GpuCatalogue | None = None) -> list[ReferenceCheck]:
    """Every published reference row against our estimate (±tolerance, or the fit constraint)."""
    catalogue = catalogue or load_catalogue()
    doc = _data("vram_references.json")
    tol = float(doc["tolerance"])
    models = reference_models()
    out: list[ReferenceCheck] = []
    for row in doc["rows"]:
        cfg_fields = dict(row["config"])
        if isinstance(cfg_fields.get("targets"), list):
            cfg_fields["targets"] = tuple(cfg_fields["targets"])
        est = estimate_vram(models[row["model"]], EstimateConfig(**cfg_fields), catalogue)
        ours = est.total_gib
        if "fits" in row:
            fits = [g for g in row["fits"] if est.fits_on(catalogue.get(g), EstimateConfig().headroom)]
            not_fits = [
                g for g in row["not_fits"] if not est.fits_on(catalogue.get(g), EstimateConfig().headroom)
            ]
            ok = len(fits) == len(row["fits"]) and len(not_fits) == len(row["not_fits"])
            detail = f"fits {fits} (want {row['fits']}); does not fit {not_fits} (want {row['not_fits']})"
            out.append(ReferenceCheck(row["name"], row["model"], None, round(ours, 1), None, ok, detail))
            continue
        ref = (
            float(row["reference_gib"]) if "reference_gib" in row else float(row["reference_gb"]) * 1e9 / GIB
        )
        err = (ours - ref) / ref
        out.append(
            ReferenceCheck(
                row["name"],
                row["model"],
                round(ref, 1),
                round(ours, 1),
                round(100 * err, 1),
                abs(err) <= tol,
                row.get("source", doc.get("llamafactory_source", "")),
            )
        )
    return out
