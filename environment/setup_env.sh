#!/usr/bin/env bash
# Installs GD-OCC's dependency stack into the virtualenv of $PY (default .venv/bin/python).
# Idempotent: every step first checks whether its result is already there. Never clears
# pip's cache: the compiled mmcv wheel lives there and makes later installs take seconds.
set -euo pipefail
PY=${PY:-.venv/bin/python}
cd "$(dirname "$0")/.."
# Every install resolves within the pinned set (see environment/lock_requirements.py), so every
# machine gets the same versions; torch and the packages only torch needs are not pinned.
CONSTRAINTS=requirements/constraints.txt
PIP="$PY -m pip --disable-pip-version-check"
PIN="-c $CONSTRAINTS"

have() { $PY -c "import $1" >/dev/null 2>&1; }
pinned() { $PY - "$1" "$2" <<'PYCODE'
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    sys.exit(0 if version(sys.argv[1]) == sys.argv[2] else 1)
except PackageNotFoundError:
    sys.exit(1)
PYCODE
}

if ! have torch; then
  echo "[setup] no torch found: installing torch==2.13.0"
  $PIP install -q $PIN torch==2.13.0
fi

if ! pinned mmcv 2.1.0 || ! have mmcv._ext; then
  echo "[setup] building mmcv 2.1.0 with its ops (about 11 min on 2 cores the first time)"
  $PIP install -q $PIN "setuptools<70" wheel ninja "numpy<2" mmengine==0.10.7
  MAX_JOBS=${MAX_JOBS:-$(nproc)} $PIP install -q $PIN --no-build-isolation -r requirements/mmcv.txt
fi

if ! $PY environment/check_requirements.py --constraints $CONSTRAINTS requirements.txt \
    requirements/mmdet3d.txt; then
  echo "[setup] installing requirements.txt (versions pinned by $CONSTRAINTS)"
  $PIP install -q $PIN -r requirements.txt
  $PIP install -q $PIN --no-deps -r requirements/mmdet3d.txt
fi

# Optional system packages: install_system_package PACKAGE WITHOUT_IT (what happens without it).
# Failing to install one is never fatal.
install_system_package() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "[setup] warning: $1 not found and no apt-get; $2"
    return
  fi
  local sudo
  sudo=$([ "$(id -u)" = 0 ] && echo "" || echo "sudo -n")
  echo "[setup] installing $1 (system package)"
  ($sudo apt-get install -y -qq "$1" >/dev/null 2>&1 || \
    ($sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq "$1" >/dev/null 2>&1)) \
    || echo "[setup] warning: could not install $1; $2"
}

# TurboJPEG decodes JPEGs several times faster than OpenCV; the loaders fall back with a
# warning where the system library is missing.
if ! ldconfig -p 2>/dev/null | grep -q libturbojpeg; then
  install_system_package libturbojpeg0 "JPEG decoding falls back to OpenCV"
fi

# viz_prediction.py --html pages are tested in headless Chromium (Debian's package); the
# page tests are skipped without it, and fail under CI=true.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  install_system_package chromium "the page tests will be skipped"
fi
