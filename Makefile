# CivicCRM developer tasks.  `make test` is what CI runs (via .ci/run).

SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV ?= .venv
VENV_PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Extra arguments for pytest, e.g. make test PYTEST_ARGS="tests/test_harness.py -v"
PYTEST_ARGS ?=

# Database and data for `make run`.
DB ?= sqlite:///var/civiccrm.db
DATA ?= ../shared/data/kc311
# Loopback port `make run` serves the web app (Open311 API) on.
PORT ?= 8311

# sudo only when not root and sudo exists.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || command -v sudo 2>/dev/null)

.PHONY: venv install postgres-deps test run bench clean distclean

venv install: $(STAMP)

$(VENV_PY):
	$(PYTHON) -m venv $(VENV)

# Re-install only when pyproject.toml changes (or the venv is new).
$(STAMP): pyproject.toml | $(VENV_PY)
	$(VENV_PY) -m pip install -e '.[dev]'
	touch $@

# Install PostgreSQL server binaries (Debian) if scripts/with-postgres cannot find them.
postgres-deps:
	@if bindir=$$(bash scripts/with-postgres --bindir 2>/dev/null); then \
		echo "PostgreSQL binaries found in $$bindir"; \
	else \
		echo "PostgreSQL binaries not found; installing the Debian postgresql package"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql && \
		bash scripts/with-postgres --bindir; \
	fi

test: install postgres-deps
	bash scripts/with-postgres $(VENV_PY) -m pytest $(PYTEST_ARGS)

run: install
	mkdir -p var
	$(VENV)/bin/civiccrm --db $(DB) init --city kansas-city
	$(VENV)/bin/civiccrm --db $(DB) import kcmo $(DATA)/*.csv
	$(VENV)/bin/civiccrm --db $(DB) report summary --from 2007-01-01 --to 2020-12-31
	@echo "Open311 API: http://127.0.0.1:$(PORT)/open311/v2/ (Ctrl-C stops it)"
	$(VENV)/bin/civiccrm --db $(DB) serve --host 127.0.0.1 --port $(PORT)

bench: install
	$(VENV_PY) bench/import.py

clean:
	rm -rf var build dist .pytest_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
