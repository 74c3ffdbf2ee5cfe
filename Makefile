# The README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run demo test lint typecheck pytest bench clean tracker tracker-test webui web-test

# The browser tracker (tracker/): npm ci when the lockfile changed, esbuild when a source changed.
# The IIFE lands in the Python package (served at /static/tracker.js, shipped in the wheel), gitignored.
TRACKER_JS  := src/replaylink/static/tracker.js
TRACKER_SRC := $(shell find tracker/src -type f 2>/dev/null) tracker/build.mjs tracker/tsconfig.json tracker/tsconfig.build.json tracker/package.json

tracker/node_modules/.installed: tracker/package-lock.json tracker/package.json
	cd tracker && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(TRACKER_JS): tracker/node_modules/.installed $(TRACKER_SRC)
	cd tracker && npm run --silent build

## Build the tracker (ES module in tracker/dist, IIFE at src/replaylink/static/tracker.js)
tracker: $(TRACKER_JS)

## The tracker's type check and unit tests (vitest + happy-dom)
tracker-test: tracker/node_modules/.installed
	cd tracker && npx --no-install tsc --noEmit && npx --no-install tsc --noEmit -p test && npx --no-install vitest run

# The dashboard (web/): npm ci when the lockfile changed, vite build when a source changed.
# The build lands in the Python package (served at /, shipped in the wheel), gitignored.
WEBUI_INDEX := src/replaylink/webui/index.html
WEB_SRC     := $(shell find web/src -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json web/package.json

web/node_modules/.installed: web/package-lock.json web/package.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEBUI_INDEX): web/node_modules/.installed $(WEB_SRC)
	cd web && npm run --silent build

## Build the dashboard into src/replaylink/webui
webui: $(WEBUI_INDEX)

## The dashboard's type check and component tests (vitest + testing-library)
web-test: web/node_modules/.installed
	cd web && npx --no-install tsc --noEmit -p . && npx --no-install vitest run

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml sdk/python/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]' -e sdk/python
	touch $@ $(VENV)/.run-installed

## Run ReplayLink on its embedded default (SQLite + files in ./replaylink-data) at http://127.0.0.1:8000
run: $(VENV)/.run-installed $(TRACKER_JS) $(WEBUI_INDEX)
	$(BIN)/replaylink serve

$(VENV)/.demo-installed: pyproject.toml sdk/python/pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[demo]' -e sdk/python
	touch $@

## The demo: a shop that breaks, its replays and backend errors (see `replaylink demo --help`)
demo: $(VENV)/.run-installed $(VENV)/.demo-installed $(TRACKER_JS) $(WEBUI_INDEX)
	$(BIN)/replaylink demo $(DEMO_ARGS)

## The whole suite: lint, type checks, tests (SQLite and PostgreSQL)
test: $(VENV)/.dev-installed $(TRACKER_JS) $(WEBUI_INDEX) lint typecheck tracker-test web-test pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy
	$(BIN)/mypy sdk/python/src
	$(BIN)/mypy bench tests

# Browser tests run in their own pytest process: Playwright's sync API keeps an event loop running in
# its worker, which would break the asyncio tests that share a worker with it.
pytest: $(VENV)/.dev-installed
	$(BIN)/pytest -n 2 -q -p no:cacheprovider --ignore=tests/browser
	$(BIN)/pytest -n 2 -q -p no:cacheprovider tests/browser

bench: $(VENV)/.dev-installed $(TRACKER_JS)
	$(BIN)/python -m bench.providers
	$(BIN)/python -m bench.importer
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.sdk
	$(BIN)/python -m bench.tracker
	$(BIN)/python -m bench.replay_ingest --db postgres --store fs --pages 1000

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache tracker/node_modules tracker/dist $(TRACKER_JS) web/node_modules src/replaylink/webui
