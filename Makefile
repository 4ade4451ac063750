# One entry point for every routine task. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The SAM CLI lives in a virtual environment of its own: its exact pins would fight ours.
SAM_VENV := $(VENV)/sam
SAM_STAMP := $(SAM_VENV)/.installed
# The Lambda package: the runtime's Python and architecture (the template's PythonVersion and
# Architecture parameters must match; see docs/deploy.md).
LAMBDA_PYTHON_VERSION ?= 3.12
LAMBDA_ARCH ?= x86_64
export LAMBDA_PYTHON_VERSION LAMBDA_ARCH

.PHONY: help install demo serve test test-fast test-sqlite test-postgres faults check format lint types bench lambda-package template-lint lock audit screenshots clean

help:
	@echo "make demo      run the service on SQLite with demo numbers (insecure demo mode);"
	@echo "               another port: make demo PORT=8080"
	@echo "make test      run the test suite on SQLite and PostgreSQL, in parallel, with coverage"
	@echo "make test-fast the same without the tests marked slow (a quicker loop while working)"
	@echo "make faults    the fault suite: receivers, database, kill -9 and disks failing"
	@echo "make check     format check, lint, types and tests (what CI runs, with make faults)"
	@echo "make bench     benchmarks: answer throughput, cold start, notifications"
	@echo "make lambda-package   the AWS Lambda package (then sam build, sam deploy)"
	@echo "make screenshots  the web admin's pages into docs/screenshots (needs chromium)"
	@echo "make lock      regenerate requirements/*.lock from pyproject.toml"
	@echo "make audit     check every locked dependency for known vulnerabilities"

# Everything installs from the lock files, every download checked against its hash. A lock
# lists every package it needs, so pip installs exactly that (--no-deps: pip's hash mode would
# otherwise trip over a dependency asked for with extras); the project itself goes in editable.
$(STAMP): pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(SAM_STAMP): requirements/sam.lock
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --no-deps --require-hashes -r requirements/sam.lock
	touch $(SAM_STAMP)

install: $(STAMP) $(SAM_STAMP)

demo: $(STAMP)
	$(BIN)/backline demo $(if $(PORT),--port $(PORT))

# The suite runs in TEST_WORKERS processes (pytest-xdist). Most tests wait on child processes,
# sockets and databases rather than the CPU, so more workers than cores pays; each worker has
# its own databases (named after its process) and temporary directories.
TEST_WORKERS ?= 4
test: $(STAMP) $(SAM_STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal --cov --cov-report=term $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal -m "not slow and not faults" $(PYTEST_ARGS)

# Real processes, receivers, databases and disks failing (tests/faults); a few minutes.
faults: $(STAMP)
	$(BIN)/python -m pytest -m faults tests/faults $(PYTEST_ARGS)

format: $(STAMP)
	$(BIN)/ruff format backline tests bench

lint: $(STAMP)
	$(BIN)/ruff format --check backline tests bench
	$(BIN)/ruff check backline tests bench

types: $(STAMP)
	$(BIN)/mypy

check: lint types test

lock: $(STAMP)
	scripts/lock $(LOCK_ARGS)

# Needs the internet: pip-audit asks PyPI's advisory data about each locked version.
audit: $(STAMP)
	$(BIN)/pip-audit --strict --disable-pip --require-hashes \
		-r requirements/dev.lock -r requirements/server.lock -r requirements/lambda.lock
	$(BIN)/pip-audit --strict --disable-pip --require-hashes -r requirements/sam.lock

bench: $(STAMP)
	$(BIN)/python -m bench

# The web admin's pages as the README shows them (the browser test, saving into docs/).
screenshots: $(STAMP)
	BACKLINE_SCREENSHOTS=$(CURDIR)/docs/screenshots BACKLINE_TEST_REQUIRE_BROWSER=1 \
		$(BIN)/python -m pytest tests/admin/test_browser.py -q

lambda-package: $(STAMP)
	scripts/build-lambda

template-lint: $(STAMP) $(SAM_STAMP)
	scripts/lint-template

clean:
	rm -rf $(VENV) .backline .coverage .pytest_cache .mypy_cache .ruff_cache build dist
