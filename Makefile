# Two commands on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
DEMO := data/demo
SEED ?= 42
PORT ?= 8501

.PHONY: demo test install install-dev system-deps lint format docs bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first: pip finds the local CPU wheel for this exact version (any other pulls CUDA builds)
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[all]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# Debian packages the tests need: PostgreSQL's server programs (load test) and Chromium (browser test)
system-deps:
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-chromium.sh

demo: install
	$(BIN)/retailsim generate --preset demo --seed $(SEED) --out $(DEMO) --overwrite --workers 2
	$(BIN)/retailsim validate $(DEMO) --html $(DEMO)/quality/report.html --json $(DEMO)/quality/report.json
	$(BIN)/retailsim loyalty assign $(DEMO)
	$(BIN)/retailsim ml train $(DEMO) --models fast --threads 2
	$(BIN)/retailsim app $(DEMO) --port $(PORT)

test: install-dev system-deps
	$(BIN)/python -m pytest -m "" -q

lint: install-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: install-dev
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

docs: install
	$(BIN)/retailsim schema --markdown > docs/schema.md

bench: install-dev
	$(BIN)/python benchmarks/bench_generate.py

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache
