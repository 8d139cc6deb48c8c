# Two entry points on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run solve test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Run the service on the embedded defaults (SQLite ./pace.db, local worker processes): http://127.0.0.1:8000/docs
run: $(STAMP)
	$(BIN)/pace serve

## Solve the reference portfolio from the command line and write the plan to out/plan.json.
solve: $(STAMP)
	mkdir -p out
	$(BIN)/pace solve data/pace-reference.json -o out/plan.json

## Run the whole test suite.
test: $(STAMP)
	$(BIN)/python -m pytest -q

## Reference benchmark (median of 3 solves).
bench: $(STAMP)
	$(BIN)/python bench/reference.py

clean:
	rm -rf $(VENV) out .pytest_cache
