# Two commands do all set-up on a fresh machine (Python 3.11, pip, npm, apt):
#   make demo   - create .venv, install the pinned dependencies, run the demo on the embedded store
#   make test   - the same set-up, then lint (ruff, mypy) and the test suite
# Both are idempotent: when .venv is up to date they skip straight to the work.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/lock.txt
LINT_PATHS := lib connectors flows dashboards jupyterhub_config.py tests notebooks $(wildcard benchmarks/*.py)

# The platform's state (store data, logs) lives inside the clone unless told otherwise.
export MI_DATA_DIR ?= $(CURDIR)/data
# Read-only shared inputs (fixtures, datasets) beside the clone; tests skip what needs them when absent.
export MI_SHARED_DIR ?= $(abspath $(CURDIR)/../shared)
# The browser tests keep a screenshot of every page they open here (listed at the end of the test run).
export MI_TEST_SCREENSHOTS ?= $(CURDIR)/build/screenshots

.PHONY: help setup demo test lint pytest stop status clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# The venv's own settings (<sys.prefix>/marketintel.toml): every process of this venv (make, a shell, a
# notebook kernel) finds the clone's ./data without MI_DATA_DIR; MI_DATA_DIR still wins where it is set.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is required, found {sys.version.split()[0]} at {sys.executable}; set PYTHON=/path/to/python3.11"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import json, sys; open(sys.argv[1], "w").write("# written by make setup: the state of mi run with this venv (MI_DATA_DIR, MI_SHARED_DIR override)\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in zip(("data_dir", "shared_dir"), sys.argv[2:])))' \
		$(VENV)/marketintel.toml "$(CURDIR)/data" "$(abspath $(CURDIR)/../shared)"
	@echo "installing pinned dependencies into $(VENV) (first time: about a minute)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r $(LOCK)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# configurable-http-proxy (JupyterHub's proxy) from npm, pinned in package-lock.json, into ./node_modules.
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is required (Node.js 20+): apt-get install -y nodejs npm"; exit 1; }
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $(NODE_STAMP)

setup: $(STAMP) $(NODE_STAMP)  ## create .venv and node_modules with the pinned dependencies (idempotent)

demo: setup  ## the whole pipeline once; leaves the store, Prefect, the flow runner and the hub running
	@$(BIN)/mi demo

test: setup lint pytest  ## lint, type-check and run the test suite

lint: setup  ## ruff and mypy on the library
	@$(BIN)/ruff check $(LINT_PATHS)
	@$(BIN)/ruff format --check $(LINT_PATHS)
	@rm -rf build/typecheck && mkdir -p build/typecheck/marketintel
	@for f in lib/marketintel/*; do ln -s "$(CURDIR)/$$f" build/typecheck/marketintel/; done
	@ln -s "$(CURDIR)/connectors" build/typecheck/marketintel/connectors
	@ln -s "$(CURDIR)/flows" build/typecheck/marketintel/flows
	@ln -s "$(CURDIR)/dashboards" build/typecheck/marketintel/dashboards
	@$(BIN)/mypy

pytest: setup  ## the test suite, then the notebooks under nbval (lax)
	@$(BIN)/python -m pytest $(PYTEST_ARGS)
	@$(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax notebooks/

status: setup  ## every part: the store, the Prefect server, the flow runner, the hub (exit 1 when one is down)
	@$(BIN)/mi status

stop: setup  ## stop every part: the hub, the flow runner, the Prefect server, then the store
	@$(BIN)/mi stop

clean:  ## remove .venv (the data directory is kept)
	rm -rf $(VENV) build *.egg-info lib/*.egg-info
