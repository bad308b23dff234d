# asrperf: the two commands a newcomer needs.
#   make bench   set up .venv and .venv-whisper-jax, then the quick benchmark preset (tiny.en, CPU, every available backend)
#   make test    set up .venv and .venv-whisper-jax, then the CPU test suite
#   make gpu-check  on an NVIDIA GPU: the GPU tests and GPU benchmark rows in about 10 minutes
# Set-up is idempotent: it reruns only when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
# GPU=1: CUDA builds of torch and jax; GPU=0: CPU builds. Default: 1 where nvidia-smi lists a GPU.
GPU ?= $(shell nvidia-smi -L 2>/dev/null | grep -q '^GPU' && echo 1 || echo 0)
# PyPI's torch 2.13.0 is built on CUDA 13 and pins its NVIDIA wheels (cuDNN 9.20, cuBLAS 13.1), which
# jax[cuda13] accepts as they are; jax[cuda12] would install a second, CUDA 12 set of them beside.
# CTranslate2 4.x loads CUDA 12's cuBLAS (libcublas.so.12) at run time: nvidia-cublas-cu12 is that alone.
CUDA_PACKAGES ?= "jax[cuda13]" nvidia-cublas-cu12
EXTRAS ?= torch,jax,ct2,transformers,cpp,models,report,dev
# One stamp per flavour: a CPU set-up is redone with the CUDA set on a GPU machine.
STAMP := $(VENV)/.asrperf-installed$(if $(filter 1,$(GPU)),-gpu)
BENCH_ARGS ?=
GATE_ARGS ?=
BASE ?= origin/main
# whisper-jax's own stack (jax<0.4.31, transformers<4.35) in a side environment, which the
# whisper-jax backend drives through a worker process. No torch: weights are written from numpy.
WJ_VENV ?= .venv-whisper-jax
WJ_STAMP := $(WJ_VENV)/.whisper-jax-installed
WJ_PINS := jax==0.4.30 jaxlib==0.4.30 flax==0.8.5 transformers==4.34.1 cached-property "numpy<2"
WJ_VENDORED := ../shared/vendor/whisper-jax-f983178.tar.gz
# Its last upstream commit; the vendored copy of that commit where this checkout has one.
WHISPER_JAX_SRC ?= $(if $(wildcard $(WJ_VENDORED)),$(WJ_VENDORED),git+https://github.com/sanchit-gandhi/whisper-jax.git@f983178)

.PHONY: setup whisper-jax-env bench test gpu-check gate report clean

setup: $(STAMP) whisper-jax-env

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
ifeq ($(GPU),1)
	# The CUDA set in one resolution, so torch's and jax's NVIDIA wheels are the same ones. "!=...+cpu"
	# refuses a CPU wheel of the same version (a local wheel directory may hold one) and replaces it.
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION),!=$(TORCH_VERSION)+cpu" $(CUDA_PACKAGES)
else
	# torch first, pinned, so that the packages installed next reuse it. On this project's machines
	# the pin finds the CPU wheel in the local wheel directory (pip's find-links, no index needed; its
	# dependencies come with the next install).
	# Elsewhere (GitHub's runners) PyPI's torch 2.13.0 on Linux is the CUDA 13 build, GBs with its
	# NVIDIA wheels: take the CPU build from PyTorch's CPU index instead. Failing both, PyPI's.
	$(PY) -c "import torch" 2>/dev/null \
		|| $(PY) -m pip install --quiet --no-index --no-deps "torch==$(TORCH_VERSION)" 2>/dev/null \
		|| $(PY) -m pip install --quiet --retries 1 --timeout 20 "torch==$(TORCH_VERSION)" --index-url $(TORCH_CPU_INDEX) \
		|| $(PY) -m pip install --quiet "torch==$(TORCH_VERSION)" || $(PY) -m pip install --quiet torch
endif
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	$(if $(filter 1,$(GPU)),$(PY) -m asrperf.bench.gpu_check --frameworks)
	touch $(STAMP)

# Optional: where it cannot be built, set-up goes on and the backend reports itself unavailable.
# Built once (the stamp); after changing the pins, rm -rf $(WJ_VENV) to rebuild it.
whisper-jax-env:
	@test -f $(WJ_STAMP) || $(MAKE) --no-print-directory $(WJ_STAMP) || echo "asrperf: the whisper-jax side environment \
	($(WJ_VENV)) could not be built from $(WHISPER_JAX_SRC); backend whisper-jax stays unavailable. \
	Retry with: make whisper-jax-env WHISPER_JAX_SRC=<whisper-jax source: git URL, tarball or directory>"

$(WJ_STAMP):
	test -x $(WJ_VENV)/bin/python || $(PYTHON) -m venv $(WJ_VENV)
	$(WJ_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(WJ_VENV)/bin/python -m pip install --quiet $(WJ_PINS) "$(WHISPER_JAX_SRC)"
	touch $(WJ_STAMP)

bench: setup
	$(PY) -m pytest benchmarks --asrperf-preset quick --benchmark-autosave --benchmark-save-data \
		--benchmark-columns=median,min,max,rounds --benchmark-sort=name $(BENCH_ARGS)

# The laptop check (-m cpu), and beside it the calibration runs and the tests whose time goes to child
# processes: CI proves everything.
test: setup
	$(PY) -m pytest tests -m "cpu or calibration or processes" --durations=10

# Tests and benchmark rows on the GPU within 10 minutes; results in gpu-check/. Without a GPU: one line.
gpu-check: $(STAMP)
	@$(PY) -m asrperf.bench.gpu_check --out gpu-check

# Base (a worktree of BASE) against the working tree, in paired ABBA rounds, short rows of every available
# backend (whisper-jax's too: hence setup). GATE_ARGS: e.g. --json gate.json --backend jax --audio real-utt.
gate: setup
	$(PY) -m asrperf.bench.gate --base "$(BASE)" $(GATE_ARGS)

report: $(STAMP)
	$(PY) -m asrperf.cli report $$(ls -t .benchmarks/*/*.json | head -1) -o report

clean:
	rm -rf $(VENV) $(WJ_VENV) .benchmarks .pytest_cache .hypothesis report gpu-check
