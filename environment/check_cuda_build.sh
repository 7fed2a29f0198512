#!/usr/bin/env bash
# Compiles models._C with its CUDA kernels in a separate environment (a CUDA build of torch,
# outside the repo, reused between runs) and checks that every gdocc op got a CUDA kernel.
# Needs a CUDA toolkit, not a GPU: the kernels only run where a GPU is (tests skip otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
CUDA_VENV=${CUDA_VENV:-$HOME/.cache/gdocc/cuda-check-venv}
BUILD_DIR=${BUILD_DIR:-$HOME/.cache/gdocc/cuda-check-build}
CUDA_TORCH=${CUDA_TORCH:-torch==2.14.1}

if [ -z "${CUDA_HOME:-}" ]; then
  for candidate in /usr/local/cuda-13.0 /usr/local/cuda; do
    if [ -x "$candidate/bin/nvcc" ] && [ -f "$candidate/include/cuda_runtime.h" ]; then
      CUDA_HOME=$candidate; break
    fi
  done
fi
if [ -z "${CUDA_HOME:-}" ] || [ ! -x "$CUDA_HOME/bin/nvcc" ]; then
  echo "check-cuda: no CUDA toolkit found (set CUDA_HOME to the folder holding bin/nvcc)" >&2
  exit 1
fi
export CUDA_HOME

if [ ! -x "$CUDA_VENV/bin/python" ]; then
  python3 -m venv "$CUDA_VENV"
fi
if ! "$CUDA_VENV/bin/python" -c "import torch, ninja; assert torch.version.cuda" >/dev/null 2>&1; then
  echo "[check-cuda] installing $CUDA_TORCH (a CUDA build) into $CUDA_VENV"
  "$CUDA_VENV/bin/python" -m pip install -q --disable-pip-version-check "$CUDA_TORCH" ninja setuptools wheel "numpy<2"
fi

SITE=$("$CUDA_VENV/bin/python" -c "import site; print(site.getsitepackages()[0])")
# torch's CUDA headers (cusparse.h and friends) ship in the nvidia wheels, not the toolkit.
for inc in "$SITE"/nvidia/cu*/include "$SITE"/nvidia/*/include; do
  [ -d "$inc" ] && CPATH="$inc${CPATH:+:$CPATH}"
done
export CPATH
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-"8.0;9.0"}
export MAX_JOBS=${MAX_JOBS:-$(nproc)}

echo "[check-cuda] building with $("$CUDA_HOME/bin/nvcc" --version | tail -1) for sm ${TORCH_CUDA_ARCH_LIST}"
mkdir -p "$BUILD_DIR"
if ! GDOCC_FORCE_CUDA=1 "$CUDA_VENV/bin/python" setup.py build_ext \
    --build-temp "$BUILD_DIR/temp" --build-lib "$BUILD_DIR/lib" >"$BUILD_DIR/build.log" 2>&1; then
  grep -E "error|Error" "$BUILD_DIR/build.log" | head -40 >&2
  echo "check-cuda: build failed (full log: $BUILD_DIR/build.log)" >&2
  exit 1
fi

cd "$BUILD_DIR/lib"
"$CUDA_VENV/bin/python" - <<'PYCODE'
import importlib
import torch
ext = importlib.import_module('models._C')
assert ext.built_with_cuda, 'models._C was built without its CUDA kernels'
ops = sorted(n for n in torch._C._dispatch_get_all_op_names() if n.startswith('gdocc::'))
assert ops, 'no gdocc ops registered'
missing = [op for op in ops if not torch._C._dispatch_has_kernel_for_dispatch_key(op, 'CUDA')]
assert not missing, f'ops without a CUDA kernel: {missing}'
print(f'[check-cuda] OK: CUDA kernels compiled for {", ".join(ops)}')
PYCODE
