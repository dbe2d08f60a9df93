"""The hostile corpus: every submission in tests/files/submissions/ graded in ONE pipeline run.

Each gets exactly the score its honest content earns and a reason in its feedback; nothing it does
reaches another submission, the gradebook or the instructor's files, and no process outlives it.
The notebooks are written by ``.venv/bin/python -m testbed.corpus`` (``make exercises`` runs it).
"""
from __future__ import annotations

import csv
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import nbformat
import pytest

from autograder import pipeline, sandbox
from autograder.notebook import is_test

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "files" / "submissions"
FULL = 20.0

HIDES = "which hide what the code calls"  # every test zeroed: the answers use what no rule can check

# name: (score, text that must appear in the student's feedback page)
EXPECTED: dict[str, tuple[float, str]] = {
    "honest-solution": (FULL, "all 5 cases match the reference"),
    "honest-empty": (0, "still raises NotImplementedError"),
    "honest-reset-before": (9, "you applied the reset gate before the recurrent product"),
    # patched comparisons and lying objects: the judge compares plain numbers outside
    "patched-allclose": (0, "import numpy.testing"),
    "patched-unittest": (0, "import unittest"),
    "lying-tensor": (0, "test_reset_gate"),
    "lying-object": (0, "expected a torch.Tensor"),
    "patched-builtins": (0, "import builtins"),
    # IPython hooks: there is no IPython in the sandbox to hook
    "gru-assert-stripper": (0, "the grader runs notebooks without IPython"),
    "ast-transformer": (0, "import ast"),
    "custom-exc-handler": (0, "the grader runs notebooks without IPython"),
    "showtraceback-replaced": (0, "the private attribute ._showtraceback"),
    "event-callback-blanks-cells": (0, "the grader runs notebooks without IPython"),
    "hooks-with-honest-answers": (0, "import sys"),
    # notebook tampering: rebuilt from the instructor's skeleton
    "test-cells-edited": (0, "test cell test_reset_gate edited"),
    "test-cells-deleted": (FULL, "test cell test_gru_cell missing"),
    "test-cells-duplicated": (FULL, "duplicated"),
    "skip-execution-tags": (0, "tags dropped: skip-execution"),
    "points-changed": (FULL, "points of test_gru_cell changed to 100"),
    "test-cell-made-answer": (0, "re-marked as an answer"),
    "colab-stripped": (FULL, "matched by position"),
    "vscode-stripped": (FULL, "matched by position"),
    "cells-reordered": (FULL, "cells reordered"),
    "helper-cells-added": (FULL, "kept with that answer"),
    # the file system: nothing of the instructor's or other students' is visible or writable
    "read-instructor-files": (0, "import os"),
    "write-everywhere": (0, "import os"),
    # the process: killed cells are skipped, killed tests score 0, the rest is graded (see RAN)
    "kernel-exit": (0, "answer_unpack: crash"),
    "kernel-signal": (0, "SIGKILL"),
    "segfault": (0, "import ctypes"),
    "endless-loop": (FULL, "answer_backward: timeout"),
    "endless-loop-uninterruptible": (0, "answer_backward: timeout"),
    "endless-loop-in-function": (18, "timeout"),
    "memory-hog": (FULL, "MemoryError"),
    "fork-storm": (0, "import os"),
    "output-flood": (FULL, "output flood"),
    "network-access": (0, "import socket"),
    # 1. forbidden callables by any route: zero the tests that depend on them, and only those
    # (new_state shares gru_cell's answer cell, so it goes with it)
    "uses-nn-grucell": (10, "uses torch.nn.GRUCell (line 7 of answer_cell)"),
    "uses-nn-grucell-obfuscated": (0, "getattr() with a computed name on torch.nn"),
    "uses-fullwidth-alias": (10, "uses torch.nn.GRUCell (line 7 of answer_cell)"),
    "uses-module-alias-chain": (10, "uses torch.nn.GRUCell (line 9 of answer_cell)"),
    "uses-aten-op-namespace": (0, "the module torch.ops"),
    "uses-pytorch-decomposition": (0, "the private module torch._decomp.decompositions"),
    "installed-from-the-gradient-flow-cell": (10, "torch.nn.GRUCell (line"),
    "installed-through-the-namespace": (0, "globals()"),
    "smuggled-recurrent-kernel": (9, "your code ran PyTorch's own recurrent kernels (torch.nn.modules.rnn"),
    "smuggled-autograd": (17, "your code ran autograd (torch.autograd.graph._engine_run_backward)"),
    "backward-by-torch-func": (17, "uses the module torch.autograd"),
    # 2. hidden cases nobody can predict
    "precomputed-old-seed-cases": (11, "gru_cell does not match the reference"),
    "gradient-flow-constants": (18, "is off by more than 0.1 %"),
    # 4. and 5. what comes back is bounded and validated; text is escaped
    "channel-endless-line": (0, "a line longer than 4 MiB"),
    "channel-forged-results": (0, "forged"),
    "huge-exception-message": (10, "ValueError: <script>alert(1)</script>"),
    "huge-result-array": (18, "the grader accepts at most 1 MiB per array"),
    "escape-sequences-in-messages": (10, "ValueError: <b>bold</b>"),
    # 6. bad input inside a class
    "another-assignments-notebook": (0, "this notebook is not this assignment's"),
    # broken files
    "empty-file": (0, "the file is empty"),
    "truncated": (0, "perhaps truncated"),
    "not-a-notebook": (0, "not valid JSON"),
    "json-not-notebook": (0, "not a Jupyter notebook"),
    "binary-garbage": (0, "not text"),
    # made by the fixture
    "huge": (0, "MiB a notebook may have"),
    "Zoe_O_Brien_rm_-rf": (FULL, "all 5 cases match the reference"),
    "victim": (FULL, "all 5 cases match the reference"),
    "alice": (FULL, "all 5 cases match the reference"),
    "lms-renamed": (FULL, "all 5 cases match the reference"),
}

