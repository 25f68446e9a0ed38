# Two entry points for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test system-deps benchmark fuzz

$(BIN)/photo-archive: pyproject.toml
	@PYTHON=$(PYTHON) ./scripts/install-system-deps demo
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

# Debian packages the tests use: exiftool (reference reader), djpeg, Chromium (and python3-venv).
system-deps:
	@PYTHON=$(PYTHON) ./scripts/install-system-deps

demo: $(BIN)/photo-archive
	$(BIN)/photo-archive demo

test: system-deps $(BIN)/photo-archive
	$(BIN)/python -m pytest

# The long fuzz run of the metadata reader (the suite runs a fixed few thousand cases).
FUZZ_MINUTES ?= 10
fuzz: $(BIN)/photo-archive
	$(BIN)/python benchmarks/fuzz.py --minutes $(FUZZ_MINUTES)

# Speed and memory against the peers (README "Performance"); about 15 minutes the first time.
benchmark: $(BIN)/photo-archive
	$(BIN)/python benchmarks/run.py
