# asrperf: the two commands a newcomer needs.
#   make bench   set up .venv, then the quick benchmark preset (tiny.en, CPU, every available backend)
#   make test    set up .venv, then the CPU test suite
# Set-up is idempotent: it reruns only when pyproject.toml changes.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
EXTRAS ?= torch,jax,ct2,transformers,models,report,dev
STAMP := $(VENV)/.asrperf-installed
BENCH_ARGS ?=
GATE_ARGS ?=
BASE ?= origin/main
GATE_PERCENT ?= 25

.PHONY: setup bench test gate report clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: later packages that depend on it then reuse it instead of
	# pulling a multi-GB CUDA build. Where the pinned file is not available, any torch.
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "torch==$(TORCH_VERSION)" \
		|| $(PY) -m pip install --quiet torch
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

bench: $(STAMP)
	$(PY) -m pytest benchmarks --asrperf-preset quick --benchmark-autosave \
		--benchmark-columns=median,min,max,rounds --benchmark-sort=name $(BENCH_ARGS)

test: $(STAMP)
	$(PY) -m pytest tests -m cpu

gate: $(STAMP)
	$(PY) -m asrperf.bench.gate --base "$(BASE)" --fail-percent $(GATE_PERCENT) $(GATE_ARGS) -- $(BENCH_ARGS)

report: $(STAMP)
	$(PY) -m asrperf.cli report $$(ls -t .benchmarks/*/*.json | head -1) -o report

clean:
	rm -rf $(VENV) .benchmarks .pytest_cache .hypothesis report
