# Quick start:   make book   (set up .venv, build the book into _build/html)
#                make test   (set up .venv, run every test: unit, browser, notebooks here and as another CPU)
#                make quick  (the unit tests without the slow tiers: a contributor's check, about two minutes)
# Each target creates or refreshes .venv from requirements.txt and pyproject.toml first.

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed

.PHONY: venv book html test quick lint unit notebooks notebooks-other-cpu refresh compat bench clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

book: venv html

# The one book-build command (the browser test calls it with BOOK_OUT set): warnings fail it, and
# --all rebuilds every page, so a warning in a page that did not change is not hidden.
# BOOK_OUT: the folder that gets _build/html/ (default: here).
BOOK_OUT ?= .
html:
	$(VENV)/bin/jupyter-book build . -W --keep-going --all --path-output $(BOOK_OUT)

# Lint and format first (seconds), then the unit tests (they include the browser test of the built
# book), then every chapter, on this machine as it is and then as another CPU would run it
# (scripts/other_cpu.py).
test: lint unit notebooks notebooks-other-cpu

# ruff's settings are in pyproject.toml, and cnn_tutorial/ruff.toml for the package's 76 columns.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

unit: venv
	$(PY) -m pytest

# Every unit test but the slow tiers (markers in pyproject.toml): no book build or browser, no torchrun
# groups, no virtual environments, no real MNIST, and none of the property tests' hundreds of random
# cases (hypothesis marks them itself).
quick: venv
	$(PY) -m pytest -m "not (browser or torchrun or venv or mnist or hypothesis)"

notebooks: venv
	$(PY) -m pytest --nbval book/

# One thread per chapter, as another CPU: two chapters at a time, each in its own kernel, top to bottom.
notebooks-other-cpu: venv
	$(PY) -m scripts.other_cpu $(PY) -m pytest --nbval book/ -n 2 --dist loadscope

# Re-execute every chapter in place (after changing the package), or CHAPTERS="forward_ops backprop".
refresh: venv
	$(PY) -m scripts.refresh_notebooks $(CHAPTERS)

# The lowest versions pyproject.toml allows (unit tests) and what Colab ships (a smoke run), each in
# its own virtual environment: scripts/compat.py.
compat: venv
	$(PY) -m scripts.compat

bench: venv
	$(PY) benchmarks/bench_ops.py
	$(PY) benchmarks/bench_numpy_training.py
	$(PY) benchmarks/bench_torch_training.py
	$(PY) benchmarks/bench_distributed.py

clean:
	rm -rf _build .pytest_cache
