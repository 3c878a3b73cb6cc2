# OPD Bus: the two commands a newcomer needs are `make dev` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Apache Kafka, resolved with Maven from the project's pom (the version is pinned there).
KAFKA_POM     := bus/broker/apache_kafka/pom.xml
KAFKA_VERSION := $(shell sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' $(KAFKA_POM))
KAFKA_DIR     := .bus/kafka/$(KAFKA_VERSION)
KAFKA_STAMP   := $(KAFKA_DIR)/.installed

.PHONY: dev test lint typecheck pytest bench chaos install clean browser kafka

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## Start the bus (Apache Kafka where installed, else Tansu) with a live demo; Ctrl-C stops it.
dev: $(STAMP) kafka
	$(BIN)/bus dev

## Apache Kafka's jars into .bus/kafka/<version>/ (only where java and mvn exist; once).
kafka:
	@if [ -n "$$KAFKA_HOME" ]; then echo "kafka: using KAFKA_HOME=$$KAFKA_HOME"; \
	elif ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then \
	  echo "kafka: no java or mvn here; bus dev and the tests use the embedded Tansu broker"; \
	else $(MAKE) --no-print-directory $(KAFKA_STAMP); fi

$(KAFKA_STAMP): $(KAFKA_POM)
	rm -rf $(KAFKA_DIR)/libs
	mvn -B -q -f $(KAFKA_POM) dependency:copy-dependencies -DincludeScope=runtime \
	  -DoutputDirectory=$(abspath $(KAFKA_DIR))/libs
	@touch $@

## Lint, type-check, check the catalog, and run every test against real services.
test: $(STAMP) kafka lint typecheck catalog-check pytest

lint: $(STAMP)
	$(BIN)/ruff check bus adapters schemas tests bench
	$(BIN)/ruff format --check bus adapters schemas tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

catalog-check: $(STAMP)
	$(BIN)/bus catalog check

pytest: $(STAMP) kafka browser peers
	$(BIN)/pytest

## Debian's chromium for the dashboard test (Playwright drives it; it never downloads one).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

## Webhook receivers nobody here wrote: Debian's php-cli and the npm standardwebhooks package.
peers:
	@command -v php >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq php-cli; }
	cd tests/receivers/node && npm ci --silent --no-audit --no-fund

## Benchmarks: ratios against raw aiokafka on the same broker, written to bench/results.json.
bench: $(STAMP) kafka
	$(BIN)/python -m bench

## Fault matrix: SIGKILL each part of the bus mid-stream, count lost and doubled events.
CHAOS_EVENTS ?= 5000
CHAOS_SEEDS  ?= 3
chaos: $(STAMP) kafka
	$(BIN)/python -m bench.chaos --events $(CHAOS_EVENTS) --seeds $(CHAOS_SEEDS) --json bench/chaos-results.json

clean:
	rm -rf $(VENV) .bus .pytest_cache .mypy_cache .ruff_cache *.egg-info
