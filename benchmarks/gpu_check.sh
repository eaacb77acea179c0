#!/usr/bin/env bash
# The prepared GPU check of issue 21 (see benchmarks/gpu_check.py): one table, one JSON.
#   benchmarks/gpu_check.sh [OUT_DIR] [gpu_check.py options, e.g. --tiny or --only train]
# OUT_DIR defaults to $OUT, else the current folder. Installs nothing: it reports what is missing.
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ] && .venv/bin/python -c 'import torch' 2>/dev/null; then PY=.venv/bin/python; else PY=python3; fi
fi
OUT_DIR="${1:-${OUT:-.}}"
shift || true
mkdir -p "$OUT_DIR"
echo "python: $PY ($($PY --version 2>&1))"
if ! $PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else "")'; then
  echo "torch is not importable with $PY: install a CUDA torch, then pip install -e ." >&2
  exit 2
fi
missing=$($PY - <<'PY'
import importlib.util
mods = ["pydantic", "yaml", "tqdm", "tokenizers", "safetensors", "numpy"]
print(" ".join(m for m in mods if importlib.util.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
  echo "missing Python packages: $missing (pip install -e . installs them)" >&2
  exit 2
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.used,memory.total,utilization.gpu --format=csv
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # works without `pip install -e .` too
exec timeout 570 "$PY" benchmarks/gpu_check.py --out "$OUT_DIR/gpu_check.json" "$@"
