"""Compare every GPU and backend for one job and recommend one, with warnings and assumptions.

:func:`build_estimate` is pure: model facts, config, token counts, catalogue, priors and past
measurements in; an :class:`~lorapipe.estimate.report.EstimateReport` out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lorapipe.estimate.budget import check_budget
from lorapipe.estimate.calibration import Measurement, measured_vram_ratio
from lorapipe.estimate.catalogue import PRICE_KINDS, GpuCatalogue, GpuSpec, PriceKind
from lorapipe.estimate.config import EstimateConfig
from lorapipe.estimate.cost import SERVERLESS_IDLE_TIMEOUT_S, estimated_cost
from lorapipe.estimate.model_facts import ModelFacts
from lorapipe.estimate.priors import Priors, Triple
from lorapipe.estimate.report import EstimateReport, Option, Range, Recommendation
from lorapipe.estimate.throughput import flops_per_token
from lorapipe.estimate.timing import DatasetTokens, TimeEstimate, estimate_time
from lorapipe.estimate.vram import GIB, VramEstimate, estimate_vram

RUNPOD_TTL_S = 24 * 3600  # a serverless job is deleted 24 h after submission, even while running
COMMUNITY_CHECKPOINT_NOTE_S = 3600
SMALL_DIFFERENCE_USD = 0.25  # below this a pod's cost advantage is not worth managing a pod
TIMEOUT_MARGIN = 1.5  # policy.executionTimeout = 1.5 × the high end of the estimate


def _hours(t: Triple) -> Triple:
    return t.scale(1 / 3600)


def _option(
    gpu: GpuSpec,
    tier: PriceKind,
    vram: VramEstimate,
    cfg: EstimateConfig,
    time: TimeEstimate | None,
    catalogue: GpuCatalogue,
    budget_left: float | None,
    execution_timeout_s: float | None,
) -> Option:
    fits = vram.fits_on(gpu, cfg.headroom)
    opt = Option(gpu=gpu.id, gpu_name=gpu.name, memory_gib=gpu.memory_gib, tier=tier, fits=fits, usable=False)
    if not fits:
        opt.warnings.append(
            f"does not fit: needs ~{vram.total_gib:.1f} GiB; {gpu.id} allows "
            f"{gpu.memory_gib * (1 - cfg.headroom):.1f} GiB ({gpu.memory_gib:.0f} GiB less {cfg.headroom:.0%} headroom)"
        )
        return opt
    assert time is not None
    total = time.total
    opt.hours = Range.of(_hours(total))
    opt.tokens_per_s = Range.of(time.throughput.tokens_per_s, 1)
    opt.efficiency_basis, opt.bound = time.throughput.basis, time.throughput.bound
    opt.time_parts_s = {"training": Range.of(time.training, 0), "evals": Range.of(time.evals, 0)} | {
        k: Range.of(v, 0) for k, v in time.fixed.items()
    }
    price = gpu.price(tier)
    per_s = gpu.usd_per_second(tier)
    if price is None or per_s is None:
        opt.warnings.append(f"no {tier} price known for {gpu.id}")
        return opt
    unit = "/s" if tier.startswith("serverless") else "/h"
    opt.price = f"${price.usd:g}{unit} per GPU ({catalogue.source_text(price)}, {price.date.isoformat()})"
    usd = estimated_cost(total, per_s, cfg.gpus)
    opt.usd = Range.of(usd)
    usable = True
    if tier.startswith("serverless"):
        if total.high > RUNPOD_TTL_S:
            opt.warnings.append("may run past RunPod's 24 h TTL (the job is deleted mid-run): use a pod")
            usable = False
        elif execution_timeout_s is not None and total.high > execution_timeout_s:
            opt.warnings.append(
                f"may exceed the endpoint's execution timeout ({execution_timeout_s:.0f} s): "
                f"send policy.executionTimeout ≥ {math.ceil(total.high * TIMEOUT_MARGIN)} s"
            )
    if tier == "serverless_active":
        opt.warnings.append("active workers bill 24/7 whether busy or not: only for steady traffic")
        usable = False  # never recommended for a one-off job
    if tier == "pod_community":
        msg = "community pods can be interrupted when the host goes away"
        if total.mid > COMMUNITY_CHECKPOINT_NOTE_S:
            msg += "; keep checkpoints frequent (resume costs the time since the last one)"
        opt.warnings.append(msg)
    if budget_left is not None:
        if usd.low > budget_left:
            opt.warnings.append(f"over budget: at least ${usd.low:.2f} against ${budget_left:.2f} left")
            usable = False
        elif usd.high > budget_left:
            opt.warnings.append(
                f"may exceed the budget: up to ${usd.high:.2f} against ${budget_left:.2f} left"
            )
    opt.usable = usable
    return opt


def _usd(o: Option) -> float:
    assert o.usd is not None
    return o.usd.mid


def _h(o: Option) -> float:
    assert o.hours is not None
    return o.hours.mid


def _recommend(options: list[Option]) -> tuple[Option | None, Option | None, Recommendation | None]:
    usable = [o for o in options if o.usable and o.usd is not None and o.hours is not None]
    if not usable:
        return None, None, None
    cheapest = min(usable, key=lambda o: (_usd(o), _h(o)))
    fastest = min(usable, key=lambda o: (_h(o), _usd(o)))
    # Prefer an option that cannot be interrupted unless community saves a lot (> 25 %).
    safe = [o for o in usable if o.tier != "pod_community"]
    pick = cheapest
    if cheapest.tier == "pod_community" and safe:
        best_safe = min(safe, key=lambda o: (_usd(o), _h(o)))
        if _usd(best_safe) <= _usd(cheapest) * 1.25:
            pick = best_safe
    # A serverless run within 15 % (or $0.25) of a pod's cost wins: no pod to start, watch and stop.
    serverless = [o for o in usable if o.tier.startswith("serverless")]
    if pick.tier.startswith("pod") and serverless:
        best_sl = min(serverless, key=lambda o: (_usd(o), _h(o)))
        if _usd(best_sl) <= _usd(pick) * 1.15 or _usd(best_sl) - _usd(pick) < SMALL_DIFFERENCE_USD:
            pick = best_sl
    # Take the fastest when it costs at most 10 % more and saves at least a third of the time.
    if fastest is not pick and _usd(fastest) <= _usd(pick) * 1.10 and _h(fastest) <= _h(pick) * 0.67:
        pick = fastest
    timeout = None
    if pick.tier.startswith("serverless"):
        assert pick.hours is not None
        timeout = math.ceil(pick.hours.high * 3600 * TIMEOUT_MARGIN)
    reason = _reason(pick, cheapest, fastest, usable)
    return (
        cheapest,
        fastest,
        Recommendation(gpu=pick.gpu, tier=pick.tier, reason=reason, execution_timeout_s=timeout),
    )


def _span(t: Triple) -> str:
    return f"{t.low:g}–{t.high:g}"


def _fmt_usd(r: Range) -> str:
    return f"${r.low:.2f}–${r.high:.2f}"


def _fmt_h(r: Range) -> str:
    return f"{r.low * 60:.0f}–{r.high * 60:.0f} min" if r.high < 2 else f"{r.low:.1f}–{r.high:.1f} h"


def _reason(pick: Option, cheapest: Option, fastest: Option, usable: list[Option]) -> str:
    assert pick.usd is not None and pick.hours is not None
    parts = [f"{pick.gpu} {pick.tier.replace('_', ' ')}: {_fmt_usd(pick.usd)}, {_fmt_h(pick.hours)}"]
    if pick is cheapest:
        parts.append("the cheapest option that fits with headroom")
    elif pick.tier.startswith("serverless"):
        diff = _usd(pick) - _usd(cheapest)
        parts.append(f"${diff:.2f} more than the cheapest ({cheapest.gpu} {cheapest.tier.replace('_', ' ')})")
    elif cheapest.tier == "pod_community" and _usd(pick) <= _usd(cheapest) * 1.25:
        parts.append(f"within 25 % of the cheapest ({cheapest.gpu} community pod, which can be interrupted)")
    if pick is fastest:
        parts.append(
            "also the fastest" if pick is cheapest else "the fastest, for at most 10 % more than the cheapest"
        )
    other = [o for o in usable if o.tier.startswith("pod") != pick.tier.startswith("pod")]
    if other:
        alt = min(other, key=lambda o: (_usd(o), _h(o)))
        assert alt.usd is not None
        kind = "pod" if alt.tier.startswith("pod") else "serverless"
        if pick.tier.startswith("serverless") and _usd(alt) < _usd(pick):
            why = "serverless needs no pod to start, watch and stop, worth the small difference"
        elif pick.tier.startswith("serverless"):
            why = "a pod also bills its start-up and the idle time until it is stopped"
        else:
            why = "for this much training a pod's lower hourly price outweighs its start-up time"
        parts.append(
            f"best {kind} option is {alt.gpu} {alt.tier.replace('_', ' ')} at {_fmt_usd(alt.usd)}: {why}"
        )
    return "; ".join(parts)


def build_estimate(
    m: ModelFacts,
    cfg: EstimateConfig,
    data: DatasetTokens,
    catalogue: GpuCatalogue,
    priors: Priors,
    records: Sequence[Measurement] = (),
    *,
    gpus: Sequence[str] | None = None,
    budget_usd: float | None = None,
    spent_usd: float = 0.0,
    execution_timeout_s: float | None = None,
    model_cached: bool = True,
) -> EstimateReport:
    """Estimate ``m`` trained with ``cfg`` on ``data`` across the catalogue (or the GPUs named)."""
    vram = estimate_vram(m, cfg, catalogue)
    specs = [catalogue.get(g) for g in gpus] if gpus else list(catalogue.gpus)
    budget_left = None if budget_usd is None else max(budget_usd - spent_usd, 0.0)
    options: list[Option] = []
    for gpu in specs:
        fits = vram.fits_on(gpu, cfg.headroom)
        times = {
            b: estimate_time(m, cfg, data, gpu.id, b, catalogue, priors, records, model_cached)
            if fits
            else None
            for b in ("serverless", "pod")
        }
        for tier in PRICE_KINDS:
            t = times["serverless" if tier.startswith("serverless") else "pod"]
            options.append(_option(gpu, tier, vram, cfg, t, catalogue, budget_left, execution_timeout_s))
    cheapest, fastest, rec = _recommend(options)

    warnings: list[str] = []
    if not vram.fits:
        warnings.append(
            f"no catalogue GPU fits ~{vram.total_gib:.1f} GiB: use qlora, a shorter max_length, a smaller batch "
            "or more GPUs with sharding='fsdp'"
        )
    elif rec is None:
        warnings.append("no usable priced option: see each option's warnings")
    budget = None
    if budget_usd is not None:
        pick = next((o for o in options if rec and o.gpu == rec.gpu and o.tier == rec.tier), None)
        decision = check_budget(spent_usd, pick.usd.high if pick and pick.usd else 0.0, budget_usd)
        budget = {"level": decision.level, "allowed": decision.allowed, "message": decision.message}
        if decision.level != "ok":
            warnings.append(decision.message)

    fpt = flops_per_token(m, cfg, max(data.mean_length / 2, 1.0))
    k = 6 if cfg.gradient_checkpointing else 4
    assumptions = [
        f"VRAM per GPU: {cfg.method} r={cfg.rank} on {cfg.targets if isinstance(cfg.targets, str) else ', '.join(cfg.targets)}"
        f"{' + experts' if cfg.target_experts else ''}, {cfg.batch_size}×{cfg.max_length} tokens per micro-batch, "
        f"gradient checkpointing {'on' if cfg.gradient_checkpointing else 'off'}, {cfg.logits} logits, {cfg.optimizer}; "
        f"+0.5 GiB CUDA context and 5 % allocator slack; a GPU fits at ≤ {1 - cfg.headroom:.0%} of its memory",
        f"time: {data.tokens:,} tokens × {cfg.epochs_for(data.examples):.3g} epochs"
        f"{f' ({cfg.max_steps} steps)' if cfg.max_steps else ''} ÷ padding efficiency {data.padding_efficiency:.2f}; "
        f"{fpt / 1e9:.3g} GFLOP per token (k={k} × {m.active_matmul_params / 1e9:.2f} B active matmul params + attention)",
        "throughput prior: MFU (4N basis) "
        + ", ".join(f"{k.replace('_', ' ')} {v.low:.2f}–{v.high:.2f}" for k, v in priors.mfu_table.items())
        + f" ({priors.source}); replaced by measured runs of the same model/device/method when there are any",
        f"fixed: serverless cold start {_span(priors.fixed_seconds['serverless_cold_start'])} s, pod start "
        f"{_span(priors.fixed_seconds['pod_start'])} s, model {'read from a network volume' if model_cached else 'downloaded'}, "
        f"upload and (pods) idle before stop; serverless adds its {SERVERLESS_IDLE_TIMEOUT_S:.0f} s idle timeout",
        catalogue.prices_as_of,
    ]
    if m.is_moe:
        assumptions.insert(
            1,
            f"MoE: all {m.experts} experts resident ({vram.weights / GIB:.1f} GiB of weights); "
            f"compute on {m.active_params / 1e9:.1f} B active params; MoE MFU prior is low "
            "without grouped-GEMM kernels",
        )
    measured = measured_vram_ratio(records, m.id, cfg.method)
    if measured is not None:
        ratio, n = measured
        assumptions.insert(
            1,
            f"measured: the allocator peak of {n} earlier {cfg.method} run(s) of this model was {ratio:.2f}× "
            "their estimate (the estimate adds CUDA context and slack the allocator does not count)",
        )
    if cfg.method == "qlora":
        assumptions.insert(
            1, f"qlora: {cfg.quantisation} linear layers (experts included), 16-bit embeddings and head"
        )
    return EstimateReport(
        model=m.id,
        method=cfg.method,
        config=cfg.model_dump(mode="json"),
        tokens={
            "tokens_per_epoch": data.tokens,
            "trained_tokens_per_epoch": data.trained_tokens,
            "examples": data.examples,
            "padding_efficiency": round(data.padding_efficiency, 4),
            "epochs": round(cfg.epochs_for(data.examples), 4),
        },
        vram_gib=vram.parts_gib(),
        lora_params=vram.lora_params,
        fits=list(vram.fits),
        options=options,
        cheapest=cheapest,
        fastest=fastest,
        recommendation=rec,
        warnings=warnings,
        assumptions=assumptions,
        prices_as_of=catalogue.prices_as_of,
        budget=budget,
    )
