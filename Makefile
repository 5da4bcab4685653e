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
        test-integration bench bench-load bench-hub reliability dist clean

# A store, workspaces and settings of its own under .demo-data/, emptied at each start
# (HISTORY=keep keeps the sessions of earlier demo runs).
lab: install
	@$(ACTIVATE) && ./demo/start.sh $(PORT) $(if $(filter keep,$(HISTORY)),--keep-history)

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
# `develop` links the venv's labextension to this checkout, so `jlpm build` is live.
# Both steps are skipped when nothing they depend on changed (stamps), so `make lab`
# starts in seconds the second time; `make clean` forgets them.
INSTALLED := $(VENV)/.installed
BUILT := $(VENV)/.built
FRONTEND := $(shell find src style schema -type f 2>/dev/null) package.json tsconfig.json

$(INSTALLED): $(BIN)/python pyproject.toml package.json yarn.lock
	$(BIN)/pip install -q -e ".[test,lint]"
	@$(ACTIVATE) && jupyter-builder develop --overwrite . >/dev/null && jlpm install >/dev/null
	@touch $@

$(BUILT): $(INSTALLED) $(FRONTEND)
	@$(ACTIVATE) && jlpm build >/dev/null
	@touch $@

install: venv $(INSTALLED) $(BUILT)
	@[ -f jupyter_usage/labextension/package.json ] || { rm -f $(BUILT); $(MAKE) --no-print-directory $(BUILT); }

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

# jupyter-resource-usage (the `bench` extra) goes to a directory of its own that only the
# benchmark's server sees: installed into the venv, it would be enabled in every test server.
BENCH_SITE := $(VENV)/bench-site

bench: install
	$(BIN)/pip install -q --upgrade --no-deps --target $(BENCH_SITE) "jupyter-resource-usage>=1.0"
	@$(ACTIVATE) && python benchmarks/api_cost.py --python-path $(BENCH_SITE) \
	    --output docs/performance.md

# 100 tabs polling a server with 20 kernels for 5 minutes; the hub service under 1,000 users.
bench-load: install
	@$(ACTIVATE) && python benchmarks/load.py --output docs/performance.md

# The hub service's KPIs, CSV and report over 10k, 100k and 1M imported sessions, and over
# months in which 1,000 and 10,000 users come nearly every day, on SQLite and PostgreSQL,
# then session reports through the hub's proxy from 8 servers at once: writes their
# sections of docs/performance.md. BENCH_HUB_SIZES and BENCH_HUB_DAILY_USERS pick.
BENCH_HUB_SIZES ?= 10000 100000 1000000
BENCH_HUB_DAILY_USERS ?= 1000 10000
bench-hub: install
	@$(ACTIVATE) && python benchmarks/bench_hub.py --sizes $(BENCH_HUB_SIZES) \
	    --daily-users $(BENCH_HUB_DAILY_USERS) --output docs/performance.md
	@$(ACTIVATE) && python benchmarks/report_throughput.py --output docs/performance.md

# The reliability and security tests once more, with a log of what they did: writes
# docs/reliability.md (requests tried, faults injected, sessions recovered, 5xx seen).
reliability: system-deps install
	@$(ACTIVATE) && python scripts/reliability_report.py --output docs/reliability.md

# The release files, as `pip install jupyter-usage` will get them: an sdist and a wheel
# (with the prebuilt labextension) in $(DIST), checked as PyPI renders them. Until the
# first release, `pip install dist/jupyter_usage-*.whl` installs the package.
DIST ?= dist
dist: install
	$(BIN)/pip install -q "build>=1.2" "twine>=5"
	rm -f $(DIST)/jupyter_usage-*
	$(BIN)/python -m build --outdir $(DIST) .
	$(BIN)/twine check --strict $(DIST)/jupyter_usage-*

clean:
	rm -rf $(VENV) node_modules ui-tests/node_modules lib jupyter_usage/labextension \
	       tsconfig.tsbuildinfo .yarn ui-tests/.yarn .demo-data
