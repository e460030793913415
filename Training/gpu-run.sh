#!/usr/bin/env bash
# One prepared training run for the device machine (one GPU, 16 cores): train DeepACEv2 for BUDGET seconds,
# export it in float16, evaluate it on held-out synthetic spreads and the real annotated spread, and leave
# everything in $OUT as at most 8 files no larger than 16 MiB (the device tool's limits): the weights come back
# split in 15 MiB parts; `cat model.safetensors.part-* > model.safetensors` joins them.
#
# Rehearse on CPU first:  OUT=/tmp/gpu-rehearsal BUDGET=20 DEVICE=cpu WORKERS=1 HELD_OUT=2 Training/gpu-run.sh
# On the device machine:  Training/gpu-run.sh   (OUT is set there; BUDGET defaults to 420 s)
set -euo pipefail
cd "$(dirname "$0")"
: "${OUT:?set OUT to the folder that comes back}"
BUDGET=${BUDGET:-420}
DEVICE=${DEVICE:-cuda}
WORKERS=${WORKERS:-14}
HELD_OUT=${HELD_OUT:-200}
CONFIG=${CONFIG:-configs/deepace_r34_gpu.json}
export PYTHONUNBUFFERED=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m karyotrain train --config "$CONFIG" --budget-seconds "$BUDGET" --out "$work/run" \
    --workers "$WORKERS" --device "$DEVICE" --checkpoint-every 120 2>&1 | tee "$OUT/train.log"
python3 -m karyotrain export --checkpoint "$work/run/last.pt" --out "$work/model" --dtype float16
cp "$work/model/config.json" "$OUT/config.json"
split -b 15M -d "$work/model/model.safetensors" "$OUT/model.safetensors.part-"
python3 -m karyotrain evaluate --model "$work/model" --held-out "$HELD_OUT" \
    --real ../Tests/Fixtures/real/18-Y2087.145.O.png --json "$OUT/eval.json" 2>&1 | tee "$OUT/eval.log"
ls -la "$OUT"
