"""The pipeline on a tiny nbgrader assignment ("toy", built here): sanitize, collect, resume, refuse, CLI."""
from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import collect as collecting
from autograder import executors, pipeline, sandbox
from autograder.notebook import grade_id
from autograder.sanitize import NotANotebook, sanitize
from autograder.spec import AssignmentSpec, Check, ProbeError, Rules, Verdict


def _cell(kind, source, **nbgrader):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, "solution": False, "grade": False, "locked": False,
                                     **nbgrader}
    return cell


def source_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        _cell("markdown", "# Toy assignment", grade_id="intro", locked=True),
        _cell("code", "import numpy as np", grade_id="imports", locked=True),
        _cell("code", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
              grade_id="add_answer", solution=True),
        _cell("code", "assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\nassert add(2, 2) == 4\n### END HIDDEN TESTS",
              grade_id="test_add", grade=True, points=1, locked=True),
        _cell("code", "def scale(x, s):\n    ### BEGIN SOLUTION\n    return np.asarray(x) * s\n    ### END SOLUTION",
              grade_id="scale_answer", solution=True),
        _cell("code", "assert np.allclose(scale([1, 2], 2), [2, 4])\n### BEGIN HIDDEN TESTS\n"
              "assert np.allclose(scale([1.5], -1), [-1.5])\n### END HIDDEN TESTS",
              grade_id="test_scale", grade=True, points=2, locked=True),
    ]
    return nb


def write_course(root: Path) -> Path:
    folder = root / "solutions" / "toy"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(source_notebook(), str(folder / "toy.ipynb"))
    return root


def _judge_close(name):
    def judge(cases, results):
        good, notes = 0, []
        for case, result in zip(cases, results):
            if isinstance(result, ProbeError):
                notes.append(f"{name}: {result.kind}: {result.message}")
                continue
            want = case["a"] + case["b"] if name == "add" else case["x"] * case["s"]
            got = np.asarray(result.get("y"), dtype=float)
            if got.shape == np.shape(want) and np.allclose(got, want):
                good += 1
            else:
                notes.append(f"{name} is wrong: expected {np.round(want, 3).tolist()}, got {np.round(got, 3).tolist()}")
        return Verdict(1.0 if good == len(cases) else 0.0, tuple(dict.fromkeys(notes)))
    return judge


SPEC = AssignmentSpec(
    name="toy",
    notebook="toy.ipynb",
    checks=(
        Check("test_add", 1.0, "def probe(ns, inputs):\n    return {'y': ns['add'](inputs['a'], inputs['b'])}\n",
              lambda seed: [{"a": np.float64(1.5), "b": np.arange(3.0)}, {"a": 2.0, "b": -2.0}],
              _judge_close("add"), rules=Rules(modules=("numpy",), forbidden=("numpy.add",)), timeout_s=5.0),
        Check("test_scale", 2.0, "def probe(ns, inputs):\n    return {'y': ns['scale'](inputs['x'], inputs['s'])}\n",
              lambda seed: [{"x": np.random.default_rng(seed).normal(size=4), "s": 3.0}],
              _judge_close("scale"), timeout_s=5.0),
    ),
)


# =========================================================================================== tests

ROOT = Path(__file__).resolve().parent.parent
GOOD = {"add_answer": "def add(a, b):\n    return a + b", "scale_answer": "def scale(x, s):\n    return x * s"}


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> nbformat.NotebookNode:
    nb, _ = pipeline.release_and_gradebook_cells(_course(tmp_path_factory.mktemp("toy")), SPEC, None)
    return nb


def _course(root: Path) -> Path:
    write_course(root)
    return root / "solutions" / "toy" / "toy.ipynb"


def _submission(release, answers: dict[str, str]) -> nbformat.NotebookNode:
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid in answers:
            cell.source = answers[gid]
    return nb


def _class(folder: Path, release, students: dict[str, dict[str, str]]) -> Path:
    for name, answers in students.items():
        (folder / name / "toy").mkdir(parents=True, exist_ok=True)
        nbformat.write(_submission(release, answers), str(folder / name / "toy" / "toy.ipynb"))
    return folder


