# Every target bootstraps what it needs: a fresh clone needs only python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install gen check-gen lint-spec lint fmt run serve migrate revision test fuzz check clean

help:
	@echo "make run        serve on http://$${HOST:-127.0.0.1}:$${PORT:-8000} (embedded PostgreSQL 16 unless DATABASE_URL is set)"
	@echo "make serve      the same, as in production: granian, WORKERS processes, slow-client bounds"
	@echo "make test       unit, HTTP, migration and schemathesis tests on a fresh embedded database"
	@echo "make gen        regenerate generated/ from spec/openapi.yaml"
	@echo "make check-gen  fail if generated/ is stale"
	@echo "make lint       spec lint, ruff, format check, mypy --strict"
	@echo "make fuzz       long schemathesis run (stateful included)"
	@echo "make migrate    alembic upgrade head + seed, nothing else"
	@echo "make check      check-gen + lint + test (what CI runs)"

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

gen: $(STAMP)
	$(BIN)/python -m codegen

check-gen: $(STAMP)
	$(BIN)/python -m codegen --check

lint-spec: $(STAMP)
	$(BIN)/python -m codegen --lint-only

lint: lint-spec
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

run: $(STAMP)
	$(BIN)/python -m halolight.serve

# As in production: granian, WORKERS processes (default: one per core), uvloop, bounded header size and
# header/body read times. Same DATABASE_URL / HOST / PORT handling and embedded default as `make run`.
serve: $(STAMP)
	$(BIN)/python -m halolight.serve --production-server

migrate: $(STAMP)
	$(BIN)/python -m halolight.serve --prepare-only

revision: $(STAMP)
	@test -n "$(m)" || (echo 'usage: make revision m="what changes"' && exit 1)
	$(BIN)/alembic revision -m "$(m)"

test: $(STAMP)
	$(BIN)/pytest

fuzz: $(STAMP)
	HALOLIGHT_FUZZ=long $(BIN)/pytest tests/contract -x

check: check-gen lint test

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
