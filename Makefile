# Everything starts from Python 3.11+ and make: the venv and the pinned dependencies are built on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tests mostly wait on sockets and subprocesses: two pytest workers (pytest-xdist) halve the wall time.
TEST_WORKERS ?= 2

.PHONY: install run test test-unit lint schema bench lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . || $(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: install
	$(BIN)/waybill serve --demo

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

schema: install
	$(BIN)/strawberry export-schema api.schema:schema --output schema.graphql

bench: install
	$(BIN)/python -m bench

# Re-pin after editing pyproject.toml (needs uv: `pip install uv`).
lock:
	uv lock
	uv export --frozen --all-groups --no-emit-project --format requirements-txt -o requirements.lock

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
