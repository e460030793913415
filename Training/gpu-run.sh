#!/usr/bin/env bash
# One prepared training run for the device machine (one GPU, 16 cores): train DeepACEv2 for BUDGET seconds,
# export it in float16 into $OUT at once, then evaluate it on held-out synthetic spreads and the real annotated
# spread. $OUT holds at most 8 files no larger than 16 MiB (the device tool's limits): the weights come back split
# in 15 MiB parts; `cat model.safetensors.part-* > model.safetensors` joins them.
#
# Nothing here may cost the weights: if bf16 training fails it is resumed in float32 for the time left, the
# weights are exported before the evaluation starts, and the evaluation is time-bounded.
#
# Rehearse on CPU first:  OUT=/tmp/gpu-rehearsal BUDGET=20 DEVICE=cpu AMP=bf16 WORKERS=1 HELD_OUT=2 Training/gpu-run.sh
# On the device machine:  Training/gpu-run.sh   (OUT is set there; BUDGET defaults to 420 s)
# Continuing a model:     CONFIG=configs/deepace_r18w32_gpu_finetune.json INIT=runs/init/w32.pt Training/gpu-run.sh
#                         (carry Training/runs/init: a checkpoint without optimizer state, under the 64 MiB carried)
set -uo pipefail
cd "$(dirname "$0")"
: "${OUT:?set OUT to the folder that comes back}"
BUDGET=${BUDGET:-420}
DEVICE=${DEVICE:-cuda}
AMP=${AMP:-auto}
WORKERS=${WORKERS:-14}
HELD_OUT=${HELD_OUT:-200}
EVAL_SECONDS=${EVAL_SECONDS:-110}
CONFIG=${CONFIG:-configs/deepace_r34_gpu.json}
INIT=${INIT:-}  # weights to start from (train --init: a checkpoint or a model folder), relative to Training/
export PYTHONUNBUFFERED=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

train() {  # $1: seconds, $2: autocast mode
    timeout --signal=INT --kill-after=30 $(($1 + 90)) python3 -m karyotrain train --config "$CONFIG" \
        --budget-seconds "$1" --out "$work/run" --workers "$WORKERS" --device "$DEVICE" --amp "$2" \
        --checkpoint-every 60 ${INIT:+--init "$INIT"} 2>&1 | tee -a "$OUT/train.log"
}

nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >"$OUT/train.log" 2>&1 || true
if ! train "$BUDGET" "$AMP"; then
    left=$((BUDGET - ($(date +%s) - start)))
    echo "# training with --amp $AMP failed; resuming in float32 for ${left}s" | tee -a "$OUT/train.log"
    if [ "$left" -gt 30 ]; then train "$left" off; fi
fi
[ -f "$work/run/last.pt" ] || { echo "no checkpoint" | tee -a "$OUT/train.log"; exit 1; }
python3 -m karyotrain export --checkpoint "$work/run/last.pt" --out "$work/model" --dtype float16 \
    2>&1 | tail -5 | tee -a "$OUT/train.log"
cp "$work/model/config.json" "$OUT/config.json"
split -b 15M -d "$work/model/model.safetensors" "$OUT/model.safetensors.part-"
sha256sum "$work/model/model.safetensors" | tee -a "$OUT/train.log"
timeout --kill-after=10 "$EVAL_SECONDS" python3 -m karyotrain evaluate --model "$work/model" --device "$DEVICE" \
    --workers "$WORKERS" --held-out "$HELD_OUT" --size 1600x1200 --methods eg-nms,nms,soft-nms \
    --real ../Tests/Fixtures/real/18-Y2087.145.O.png --json "$OUT/eval.json" >"$OUT/eval.log" 2>&1
echo "# evaluate exit $? after $(($(date +%s) - start)) s in all" | tee -a "$OUT/eval.log"
ls -la "$OUT"
