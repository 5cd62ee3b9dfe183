# One entry point for people and CI. `make demo` and `make check` are the README's commands.
# `make demo PORT=8080` serves the demo on another port.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
PORT ?= 8000

.PHONY: install demo check lint test test-pg bench clean

$(BIN)/meterbill: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/meterbill

install: $(BIN)/meterbill

demo: install
	$(BIN)/meterbill --database sqlite:///demo.db demo --port $(PORT)

lint: install
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install
	$(BIN)/pytest -q

# Everything CI runs: lint, types, import contracts, then the whole suite on SQLite and
# (with METERBILL_TEST_POSTGRES_URL set) PostgreSQL.
check: lint test

test-pg: install
	METERBILL_TEST_POSTGRES_URL=$(PG_URL) $(BIN)/pytest -q

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis demo.db*
