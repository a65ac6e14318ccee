#!/usr/bin/env bash
# The GPU checks of the training engine, in one go (< 10 minutes on one GPU).
# Usage: tests/gpu/run.sh   (from the repository root; uses .venv when present)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -c 'import torch; assert torch.cuda.is_available(), "no CUDA device"; print(torch.cuda.get_device_name(0))'
export LORAPIPE_DATA_DIR=${LORAPIPE_DATA_DIR:-$(mktemp -d)}
exec timeout 570 "$PY" -m pytest -m gpu tests/gpu -q -p no:cacheprovider --timeout 300 -rs "$@"
