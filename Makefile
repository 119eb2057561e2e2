# Every target bootstraps what it needs: a fresh clone needs only python3 (3.11+) and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install gen check-gen lint-spec lint fmt run serve reset-db migrate storage-gc revision test fuzz check clean bench bench-quick bench-files bench-stream sdk spec-diff

help:
	@echo "make run        serve on http://$${HOST:-127.0.0.1}:$${PORT:-8000} (embedded PostgreSQL 16 unless DATABASE_URL is set)"
	@echo "make serve      the same, as in production: granian, WORKERS processes, slow-client bounds"
	@echo "make test       unit, HTTP, migration and schemathesis tests on a fresh embedded database"
	@echo "make gen        regenerate generated/ from spec/openapi.yaml"
	@echo "make check-gen  fail if generated/ is stale"
	@echo "make lint       spec lint, ruff, format check, mypy --strict"
	@echo "make spec-diff  fail on breaking spec changes against main (BASE=<ref>) unless info.version was bumped"
	@echo "make fuzz       long schemathesis run (stateful included)"
	@echo "make migrate    alembic upgrade head + seed, nothing else"
	@echo "make reset-db   delete the embedded database's data (asks first)"
	@echo "make storage-gc report stored files without a row and rows without bytes (YES=1 removes the objects)"
	@echo "make check      check-gen + lint + test (what CI runs)"
	@echo "make bench      API vs a ceiling app on 100,000 users and documents with wrk (about 10 min): bench/results.md"
	@echo "make bench-quick  the same with short runs (about 7 min, mostly building 100,000 documents)"
	@echo "make bench-files  only the Files part (uploads, downloads, worker memory, list); prints it"
	@echo "make bench-stream live updates: fan-out latency across two workers with 500 streams, memory per stream"
	@echo "make sdk        typed clients from the spec: sdk/python/ and sdk/typescript/ (git-ignored)"

$(STAMP): pyproject.toml
	@test -d $(VENV) || (echo "creating $(VENV) with $(PYTHON)" && $(PYTHON) -m venv $(VENV))
	@sh tools/ensure-libmagic.sh
	@echo "installing the pinned dependencies into $(VENV) (about a minute the first time)"
	$(BIN)/pip install --disable-pip-version-check --progress-bar on -e '.[dev,embedded]'
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
	$(BIN)/halolight serve

# As in production: granian, WORKERS processes (default: one per core), uvloop, bounded header size and
# header/body read times. Same DATABASE_URL / HOST / PORT handling and embedded default as `make run`.
serve: $(STAMP)
	$(BIN)/halolight serve --production-server

# Deletes the embedded database's data (EMBEDDED_PG_DIR) after asking; refuses while a server uses it.
reset-db: $(STAMP)
	$(BIN)/halolight db reset

migrate: $(STAMP)
	$(BIN)/halolight db seed

# Orphans in both directions between the file store (STORAGE_BACKEND) and the `files` table; reports only,
# unless YES=1, which removes the orphan objects (never rows).
storage-gc: $(STAMP)
	$(BIN)/halolight storage gc $(if $(YES),--yes,)

revision: $(STAMP)
	@test -n "$(m)" || (echo 'usage: make revision m="what changes"' && exit 1)
	$(BIN)/alembic revision -m "$(m)"

# One worker per core (pytest-xdist), each with its own embedded PostgreSQL; whole files per worker, the
# slowest first (tests/conftest.py).
test: $(STAMP)
	$(BIN)/pytest -n auto --dist loadfile --no-loadscope-reorder

fuzz: $(STAMP)
	HALOLIGHT_FUZZ=long $(BIN)/pytest tests/contract -x

check: check-gen lint test

# A fresh embedded database with 100,000 users, `make serve` and a ceiling app side by side, wrk against both
# (installed from Debian if missing); writes bench/results.md and bench/explain.md. No server is left running.
bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

# Only the Files part of `make bench` (bench/files.py): uploads, downloads, worker memory and the files list, on a
# fresh bench database; prints its section instead of writing bench/results.md. QUICK=1: fewer and shorter runs.
bench-files: $(STAMP)
	$(BIN)/python -m bench.files $(if $(QUICK),--quick,)

# Live updates (bench/stream.py): fan-out latency p50/p99 across two granian workers with STREAMS (500) open
# streams, and a worker's memory per open stream, on an embedded database of its own; prints its section.
bench-stream: $(STAMP)
	$(BIN)/python -m bench.stream $(if $(STREAMS),--streams $(STREAMS),)

# Typed clients from spec/openapi.yaml into sdk/ (git-ignored; remade when the spec or the settings change):
# sdk/python/ (openapi-python-client, settings in sdk/openapi-python-client.yaml: the pip-installable package
# halolight_api_client) and sdk/typescript/ (sdk/typescript-template/ plus schema.d.ts from openapi-typescript;
# index.ts wraps openapi-fetch). The npm packages are pinned by the template's package-lock.json and installed
# once into sdk/typescript/node_modules/; only the package registries are reached.
SDK_TS_TEMPLATE := $(wildcard sdk/typescript-template/*)

sdk: sdk/python/.generated sdk/typescript/schema.d.ts

sdk/python/.generated: spec/openapi.yaml sdk/openapi-python-client.yaml $(STAMP)
	rm -rf sdk/python
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/openapi-python-client generate --path spec/openapi.yaml \
		--config sdk/openapi-python-client.yaml --meta setup --output-path sdk/python --fail-on-warning
	touch $@

sdk/typescript/node_modules/.installed: sdk/typescript-template/package.json sdk/typescript-template/package-lock.json
	@command -v npm >/dev/null || { echo "make sdk: the TypeScript client needs Node.js 20+ and npm"; exit 1; }
	mkdir -p sdk/typescript
	cp sdk/typescript-template/package.json sdk/typescript-template/package-lock.json sdk/typescript/
	cd sdk/typescript && npm ci --prefer-offline --no-audit --no-fund --update-notifier=false
	touch $@

sdk/typescript/schema.d.ts: spec/openapi.yaml $(SDK_TS_TEMPLATE) sdk/typescript/node_modules/.installed
	cp $(SDK_TS_TEMPLATE) sdk/typescript/
	cd sdk/typescript && node_modules/.bin/openapi-typescript ../../spec/openapi.yaml --output schema.d.ts.tmp
	mv sdk/typescript/schema.d.ts.tmp $@

# Breaking changes to spec/openapi.yaml against git ref BASE (default main): removed operations, removed or
# retyped fields, newly required inputs. They fail unless info.version has a new major version (a new minor
# one while the major is 0); tools/spec-diff/spec-diff.mjs tells how. Its npm packages are pinned by
# tools/spec-diff/package-lock.json and installed once into tools/spec-diff/node_modules/ (git-ignored).
spec-diff: BASE := main
spec-diff: tools/spec-diff/node_modules/.installed
	node tools/spec-diff/spec-diff.mjs --base "$(BASE)"

tools/spec-diff/node_modules/.installed: tools/spec-diff/package.json tools/spec-diff/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || { echo "make spec-diff: needs Node.js 20+ and npm (not found on PATH)"; exit 1; }
	cd tools/spec-diff && npm ci --prefer-offline --no-audit --no-fund --update-notifier=false
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
