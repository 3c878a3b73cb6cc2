# OPD Bus: the two commands a newcomer needs are `make dev` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test lint typecheck pytest bench install clean

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

pytest: $(STAMP)
	$(BIN)/pytest

## Benchmarks: ratios against raw aiokafka on the same broker, written to bench/results.json.
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
