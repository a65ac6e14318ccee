from __future__ import annotations

import pytest

from lorapipe.estimate.calibration import (
    Measurement,
    append_measurement,
    learned_achieved_flops,
    learned_fixed_seconds,
    learned_stage_overhead,
    load_measurements,
    measurement_from_manifest,
    step_seconds_from_events,
)

pytestmark = pytest.mark.unit


def _m(model="m", device="cpu", tokens=10_000, seconds=10.0, fixed=5.0, peak=None):
    return Measurement(
        model_id=model,
        device=device,
        method="lora",
        input_tokens=tokens,
        train_seconds=seconds,
        padding_efficiency=0.5,
        flops_per_token=1e6,
        peak_flops=peak,
        fixed_seconds=fixed,
    )


def test_achieved_flops_count_padding_and_evals():
    m = _m()
    assert m.achieved_flops == pytest.approx(10_000 / 0.5 * 1e6 / 10.0)
    with_evals = m.model_copy(update={"eval_flops": 1e9})
    assert with_evals.achieved_flops == pytest.approx(m.achieved_flops + 1e8)


def test_store_appends_and_skips_a_torn_line(tmp_path):
    path = tmp_path / "estimate" / "measurements.jsonl"
    append_measurement(path, _m(tokens=1))
    append_measurement(path, _m(tokens=2))
    with path.open("a") as f:
        f.write('{"model_id": "m", "devi')  # a crash mid-write
    assert [r.input_tokens for r in load_measurements(path)] == [1, 2]
    assert load_measurements(tmp_path / "missing.jsonl") == []


def test_learning_prefers_the_exact_model_then_other_models():
    records = [_m(seconds=10.0), _m(seconds=20.0), _m(model="other", seconds=1.0)]
    exact, basis = learned_achieved_flops(records, "m", "cpu", "lora", None)
    assert exact.mid == pytest.approx((2e9 + 1e9) / 2)
    assert exact.low < 1e9 and exact.high > 2e9 and basis.startswith("measured: 2 run")
    _, basis = learned_achieved_flops(records, "new", "cpu", "lora", None)
    assert "other models" in basis
    assert learned_achieved_flops(records, "m", "H100-SXM", "lora", 989e12) is None
    assert learned_fixed_seconds(records, "m", "cpu").mid == pytest.approx(5.0)


def test_gpu_runs_transfer_as_mfu():
    records = [_m(device="A100-80GB-SXM", peak=312e12, seconds=1e-3)]
    got, basis = learned_achieved_flops(records, "another", "A100-80GB-SXM", "lora", 312e12)
    assert got.mid == pytest.approx(records[0].mfu * 312e12)
    assert "MFU" in basis


def test_measurement_from_an_engine_manifest():
    manifest = {
        "base_model": "lorapipe/tiny-qwen3",
        "job_id": "job-1",
        "config": {"method": "lora", "epochs": 2},
        "timings_s": {
            "downloading": 0.1,
            "loading_model": 1.0,
            "tokenizing": 0.5,
            "training": 20.0,
            "saving": 2.0,
        },
        "dataset": {"train": {"tokens": 5000}, "validation": {"tokens": 500}, "padding_efficiency": 0.9},
        "metrics": {"epochs": 2.0, "evals": [{}, {}, {}], "peak_memory_bytes": 123},
    }
    m = measurement_from_manifest(
        manifest, device="cpu", flops_per_token=1e6, eval_flops_per_token=3e5, wall_seconds=30.0
    )
    assert m.input_tokens == 10_000 and m.train_seconds == 20.0 and m.fixed_seconds == pytest.approx(10.0)
    assert m.eval_flops == pytest.approx(500 * 3 * 3e5)
    assert m.padding_efficiency == 0.9 and m.job_id == "job-1" and m.peak_memory_bytes == 123
    no_wall = measurement_from_manifest(manifest, device="cpu", flops_per_token=1e6)
    assert no_wall.fixed_seconds == pytest.approx(3.6)


def _train(step, elapsed):
    return {"type": "metrics", "phase": "train", "step": step, "elapsed_s": elapsed}


def test_step_time_from_events_leaves_out_start_evals_and_checkpoints():
    events = [
        {"type": "metrics", "phase": "eval", "step": 0},
        _train(1, 2.0),  # 2 s of trainer start before the first step: not a step
        _train(2, 3.0),
        _train(3, 4.0),
        {"type": "metrics", "phase": "eval", "step": 3},
        {"type": "checkpoint", "step": 3},
        _train(4, 9.0),  # this interval holds an eval and a checkpoint
        _train(5, 10.0),
    ]
    seconds, steps = step_seconds_from_events(events)
    assert steps == 5 and seconds == pytest.approx(5 * 1.0)
    assert step_seconds_from_events([_train(1, 1.0)]) is None


def test_manifest_with_events_splits_steps_from_stage_overhead():
    manifest = {
        "base_model": "m",
        "config": {"method": "lora", "epochs": 1},
        "timings_s": {"training": 12.0},
        "dataset": {"train": {"tokens": 1000}, "validation": {"tokens": 100}},
        "metrics": {"epochs": 1.0, "evals": [{}, {}]},
    }
    events = [_train(1, 2.0), _train(2, 3.0), _train(3, 4.0), _train(4, 5.0)]
    m = measurement_from_manifest(
        manifest, device="cpu", flops_per_token=1e6, eval_flops_per_token=1e5, events=events
    )
    assert m.train_seconds == pytest.approx(4.0) and m.stage_overhead_seconds == pytest.approx(8.0)
    assert m.eval_flops == 0.0  # evals are in the overhead, not in the step time
    assert learned_stage_overhead([m], "m", "cpu").mid == pytest.approx(8.0)