def test_sanitize_takes_only_answers_and_reports_every_repair(release):
    nb = _submission(release, GOOD)
    test = next(c for c in nb.cells if grade_id(c) == "test_add")
    test.source = "pass"
    test.metadata["tags"] = ["skip-execution"]
    test.metadata["nbgrader"]["points"] = 50
    clean = sanitize(nbformat.writes(nb).encode(), release)
    assert clean.answers == GOOD
    rebuilt = next(c for c in clean.notebook.cells if grade_id(c) == "test_add")
    assert rebuilt.source.startswith("assert add(1, 2) == 3") and "tags" not in rebuilt.metadata
    assert any("test_add edited" in r for r in clean.repairs)
    assert any("skip-execution" in r for r in clean.repairs)
    assert any("points of test_add changed to 50" in r for r in clean.repairs)


def test_sanitize_matches_answers_by_position_when_metadata_is_gone(release):
    nb = _submission(release, GOOD)
    for cell in nb.cells:
        cell.metadata = {}
    clean = sanitize(nbformat.writes(nb).encode(), release)
    assert clean.answers == GOOD
    assert any("matched by position" in r for r in clean.repairs)


def test_sanitize_reads_a_grade_id_that_is_not_a_string_as_none(release):
    nb = _submission(release, GOOD)
    for cell in nb.cells:
        if grade_id(cell) == "add_answer":
            cell.metadata["nbgrader"]["grade_id"] = ["add_answer"]  # unhashable: once a TypeError
    clean = sanitize(nbformat.writes(nb).encode(), release)
    assert clean.answers["scale_answer"] == GOOD["scale_answer"]


@pytest.mark.parametrize("data, reason", [(b"", "empty"), (b"{", "not valid JSON"), (b"[1, 2]", "not a Jupyter"),
                                          (b"\xff\xfe\x00", "not text")])
def test_sanitize_refuses_what_is_not_a_notebook(release, data, reason):
    with pytest.raises(NotANotebook, match=reason):
        sanitize(data, release)


def test_collect_reads_an_lms_zip_without_extracting_it(tmp_path, release):
    archive = tmp_path / "export.zip"
    text = nbformat.writes(_submission(release, GOOD))
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("alice_toy.ipynb", text)  # flat, nbgrader's named_regexp convention
        zf.writestr("Bob Smith/toy/toy.ipynb", text)  # the submitted/ layout
        zf.writestr("../evil_toy.ipynb", text)  # zip-slip names are ignored
        zf.writestr("__MACOSX/._carol_toy.ipynb", "junk")
    found = {s.student: s for s in collecting.collect(archive, "toy", "toy.ipynb")}
    assert sorted(found) == ["Bob_Smith", "alice"]
    assert found["alice"].data == text.encode()
    assert "recorded as 'Bob_Smith'" in found["Bob_Smith"].flags[0] and found["alice"].problems == []


def test_collect_keeps_the_name_of_a_class_of_one(tmp_path, release):
    alone = {s.student for s in collecting.collect(_class(tmp_path / "one", release, {"alice": GOOD}), "toy",
                                                   "toy.ipynb")}
    wrapped = _class(tmp_path / "zipped" / "submitted", release, {"bob": GOOD})
    assert (alone, {s.student for s in collecting.collect(wrapped.parent, "toy", "toy.ipynb")}) == \
        ({"alice"}, {"bob"})


