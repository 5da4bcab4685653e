# The two commands of this project:
#   make lab   install everything and start JupyterLab with the demo configuration
#   make test  install everything and run every test suite
# Other targets are the steps they are made of.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ACTIVATE := source $(BIN)/activate
PORT ?= 8888

.PHONY: lab test system-deps venv install ui-install lint test-python test-js test-ui \
        test-integration bench reliability clean

lab: install
	@$(ACTIVATE) && ./demo/start.sh $(PORT)

test: system-deps install ui-install
	@$(ACTIVATE) && ./scripts/run-tests.sh

# Debian packages the tests drive for real. Skipped when already present.
system-deps:
	@./scripts/system-deps.sh

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

venv: $(BIN)/python

# The editable install also runs `jlpm install` and builds the labextension.
install: venv
	$(BIN)/pip install -q -e ".[test,lint]"
	@$(ACTIVATE) && jlpm install >/dev/null && jlpm build

ui-install: install
	@$(ACTIVATE) && cd ui-tests && jlpm install >/dev/null

lint: install
	@$(ACTIVATE) && ./scripts/run-tests.sh lint

test-python: install
	@$(ACTIVATE) && ./scripts/run-tests.sh python

test-js: install
	@$(ACTIVATE) && ./scripts/run-tests.sh js

test-ui: system-deps ui-install
	@$(ACTIVATE) && ./scripts/run-tests.sh ui

test-integration: system-deps install
	@$(ACTIVATE) && ./scripts/run-tests.sh integration

bench: install
	@$(ACTIVATE) && pip install -q ".[bench]" 2>/dev/null || $(BIN)/pip install -q jupyter-resource-usage
	@$(ACTIVATE) && python benchmarks/api_cost.py --output docs/performance.md

clean:
	rm -rf $(VENV) node_modules ui-tests/node_modules lib jupyter_usage/labextension \
	       tsconfig.tsbuildinfo .yarn ui-tests/.yarn