#: 3. identity: what the instructor is told (the summary's reasons), for the students made from odd names
FLAGGED: dict[str, str] = {
    "Zoe_O_Brien_rm_-rf": "student name \"Zoë O'Brien;rm -rf\" recorded as 'Zoe_O_Brien_rm_-rf'",
    "victim": "the student names 'victim' and 'ｖｉｃｔｉｍ' both read as 'victim': recorded as 'victim'",
    "alice": "the student names 'alice' and 'alice!' both read as 'alice': recorded as 'alice'",
}
IMPOSTORS = {"ｖｉｃｔｉｍ": "victim", "alice!": "alice"}  # crafted names: never their classmate's id

#: The process attacks: (the test whose run it killed, the kind): the other tests got their results.
RAN: dict[str, tuple[str, str]] = {
    "kernel-signal": ("test_unpack_pack", "crash"), "segfault": ("test_gru_backward", "crash"),
    "endless-loop-in-function": ("test_unpack_pack", "timeout"),
}

INSTRUCTOR_FILES = [ROOT / "solutions" / "gru" / "gru.ipynb", ROOT / "exercises" / "gru" / "gru.ipynb",
                    ROOT / "autograder" / "spec.py", *sorted((ROOT / "gated" / "checks").glob("*.py")),
                    ROOT / "README.md"]


def _digests(paths) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.exists()}


def _sandbox_processes() -> list[str]:
    """The processes of this run's sandboxes: their uids are the ones this process claimed (another
    grading run on the machine claims others)."""
    out = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout
    mine = sandbox.uids_claimed()
    return [line for line in out.splitlines() if line.split() and int(line.split()[0]) in mine]


@pytest.fixture(scope="session")
def corpus_run(tmp_path_factory):
    """Lay the corpus out as a class folder and grade it once (2 workers)."""
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        pytest.skip(f"the sandbox cannot run here: {exc}")
    from autograder.assignments import SPECS

    base = tmp_path_factory.mktemp("corpus")
    subs = base / "submitted"
    for path in sorted(CORPUS.glob("*.ipynb")):
        folder = subs / path.stem / "gru"
        folder.mkdir(parents=True)
        shutil.copy(path, folder / "gru.ipynb")
    honest = (CORPUS / "honest-solution.ipynb").read_bytes()
    huge = nbformat.read(str(CORPUS / "honest-solution.ipynb"), as_version=4)
    huge.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (21 * 2**20))]
    (subs / "huge" / "gru").mkdir(parents=True)
    nbformat.write(huge, str(subs / "huge" / "gru" / "gru.ipynb"))
    empty = (CORPUS / "honest-empty.ipynb").read_bytes()
    odd = subs / "Zoë O'Brien;rm -rf" / "gru"
    odd.mkdir(parents=True)
    (odd / "gru (1).ipynb").write_bytes(honest)
    for name, content in (("victim", honest), ("ｖｉｃｔｉｍ", empty), ("alice", honest), ("alice!", empty)):
        (subs / name / "gru").mkdir(parents=True)
        (subs / name / "gru" / "gru.ipynb").write_bytes(content)
    (subs / "gru" / "gru").mkdir(parents=True)  # a folder named after the assignment is nobody's
    (subs / "gru" / "gru" / "gru.ipynb").write_bytes(honest)
    (subs / "lms-renamed" / "gru").mkdir(parents=True)  # renamed by an LMS: the notebook, no repair
    (subs / "lms-renamed" / "gru" / "lms-renamed_12345_attempt_2026-12-01-10-00-00_gru.ipynb").write_bytes(honest)
    victim_digest = hashlib.sha256(honest).hexdigest()
    before = _digests(INSTRUCTOR_FILES)
    workspace = base / "grading"
    limits = sandbox.Limits(cell_s=10.0)
    started = time.monotonic()
    summary = pipeline.grade(SPECS["gru"], subs, pipeline.Course(ROOT), workspace, workers=2, limits=limits)
    return {"summary": summary, "by_student": {o.student: o for o in summary.outcomes}, "before": before,
            "after": _digests(INSTRUCTOR_FILES), "workspace": workspace, "subs": subs,
            "victim_digest": victim_digest, "leftover": _sandbox_processes(), "seconds": time.monotonic() - started}


