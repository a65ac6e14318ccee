"""A fault-injecting stand-in for ``python -m lorapipe.training`` that speaks the engine's process
contract (argv, a spec validated as a TrainingJobSpec, JSON-line events with seq that parse with
``lorapipe.contract.events``, an adapter + manifest uploaded to ``spec.output.upload_uri``, exit codes
0/1/2/3, SIGTERM -> checkpoint -> exit 3). ``spec.metadata["fake"]`` picks the behaviour; the real engine
passes the same contract test (tests/e2e/training/test_engine_contract.py)."""

from __future__ import annotations

import hashlib
import json
import signal
import sys
import time
from pathlib import Path

seq = 0


def emit(type_: str, **fields: object) -> None:
    global seq
    seq += 1
    print(json.dumps({"seq": seq, "time": "2026-11-28T00:00:00Z", "type": type_, **fields}), flush=True)


def main() -> int:
    _, spec_path, _, out = sys.argv[1:5]
    resume = "--resume" in sys.argv
    mode = json.loads(Path(spec_path).read_text())["metadata"].get("fake", "succeed")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)  # as the real engine does
    step = {"n": 0}

    def on_term(*_: object) -> None:
        if mode == "ignore_term":
            return
        ckpt = out_dir / f"checkpoint-{step['n']}"
        ckpt.mkdir(exist_ok=True)
        emit("checkpoint", step=step["n"], path=ckpt.name)
        emit("result", status="cancelled", exit_code=3)
        sys.exit(3)

    signal.signal(signal.SIGTERM, on_term)  # before the slower imports, as the real engine does
    from lorapipe.contract.spec import TrainingJobSpec
    from lorapipe.storage import ObjectStore

    spec = TrainingJobSpec.load(spec_path)  # the real engine refuses an invalid spec; so does the fake
    emit("stage", stage="loading_model", message="resuming" if resume else "fresh")
    steps = 4 if mode != "slow" else 10_000
    for n in range(1, steps + 1):
        step["n"] = n
        emit("metrics", phase="train", step=n, total_steps=steps, epoch=round(n / steps, 4), loss=2.0 / n)
        time.sleep(0.05)
        if mode in ("sleep", "ignore_term") and n == 2:
            time.sleep(60)
    if mode == "exit1":
        emit("error", code="disk_full", kind="system", message="no space left", param=None)
        emit("result", status="failed", exit_code=1)
        return 1
    if mode == "exit2":
        emit(
            "error",
            code="invalid_dataset",
            kind="user",
            message="dataset has no assistant turns",
            param="dataset",
            hint="add assistant replies",
        )
        emit("result", status="failed", exit_code=2)
        return 2
    if mode == "crash":
        return 1
    marker = out_dir / "flaky-marker"
    if mode == "flaky" and not marker.exists():
        marker.write_text("first attempt crashed")
        return 1
    adapter = out_dir / "adapter_model.safetensors"
    adapter.write_bytes(b"weights" * 100)
    config = out_dir / "adapter_config.json"
    config.write_text(json.dumps({"peft_type": "LORA", "base_model_name_or_path": spec.model, "r": 8}))
    files = []
    for path in (adapter, config):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        files.append({"path": path.name, "size": path.stat().st_size, "sha256": digest})
    if mode == "bad_checksum":
        files[0]["sha256"] = "0" * 64
    if mode == "missing":
        files.append({"path": "README.md", "size": 2, "sha256": "1" * 64})
    if mode == "no_config":
        files.pop()
    (out_dir / "manifest.json").write_text(json.dumps({"files": files}))
    if spec.output.upload_uri:
        emit("stage", stage="uploading")
        store = ObjectStore(spec.output.upload_uri)
        for entry in files:
            if (out_dir / entry["path"]).exists():
                store.put(entry["path"], (out_dir / entry["path"]).read_bytes())
        store.put("manifest.json", (out_dir / "manifest.json").read_bytes())
    emit(
        "result", status="succeeded", exit_code=0, manifest="manifest.json", metrics={"trained_tokens": 1234}
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
