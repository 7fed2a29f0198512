# GD-OCC developer commands. Every target sets up what it needs; a second run installs nothing.
#   make test        set up .venv, build the compiled ops, run the test suite
#   make demo        the main job on the embedded default (see README)
#   make check-cuda  compile the CUDA kernels in a separate CUDA-torch venv (no GPU needed)
#   make lint        ruff (ruff.toml) and isort (.isort.cfg) over the whole tree
#   make bench       ray-casting / RayIoU benchmark
#   make bench-ops   compiled ops (voxel pooling, multi-view sampling, ray casting) vs references
#   make device-wheels           fill .whl/ with the wheels the GPU machine lacks (docs/gpu.md)
#   make device-check OUT=DIR    the GPU machine's check (DEVICE_CHECK_DRY=1: its dry run here)
VENV ?= .venv
PY := $(VENV)/bin/python
CSRC := $(wildcard models/csrc/*.cpp models/csrc/*.h models/csrc/*.cu)

.PHONY: install build test lint demo check-cuda bench bench-ops device-wheels device-check clean

$(PY):
	python3 -m venv $(VENV)

$(VENV)/.setup-done: requirements.txt requirements/mmcv.txt requirements/mmdet3d.txt \
		requirements/constraints.txt environment/setup_env.sh | $(PY)
	PY=$(PY) bash environment/setup_env.sh
	touch $@

install: $(VENV)/.setup-done

$(VENV)/.ext-built: $(VENV)/.setup-done setup.py $(CSRC)
	@echo "[build] compiling models._C (CPU kernels)"
	MAX_JOBS=$${MAX_JOBS:-$$(nproc)} $(PY) -m pip install -q --disable-pip-version-check \
		--no-build-isolation --no-deps -e .
	touch $@

build: $(VENV)/.ext-built

test: build
	$(PY) -m pytest -q tests

$(VENV)/.lint-tools: requirements/lint.txt | $(PY)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements/lint.txt
	touch $@

lint: $(VENV)/.lint-tools
	$(VENV)/bin/ruff check .
	$(PY) -m isort --check-only --diff .

demo: build
	PY=$(PY) bash tools/demo.sh

bench: build
	$(PY) tools/bench_rayiou.py

bench-ops: build
	$(PY) tools/benchmark_ops.py

check-cuda:
	bash environment/check_cuda_build.sh

device-wheels:
	bash environment/device_wheels.sh

OUT ?= device-check-out
device-check:
	bash environment/device_check.sh $(OUT)

clean:
	rm -rf build models/_C*.so $(VENV)/.ext-built