def test_corpus_files_are_what_testbed_corpus_writes_from_the_release():
    from testbed.corpus import corpus

    written = corpus()
    committed = {p.name: p.read_bytes() for p in CORPUS.glob("*.ipynb")}
    stale = sorted(n for n in written.keys() | committed.keys() if written.get(n) != committed.get(n))
    assert stale == [], "run make exercises (it rewrites the corpus from the release)"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_submission_gets_its_honest_score_and_a_reason(corpus_run, name):
    outcome = corpus_run["by_student"].get(name)
    assert outcome is not None, f"{name} was not graded; graded: {sorted(corpus_run['by_student'])}"
    score, text = EXPECTED[name]
    feedback = (corpus_run["workspace"] / "feedback" / name / "gru" / "gru.html").read_text()
    details = [(c.grade_id, c.score, c.feedback[:1]) for c in outcome.checks]
    assert outcome.score == pytest.approx(score), (
        f"{name}: expected {score}, got {outcome.score}; repairs {outcome.repairs}; failures {outcome.failures}; "
        f"checks {details}")
    import html

    assert text in html.unescape(feedback), f"{name}: {text!r} not in the feedback; checks {details}"


@pytest.mark.slow
def test_corpus_names_odd_and_colliding_students_for_the_instructor(corpus_run):
    by_student = corpus_run["by_student"]
    for name, flag in FLAGGED.items():
        assert any(flag in f for f in by_student[name].flags), (name, by_student[name].flags)
    from autograder.cli import summary_table

    table = summary_table(corpus_run["summary"], "gru", width=1000)
    assert all(flag.split(": ")[0] in table for flag in FLAGGED.values()), table


@pytest.mark.slow
def test_corpus_never_gives_a_crafted_name_a_classmates_id(corpus_run):
    by_student = corpus_run["by_student"]
    for crafted, classmate in IMPOSTORS.items():
        impostor = [o for o in by_student.values() if any(repr(crafted) in f and "recorded as" in f and
                                                          f.endswith("check which submission is whose") and
                                                          f"recorded as {classmate!r}" not in f for f in o.flags)]
        assert len(impostor) == 1 and impostor[0].student.startswith(classmate + "~"), impostor
        assert impostor[0].score == 0 and by_student[classmate].score == FULL  # each kept their own work
    assert "gru" not in by_student  # a folder named after the assignment is nobody's


@pytest.mark.slow
def test_corpus_lms_renamed_notebook_is_not_a_repair(corpus_run):
    assert corpus_run["by_student"]["lms-renamed"].repairs == []


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RAN))
def test_corpus_process_attacks_cost_only_the_test_they_killed(corpus_run, name):
    outcome = corpus_run["by_student"][name]
    killed, kind = RAN[name]
    errors = {c.grade_id: c.errors for c in outcome.checks}
    assert kind in errors[killed], errors
    assert not any("missing" in e or "crash" in e for gid, e in errors.items() if gid != killed), errors


@pytest.mark.slow
def test_corpus_feedback_is_bounded_and_escaped(corpus_run):
    pages = sorted((corpus_run["workspace"] / "feedback").rglob("*.html"), key=lambda p: p.stat().st_size)
    assert pages[-1].stat().st_size <= 2**20, pages[-1]
    for page in pages:
        text = page.read_text()
        assert "<script>" not in text and "\x1b" not in text and "\u202e" not in text, page
    for notebook in (corpus_run["workspace"] / "autograded").rglob("*.ipynb"):
        outputs = "".join(o.get("text", "") for c in nbformat.read(str(notebook), as_version=4).cells
                          for o in c.get("outputs", []))
        assert "\x1b" not in outputs and "\u202e" not in outputs, notebook


