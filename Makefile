# `make demo` and `make test` do all set-up on a fresh machine: virtual environment from the lock file,
# Java + Maven and PostgreSQL from Debian's packages if missing, the Kafka jars from Maven Central.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)

.PHONY: setup demo test lint unit integration bench kafka-jars postgres java clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

java:
	@scripts/ensure-java.sh

postgres:
	@scripts/ensure-postgres.sh

kafka-jars: $(STAMP) java
	@$(BIN)/python -c "from lienthong.bus.embedded import KafkaArtifacts, default_cache_dir; \
	from lienthong.settings import Settings; print('kafka jars:', KafkaArtifacts(default_cache_dir(), Settings().kafka_version).ensure())"

setup: $(STAMP) java kafka-jars postgres

demo: $(STAMP) java kafka-jars
	$(BIN)/lienthong demo

lint: $(STAMP)
	$(BIN)/ruff check lienthong tests bench
	$(BIN)/ruff format --check lienthong tests bench
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/security -q

integration: setup
	$(BIN)/pytest tests/integration -q

test: setup lint
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python bench/bus_throughput.py --write BENCHMARKS.md
	cd bench && ../$(BIN)/python inbound.py --events 3000 --rate 200 --seconds 15 --write ../BENCHMARKS.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
