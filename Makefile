# Two commands do all set-up on a fresh machine:  make book  (the site)  and  make test  (the tests).
# Both create the virtual environment when it is missing or older than the requirements.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The environment's tools first on PATH (nbgrader calls alembic, jupyter-book calls jupyter).
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: book test test-fast strict-book system-deps page clean help
help:
	@echo "make book   build the website into _build/html (every cell executed; cached)"
	@echo "make test   run the whole test suite (strict build from scratch, library, exercises, grader, site)"
	@echo "make test-fast  the edit-test loop: all but the strict book build and the slow end-to-end tests"
	@echo "make page PAGE=book/gru.md   execute one chapter and report its time"
	@echo "make exercises  regenerate solutions/ and exercises/ from authoring/sources/ (and the README's points)"
	@echo "make bench  time nn.GRU against the Triton kernels (GPU: writes bench/records/; CPU: interpreter, prints only)"

$(STAMP): requirements.txt requirements-student.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

# sitebuild/build_book.py drops the execution cache when gated/ changed (jupyter-cache cannot see it).
book: $(STAMP)
	tools/system-deps.sh book
	$(PY) -m sitebuild.build_book

# The strict build of the tests: fresh output folder, fresh cache, warnings are errors.
strict-book: $(STAMP)
	tools/system-deps.sh book
	$(PY) -m sitebuild.build_book --strict

system-deps:
	tools/system-deps.sh

# --durations: the slowest tests named at the end of every run (CI's log), to keep the suite short
test: $(STAMP) system-deps
	$(PY) -m pytest --durations=20

# The developer's edit-test loop: every test not marked slow, so no strict from-scratch book build,
# no browser and no sandboxed grading run (make test, which CI runs, still runs them all).
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow" -q

page: $(STAMP)
	$(PY) -m sitebuild.run_page $(PAGE)

.PHONY: bench
bench: $(STAMP)
	$(PY) -m gated.kernels.benchmark

# The exercises' one source is authoring/sources/<a>.py: write solutions/ from it, release exercises/
# with nbgrader's generate_assignment, update the README's points tables; then the grader's hostile
# corpus, which is made from the release.
.PHONY: exercises
exercises: $(STAMP)
	$(PY) -m authoring
	$(PY) -m testbed.corpus

clean:
	rm -rf _build

# Grading throughput: an honest generated class of `gru`, our pipeline against stock nbgrader autograde.
.PHONY: bench-grade
STUDENTS ?= 16
bench-grade: $(STAMP) system-deps
	$(PY) -m testbed.throughput --students $(STUDENTS)
