#!/usr/bin/env bash
# The GPU check of issue #14, prepared to run in under 5 minutes on a machine with an NVIDIA GPU:
# generates a 1M-impression shop world, trains SerMaskNet for 2 epochs with --mixed-precision and
# again in float32, and writes both runs' metrics (device, examples/s, AUC) to $OUT/gpu_train.json.
#
#   OUT=/tmp/gpu PYTHON=.venv/bin/python bash benchmarks/gpu_train.sh
#
# PYTHON must have this project's training dependencies and a TensorFlow that sees the GPU
# (pip install -e '.[train]' 'tensorflow[and-cuda]'); nothing is downloaded here. Untested so far:
# no GPU has been lent to this project's CI or sessions (see README, "GPU and multi-machine training").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-build/gpu-check}
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PYTHON" -c "import tensorflow as tf, sys; g = tf.config.list_physical_devices('GPU'); print('GPUs:', g); sys.exit(0 if g else 3)" \
  || { echo "TensorFlow sees no GPU here: nothing to check" >&2; exit 3; }
"$PYTHON" -m masknet_edge data shop --users 20000 --items 2000 --interactions 1000000 --out "$work/shop"
for mode in mixed float32; do
  flag=$([ "$mode" = mixed ] && echo --mixed-precision || true)
  timeout 120 "$PYTHON" -m masknet_edge train --train "$work/shop/train.csv" --valid "$work/shop/valid.csv" \
    --spec "$work/shop/spec.json" --epochs 2 --batch-size 4096 $flag --out "$work/run-$mode" --json \
    > "$work/$mode.json"
done
"$PYTHON" - "$work" "$OUT/gpu_train.json" <<'EOF'
import json, sys
from pathlib import Path
work, out = Path(sys.argv[1]), Path(sys.argv[2])
runs = {}
for mode in ("mixed", "float32"):
    text = (work / f"{mode}.json").read_text()
    m = json.loads(text[text.index("{"):])
    runs[mode] = {k: m.get(k) for k in ("device", "train_examples_per_s", "train_rows", "epochs_trained")}
    runs[mode]["valid_auc"] = m["valid"]["auc"]
out.write_text(json.dumps(runs, indent=2))
print(json.dumps(runs, indent=2))
EOF
