"""``python -m autograder grade`` run by an ordinary user (made by the test, removed at the end):
an honest class and the hostile corpus get the same scores as when root grades them."""
from __future__ import annotations

import csv
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from autograder import pipeline, sandbox
from testbed.throughput import honest_class
from testbed.users import give, ordinary_user, run_as

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "files" / "submissions"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def user():
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        pytest.skip(str(exc))
    with ordinary_user() as made:
        yield made


@pytest.fixture
def area(user):
    """A folder of the user's own (the test's pytest folders are root's only)."""
    base = Path(tempfile.mkdtemp(prefix="grade-as-user-"))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


# the corpus's run as test_grader_corpus makes it as root: the same limits (10 s a cell, not 30)
AS_THE_CORPUS_RUN = """import sys
from pathlib import Path
from autograder import pipeline, sandbox
from autograder.assignments import SPECS
pipeline.grade(SPECS["gru"], Path(sys.argv[1]), pipeline.Course(Path.cwd()), Path(sys.argv[2]), workers=2,
               limits=sandbox.Limits(cell_s=10.0))
"""


def _grade_as(user, submissions: Path, area: Path, hold: Path, as_corpus: bool = False) -> tuple[dict[str, float], str]:
    give(user, area)
    workspace = area / "grading"
    command = ["-c", AS_THE_CORPUS_RUN, str(submissions), str(workspace)] if as_corpus else \
        ["-m", "autograder", "grade", "gru", "--submissions", str(submissions), "--workspace", str(workspace),
         "--workers", "2"]
    run = run_as(user, [sys.executable, *command], hold, cwd=ROOT, capture_output=True,
                 text=True, timeout=600, env=dict(os.environ, TMPDIR=str(area)))
    assert run.returncode == 0, run.stderr[-3000:]
    with open(workspace / "gru-grades.csv") as fh:
        return {row["student"]: float(row["score"]) for row in csv.DictReader(fh)}, run.stdout


def test_an_ordinary_user_grades_an_honest_class_with_roots_scores(user, area, tmp_path):
    honest_class(6, area / "class")
    scores, summary = _grade_as(user, area / "class", area, tmp_path / "hold")
    assert "unprivileged" in summary.splitlines()[-1], summary
    if os.geteuid() == 0:  # the same class graded by root, here
        from autograder.assignments import SPECS

        as_root = pipeline.grade(SPECS["gru"], area / "class", pipeline.Course(ROOT), tmp_path / "root", workers=2)
        assert scores == {o.student: o.score for o in as_root.outcomes}
        assert "as root" in as_root.executor
    assert len(scores) == 6 and len(set(scores.values())) > 1  # a class with mistakes, not all alike


def test_an_ordinary_user_grades_the_hostile_corpus_with_its_expected_scores(user, area, tmp_path):
    sys.path.insert(0, str(ROOT / "tests"))
    from test_grader_corpus import EXPECTED  # the scores the root run of the corpus asserts

    subs = area / "submitted"
    for path in sorted(CORPUS.glob("*.ipynb")):
        (subs / path.stem / "gru").mkdir(parents=True)
        shutil.copy(path, subs / path.stem / "gru" / "gru.ipynb")
    (subs / "victim" / "gru").mkdir(parents=True)
    shutil.copy(CORPUS / "honest-solution.ipynb", subs / "victim" / "gru" / "gru.ipynb")
    scores, _ = _grade_as(user, subs, area, tmp_path / "hold", as_corpus=True)
    expected = {name: want[0] for name, want in EXPECTED.items() if name in scores}
    assert set(scores) == {p.stem for p in CORPUS.glob("*.ipynb")} | {"victim"}
    assert {name: scores[name] for name in expected} == pytest.approx(expected)
