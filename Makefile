# Custodian: `make demo` runs the pipeline on generated demo data, `make test` runs the tests.
# Everything a fresh machine needs is installed from the package registry by `make install`.

SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.8
# uv from PATH when there is one (an activated venv's python3 may not have it), else as a module
# of the system Python, which the install step provides.
UV ?= $(shell command -v uv 2>/dev/null)
ifeq ($(strip $(UV)),)
UV := $(PYTHON) -m uv
endif
RUN := $(UV) run --frozen

DEMO_CUSTOMERS ?= 3000
DEMO_DAYS ?= 4
DEMO_START ?= 2026-11-01
DEMO_SEED ?= 42
DEMO_DATA ?= data/landing
export CUSTODIAN_WAREHOUSE ?= $(CURDIR)/warehouse/custodian.duckdb
export DAGSTER_HOME ?= $(CURDIR)/.dagster
export UV_PYTHON ?= 3.11
# The key of the analyst database's pseudonyms. This default is public, fit for demo data only:
# set your own secret in the environment for real records (the same every day).
export CUSTODIAN_MASKING_SALT ?= demo-only-key-set-your-own
# The key every database file (warehouse, analyst database, archive, backups) is encrypted with
# at rest. The demo makes a random one, once, in .custodian/encryption.key (not committed): keep
# that file, or set your own key in the environment. Without the key the files cannot be read.
ENCRYPTION_KEY_FILE := .custodian/encryption.key
export CUSTODIAN_ENCRYPTION_KEY ?= $(shell test -s $(ENCRYPTION_KEY_FILE) || { mkdir -p .custodian && \
	$(PYTHON) -c "import secrets; print(secrets.token_hex(32))" > $(ENCRYPTION_KEY_FILE) && \
	chmod 600 $(ENCRYPTION_KEY_FILE); }; cat $(ENCRYPTION_KEY_FILE))

.PHONY: install browser demo test test-fast test-e2e lint format ui bench clean

.venv/.installed: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"
	$(UV) sync --frozen --compile-bytecode
	@touch $@

install: .venv/.installed

# Reports a person reads are tested in a real browser (tests/support/browser.py): Debian's
# chromium, installed once; a machine that has it skips the step.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

browser:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium; }

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(RUN) custodian demo-data --out $(DEMO_DATA) --customers $(DEMO_CUSTOMERS) \
		--days $(DEMO_DAYS) --start $(DEMO_START) --seed $(DEMO_SEED)
	$(RUN) custodian run --through $$($(PYTHON) -c "import datetime as d; print(d.date.fromisoformat('$(DEMO_START)') + d.timedelta(days=$(DEMO_DAYS) - 1))")
	$(RUN) custodian audit --month $$(echo $(DEMO_START) | cut -c1-7)
	$(RUN) custodian docs

# Two runs, so a failure says which half it is in and each half can be run alone.
test: test-fast test-e2e

test-fast: install browser
	$(RUN) pytest -m "not e2e"

test-e2e: install browser
	$(RUN) pytest -m e2e

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) sqlfluff lint dbt/models dbt/macros

format: install
	$(RUN) ruff check --fix .
	$(RUN) ruff format .
	$(RUN) sqlfluff fix dbt/models dbt/macros

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(RUN) dagster dev -w workspace.yaml -h 127.0.0.1 -p $${DAGSTER_PORT:-3000}

bench: install
	$(RUN) python bench/run_all.py

clean:
	rm -rf warehouse data .dagster dbt/target dbt/logs
