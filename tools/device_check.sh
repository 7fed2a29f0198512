#!/usr/bin/env bash
# The GPU machine's one command (`make device-check OUT=DIR`, or tools/device_check.sh DIR).
#
# On the device tool's nvidia-h200 (Python 3.12, torch 2.11.0+cu130, nvcc, no package
# registry): installs the wheels `make device-wheels` carried in .whl/ offline into a target
# folder put on PYTHONPATH, builds models._C with its CUDA kernels for the present GPU on all
# cores, then runs tools/device_check.py (parity tests, op benchmarks, paper-config timing,
# one AMP training iteration, RayIoU through the CUDA kernel). DIR receives device_check.json
# (rewritten after every step), device_check.log (everything printed) and the steps' own files.
#
# DEVICE_CHECK_DRY=1 runs the same script here, without a GPU: in the Python 3.12 venv of
# tools/device_wheels.sh standing in for the device image, the wheels installed from .whl/ with
# --no-index (so a missing wheel shows here), models._C built with CPU kernels only, and every
# step that can run on the CPU at reduced sizes.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: tools/device_check.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
exec > >(tee -a "$OUT/device_check.log") 2>&1
started=$(date +%s)

DRY=${DEVICE_CHECK_DRY:-0}
if [ "$DRY" = 1 ]; then
  PY=${DEVICE_VENV:-$HOME/.cache/gdocc/device-py312}/bin/python
  SITE=${DEVICE_SITE:-$HOME/.cache/gdocc/device-site}
  DRY_FLAG=--dry
else
  PY=${PYTHON:-python3}
  SITE=${DEVICE_SITE:-/tmp/gdocc-site}
  DRY_FLAG=
fi
if [ ! -x "$(command -v "$PY")" ]; then
  echo "device-check: no interpreter $PY (the dry run needs make device-wheels first)" >&2
  exit 1
fi
shopt -s nullglob
wheels=(.whl/*.whl)
if [ ${#wheels[@]} -eq 0 ]; then
  echo "device-check: no wheels in .whl/ (run make device-wheels on the development machine)" >&2
  exit 1
fi

echo "[device-check] installing ${#wheels[@]} carried wheels into $SITE (offline)"
rm -rf "$SITE"
"$PY" -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile \
  --target "$SITE" "${wheels[@]}"
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$SITE/bin:$PATH"

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
MAX_JOBS=${MAX_JOBS:-$(nproc)} "$PY" setup.py -q build_ext --inplace
echo "[device-check] extension built after $(( $(date +%s) - started )) s"

"$PY" tools/device_check.py "$OUT" $DRY_FLAG --elapsed "$(( $(date +%s) - started ))"
