"""The engine on several processes (CPU, gloo, the tiny Qwen3): ``python -m lorapipe.training run`` with
``gpus: 2`` re-executes itself under ``accelerate launch``; DDP trains what one process at twice the batch
does; one adapter and one manifest are written; a killed rank fails the run with its error; SIGTERM
saves one checkpoint and a resume continues on another world size."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from training_fixtures import tiny_spec

from lorapipe.contract.events import parse_event
from lorapipe.contract.spec import TrainingJobSpec
from lorapipe.errors import ConfigError
from lorapipe.settings import Settings
from lorapipe.training.distributed import check_resume, choose
from lorapipe.training.events import EventWriter

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

Event = dict[str, Any]
GiB = 2**30
SMALL = {"batch_size": 2, "max_steps": 6, "eval_steps": 3, "save_steps": 3, "sample_prompts": 1}


def _spec(tmp: Path, dataset: Path, gpus: int, **config: Any) -> Path:
    path = tmp / f"spec-{gpus}.json"
    path.write_text(json.dumps(tiny_spec(dataset, **config) | {"gpus": gpus}))
    return path


def _engine(
    spec: Path,
    out: Path,
    settings: Settings,
    *args: str,
    on_event: Callable[[Event, int], None] | None = None,
) -> tuple[int, list[Event]]:
    """Run the engine as a backend does; every stdout line must be an event that parses."""
    env = {**os.environ, "LORAPIPE_DATA_DIR": str(settings.data_dir)}
    argv = [sys.executable, "-m", "lorapipe.training", "run", str(spec), "--out", str(out), *args]
    out.parent.mkdir(parents=True, exist_ok=True)
    with (out.parent / f"{out.name}.stderr").open("w") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
        events: list[Event] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            events.append(json.loads(line))
            parse_event(events[-1])
            if on_event is not None:
                on_event(events[-1], proc.pid)
        code = proc.wait(timeout=60)
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), "seq strictly increases"
    return code, events


def _train_losses(events: list[Event]) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in events if e["type"] == "metrics" and e["phase"] == "train"}


def _one(events: list[Event], type_: str) -> Event:
    found = [e for e in events if e["type"] == type_]
    assert len(found) == 1, [e["type"] for e in events]
    return found[0]


def _ranks(engine_pid: int) -> dict[int, psutil.Process]:
    """The engine processes below the supervisor, by rank (torchrun gives each its RANK)."""
    found = {}
    for proc in psutil.Process(engine_pid).children(recursive=True):
        try:
            if "lorapipe.training" in " ".join(proc.cmdline()) and "RANK" in proc.environ():
                found[int(proc.environ()["RANK"])] = proc
        except psutil.NoSuchProcess:
            continue
    return found


@pytest.fixture(scope="module")
def ddp_run(
    arithmetic_dataset: Path, model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, list[Event], Path]:
    tmp = tmp_path_factory.mktemp("ddp")
    code, events = _engine(_spec(tmp, arithmetic_dataset, 2, **SMALL), tmp / "out", model_settings)
    return code, events, tmp / "out"


def test_ddp_on_two_processes_writes_one_adapter_that_learned(
    ddp_run: tuple[int, list[Event], Path], model_settings: Settings
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from lorapipe.models.tiny import tiny_model_dir

    code, events, out = ddp_run
    assert code == 0, (out.parent / "out.stderr").read_text()[-3000:]
    plan = _one(events, "distributed")
    assert (plan["mode"], plan["world_size"]) == ("ddp", 2)
    result = _one(events, "result")
    assert result["status"] == "succeeded"
    assert result["metrics"]["train_loss_last"] < result["metrics"]["train_loss_first"]
    assert result["metrics"]["eval_loss_after"] < result["metrics"]["eval_loss_before"]
    # written once: one checkpoint event per saved step, one adapter, one manifest, one metrics log
    assert [e["step"] for e in events if e["type"] == "checkpoint"] == [3, 6]
    assert sorted(p.name for p in out.rglob("manifest.json")) == ["manifest.json"]
    assert len([p for p in out.glob("*.safetensors")]) == 1
    logged = [json.loads(x)["seq"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged == sorted(set(logged))
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir("lorapipe/tiny-qwen3", model_settings))
    model = PeftModel.from_pretrained(base, out)
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and all(float(p.abs().sum()) > 0 for p in lora_b)


def test_ddp_at_batch_b_matches_one_process_at_batch_2b(
    ddp_run: tuple[int, list[Event], Path],
    arithmetic_dataset: Path,
    model_settings: Settings,
    tmp_path: Path,
) -> None:
    from lorapipe.training.run import run

    spec = TrainingJobSpec.parse(tiny_spec(arithmetic_dataset, **(SMALL | {"batch_size": 4, "max_steps": 4})))
    stream = io.StringIO()
    run(spec, tmp_path / "one", EventWriter(stream, None), settings=model_settings)
    single = _train_losses([json.loads(x) for x in stream.getvalue().splitlines()])
    ddp = _train_losses(ddp_run[1])
    assert sorted(single) == [1, 2, 3, 4]
    for step, loss in single.items():  # the same global batches and averaged gradients: the same curve
        assert ddp[step] == pytest.approx(loss, rel=1e-3), step


def test_killed_rank_fails_the_run_with_its_error(
    arithmetic_dataset: Path, model_settings: Settings, tmp_path: Path
) -> None:
    killed: list[int] = []

    def kill_rank_1(event: Event, engine_pid: int) -> None:
        if event["type"] == "metrics" and event["phase"] == "train" and not killed:
            rank = _ranks(engine_pid)[1]
            killed.append(rank.pid)
            rank.send_signal(signal.SIGKILL)

    spec = _spec(tmp_path, arithmetic_dataset, 2, batch_size=2, max_steps=400, eval_steps=400, save_steps=400)
    code, events = _engine(spec, tmp_path / "out", model_settings, on_event=kill_rank_1)
    assert killed and code == 1
    error = _one(events, "error")
    assert (error["code"], error["kind"], error["rank"]) == ("rank_failed", "system", 1)
    assert "rank 1 of 2 was killed" in error["message"]
    assert isinstance(error["stderr_tail"], list)
    assert _one(events, "result") == events[-1] and events[-1]["status"] == "failed"
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert _train_losses(events) and max(_train_losses(events)) < 400


def test_sigterm_saves_one_checkpoint_and_resume_continues_on_one_process(
    arithmetic_dataset: Path, model_settings: Settings, tmp_path: Path
) -> None:
    ranks: list[psutil.Process] = []

    def cancel(event: Event, engine_pid: int) -> None:
        if event["type"] == "metrics" and event["phase"] == "train" and event["step"] == 2:
            ranks.extend(_ranks(engine_pid).values())
            os.kill(engine_pid, signal.SIGTERM)

    config = {"batch_size": 2, "max_steps": 40, "eval_steps": 40, "save_steps": 40}
    out = tmp_path / "out"
    code, events = _engine(
        _spec(tmp_path, arithmetic_dataset, 2, **config), out, model_settings, on_event=cancel
    )
    assert code == 3
    saved = [e for e in events if e["type"] == "checkpoint"]
    assert len(saved) == 1 and events[-1]["status"] == "cancelled"
    assert events[-1]["checkpoint"] == saved[0]["path"]
    assert [p.name for p in (out / "checkpoints").iterdir()] == [Path(saved[0]["path"]).name]
    assert len(ranks) == 2 and not any(r.is_running() for r in ranks)  # no rank left behind

    code, resumed = _engine(_spec(tmp_path, arithmetic_dataset, 1, **config), out, model_settings, "--resume")
    assert code == 0, (tmp_path / "out.stderr").read_text()[-3000:]
    assert any(e["type"] == "warning" and e["code"] == "world_size_changed" for e in resumed)
    steps = sorted(_train_losses(resumed))
    assert steps[0] == saved[0]["step"] + 1 and steps[-1] == 40
    assert resumed[0]["seq"] > events[-1]["seq"]  # the log continues
    assert (out / "manifest.json").exists()


def test_a_killed_engine_takes_its_launcher_and_ranks_with_it(
    arithmetic_dataset: Path, model_settings: Settings, tmp_path: Path
) -> None:
    """A backend's last resort (SIGKILL of the engine's process group) must not leave ranks training."""
    below: list[psutil.Process] = []

    def kill_engine(event: Event, engine_pid: int) -> None:
        if event["type"] == "metrics" and event["phase"] == "train" and not below:
            below.extend(psutil.Process(engine_pid).children(recursive=True))
            os.kill(engine_pid, signal.SIGKILL)

    # far more steps than the wait below could see finish: a rank that survived would still be training
    long = {"batch_size": 2, "max_steps": 20000, "eval_steps": 20000, "save_steps": 20000}
    code, _ = _engine(
        _spec(tmp_path, arithmetic_dataset, 2, **long), tmp_path / "out", model_settings, on_event=kill_engine
    )
    assert code == -signal.SIGKILL and len(below) >= 3  # the launcher and two ranks
    _, alive = psutil.wait_procs(below, timeout=60)  # a bound for a hang, not a timing claim
    for proc in alive:
        proc.kill()
    assert not alive


def test_fsdp_on_cpu_processes_is_refused_naming_the_setting(
    arithmetic_dataset: Path, model_settings: Settings, tmp_path: Path
) -> None:
    code, events = _engine(
        _spec(tmp_path, arithmetic_dataset, 2, **SMALL),
        tmp_path / "out",
        model_settings,
        "--sharding",
        "fsdp",
    )
    assert code == 2
    error = _one(events, "error")
    assert error["param"] == "sharding" and "CUDA" in error["message"]


# --- the plan, on the facts of GPU machines ---------------------------------------------------------


def test_plan_keeps_a_model_that_fits_one_gpu_data_parallel_and_shards_one_that_does_not() -> None:
    fits = choose(
        gpus_requested=2, devices=8, method="lora", model_bytes=16 * GiB, device_memory_bytes=80 * GiB
    )
    assert (fits.mode, fits.world_size) == ("ddp", 2) and "DDP" in fits.reason
    big = choose(
        gpus_requested=4,
        devices=2,
        method="lora",
        model_bytes=64 * GiB,
        device_memory_bytes=80 * GiB,
        wrap_classes=("Qwen3DecoderLayer",),
    )
    assert (big.mode, big.world_size, big.wrap_classes) == ("fsdp", 2, ("Qwen3DecoderLayer",))
    assert "capped" in big.reason and "FSDP" in big.reason
    qlora = choose(
        gpus_requested=2, devices=2, method="qlora", model_bytes=70 * GiB, device_memory_bytes=80 * GiB
    )
    assert qlora.mode == "ddp" and "qlora" in qlora.reason
    one = choose(gpus_requested=2, devices=1, method="lora", model_bytes=None, device_memory_bytes=None)
    assert (one.mode, one.world_size) == ("single", 1)
    with pytest.raises(ConfigError) as bad:
        choose(
            gpus_requested=2, devices=2, method="qlora", model_bytes=1, device_memory_bytes=1, sharding="fsdp"
        )
    assert bad.value.param == "sharding"


def test_fsdp_launch_gives_the_ranks_the_sharding_we_mean(monkeypatch: pytest.MonkeyPatch) -> None:
    """The FSDP flags, read by accelerate's own parser, launch environment and plugin (what each rank
    builds): FSDP2, one unit per decoder layer, full state dicts (rank 0 saves a normal adapter)."""
    from accelerate import FullyShardedDataParallelPlugin
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    from lorapipe.training.launch import launch_args

    plan = choose(
        gpus_requested=2,
        devices=2,
        method="lora",
        model_bytes=70 * GiB,
        device_memory_bytes=80 * GiB,
        wrap_classes=("Qwen3DecoderLayer",),
    )
    argv = [*launch_args(plan, port=29999), "-m", "lorapipe.training", "run", "spec.json"]
    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(argv))
    assert (args.num_processes, args.module, args.training_script) == (2, True, "lorapipe.training")
    for key, value in prepare_multi_gpu_env(args).items():
        monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2 and "FULL_STATE_DICT" in str(plugin.state_dict_type)
    assert plugin.transformer_cls_names_to_wrap == ["Qwen3DecoderLayer"]
    assert not plugin.cpu_ram_efficient_loading


def test_resume_across_world_sizes_is_allowed_for_ddp_and_refused_for_fsdp() -> None:
    assert check_resume("ddp", 2, ("ddp", 2)) is None
    assert "4 process(es) on 2" in (check_resume("ddp", 2, ("ddp", 4)) or "")
    assert check_resume("single", 1, None) is None
    with pytest.raises(ConfigError) as refused:
        check_resume("fsdp", 2, ("fsdp", 4))
    assert refused.value.param == "gpus" and "gpus=4" in str(refused.value.hint)
    with pytest.raises(ConfigError):
        check_resume("fsdp", 2, ("ddp", 2))


def test_gpus_travel_in_the_spec_and_job_requests_refuse_bad_values_naming_the_field() -> None:
    from pydantic import ValidationError

    from lorapipe.services.job_requests import CreateJobRequest

    assert TrainingJobSpec.parse({"job_id": "j", "model": "m", "dataset": {"uri": "d"}}).gpus == 1
    with pytest.raises(ConfigError, match="gpus"):
        TrainingJobSpec.parse({"job_id": "j", "model": "m", "dataset": {"uri": "d"}, "gpus": 9})
    assert CreateJobRequest(model="m", training_file="f", gpus=4).gpus == 4
    for bad in (0, 9, "2", True):
        with pytest.raises(ValidationError) as refused:
            CreateJobRequest.model_validate({"model": "m", "training_file": "f", "gpus": bad})
        assert refused.value.errors()[0]["loc"] == ("gpus",)


def test_fsdp2_on_cpu_trains_what_one_process_does_and_the_gathered_adapter_reloads(tmp_path: Path) -> None:
    """The FSDP half of the engine on CPU: torch's FSDP2 over 2 gloo ranks (accelerate will not enable
    FSDP on CPU, see fsdp_cpu_worker.py), saved through the engine's gather; the adapter equals one
    process trained on both ranks' batches, and reloads with PEFT."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    sys.path.insert(0, str(Path(__file__).parent))
    from fsdp_cpu_worker import STEPS, batch, tiny_peft_model

    worker = Path(__file__).parent / "fsdp_cpu_worker.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    # Its own process group: a timeout kills the launcher and both ranks, never leaves them running.
    proc = subprocess.Popen(
        [*argv, str(worker), str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["sharded_params"] > 0  # the weights really were split across the ranks
    assert result["losses"][-1] < result["losses"][0]
    assert sorted(p.name for p in (tmp_path / "adapter").iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
    ]

    # One process, both ranks' batches at once: FSDP averages the ranks' gradients, so the same adapter.
    reference = tiny_peft_model()
    optimizer = torch.optim.AdamW([p for p in reference.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.cat([batch(0), batch(1)])
    for _ in range(STEPS):
        reference(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    base = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    loaded = PeftModel.from_pretrained(base, tmp_path / "adapter")
    with torch.no_grad():
        want = reference(input_ids=ids).logits
        got = loaded(input_ids=ids).logits
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()
