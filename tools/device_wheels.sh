#!/usr/bin/env bash
# Fills .whl/ with the wheels the GPU machine needs and lacks (`make device-wheels`).
#
# That machine (the device tool's nvidia-h200: Python 3.12, torch 2.11.0+cu130, no package
# registry) gets everything else as wheels, at most 64 MiB per run with the working tree.
# Here, a Python 3.12 venv ($DEVICE_VENV) stands in for its image: it holds the base packages
# of requirements/device_base.txt, builds mmcv 2.1.0 as a cp312 wheel against that torch (CPU
# ops only: the model's own CUDA kernels are built there) and wheels every package of
# requirements/device.txt (downloaded, or built from the sdist where PyPI has no wheel).
# The same venv runs the dry run of tools/device_check.sh. Idempotent: a wheel already in
# .whl/ (or the mmcv wheel in $WHEEL_CACHE) is not built again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PY312:-}" ]; then
  # pyenv's shim exists even when 3.12 is not a selected version, so each candidate is tried.
  for candidate in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3.12; do
    if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
      PY312=$candidate; break
    fi
  done
fi
DEVICE_VENV=${DEVICE_VENV:-$HOME/.cache/gdocc/device-py312}
WHEEL_CACHE=${WHEEL_CACHE:-$HOME/.cache/gdocc/wheels}
WHEELS=.whl
# 64 MiB per run for the working tree and the wheels together; the tree is about 2 MiB.
LIMIT_MIB=${DEVICE_WHEELS_LIMIT_MIB:-60}
MMCV=mmcv==2.1.0

if [ -z "${PY312:-}" ]; then
  echo "device-wheels: no Python 3.12 found (set PY312 to a python3.12 interpreter)" >&2
  exit 1
fi
VPY=$DEVICE_VENV/bin/python
PIP="$VPY -m pip --disable-pip-version-check -q"
if [ ! -x "$VPY" ]; then
  "$PY312" -m venv "$DEVICE_VENV"
fi
if ! "$VPY" tools/check_requirements.py requirements/device_base.txt >/dev/null 2>&1; then
  echo "[device-wheels] installing the device image's base packages into $DEVICE_VENV"
  $PIP install -r requirements/device_base.txt
fi

mkdir -p "$WHEELS" "$WHEEL_CACHE"
mmcv_wheel=$(ls "$WHEEL_CACHE"/mmcv-2.1.0-cp312-*.whl 2>/dev/null | head -1 || true)
if [ -z "$mmcv_wheel" ]; then
  echo "[device-wheels] building $MMCV for cp312 against torch $("$VPY" -c 'import torch; print(torch.__version__)') (about 15 min on 2 cores)"
  $PIP install "setuptools<70" wheel ninja mmengine==0.10.7
  MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    $PIP wheel --no-build-isolation --no-deps -w "$WHEEL_CACHE" "$MMCV"
  mmcv_wheel=$(ls "$WHEEL_CACHE"/mmcv-2.1.0-cp312-*.whl | head -1)
fi

# One version of each package: a stale wheel next to a new one stops the install there.
find "$WHEELS" -name '*.whl' -delete
cp "$mmcv_wheel" "$WHEELS"/
echo "[device-wheels] wheels of requirements/device.txt for cp312"
$PIP wheel --no-deps -w "$WHEELS" -r requirements/device.txt

"$VPY" - "$WHEELS" "$LIMIT_MIB" <<'PYCODE'
import os
import sys
folder, limit = sys.argv[1], float(sys.argv[2])
wheels = sorted(f for f in os.listdir(folder) if f.endswith('.whl'))
sizes = {f: os.path.getsize(os.path.join(folder, f)) / 2 ** 20 for f in wheels}
for name in wheels:
    print(f'  {sizes[name]:7.2f} MiB  {name}')
total = sum(sizes.values())
print(f'[device-wheels] {len(wheels)} wheels, {total:.1f} MiB in {folder}/ (limit {limit:.0f} MiB)')
if total > limit:
    sys.exit(f'device-wheels: {total:.1f} MiB exceeds the {limit:.0f} MiB a device run carries')
PYCODE
