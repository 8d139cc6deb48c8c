# On a fresh machine: `make install` (the planner and its service), `make run`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# One stamp per install: the service alone, then the test tools on top of it.
INSTALLED := $(VENV)/.installed
TEST_INSTALLED := $(VENV)/.installed-test

.PHONY: install run solve test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_INSTALLED): $(INSTALLED)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

## Create .venv and install the planner, its CLI and its service (no test tools).
install: $(INSTALLED)

## Run the service on the embedded defaults (SQLite ./pace.db, local worker processes): http://127.0.0.1:8000/docs
run: install
	$(BIN)/pace serve

## Solve the reference portfolio from the command line and write the plan to out/plan.json.
solve: install
	mkdir -p out
	$(BIN)/pace solve data/pace-reference.json -o out/plan.json

## Install the test tools too and run the whole test suite.
test: $(TEST_INSTALLED)
	$(BIN)/python -m pytest -q

## Reference benchmark (median of 3 solves).
bench: install
	$(BIN)/python bench/reference.py

clean:
	rm -rf $(VENV) out .pytest_cache
