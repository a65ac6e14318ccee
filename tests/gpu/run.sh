#!/usr/bin/env bash
# The GPU checks of the training engine, in one go (under 9 minutes).
# Usage: tests/gpu/run.sh   (from the repository root; uses .venv when present)
# Two-GPU FSDP runs where two GPUs exist (skipped otherwise). The MFU figure of a bf16 LoRA run (printed
# in the passed-test output) needs a local Qwen3 folder, the largest that fits the GPU, e.g. Qwen3-32B on
# an 80-141 GB GPU, Qwen3-8B on 24-48 GB: LORAPIPE_GPU_QWEN3_DIR=/models/Qwen3-32B tests/gpu/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print(torch.cuda.get_device_name(0))'
export LORAPIPE_DATA_DIR=${LORAPIPE_DATA_DIR:-$(mktemp -d)}
exec timeout 540 "$PY" -m pytest -m gpu tests/gpu -q -p no:cacheprovider --timeout 300 -rsP "$@"
