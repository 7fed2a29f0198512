#!/usr/bin/env bash
# The GPU machine's one command (`make device-check OUT=DIR`, or environment/device_check.sh DIR).
#
# On the device tool's nvidia-h200 (Python 3.12, torch 2.11.0+cu130, nvcc, no package
# registry): checks that the carried .whl/ (`make device-wheels`) meets every requirement
# there, installs its wheels offline into a target folder put on PYTHONPATH, compiles the
# carried mmcv source (CPU ops) and models._C with its CUDA kernels for the present GPU, side
# by side on all cores, then runs environment/device_check.py (parity tests, op benchmarks,
# paper-config timing, one AMP training iteration, RayIoU through the CUDA kernel). DIR
# receives device_check.json (rewritten after every step), device_check.log (everything
# printed) and the steps' own files.
#
# DEVICE_CHECK_DRY=1 runs the same script here, without a GPU, in the project's .venv: its
# packages stand in for the cp312 wheels (which a Python 3.11 cannot install), while the
# completeness check, the mmcv compile from the carried source (10 min on 2 cores),
# models._C with CPU kernels and every step that can run on the CPU, at reduced sizes, run
# as there.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: environment/device_check.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee -a "$OUT/device_check.log") 2>&1
started=$(date +%s)

DRY=${DEVICE_CHECK_DRY:-0}
if [ "$DRY" = 1 ]; then
  PY=${PYTHON:-.venv/bin/python}
  SITE=${DEVICE_SITE:-$HOME/.cache/gdocc/device-site}
  DRY_FLAG=--dry
else
  PY=${PYTHON:-python3}
  SITE=${DEVICE_SITE:-/tmp/gdocc-site}
  DRY_FLAG=
fi
MMCV_BUILD=${MMCV_BUILD:-$SITE-mmcv-build}
if [ ! -x "$(command -v "$PY")" ]; then
  echo "device-check: no interpreter $PY" >&2
  exit 1
fi
# Absolute, since the mmcv compile runs in its source folder (a venv's link is kept as is).
case "$PY" in */*) PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" ;; esac
shopt -s nullglob
wheels=(.whl/*.whl)
mmcv_src=(.whl/mmcv-*.tar.gz)
build_tools=(.whl/build/*.whl)
if [ ${#wheels[@]} -eq 0 ] || [ ${#mmcv_src[@]} -ne 1 ] || [ ${#build_tools[@]} -eq 0 ]; then
  echo "device-check: .whl/ needs the wheels, one mmcv source archive and build/ (run make" \
       "device-wheels on the development machine)" >&2
  exit 1
fi
"$PY" environment/check_device_wheels.py --folder .whl

rm -rf "$SITE" "$MMCV_BUILD"
mkdir -p "$SITE" "$MMCV_BUILD"
"$PY" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile \
  --target "$MMCV_BUILD/tools" "${build_tools[@]}"
if [ "$DRY" = 1 ]; then
  echo "[device-check] dry run: the packages of $PY stand in for the ${#wheels[@]} cp312 wheels"
else
  echo "[device-check] installing ${#wheels[@]} carried wheels into $SITE (offline)"
  "$PY" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile \
    --target "$SITE" "${wheels[@]}"
fi
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$SITE/bin:$PATH"

jobs=${MAX_JOBS:-$(nproc)}
tar -xzf "${mmcv_src[0]}" -C "$MMCV_BUILD"
mmcv_dir=$(echo "$MMCV_BUILD"/mmcv-*)
echo "[device-check] compiling $(basename "${mmcv_src[0]}") (CPU ops) in the background"
# mmcv compiles its CUDA ops too whenever torch sees a GPU: hidden, since GD-OCC needs only
# mmcv's CPU ops (its own kernels are models._C's).
(cd "$mmcv_dir" && CUDA_VISIBLE_DEVICES= MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$jobs \
   PYTHONPATH="$MMCV_BUILD/tools:$PYTHONPATH" \
   "$PY" setup.py -q build_ext --inplace > "$OUT/mmcv_build.log" 2>&1) &
mmcv_pid=$!

# The extension is always rebuilt: a models/_C*.so carried from another machine would have
# the wrong interpreter, torch or kernels.
rm -rf build models/_C*.so
if [ "$DRY" = 1 ]; then
  echo "[device-check] building models._C (CPU kernels; dry run)"
else
  arch=$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$arch}
  torch_site=$("$PY" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')
  # torch's CUDA headers (cusparse.h and friends) ship in the nvidia wheels, not the toolkit.
  for inc in "$torch_site"/nvidia/*/include "$torch_site"/nvidia/cu*/include; do
    CPATH="$inc${CPATH:+:$CPATH}"
  done
  if [ -n "${CPATH:-}" ]; then export CPATH; fi
  echo "[device-check] building models._C with CUDA kernels for sm_${TORCH_CUDA_ARCH_LIST}"
fi
MAX_JOBS=$jobs "$PY" setup.py -q build_ext --inplace
echo "[device-check] models._C built after $(( $(date +%s) - started )) s"
if ! wait "$mmcv_pid"; then
  tail -n 30 "$OUT/mmcv_build.log"
  echo "device-check: the mmcv compile failed (log: $OUT/mmcv_build.log)" >&2
  exit 1
fi
cp -r "$mmcv_dir/mmcv" "$SITE/"
echo "[device-check] mmcv built after $(( $(date +%s) - started )) s"

"$PY" environment/device_check.py "$OUT" $DRY_FLAG --elapsed "$(( $(date +%s) - started ))"
