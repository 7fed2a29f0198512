#!/usr/bin/env bash
# `make demo`: the main job on the embedded default, as far as the project goes today.
# Generates the toy nuScenes world (once), writes its infos (once), then scores the
# image-blind baseline on its val split with the standalone RayIoU / mIoU tool, and shows
# how the metrics react to simple perturbations of synthetic scenes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DEMO_DATA:-data/toy_nuscenes}
OUT=${DEMO_OUT:-work_dirs/demo}

if [ ! -f "$DATA/v1.0-trainval/scene.json" ]; then
  echo "[demo] generating the toy nuScenes world in $DATA"
  $PY tools/make_toy_nuscenes.py --out "$DATA"
fi
if [ ! -f "$DATA/nuscenes_infos_val_sweep.pkl" ]; then
  echo "[demo] writing infos"
  $PY tools/create_data.py --root "$DATA"
fi
echo "[demo] image-blind baseline (per-voxel most frequent training label) on the toy val split"
$PY tools/blind_baseline.py --data-root "$DATA" --out-dir "$OUT/blind_preds" --no-progress
$PY tools/ray_metrics.py --data-root "$DATA" --pred-dir "$OUT/blind_preds" \
  --out "$OUT/blind_metrics.json"
echo "[demo] metric behaviour on synthetic scenes"
$PY tools/demo_metrics.py
echo "[demo] outputs: $DATA (toy world + infos), $OUT/blind_metrics.json"
