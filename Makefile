# One entry point for every routine task. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install demo serve test test-sqlite test-postgres check format lint types bench lambda-package template-lint clean

help:
	@echo "make demo      run the service on SQLite with demo numbers (insecure demo mode);"
	@echo "               another port: make demo PORT=8080"
	@echo "make test      run the test suite on SQLite and PostgreSQL"
	@echo "make check     format check, lint, types and tests (what CI runs)"
	@echo "make bench     benchmarks: answer throughput, cold start, notifications"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/backline demo $(if $(PORT),--port $(PORT))

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

format: $(STAMP)
	$(BIN)/ruff format backline tests bench

lint: $(STAMP)
	$(BIN)/ruff format --check backline tests bench
	$(BIN)/ruff check backline tests bench

types: $(STAMP)
	$(BIN)/mypy

check: lint types test

bench: $(STAMP)
	$(BIN)/python -m bench

lambda-package: $(STAMP)
	scripts/build-lambda

template-lint: $(STAMP)
	scripts/lint-template

clean:
	rm -rf $(VENV) .backline .pytest_cache .mypy_cache .ruff_cache build dist
