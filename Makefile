# POS resilience lab. Every target that needs the environment depends on
# .venv/.installed, so `make test` and `make chaos` work on a fresh clone.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUITE ?= gate
PYTEST_ARGS ?=
# `make test` runs the tests side by side on this many xdist workers; most of the
# slow tier waits on services, sleeps and Locust rather than on a core.
TEST_WORKERS ?= 3

.PHONY: setup test test-fast lint bench chaos load verify-gate browser docker images postgres clean help

help:
	@echo "make chaos   run the default suite (gate) on the embedded stack, print the scorecard"
	@echo "make test    run the test suite (every tier, $(TEST_WORKERS) workers)"
	@echo "make test-fast  the fast tier: no process, Locust, browser or long wait (-m 'not slow')"
	@echo "make lint    ruff, mypy, import contracts"
	@echo "make bench   benchmarks: print figures and ratios from one run"
	@echo "make load    lunch-peak load against a running stack (lab up first)"
	@echo "make verify-gate  gate suite with resilient and naive terminals"

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# Debian's chromium for the report and dashboard browser tests; best effort:
# the tests skip with a stated reason when no browser could be installed.
browser:
	@scripts/ensure-chromium || true

# A Docker engine for the container tests (Debian's docker.io, dockerd started
# by hand when none answers) and the lab's images, rebuilt only when their
# sources changed; best effort: the tests skip with a reason otherwise.
docker:
	@(scripts/ensure-docker >/dev/null && scripts/build-images --if-changed) || true

images:
	scripts/build-images

# PostgreSQL for the ledger-source and foreign-host tests (Debian's packages, a
# cluster of the lab's own on 127.0.0.1); best effort: they skip with a reason.
postgres:
	@scripts/ensure-postgres >/dev/null || true

test: $(STAMP) browser docker postgres
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The tiers are marked by tests/conftest.py from what each test runs.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check poslab tests bench
	$(BIN)/ruff format --check poslab tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

chaos: $(STAMP)
	$(BIN)/lab run --suite $(SUITE)

load: $(STAMP)
	$(BIN)/lab load --shape lunch-peak

verify-gate: $(STAMP)
	$(BIN)/lab verify-gate --suite gate

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
