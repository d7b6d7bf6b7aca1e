# Two commands for a new machine: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install when the pins change.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock | sha1sum | cut -c1-12)
export ONBOARDING_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1

DEMO_ACCOUNTS ?= 3000
DEMO_DAYS ?= 30
DEMO_SEED ?= 7

# dbt's manifest, prepared ahead (the code location reads it and never parses at import); redone
# when a model, seed, test or YAML file of the dbt project is newer.
MANIFEST := $(or $(ONBOARDING_DBT_TARGET),dbt_project/target)/manifest.json
DBT_SOURCES := $(shell find dbt_project \( -name target -o -name logs -o -name dbt_packages \) -prune -o \
	\( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)

.PHONY: install demo test dev bench lint lock clean

install: $(STAMP) $(MANIFEST)

$(MANIFEST): $(STAMP) $(DBT_SOURCES)
	$(BIN)/python -m dagster_project.lib.dbt

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@mkdir -p $(DAGSTER_HOME) && cp -n .dagster.yaml $(DAGSTER_HOME)/dagster.yaml 2>/dev/null || true
	@rm -f $(VENV)/.installed-* && touch $@
	@echo "installed into $(VENV)"

demo: install
	@if [ -e "$(ONBOARDING_HOME)" ] && [ ! -e "$(ONBOARDING_HOME)/.demo-workspace" ] && [ -n "$$(ls -A "$(ONBOARDING_HOME)" 2>/dev/null)" ]; then \
		echo "make demo: $(ONBOARDING_HOME) holds a workspace that is not the demo's; set ONBOARDING_HOME to another folder" >&2; exit 2; fi
	@rm -rf "$(ONBOARDING_HOME)" && mkdir -p "$(ONBOARDING_HOME)" && touch "$(ONBOARDING_HOME)/.demo-workspace"
	$(BIN)/onboarding generate --accounts $(DEMO_ACCOUNTS) --days $(DEMO_DAYS) --seed $(DEMO_SEED) --workers 2
	$(BIN)/onboarding run
	@echo "outbox (what would have been sent): $(ONBOARDING_HOME)/outbox/"; ls -1 "$(ONBOARDING_HOME)/outbox" 2>/dev/null || true
	@echo "next: 'make dev' opens the Dagster UI on http://127.0.0.1:3000"

test: install
	$(BIN)/python -m pytest -q

dev: install
	@mkdir -p "$(DAGSTER_HOME)"; cmp -s .dagster.yaml "$(DAGSTER_HOME)/dagster.yaml" || { cp .dagster.yaml \
		"$(DAGSTER_HOME)/dagster.yaml" && echo "instance config: .dagster.yaml -> $(DAGSTER_HOME)/dagster.yaml"; }
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: install
	$(BIN)/python -m benchmarks.run

# Python (ruff), SQL style (sqlfluff, .sqlfluff: duckdb dialect, dbt templater) and dbt conventions (dbt-score,
# [tool.dbt-score] in pyproject.toml: descriptions, owners, model size; any finding fails). sqlfluff compiles the
# models and dbt-score reads the manifest of a `dbt parse`, both against an in-memory database: no warehouse is
# needed or touched, and the parse writes to its own target folder (the prepared manifest stays as it is).
LINT_TARGET := dbt_project/target/lint
lint: install
	$(BIN)/ruff check dagster_project reverse_etl tests benchmarks
	ONBOARDING_WAREHOUSE=:memory: $(BIN)/sqlfluff lint dbt_project --processes 2
	ONBOARDING_WAREHOUSE=:memory: $(BIN)/dbt parse --quiet --project-dir dbt_project --profiles-dir dbt_project \
		--target-path $(CURDIR)/$(LINT_TARGET)
	$(BIN)/dbt-score lint --manifest $(LINT_TARGET)/manifest.json

lock: install
	$(BIN)/python -m pip freeze --exclude-editable | sed '/^-e /d' > requirements.lock.new
	@{ head -2 requirements.lock; cat requirements.lock.new; } > requirements.lock && rm requirements.lock.new

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs .pytest_cache
