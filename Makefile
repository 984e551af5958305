# Quick start: `make demo` (opens the reading room on sample_dicoms/) and `make test`.
# Both install everything first: Debian packages for the GUI (when run as root) and a .venv.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/install-system-packages.sh
	bash scripts/install-system-packages.sh
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: setup
	bash scripts/demo.sh

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/run_benchmarks.py

clean:
	rm -rf $(VENV) build *.egg-info
