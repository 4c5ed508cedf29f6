# renoise — `make report` runs the default experiment and writes both HTML reports;
# `make test` runs the test suite. Each creates the virtual environment on first use.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXPERIMENT ?= quick
export MPLBACKEND := Agg

.PHONY: report run status test lab bench screenshot multicore-tsne system-deps clean

report: $(STAMP) system-deps ## run EXPERIMENT (default: quick) and write reports/EXPERIMENT/
	$(PY) -m renoise report $(EXPERIMENT)

run: $(STAMP) system-deps ## run EXPERIMENT without rendering the reports
	$(PY) -m renoise run $(EXPERIMENT)

status: $(STAMP) ## which runs of EXPERIMENT are complete, stale or missing
	$(PY) -m renoise status $(EXPERIMENT)

test: $(STAMP) system-deps ## the test suite, with coverage
	$(PY) -m pytest --cov=renoise --cov-report=term-missing:skip-covered

lab: $(STAMP) ## JupyterLab on notebooks/, with the project's kernel
	$(PY) -m pip install --quiet -e ".[lab]"
	$(VENV)/bin/jupyter lab notebooks/

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
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -c "from renoise.runs import ensure_kernel; ensure_kernel()"
	touch $@

clean: ## remove runs, storage and reports (keeps the virtual environment)
	rm -rf runs storage reports
