# LART Studio. `make demo` runs the main job on the bundled demo data; `make test` runs the test suite.
# Both create .venv from scratch when missing: torch==2.13.0 (local CPU wheel) first, then the project.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench notebooks dashboard lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[all]'
	$(BIN)/python -m compileall -q lartcore   # bytecode now: where PYTHONDONTWRITEBYTECODE is set, every run would compile
	touch $(STAMP)

# In a terminal, `make demo` ends by serving the dashboard on its results (Ctrl-C stops it); in scripts and
# CI (no TTY, or CI set) it only prints how to start it.
demo: $(STAMP)
	$(BIN)/lart demo
	@if [ -t 0 ] && [ -t 1 ] && [ -z "$$CI" ]; then $(MAKE) --no-print-directory dashboard; \
	else echo "dashboard: make dashboard  (http://localhost:8501)"; fi

notebooks: $(STAMP)
	$(BIN)/lart notebooks

# The untrusted-file tests run a second time under the OLDEST versions pyproject.toml allows of what the
# restricted loader builds on (joblib, numpy; tests/test_fileio.py needs no torch): no allowed version may let
# a file run code or exhaust memory. tests/test_setup.py checks these pins equal pyproject's lower bounds.
OLDEST      := .venv-oldest
OLDEST_PINS := joblib==1.6.0 numpy==1.24.0
$(OLDEST)/.installed: pyproject.toml Makefile
	test -x $(OLDEST)/bin/python || $(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q $(OLDEST_PINS) pytest hypothesis
	touch $@

test: $(STAMP) $(OLDEST)/.installed
	$(BIN)/python -m pytest -q -p no:cacheprovider
	PYTHONPATH=. $(OLDEST)/bin/python -m pytest -q -p no:cacheprovider --noconftest tests/test_fileio.py

bench: $(STAMP)
	for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# `make dashboard [DATA=/path/to/data_root]`: the Streamlit dashboard at http://localhost:8501, on the demo
# data by default (built if missing; results of `make demo` in $$LART_RESULTS_DIR, default ./results).
DATA ?=
dashboard: $(STAMP)
	$(if $(DATA),,$(BIN)/lart data build-demo)
	$(BIN)/streamlit run dashboard/app.py --server.address localhost --server.port 8501 \
		--browser.gatherUsageStats false -- $(if $(DATA),--data-root $(DATA))

lint: $(STAMP)
	$(BIN)/ruff check lartcore tests bench dashboard notebooks

clean:
	rm -rf $(VENV) reports results runs
