# Two commands do all set-up on a fresh machine:  make book  (the site)  and  make test  (the tests).
# Both create the virtual environment when it is missing or older than the requirements.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JB     := $(VENV)/bin/jupyter-book

.PHONY: book test strict-book system-deps page clean help
help:
	@echo "make book   build the website into _build/html (every cell executed; cached)"
	@echo "make test   run the whole test suite (strict build from scratch, library, exercises, grader, site)"
	@echo "make page PAGE=book/gru.md   execute one chapter and report its time"

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# jupyter-cache keys a page on its own cells only; a change to the course library must re-execute
# every page, so the cache is dropped whenever gated/ changes.
book: $(STAMP)
	$(PY) tools/cache_key.py _build
	$(JB) build . --keep-going

# The strict build of the tests: fresh output folder, fresh cache, warnings are errors.
strict-book: $(STAMP)
	rm -rf _build/strict
	$(JB) build . --path-output _build/strict -W -n --keep-going --all

system-deps:
	tools/system-deps.sh

test: $(STAMP) system-deps
	$(PY) -m pytest

page: $(STAMP)
	$(PY) tools/run_page.py $(PAGE)

clean:
	rm -rf _build
