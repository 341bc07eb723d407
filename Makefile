# qualcode: `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

## help: list the targets
.PHONY: help
help:
	@echo "qualcode: make <target>"
	@grep -E '^## ' $(MAKEFILE_LIST) | sed -e 's/^## /  /' -e 's/: /\t/' | expand -t 12

# Create the virtual environment and install the project into it when pyproject.toml changes.
$(INSTALLED): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@if git rev-parse --git-dir >/dev/null 2>&1; then $(BIN)/nbstripout --install || true; fi
	@touch $(INSTALLED)

## install: create .venv and install the project (done by the other targets when needed)
.PHONY: install
install: $(INSTALLED)

## report: run the whole study on data/raw and write the HTML report to reports/ (a study of your own: make report PROJECT=DIR)
.PHONY: report
report: $(INSTALLED)
	$(BIN)/qualcode run $(if $(PROJECT),--project $(PROJECT)) $(RUN_ARGS)
	@echo "Open $(if $(PROJECT),$(PROJECT)/)reports/index.html"

## test: run every test (unit, notebooks end to end, the report in headless Chromium)
.PHONY: test
test: $(INSTALLED)
	$(BIN)/python -m pytest

## test-fast: run the tests that take seconds (no notebooks, no browser)
.PHONY: test-fast
test-fast: $(INSTALLED)
	$(BIN)/python -m pytest -m "not slow and not browser"

## lab: open JupyterLab on the notebooks, in the project's environment
.PHONY: lab
lab: $(INSTALLED)
	$(BIN)/jupyter lab notebooks/

## lint: ruff lint and format checks over src, tests, benchmarks and notebooks
.PHONY: lint
lint: $(INSTALLED)
	$(BIN)/ruff check src tests benchmarks notebooks
	$(BIN)/ruff format --check src tests benchmarks notebooks

## format: apply ruff's formatting and safe fixes
.PHONY: format
format: $(INSTALLED)
	$(BIN)/ruff check --fix src tests benchmarks notebooks
	$(BIN)/ruff format src tests benchmarks notebooks

## bench: measure ingest and coding speed and de-identification; figures go to benchmarks/results.md
.PHONY: bench
bench: $(INSTALLED)
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	@for script in benchmarks/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

## clean: remove generated tables and reports; keeps raw data, the key and people's work (data/processed/human_codings.parquet, review_decisions.parquet)
.PHONY: clean
KEPT := human_codings.parquet review_decisions.parquet
clean:
	@if [ -d data/processed ]; then \
		find data/processed -mindepth 1 -maxdepth 1 $(foreach f,$(KEPT),! -name $(f)) -exec rm -rf {} +; \
		for f in $(KEPT); do test -e data/processed/$$f && echo "kept data/processed/$$f (people's work)"; done; \
	fi; true
	rm -rf reports .pytest_cache .ruff_cache
