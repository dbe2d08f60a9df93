"""What of a notebook the sandbox runs: the answers and the instructor's own cells, never the
notebook's set-up cell (the sandbox has its own) nor its install cell (it would start pip to fetch
the course library, which the sandbox must not have: a second of CPU and an error in every
student's feedback)."""
from __future__ import annotations

import nbformat

from autograder import pipeline, sandbox
from autograder.assignments import SPECS
from autograder.jobs import build_job
from autograder.notebook import INSTALL_CELL, grade_id
from autograder.sanitize import sanitize
from testbed.submissions import ROOT


def test_the_job_of_a_submission_runs_neither_the_install_cell_nor_the_set_up_cell():
    spec = SPECS["gru"]
    release, _ = pipeline.release_and_gradebook_cells(ROOT / "solutions" / "gru" / "gru.ipynb", spec, None)
    honest = (ROOT / "tests" / "files" / "submissions" / "honest-solution.ipynb").read_bytes()
    clean = sanitize(honest, release)
    job, _ = build_job(clean, spec, lambda gid: 1, sandbox.Limits())
    by_id = {grade_id(c): i for i, c in enumerate(clean.notebook.cells)}
    ran = {cell["index"] for cell in job.manifest["cells"]}
    assert INSTALL_CELL in by_id and by_id[INSTALL_CELL] not in ran
    assert all(clean.notebook.cells[i].source.strip() != spec.setup.strip() for i in ran)
    answers = {i for i, c in enumerate(clean.notebook.cells) if grade_id(c) in clean.answers}
    assert answers and answers <= ran  # every answer cell runs


def test_a_student_cell_named_like_the_install_cell_still_runs():
    """Only the instructor's install cell is skipped: an answer cell given its grade id runs."""
    spec = SPECS["gru"]
    release, _ = pipeline.release_and_gradebook_cells(ROOT / "solutions" / "gru" / "gru.ipynb", spec, None)
    nb = nbformat.read(str(ROOT / "tests" / "files" / "submissions" / "honest-solution.ipynb"), as_version=4)
    clean = sanitize(nbformat.writes(nb).encode(), release)
    answer = next(i for i, c in enumerate(clean.notebook.cells) if grade_id(c) in clean.answers)
    clean.notebook.cells[answer].metadata["nbgrader"]["grade_id"] = INSTALL_CELL
    job, _ = build_job(clean, spec, lambda gid: 1, sandbox.Limits())
    assert answer in {cell["index"] for cell in job.manifest["cells"]}
