# Two commands do all the set-up on a fresh machine:
#   make demo   - create .venv, install, build a demo workspace from the sample corpus
#   make test   - create .venv, install, run the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench docs clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/digest demo demo-workspace

# Browser tests drive Debian's chromium (never a downloaded browser); install it
# when missing and we may (root with apt), else those tests skip.
browser:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "note: could not install chromium; browser tests will be skipped"; fi

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest_draft.py
	$(BIN)/python benchmarks/fetch_many.py
	$(BIN)/python benchmarks/web_render.py
	$(BIN)/python benchmarks/send.py

docs: $(STAMP)
	$(BIN)/python scripts/cli_docs.py > docs/CLI.md

clean:
	rm -rf $(VENV) demo-workspace
