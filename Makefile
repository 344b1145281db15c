# CivicCRM developer tasks.  `make test` is what CI runs (via .ci/run).

SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV ?= .venv
VENV_PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Extra arguments for pytest, e.g. make test PYTEST_ARGS="tests/test_harness.py -v"
PYTEST_ARGS ?=
# The suite runs on every CPU (pytest-xdist); PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto

# Database and data for `make run`.
DB ?= sqlite:///var/civiccrm.db
DATA ?= ../shared/data/kc311
# Loopback port `make run` serves the web app (Open311 API) on, and the inbound e-mail listener's.
PORT ?= 8311
EMAIL_PORT ?= 2525

# sudo only when not root and sudo exists.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || command -v sudo 2>/dev/null)

# Arguments of each benchmark under `make bench` (bench/README.md); override one, e.g.
# make bench-sla BENCH_SLA_ARGS="--stored 0". The defaults keep `make bench` to a few
# minutes on 2 cores: the SLA and survey benchmarks at their full 1,000,000, the Open311
# one over 200,000 stored cases for 5 s per measurement.
BENCH_IMPORT_ARGS ?=
BENCH_SLA_ARGS ?= --cases 1000000 --pandas-sample 20000 --stored 1000000
BENCH_SURVEYS_ARGS ?= --responses 1000000
BENCH_OPEN311_ARGS ?= --cases 1000000 --duration 8
# bench/scale is not in `make bench`: at its default 40,000,000 cases the fill alone takes a long while.
BENCH_SCALE_ARGS ?= --cases 40000000
BENCH_EXPORT_ARGS ?= --cases 3500000 --rows 1000000
# bench/calls is not in `make bench` either: 10,000,000 call records take long to generate and import.
BENCH_CALLS_ARGS ?= --calls 10000000
BENCH_REPORTS_ARGS ?= --cases 3500000
BENCH_INTEGRATIONS_ARGS ?= --open-cases 1000000 --lookups 2000
BENCH_ADMIN_ARGS ?= --cases 1000000 --open 3000 --duration 8
BENCH_CHANNELS_ARGS ?= --messages 500 --deliveries 500
BENCHMARKS := import sla surveys open311 export reports integrations admin channels

.PHONY: venv install postgres-deps test run i18n kc-heldout bench $(addprefix bench-,$(BENCHMARKS)) bench-scale bench-calls clean distclean

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
	bash scripts/with-postgres --tests $(VENV_PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

run: install
	mkdir -p var
	$(VENV)/bin/civiccrm --db $(DB) init --city kansas-city
	$(VENV)/bin/civiccrm --db $(DB) import kcmo $(DATA)/*.csv
	$(VENV)/bin/civiccrm --db $(DB) report summary --from 2007-01-01 --to 2020-12-31
	$(VENV)/bin/civiccrm --db $(DB) calls generate --from 2020-06-01 --days 28 --storm 2020-06-22 --out var/demo-calls.csv
	$(VENV)/bin/civiccrm --db $(DB) calls import var/demo-calls.csv --format generic
	$(VENV)/bin/civiccrm --db $(DB) calls report --from 2020-06-01 --to 2020-06-28 --by weekday
	$(VENV)/bin/civiccrm --db $(DB) user bootstrap admin --url http://127.0.0.1:$(PORT)/admin/
	@echo "Delivery worker: civiccrm deliver (sends the outbox: civiccrm outbox list; stops with the server)"
	@echo "Public pages: http://127.0.0.1:$(PORT)/ (report a problem, follow a request, service alerts)"
	@echo "Staff admin: http://127.0.0.1:$(PORT)/admin/ (user admin, the one-time password above)"
	@echo "Inbound e-mail: smtp://127.0.0.1:$(EMAIL_PORT) (civiccrm email serve: each message a case or a note; stops with the server)"
	@echo "Open311 API: http://127.0.0.1:$(PORT)/open311/v2/ (Ctrl-C stops it)"
	$(VENV)/bin/civiccrm --db $(DB) deliver & worker=$$!; \
	$(VENV)/bin/civiccrm --db $(DB) email serve --host 127.0.0.1 --port $(EMAIL_PORT) & listener=$$!; \
	trap 'kill $$worker $$listener 2>/dev/null' EXIT; \
	$(VENV)/bin/civiccrm --db $(DB) serve --host 127.0.0.1 --port $(PORT)

# Add the web pages' new translatable strings to the Spanish catalog (then translate each empty msgstr;
# tests/test_i18n.py fails until every one is).
i18n: install
	mkdir -p var
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ --no-location --sort-output --project CivicCRM -o var/messages.pot .
	$(VENV)/bin/pybabel update -i var/messages.pot -d civiccrm/web/translations -l es --width 100 \
		--ignore-pot-creation-date --no-fuzzy-matching --ignore-obsolete

# Every benchmark in turn, even after one misses a target (its exit status says so);
# fails at the end naming those that did. `make bench-sla` (etc.) runs one.
bench: install
	@failed=; for b in $(BENCHMARKS); do \
		$(MAKE) --no-print-directory bench-$$b || failed="$$failed $$b"; \
	done; \
	if [ -n "$$failed" ]; then echo "bench: missed a target or failed:$$failed"; exit 1; fi

bench-import: install
	@echo "== bench/import.py $(BENCH_IMPORT_ARGS)"
	$(VENV_PY) bench/import.py $(BENCH_IMPORT_ARGS)

# Kansas City's time-frame refit: agreement with the city's own verdicts, one neighbourhood held out at a time.
kc-heldout: install
	$(VENV_PY) scripts/kansas_city/heldout_agreement.py

bench-sla: install
	@echo "== bench/sla.py $(BENCH_SLA_ARGS)"
	$(VENV_PY) bench/sla.py $(BENCH_SLA_ARGS)

bench-surveys: install
	@echo "== bench/surveys.py $(BENCH_SURVEYS_ARGS)"
	$(VENV_PY) bench/surveys.py $(BENCH_SURVEYS_ARGS)

bench-export: install
	@echo "== bench/export.py $(BENCH_EXPORT_ARGS)"
	$(VENV_PY) bench/export.py $(BENCH_EXPORT_ARGS)

bench-open311: install
	@echo "== bench/open311.py $(BENCH_OPEN311_ARGS)"
	$(VENV_PY) bench/open311.py $(BENCH_OPEN311_ARGS)

bench-scale: install postgres-deps
	@echo "== bench/scale.py $(BENCH_SCALE_ARGS)"
	$(if $(findstring --data-dir,$(BENCH_SCALE_ARGS)),,bash scripts/with-postgres) $(VENV_PY) bench/scale.py $(BENCH_SCALE_ARGS)

bench-admin: install
	@echo "== bench/admin.py $(BENCH_ADMIN_ARGS)"
	$(VENV_PY) bench/admin.py $(BENCH_ADMIN_ARGS)

bench-channels: install
	@echo "== bench/channels.py $(BENCH_CHANNELS_ARGS)"
	$(VENV_PY) bench/channels.py $(BENCH_CHANNELS_ARGS)

bench-calls: install
	@echo "== bench/calls.py $(BENCH_CALLS_ARGS)"
	$(VENV_PY) bench/calls.py $(BENCH_CALLS_ARGS)

bench-reports: install postgres-deps
	@echo "== bench/reports.py $(BENCH_REPORTS_ARGS)"
	bash scripts/with-postgres $(VENV_PY) bench/reports.py $(BENCH_REPORTS_ARGS)

clean:
	rm -rf var build dist .pytest_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