@pytest.mark.slow
def test_regrading_is_idempotent_and_an_interrupted_run_resumes(tmp_path, release):
    root = tmp_path / "course"
    _course(root)
    subs = _class(tmp_path / "subs", release, {"alice": GOOD, "bob": {}, "carol": {"add_answer": GOOD["add_answer"]}})
    workspace = tmp_path / "grading"
    first = pipeline.grade(SPEC, subs, pipeline.Course(root), workspace, workers=2)
    scores = {o.student: o.score for o in first.outcomes}
    assert scores == {"alice": 3.0, "bob": 0.0, "carol": 1.0}
    again = pipeline.grade(SPEC, subs, pipeline.Course(root), workspace, workers=2)
    assert again.outcomes == [] and sorted(again.skipped) == ["alice", "bob", "carol"]
    # a run killed after recording carol but before marking her done: she is regraded, once
    (workspace / "state" / "toy" / "carol.json").unlink()
    resumed = pipeline.grade(SPEC, subs, pipeline.Course(root), workspace, workers=2)
    assert [o.student for o in resumed.outcomes] == ["carol"]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}") as gb:
        recorded = {s.student.id: s.score for s in gb.assignment_submissions("toy")}
        assert len(gb.assignment_submissions("toy")) == 3
    assert recorded == scores
    # a changed submission is regraded
    _class(subs, release, {"bob": GOOD})
    changed = pipeline.grade(SPEC, subs, pipeline.Course(root), workspace, workers=2)
    assert [(o.student, o.score) for o in changed.outcomes] == [("bob", 3.0)]


JUDGE_SOURCE = """import numpy as np

from gated.checks.contract import ProbeError, Verdict


def judge(cases, results):
    ok = all(not isinstance(r, ProbeError) and np.allclose(r.get("y"), c["a"] + c["b"])
             for c, r in zip(cases, results))
    return Verdict(1.0 if ok else 0.0, ("add: " + ("right" if ok else "wrong"),))
"""


def _spec_judged_by_a_module_file(path: Path, monkeypatch) -> AssignmentSpec:
    """SPEC whose test_add is judged by the module in ``path`` (loaded from the file, not sys.path)."""
    import importlib.util

    name = f"toy_judge_{abs(hash(str(path)))}"
    path.write_text(JUDGE_SOURCE)
    loader = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(loader)
    monkeypatch.setitem(sys.modules, name, module)
    loader.loader.exec_module(module)
    add = dataclasses.replace(SPEC.checks[0], judge=module.judge)
    return dataclasses.replace(SPEC, checks=(add, SPEC.checks[1]), judge_modules=(name,))


@pytest.mark.slow
def test_a_changed_line_of_a_judges_reference_regrades_an_unchanged_submission(tmp_path, release, monkeypatch):
    root = tmp_path / "course"
    _course(root)
    subs = _class(tmp_path / "subs", release, {"alice": GOOD, "bob": {}})
    judge_file = tmp_path / "toy_judge.py"
    spec = _spec_judged_by_a_module_file(judge_file, monkeypatch)
    workspace = tmp_path / "grading"
    first = pipeline.grade(spec, subs, pipeline.Course(root), workspace, unsafe=True)
    kept = pipeline.grade(spec, subs, pipeline.Course(root), workspace, unsafe=True)
    judge_file.write_text(JUDGE_SOURCE.replace('c["a"] + c["b"]', 'c["b"] + c["a"]'))
    regraded = pipeline.grade(spec, subs, pipeline.Course(root), workspace, unsafe=True)
    assert ([o.score for o in first.outcomes], sorted(kept.skipped), [o.score for o in regraded.outcomes]) == \
        ([3.0, 0.0], ["alice", "bob"], [3.0, 0.0])


@pytest.mark.slow
def test_a_changed_instructor_notebook_regrades_an_unchanged_submission(tmp_path, release):
    root = tmp_path / "course"
    source = _course(root)
    subs = _class(tmp_path / "subs", release, {"alice": GOOD, "bob": {}})
    workspace = tmp_path / "grading"
    pipeline.grade(SPEC, subs, pipeline.Course(root), workspace, unsafe=True)
    nb = nbformat.read(str(source), as_version=4)
    nb.cells[0].source += "\n\nOne more sentence of instructions."
    nbformat.write(nb, str(source))
    again = pipeline.grade(SPEC, subs, pipeline.Course(root), workspace, unsafe=True)
    assert [o.student for o in again.outcomes] == ["alice", "bob"]


def test_the_course_fingerprint_covers_the_checks_and_the_reference_cells():
    from autograder.assignments import SPECS
    from autograder.judge import scoring_files

    files = {path.resolve() for _, path in scoring_files(SPECS["gru"])}
    wanted = {ROOT / "gated" / "cells.py", *(ROOT / "gated" / "checks").glob("*.py"),
              ROOT / "autograder" / "judge.py", ROOT / "autograder" / "sanitize.py"}
    assert wanted - files == set()


