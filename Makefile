# Quick start: `make demo` (opens the reading room on sample_dicoms/) and `make test`.
# Both install everything first: Debian packages for the GUI (when run as root) and a .venv.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-oldest bench clean

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

# The analysis and lab tests again on the oldest numpy/pandas/scipy the package allows.
OLDEST ?= .venv-oldest
test-oldest:
	python3 -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet -c .ci/constraints-oldest.txt numpy pandas scipy \
		scikit-learn matplotlib openpyxl pyarrow pillow statsmodels krippendorff "pydicom>=3.0" \
		platformdirs pytest pytest-xvfb hypothesis
	PYTHONPATH=. $(OLDEST)/bin/python -m pytest -p no:cacheprovider tests/analysis tests/labs

bench: setup
	$(BIN)/python benchmarks/run_benchmarks.py

clean:
	rm -rf $(VENV) $(OLDEST) build *.egg-info
