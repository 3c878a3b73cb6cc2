# OPD Bus: the two commands a newcomer needs are `make dev` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test lint typecheck pytest bench install clean browser

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## Start the bus on the embedded broker with a live demo (Ctrl-C stops everything).
dev: $(STAMP)
	$(BIN)/bus dev

## Lint, type-check, check the catalog, and run every test against real services.
test: $(STAMP) lint typecheck catalog-check pytest

lint: $(STAMP)
	$(BIN)/ruff check bus adapters schemas tests bench
	$(BIN)/ruff format --check bus adapters schemas tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

catalog-check: $(STAMP)
	$(BIN)/bus catalog check

pytest: $(STAMP) browser
	$(BIN)/pytest

## Debian's chromium for the dashboard test (Playwright drives it; it never downloads one).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

## Benchmarks: ratios against raw aiokafka on the same broker, written to bench/results.json.
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
