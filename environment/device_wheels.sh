#!/usr/bin/env bash
# Fills .whl/ with what the GPU machine needs and lacks (`make device-wheels`).
#
# That machine (the device tool's nvidia-h200: Python 3.12, torch 2.11.0+cu130, no package
# registry) gets everything else carried, at most 64 MiB per run with the working tree. No
# Python 3.12 is needed here: pip downloads the cp312 / pure-Python wheels of
# requirements/device.txt for that platform (a package PyPI has only as a source archive is
# wheeled here and must come out pure Python), and mmcv 2.1.0, which PyPI has only as source,
# travels as its source archive: environment/device_check.sh compiles its CPU ops there against
# that machine's torch (the model's own CUDA kernels are built there too). Then
# environment/check_device_wheels.py checks that every requirement of what is carried is met there.
# .whl/ is refilled from scratch (one version of each package: a stale wheel beside a new one
# would stop the install there); pip's cache makes a second run take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
WHEELS=.whl
# 64 MiB per run for the working tree and the wheels together; the tree is about 2 MiB.
LIMIT_MIB=${DEVICE_WHEELS_LIMIT_MIB:-60}
MMCV=mmcv==2.1.0
PIP="$PY -m pip --disable-pip-version-check -q"
# The GPU machine's interpreter and platform, for pip's resolver.
TARGET=(--python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
        --platform manylinux2014_x86_64 --platform linux_x86_64 --platform any)

mkdir -p "$WHEELS"
rm -f "$WHEELS"/*.whl "$WHEELS"/*.tar.gz
echo "[device-wheels] cp312 wheels of requirements/device.txt into $WHEELS/"
while read -r req; do
  if $PIP download --no-deps --only-binary=:all: "${TARGET[@]}" -d "$WHEELS" "$req" \
      2>/dev/null; then
    continue
  fi
  echo "[device-wheels] $req: no wheel on PyPI, wheeling its source archive"
  built=$(mktemp -d)
  $PIP wheel --no-deps -w "$built" "$req"
  for wheel in "$built"/*.whl; do
    case "$(basename "$wheel")" in
      *-py3-none-any.whl|*-py2.py3-none-any.whl) mv "$wheel" "$WHEELS"/ ;;
      *) echo "device-wheels: $req builds a platform wheel ($(basename "$wheel")); it" \
              "cannot be built here for Python 3.12" >&2; exit 1 ;;
    esac
  done
  rm -rf "$built"
done < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' requirements/device.txt | grep -v '^$')

echo "[device-wheels] $MMCV source archive (compiled on the GPU machine) and its build tool"
$PIP download --no-deps --no-binary=:all: -d "$WHEELS" "$MMCV"
# mmcv 2.1.0's setup.py needs pkg_resources, which newer setuptools dropped: the one this
# machine compiles it with goes along, apart (build/), for the compile only.
mkdir -p "$WHEELS/build"
rm -f "$WHEELS"/build/*.whl
$PIP download --no-deps --only-binary=:all: -d "$WHEELS/build" "setuptools<70"

"$PY" - "$WHEELS" "$LIMIT_MIB" <<'PYCODE'
import os
import sys
folder, limit = sys.argv[1], float(sys.argv[2])
files = sorted(os.path.relpath(os.path.join(top, f), folder) for top, _, names in os.walk(folder)
               for f in names if f.endswith(('.whl', '.tar.gz')))
sizes = {f: os.path.getsize(os.path.join(folder, f)) / 2 ** 20 for f in files}
for name in files:
    print(f'  {sizes[name]:7.2f} MiB  {name}')
total = sum(sizes.values())
print(f'[device-wheels] {len(files)} files, {total:.1f} MiB in {folder}/ (limit {limit:.0f} MiB)')
if total > limit:
    sys.exit(f'device-wheels: {total:.1f} MiB exceeds the {limit:.0f} MiB a device run carries')
PYCODE
"$PY" environment/check_device_wheels.py --folder "$WHEELS"
