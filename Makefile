# Two entry points: `make study` and `make test`. Both install into .venv from the lock
# (requirements.lock: every package pinned), and make .venv anew whenever the lock changes,
# so the environment is exactly the lock (the test suite compares `pip freeze` with it).
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
# The installer itself, pinned too (pip is not in `pip freeze`, so not in the lock).
PIP_VERSION := 26.3
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: study test lint bench lock clean-venv

# A new lock gets a new .venv: installing over the old one would leave packages the lock
# dropped. The stamp is a copy of the lock it was made from, so a lock whose file changed but
# whose content did not (a checkout, `make lock` with nothing to change) keeps the .venv.
$(VENV)/.locked: $(LOCK)
	@if [ -x $(BIN)/python ] && cmp -s $(LOCK) $@; then :; else \
	  command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.12 or run 'make PYTHON=/path/to/python3.12 ...'"; exit 1; }; \
	  set -ex; rm -rf $(VENV); $(PYTHON) -m venv $(VENV); \
	  $(BIN)/python -m pip install --quiet pip==$(PIP_VERSION); \
	  cp $(LOCK) $@; rm -f $(VENV)/.installed-study $(VENV)/.installed-test; fi

# --no-compile: pip byte-compiles every module of every package one at a time, most of an
# install's time (scipy, pandas, pytensor: 151 s with, 46 s without); compileall then does it
# on every core (~27 s on 2). Without the .pyc files every command would compile what it
# imports again wherever Python may not write them (PYTHONDONTWRITEBYTECODE=1, set on our
# machines): 7 s of each CLI command, and of each new process of the test suite.
BYTECODE = $(BIN)/python -m compileall -q -j 0 $(VENV)/lib src
# After installing, compile the sampler's kernels (continuous and ordinal items) into the
# user's cache (once per machine and version, ~15 + ~25 s), as blavaan compiles its Stan
# programs at install time.
$(VENV)/.installed-study: $(VENV)/.locked pyproject.toml
	$(BIN)/python -m pip install --quiet --no-compile -c $(LOCK) -e .
	$(BYTECODE)
	$(BIN)/python -m bayes_bmi.bayes.compiled
	touch $@

$(VENV)/.installed-test: $(VENV)/.locked pyproject.toml
	$(BIN)/python -m pip install --quiet --no-compile -c $(LOCK) -e ".[test]"
	$(BYTECODE)
	touch $@

study: $(VENV)/.installed-study
	$(BIN)/python scripts/run_study.py --out results

# one test process per core (at most 4), a test file's tests on one process (README: why)
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist loadfile --durations=25 tests

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

bench: $(VENV)/.installed-study
	$(BIN)/python scripts/bench_ml.py

# Regenerate the lock after a change of pyproject.toml's dependencies (keeps every pin that
# still fits; `make lock UPGRADE=--upgrade` moves every package to its newest allowed version).
# uv runs from a throw-away venv; the lock is for Python 3.12 on Linux.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet uv
	.venv-lock/bin/uv pip compile pyproject.toml --extra test --python-version 3.12 \
		--python-platform linux $(UPGRADE) -o $(LOCK)
	rm -rf .venv-lock

clean-venv:
	rm -rf $(VENV)
