# renoise — `make report` runs the default experiment and writes both HTML reports;
# `make test` runs the test suite. Each creates the virtual environment on first use.
# `make help` lists every target.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXPERIMENT ?= quick
# WORKERS=N runs on a local dask cluster of N worker processes (default: one a core, as many as the
# memory holds; WORKERS=1: one run after another); SCHEDULER=ADDRESS on an existing one.
WORKERS ?=
SCHEDULER ?=
RUN_FLAGS := $(if $(WORKERS),--workers $(WORKERS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER))
# make compare: EXPERIMENTS="quick residual" compares experiments (B − A); EXPERIMENT=quick
# GRID="autoencoder.architecture=dense,conv" (keys separated by spaces, SET="key=value ...") the points of a grid.
EXPERIMENTS ?=
GRID ?=
SET ?=
COMPARE_FLAGS := $(foreach g,$(GRID),--grid $(g)) $(foreach s,$(SET),--set $(s))
# The experiment's keras backend (renoise.science.backend) picks the extra installed beside the base:
# where nvidia-smi finds a GPU, TensorFlow's CUDA libraries (`gpu`), `jax-gpu` or `torch`; on a
# CPU-only machine only `jax` or `torch` (TensorFlow is the base install).
BACKEND := $(or $(shell sed -nE 's/^backend:[[:space:]]*([a-z]+).*/\1/p' experiments/$(EXPERIMENT).yaml 2>/dev/null),tensorflow)
HAS_GPU := $(shell nvidia-smi -L >/dev/null 2>&1 && echo yes)
EXTRA_tensorflow := $(if $(HAS_GPU),gpu)
EXTRA_jax := jax$(if $(HAS_GPU),-gpu)
EXTRA_torch := torch
comma := ,
GPU := $(addprefix $(comma),$(EXTRA_$(BACKEND)))
export MPLBACKEND := Agg

.PHONY: report run status track compare test lab ui bench screenshot multicore-tsne system-deps clean help

report: $(STAMP) system-deps ## run EXPERIMENT (default: quick) and write reports/EXPERIMENT/ (WORKERS=N, SCHEDULER=...)
	$(PY) -m renoise report $(EXPERIMENT) $(RUN_FLAGS)

run: $(STAMP) system-deps ## run EXPERIMENT without rendering the reports (WORKERS=N, SCHEDULER=...)
	$(PY) -m renoise run $(EXPERIMENT) $(RUN_FLAGS)

status: $(STAMP) ## which runs of EXPERIMENT are complete, stale, damaged or missing, and where each ran
	$(PY) -m renoise status $(EXPERIMENT)

track: $(STAMP) ## log EXPERIMENT's complete runs that the tracker (storage/mlflow.db) lacks: runs made with tracking off
	$(PY) -m renoise track $(EXPERIMENT)

compare: $(STAMP) ## compare EXPERIMENTS="A B ..." paired by repetition, or EXPERIMENT's GRID="key=a,b" points: reports/compare/
	$(PY) -m renoise compare $(or $(EXPERIMENTS),$(EXPERIMENT)) $(COMPARE_FLAGS)

test: $(STAMP) $(VENV)/.jax system-deps ## the test suite, with coverage (and the tiny tree on JAX)
	$(PY) -m pytest --cov=renoise --cov-report=term-missing:skip-covered

LAB_PORT ?= 8888

lab: $(VENV)/.lab ## JupyterLab on notebooks/ (127.0.0.1 only, with its token), with the project's kernel
	@if [ "$$(id -u)" = 0 ]; then echo "make lab: running as root (as in most containers): passing --allow-root; the server stays on 127.0.0.1 with its token"; fi
	$(VENV)/bin/jupyter lab notebooks/ --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) $$([ "$$(id -u)" = 0 ] && echo --allow-root)

UI_PORT ?= 5000
# The experiment tracker's store (renoise.pipeline.tracker): every run of every experiment.
TRACKER := $(CURDIR)/storage

ui: $(VENV)/.ui ## MLflow's UI over the experiment tracker (storage/mlflow.db) on 127.0.0.1:UI_PORT (5000)
	@mkdir -p $(TRACKER)/mlflow-artifacts
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(TRACKER)/mlflow.db --artifacts-destination $(TRACKER)/mlflow-artifacts \
		--host 127.0.0.1 --port $(UI_PORT) --workers 1

# The full MLflow, with its web UI (about 215 MB more here, pyarrow 156 MB of it); logging needs only mlflow-skinny.
$(VENV)/.ui: $(STAMP)
	$(PY) -m pip install --quiet -e ".[ui]"
	touch $@

# JAX's CPU wheels for the tests on keras' JAX backend (380 MB, 37 s here).
$(VENV)/.jax: $(STAMP)
	$(PY) -m pip install --quiet -e ".[jax]"
	touch $@

$(VENV)/.lab: $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,cluster,lab$(GPU)]"
	touch $@

bench: $(STAMP) ## time every stage against a seed-style implementation (prints ratios)
	$(PY) bench/run.py

screenshot: ## full-page screenshot of reports/EXPERIMENT/no_code/comparison.html (headless Chromium)
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)
	bash bench/screenshot.sh reports/$(EXPERIMENT)/no_code/comparison.html reports/$(EXPERIMENT)/screenshot.png

multicore-tsne: $(STAMP) ## build MulticoreTSNE (needs CMake < 3.20, see DESIGN)
	$(PY) -m pip install --quiet cmake==3.18.4.post1
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m pip install --quiet --no-build-isolation MulticoreTSNE==0.1

system-deps: ## Graphviz, for keras' model diagrams (optional: the report lists layers without it)
	@command -v dot >/dev/null || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends graphviz >/dev/null) || \
		echo "note: Graphviz is not installed; model diagrams fall back to layer lists"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[test,cluster$(GPU)]"
	$(PY) -c "from renoise.pipeline.engine import ensure_kernel; ensure_kernel()"
	touch $@

clean: ## remove runs, storage and reports (keeps the virtual environment)
	rm -rf runs storage reports

help: ## list the targets with what each does
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /\1\t/' | expand -t 16