@pytest.mark.slow
def test_corpus_summary_reaches_the_terminal_without_control_characters(corpus_run):
    from autograder.cli import summary_table

    table = summary_table(corpus_run["summary"], "gru")
    assert not any(ord(c) < 32 and c != "\n" or 0x7f <= ord(c) < 0xa0 or c == "\u202e" for c in table)


@pytest.mark.slow
def test_corpus_feedback_never_shows_hidden_tests(corpus_run):
    for page in (corpus_run["workspace"] / "feedback").rglob("*.html"):
        text = page.read_text()
        assert "### BEGIN HIDDEN TESTS" not in text and "suite=\"hidden\"" not in text, page


@pytest.mark.slow
def test_corpus_leaves_instructor_files_and_other_students_alone(corpus_run):
    assert corpus_run["after"] == corpus_run["before"]
    victim = corpus_run["subs"] / "victim" / "gru" / "gru.ipynb"
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == corpus_run["victim_digest"]
    reader = corpus_run["by_student"]["read-instructor-files"].output_excerpt
    assert "files visible:" in reader and "LEAK" not in reader, reader
    writer = corpus_run["by_student"]["write-everywhere"].output_excerpt
    assert "WROTE: []" in writer, writer


@pytest.mark.slow
def test_corpus_leaves_no_process_running(corpus_run):
    assert corpus_run["leftover"] == []


@pytest.mark.slow
def test_corpus_gradebook_and_csv_hold_one_row_per_student(corpus_run):
    from nbgrader.api import Gradebook

    summary = corpus_run["summary"]
    with Gradebook(f"sqlite:///{corpus_run['workspace'] / 'gradebook.db'}") as gb:
        scores = {s.student.id: s.score for s in gb.assignment_submissions("gru")}
    assert scores == {o.student: pytest.approx(o.score) for o in summary.outcomes}
    with open(summary.csv) as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["student"] for r in rows) == sorted(scores)
    assert all(float(r["max_score"]) == FULL for r in rows)


@pytest.mark.slow
def test_corpus_autograded_notebooks_open_in_formgrader_layout(corpus_run):
    path = corpus_run["workspace"] / "autograded" / "victim" / "gru" / "gru.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    tests = [c for c in nb.cells if is_test(c)]
    assert tests and all("autograder:" in c.outputs[0]["text"] for c in tests)
    assert os.stat(corpus_run["workspace"]).st_mode & 0o077 == 0  # the workspace is the instructor's only


@pytest.mark.slow
def test_corpus_nbgrader_sees_the_autograded_submissions(corpus_run):
    """formgrader reads the workspace through NbGraderAPI: every submission is there, autograded."""
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    workspace = corpus_run["workspace"]
    config = Config()
    config.CourseDirectory.root = str(workspace)
    config.CourseDirectory.db_url = f"sqlite:///{workspace / 'gradebook.db'}"
    submissions = NbGraderAPI(config=config).get_submissions("gru")
    by_student = {s["student"]: s for s in submissions}
    assert set(by_student) == set(corpus_run["by_student"])
    assert all(s["autograded"] for s in submissions)
    assert by_student["victim"]["score"] == pytest.approx(FULL)


@pytest.mark.slow
def test_corpus_in_one_run_loses_nothing_and_prints_what_it_cost(corpus_run):
    """The figures of the one run (pytest -s shows them): wrong, lost, processes left, peak memory of
    this process (the grader and pytest), the largest feedback page, the time."""
    by_student = corpus_run["by_student"]
    wrong = sorted(n for n, (score, _) in EXPECTED.items() if n in by_student and by_student[n].score != score)
    lost = sorted(n for n in EXPECTED if n not in by_student)
    pages = list((corpus_run["workspace"] / "feedback").rglob("*.html"))
    largest = max(pages, key=lambda p: p.stat().st_size)
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(f"\ncorpus: {len(by_student)} submissions graded in one run in {corpus_run['seconds']:.1f} s; wrong "
          f"{len(wrong)}, lost {len(lost)}, processes left {len(corpus_run['leftover'])}; peak RSS of this "
          f"process {peak / 1024:.0f} MiB; largest feedback {largest.stat().st_size / 1024:.0f} KiB "
          f"({largest.parent.parent.name})")
    assert (wrong, lost, corpus_run["leftover"]) == ([], [], [])
