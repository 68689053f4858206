# Two commands do all the set-up on a fresh machine:
#   make demo   - create .venv, install, build a demo workspace from the sample corpus
#   make test   - create .venv, install, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/digest demo demo-workspace

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest_draft.py

docs: $(STAMP)
	$(BIN)/python scripts/cli_docs.py > docs/CLI.md

clean:
	rm -rf $(VENV) demo-workspace