@pytest.mark.slow
def test_grading_refuses_without_a_sandbox_unless_unsafe(tmp_path, release, monkeypatch):
    root = tmp_path / "course"
    _course(root)
    subs = _class(tmp_path / "subs", release, {"alice": GOOD})
    monkeypatch.setitem(sandbox._CHECKED, "bwrap", "missing bwrap (test)")
    with pytest.raises(sandbox.SandboxUnavailable):
        pipeline.grade(SPEC, subs, pipeline.Course(root), tmp_path / "grading")
    summary = pipeline.grade(SPEC, subs, pipeline.Course(root), tmp_path / "grading", unsafe=True)
    assert [o.score for o in summary.outcomes] == [3.0]


@pytest.mark.slow
@pytest.mark.parametrize("kind", [executors.WarmSandbox, executors.ColdSandbox, executors.Unsafe])
def test_every_executor_gives_the_same_scores(tmp_path, release, kind):
    root = tmp_path / "course"
    _course(root)
    subs = _class(tmp_path / "subs", release, {"alice": GOOD, "carol": {"add_answer": GOOD["add_answer"]}})
    summary = pipeline.grade(SPEC, subs, pipeline.Course(root), tmp_path / "grading", workers=2,
                             executor=kind(sandbox.Limits(cell_s=10.0)))
    assert {o.student: o.score for o in summary.outcomes} == {"alice": 3.0, "carol": 1.0}


def test_grade_runs_every_submission_through_the_executor_it_is_given(tmp_path, release):
    class Counting(executors.Unsafe):
        runs = 0

        def make_slot(self, index, setup, scratch):
            slot = super().make_slot(index, setup, scratch)
            run = slot.run

            def counted(job, deadline):
                Counting.runs += 1
                return run(job, deadline)

            slot.run = counted
            return slot

    root = tmp_path / "course"
    _course(root)
    subs = _class(tmp_path / "subs", release, {"alice": GOOD, "bob": {}})
    summary = pipeline.grade(SPEC, subs, pipeline.Course(root), tmp_path / "grading", executor=Counting())
    assert (Counting.runs, sorted(o.score for o in summary.outcomes)) == (2, [0.0, 3.0])


def test_sandbox_command_binds_nothing_of_the_course(tmp_path):
    cmd = sandbox.command(tmp_path / "job", 61000, sandbox.Limits(), 5)
    binds = [cmd[i + 1] for i, a in enumerate(cmd) if a in ("--ro-bind", "--bind")]
    assert "--bind" not in cmd  # nothing on the host is writable from inside
    for forbidden in ("solutions", "exercises", "grading", "assignments", "tests"):
        assert not any(forbidden in b.split("/") for b in binds), (forbidden, binds)
    assert str(ROOT) not in binds and "/" not in binds
    assert "--unshare-net" in cmd and "--die-with-parent" in cmd
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--remount-ro"] == ["/dev", "/"]  # read-only but the jobs' tmpfs
    # every job's init applies the limits and the worker's uid (the zygote's configuration)
    config = json.loads(next(a for a in cmd if a.startswith("--config="))[len("--config="):])
    assert (config["uid"], config["limits"]["nproc"], config["limits"]["as"]) == (61000, 64, sandbox.Limits().memory_bytes)


@pytest.mark.slow
def test_cli_grades_a_class_and_prints_a_summary(tmp_path):
    honest = ROOT / "tests" / "files" / "submissions" / "honest-solution.ipynb"
    archive = tmp_path / "lms.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(honest, "dana_gru.ipynb")
        zf.writestr("eve_gru.ipynb", b"not a notebook")
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", "gru", "--submissions", str(archive),
                          "--workspace", str(tmp_path / "grading"), "--workers", "2",
                          "--db", f"sqlite:///{tmp_path / 'elsewhere.db'}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "dana" in run.stdout and "20/20" in run.stdout and "not a notebook" in run.stdout
    assert "time left" in run.stderr
    rows = (tmp_path / "grading" / "gru-grades.csv").read_text().splitlines()
    assert rows[0].startswith("student,assignment,score,max_score") and len(rows) == 3
    assert (tmp_path / "elsewhere.db").exists() and not (tmp_path / "grading" / "gradebook.db").exists()
    assert (tmp_path / "grading" / "feedback" / "dana" / "gru" / "gru.html").exists()
    assert (tmp_path / "grading" / "autograded" / "dana" / "gru" / "gru.ipynb").exists()


