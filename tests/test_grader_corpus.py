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
from pathlib import Path

import nbformat
import pytest

from autograder import pipeline, sandbox
from autograder.notebook import is_test

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "files" / "submissions"
FULL = 20.0

# name: (score, text that must appear in the student's feedback page)
EXPECTED: dict[str, tuple[float, str]] = {
    "honest-solution": (FULL, "all 5 cases match the reference"),
    "honest-empty": (0, "still raises NotImplementedError"),
    "honest-reset-before": (9, "you applied the reset gate before the recurrent product"),
    # patched comparisons and lying objects: the judge compares plain numbers outside
    "patched-allclose": (0, "test_reset_gate"),
    "patched-unittest": (0, "test_reset_gate"),
    "lying-tensor": (0, "test_reset_gate"),
    "lying-object": (0, "expected a torch.Tensor"),
    "patched-builtins": (0, "test_reset_gate"),
    # IPython hooks: there is no IPython in the sandbox to hook
    "gru-assert-stripper": (0, "the grader runs notebooks without IPython"),
    "ast-transformer": (0, "the grader runs notebooks without IPython"),
    "custom-exc-handler": (0, "the grader runs notebooks without IPython"),
    "showtraceback-replaced": (0, "still raises NotImplementedError"),
    "event-callback-blanks-cells": (0, "the grader runs notebooks without IPython"),
    "hooks-with-honest-answers": (FULL, "all 5 cases match the reference"),
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
    "read-instructor-files": (0, "still raises NotImplementedError"),
    "write-everywhere": (0, "still raises NotImplementedError"),
    # the process: killed cells are skipped, killed tests score 0, the rest is graded
    "kernel-exit": (18, "answer_unpack: crash"),
    "kernel-signal": (18, "SIGKILL"),
    "segfault": (17, "SIGSEGV"),
    "endless-loop": (FULL, "answer_backward: timeout"),
    "endless-loop-uninterruptible": (17, "answer_backward: timeout"),
    "endless-loop-in-function": (18, "timeout"),
    "memory-hog": (FULL, "MemoryError"),
    "fork-storm": (FULL, "all 5 cases match the reference"),
    "output-flood": (FULL, "output flood"),
    "network-access": (FULL, "all 5 cases match the reference"),
    # forbidden shortcuts zero the tests that depend on them, and only those
    "uses-nn-grucell": (12, "uses nn.GRUCell (in answer_cell)"),
    "uses-nn-grucell-obfuscated": (12, "uses getattr() (in answer_cell)"),
    # broken files
    "empty-file": (0, "the file is empty"),
    "truncated": (0, "perhaps truncated"),
    "not-a-notebook": (0, "not valid JSON"),
    "json-not-notebook": (0, "not a Jupyter notebook"),
    "binary-garbage": (0, "not text"),
    # made by the fixture
    "huge": (0, "MiB a notebook may have"),
    "Zo_O_Brien_rm_-rf": (FULL, "recorded as"),
    "victim": (FULL, "all 5 cases match the reference"),
}

INSTRUCTOR_FILES = [ROOT / "solutions" / "gru" / "gru.ipynb", ROOT / "exercises" / "gru" / "gru.ipynb",
                    ROOT / "autograder" / "spec.py", *sorted((ROOT / "gated" / "checks").glob("*.py")),
                    ROOT / "README.md"]


def _digests(paths) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.exists()}


def _sandbox_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.split() and sandbox.UID_RANGE[0] <= int(line.split()[0]) < sandbox.UID_RANGE[1]]


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
    odd = subs / "Zoë O'Brien;rm -rf" / "gru"
    odd.mkdir(parents=True)
    (odd / "gru (1).ipynb").write_bytes(honest)
    (subs / "victim" / "gru").mkdir(parents=True)
    (subs / "victim" / "gru" / "gru.ipynb").write_bytes(honest)
    victim_digest = hashlib.sha256(honest).hexdigest()
    before = _digests(INSTRUCTOR_FILES)
    workspace = base / "grading"
    limits = sandbox.Limits(cell_s=10.0)
    summary = pipeline.grade(SPECS["gru"], subs, pipeline.Course(ROOT), workspace, workers=2, limits=limits)
    return {"summary": summary, "by_student": {o.student: o for o in summary.outcomes}, "before": before,
            "after": _digests(INSTRUCTOR_FILES), "workspace": workspace, "subs": subs,
            "victim_digest": victim_digest, "leftover": _sandbox_processes()}


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
