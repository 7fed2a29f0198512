#!/usr/bin/env bash
# `make demo`: the main job on the embedded default, end to end on the CPU.
#   1. generate the toy nuScenes world and its infos (once);
#   2. score the image-blind baseline (per-voxel most frequent training label);
#   3. train configs/toy_gdocc.py (resumes an interrupted run, skips a finished one);
#   4. validate it (RayIoU, mIoU) and render a few predictions;
#   5. print the model next to the baseline and write $OUT/metrics.json.
# DEMO_DATA, DEMO_OUT and DEMO_CONFIG replace the world, the output folder and the config (an
# ablation or configs/toy_sparseocc.py on the same world).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DEMO_DATA:-data/toy_nuscenes}
OUT=${DEMO_OUT:-work_dirs/demo}
CONFIG=${DEMO_CONFIG:-configs/toy_gdocc.py}
START=$(date +%s)
elapsed() { echo "$(( ($(date +%s) - START) / 60 )) min $(( ($(date +%s) - START) % 60 )) s"; }

# A world made by another generator version (or with other options) is regenerated, and the
# outputs trained on it are discarded: they would not describe this world.
STAMP=$($PY -c "import json; from toy_nuscenes.dataset import Options, stamp; \
print(json.dumps(stamp(Options(out='$DATA'))))")
stamp_of() { [ -f "$1" ] && $PY -c "import json, sys; print(json.dumps(json.load(open(sys.argv[1]))))" "$1"; }
if [ "$(stamp_of "$DATA/toy_world.json")" != "$STAMP" ]; then
  if [ -e "$DATA" ]; then
    echo "[demo] $DATA was made by another generator version or options: regenerating"
  fi
  echo "[demo] generating the toy nuScenes world in $DATA"
  $PY tools/make_toy_nuscenes.py --out "$DATA" --overwrite
fi
if [ -d "$OUT" ] && [ "$(stamp_of "$OUT/toy_world.json")" != "$STAMP" ]; then
  echo "[demo] $OUT holds results of another world: removing it"
  rm -rf "$OUT"
fi
mkdir -p "$OUT"
cp "$DATA/toy_world.json" "$OUT/toy_world.json"
if [ ! -f "$DATA/nuscenes_infos_val_sweep.pkl" ]; then
  echo "[demo] writing infos"
  $PY tools/create_data.py --root "$DATA"
fi

echo "[demo] image-blind baseline on the toy val split ($(elapsed))"
$PY tools/blind_baseline.py --data-root "$DATA" --out-dir "$OUT/blind_preds" --no-progress
$PY tools/ray_metrics.py --data-root "$DATA" --pred-dir "$OUT/blind_preds" \
  --out "$OUT/blind_metrics.json" > /dev/null

TRAIN="$OUT/train"
MAX_EPOCHS=$($PY -c "from mmengine.config import Config; print(Config.fromfile('$CONFIG').train_cfg.max_epochs)")
FINAL="$TRAIN/epoch_$MAX_EPOCHS.pth"
if [ -f "$FINAL" ]; then
  echo "[demo] $FINAL exists: training already done"
else
  RESUME=()
  [ -f "$TRAIN/last_checkpoint" ] && RESUME=(--resume)
  # Two single-threaded DDP processes (gloo) with one sample each train ~15 % faster than
  # one process with two threads and the config's batch of 2 (the same total batch).
  CORES=$(nproc)
  LAUNCH=("$PY")
  SPLIT=()
  if [ "$CORES" -ge 2 ]; then
    LAUNCH=(env OMP_NUM_THREADS=$((CORES / 2)) "$PY" -m torch.distributed.run --standalone
            --nproc_per_node 2)
    SPLIT=(train_dataloader.batch_size=1 train_dataloader.num_workers=1)
  fi
  echo "[demo] training $CONFIG for $MAX_EPOCHS epochs ($(elapsed)); log in $TRAIN"
  "${LAUNCH[@]}" train.py --config "$CONFIG" --work-dir "$TRAIN" "${RESUME[@]}" \
    --cfg-options "train_dataloader.dataset.data_root=$DATA/" "val_dataloader.dataset.data_root=$DATA/" \
    "${SPLIT[@]}"
fi

echo "[demo] validating ($(elapsed))"
$PY val.py --config "$CONFIG" --weights "$FINAL" --work-dir "$OUT/val" \
  --out "$OUT/val_metrics.json" --no-progress \
  --cfg-options "test_dataloader.dataset.data_root=$DATA/" > "$OUT/val.log" 2>&1 \
  || { tail -20 "$OUT/val.log"; exit 1; }
echo "[demo] rendering predictions ($(elapsed))"
$PY viz_prediction.py --config "$CONFIG" --weights "$FINAL" --viz-dir "$OUT/viz" --num 3 \
  --work-dir "$OUT/val" \
  --cfg-options "test_dataloader.dataset.data_root=$DATA/"

echo "[demo] done in $(elapsed)"
$PY tools/demo_summary.py --model "$OUT/val_metrics.json" --baseline "$OUT/blind_metrics.json" \
  --out "$OUT/metrics.json"
echo "[demo] outputs: $OUT/metrics.json, $OUT/viz/*.png, $TRAIN (checkpoints, logs, TensorBoard)"