# ----------------------------------------------------------------- the hidden-case secret

def test_hidden_cases_come_from_a_secret_per_workspace_student_and_submission(tmp_path):
    from autograder import workspace as workspaces

    key = workspaces.secret(tmp_path)
    path = tmp_path / workspaces.SECRET
    assert path.stat().st_mode & 0o777 == 0o600 and len(path.read_text().strip()) == 64
    assert workspaces.secret(tmp_path) == key  # created once
    seeds = {workspaces.case_seed(key, "gru", student, digest, "test_gru_cell")
             for student in ("alice", "bob") for digest in ("d1", "d2")}
    (tmp_path / "elsewhere").mkdir()
    other = workspaces.case_seed(workspaces.secret(tmp_path / "elsewhere"), "gru", "alice", "d1", "test_gru_cell")
    assert len(seeds) == 4 and other not in seeds


def test_a_job_holds_the_cases_never_the_secret_or_a_seed(tmp_path, release):
    from autograder import jobs, workspace as workspaces

    key = workspaces.secret(tmp_path)
    clean = sanitize(nbformat.writes(_submission(release, GOOD)).encode(), release)
    seed = workspaces.case_seed(key, "toy", "alice", "d", "test_scale")
    job, _ = jobs.build_job(clean, SPEC, lambda gid: seed, sandbox.Limits())
    folder = job.write(tmp_path / "job")
    everything = b"".join(p.read_bytes() for p in folder.iterdir())
    assert key.hex().encode() not in everything and str(seed).encode() not in everything


@pytest.mark.slow
def test_rotating_the_secret_regrades_every_submission(tmp_path, release):
    from autograder import workspace as workspaces

    root = tmp_path / "course"
    _course(root)
    subs = _class(tmp_path / "subs", release, {"alice": GOOD, "bob": {}})
    ws = tmp_path / "grading"
    pipeline.grade(SPEC, subs, pipeline.Course(root), ws, unsafe=True)
    kept = pipeline.grade(SPEC, subs, pipeline.Course(root), ws, unsafe=True)
    (ws / workspaces.SECRET).unlink()
    rotated = pipeline.grade(SPEC, subs, pipeline.Course(root), ws, unsafe=True)
    assert (sorted(kept.skipped), sorted(o.student for o in rotated.outcomes)) == (["alice", "bob"], ["alice", "bob"])
    assert [o.score for o in rotated.outcomes] == [3.0, 0.0]


def test_an_unreadable_secret_is_a_clear_error(tmp_path):
    from autograder import workspace as workspaces
    from autograder.errors import UserError

    (tmp_path / workspaces.SECRET).write_text("not hex")
    with pytest.raises(UserError, match="restore it from your backup"):
        workspaces.secret(tmp_path)


def test_a_notebook_renamed_by_an_lms_is_the_notebook_not_a_repair(tmp_path, release):
    text = nbformat.writes(_submission(release, GOOD))
    (tmp_path / "lms").mkdir()
    for name in ("alice_12345_attempt_2026-12-01-10-00-00_toy.ipynb", "bob_77_toy-1.ipynb", "carol_toy (2).ipynb",
                 "dana_homework.ipynb"):
        (tmp_path / "lms" / name).write_text(text)
    found = {s.student: s.problems for s in collecting.collect(tmp_path / "lms", "toy", "toy.ipynb")}
    assert found == {"alice": [], "bob": [], "carol": [],
                     "dana": ["notebook named 'dana_homework.ipynb' instead of 'toy.ipynb': graded anyway"]}
