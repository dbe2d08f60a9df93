"""collect -> sanitize -> run (sandbox, parallel) -> judge -> record (one writer) -> export.

Workers are threads, each borrowing a slot of the run's executor (:mod:`autograder.executors`,
chosen once in :func:`grade`) and driving one sandboxed process at a time there (the CPU work
happens there); the calling thread is the only one that writes the gradebook, the notebooks and the feedback.
A student is recorded in one transaction, then marked done in ``state/``; a run killed half-way
regrades at most the student it was recording, and scores are set, never added, so nothing counts twice.
"""
from __future__ import annotations

import copy
import os
import shutil
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import executors
from autograder import judge as judging
from autograder.collect import Submission, collect
from autograder.executors import Executor
from autograder.jobs import build_job, run_submission
from autograder.sandbox import Limits
from autograder.sanitize import NotANotebook, sanitize
from autograder.spec import AssignmentSpec


@dataclass
class Outcome:
    """Everything recorded about one student's submission."""

    student: str
    digest: str
    score: float = 0.0
    max_score: float = 0.0
    checks: list[judging.CheckResult] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # cells that crashed, timed out, errors
    fatal: str | None = None  # the notebook could not be graded at all
    output_excerpt: str = ""
    seconds: float = 0.0
    answers: dict[str, str] = field(default_factory=dict)
    notebook: object = None


@dataclass
class Course:
    """Where the instructor's notebooks live (nbgrader's CourseDirectory layout)."""

    root: Path
    source_directory: str = "solutions"

    def source(self, spec: AssignmentSpec) -> Path:
        return self.root / self.source_directory / spec.name / spec.notebook


def release_and_gradebook_cells(source: Path, spec: AssignmentSpec, db_url: str | None):
    """The released notebook made from ``source`` by nbgrader's own preprocessors.

    With ``db_url`` the gradebook's assignment, notebook, grade, solution and source cells are
    created or updated exactly as ``nbgrader generate_assignment`` does (so formgrader works).
    Returns (release, instructor_with_hidden_tests): the second keeps the hidden tests, for formgrader.
    """
    from nbgrader.api import Gradebook

    stamp_new_gradebooks_in_process()
    from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme, ClearOutput,
                                        ClearSolutions, ComputeChecksums, LockCells, SaveCells)

    nb = nbformat.read(str(source), as_version=4)
    resources = {"nbgrader": {"db_url": db_url, "assignment": spec.name, "notebook": Path(spec.notebook).stem},
                 "language": "python"}
    for pp in (LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(), ComputeChecksums()):
        nb, resources = pp.preprocess(nb, resources)
    if db_url:
        with Gradebook(db_url) as gb:
            gb.update_or_create_assignment(spec.name)
        nb, resources = SaveCells().preprocess(nb, resources)
    with_hidden = copy.deepcopy(nb)
    for pp in (ClearHiddenTests(), ClearMarkScheme(), ClearOutput()):
        nb, resources = pp.preprocess(nb, resources)
    return nb, with_hidden


def stamp_new_gradebooks_in_process() -> None:
    """nbgrader stamps a new gradebook with the head of its migrations by running the ``alembic``
    command: a second Python that imports alembic and nbgrader, about 2 s of a grading run. alembic's
    own API reads the same head from nbgrader's migration scripts in milliseconds, so nbgrader is
    given that instead; the command stays reachable (beside this interpreter) for nbgrader's own use."""
    import nbgrader.api
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import _temp_alembic_ini

    def migration_head() -> str:
        with _temp_alembic_ini("sqlite://") as ini:
            return ScriptDirectory.from_config(Config(ini)).get_current_head()

    nbgrader.api.get_alembic_version = migration_head
    bindir = os.path.dirname(sys.executable)
    if shutil.which("alembic") is None and os.path.exists(os.path.join(bindir, "alembic")):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


# --------------------------------------------------------------------------------------- grading


def grade_one(sub: Submission, spec: AssignmentSpec, skeleton, executor: Executor) -> Outcome:
    """Sanitize, run and judge one submission (runs in a worker thread; writes nothing shared)."""
    started = time.monotonic()
    outcome = Outcome(sub.student, sub.digest, max_score=spec.total_points, repairs=list(sub.problems))
    if sub.data is None:
        outcome.fatal = "; ".join(sub.problems) or "no notebook"
    else:
        try:
            clean = sanitize(sub.data, skeleton)
        except NotANotebook as exc:
            outcome.fatal = f"not a notebook: {exc}"
            clean = None
        if clean is not None:
            outcome.repairs += clean.repairs
            outcome.answers, outcome.notebook = clean.answers, clean.notebook
            seed = zlib.crc32(f"{spec.name}/{sub.student}".encode())
            job, cases = build_job(clean, spec, seed, executor.limits)
            with executor.slot() as slot:
                ran = run_submission(slot, job, cases, clean, executor.limits)
            outcome.failures, outcome.output_excerpt = ran.failures, ran.output[-4000:]
            bad_uses = judging.forbidden_per_check(spec, clean.notebook, clean.answers)
            for check in spec.checks:
                outcome.checks.append(judging.judge_check(check, cases[check.grade_id],
                                                          ran.results[check.grade_id], bad_uses[check.grade_id]))
    if outcome.fatal:
        outcome.checks = [judging.CheckResult(c.grade_id, c.points, 0.0, [outcome.fatal]) for c in spec.checks]
    outcome.score = round(sum(c.score for c in outcome.checks), 6)
    outcome.seconds = time.monotonic() - started
    return outcome


# --------------------------------------------------------------------------------------- the run


@dataclass
class RunSummary:
    outcomes: list[Outcome]
    skipped: list[str]
    seconds: float
    workspace: Path
    csv: Path
    executor: str = ""  # what ran the submissions (Executor.describe)


def grade(spec: AssignmentSpec, submissions: Path, course: Course, workspace: Path, db_url: str | None = None,
          workers: int | None = None, executor: Executor | None = None, unsafe: bool = False,
          limits: Limits | None = None, force: bool = False, progress=None,
          students: list[str] | None = None, cluster: str | None = None) -> RunSummary:
    """Grade every submission under ``submissions``; see the module docstring.

    The executor decides how each submission runs: given, or chosen here once from ``cluster``,
    ``unsafe`` and ``limits`` (the warm sandbox by default, :func:`autograder.executors.choose`).
    """
    from autograder import record

    executor = executor or executors.choose(unsafe, limits, cluster)
    executor.check()
    workspace = Path(workspace).resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    os.chmod(workspace, 0o700)
    db_url = db_url or f"sqlite:///{workspace / 'gradebook.db'}"
    started = time.monotonic()
    subs = collect(Path(submissions), spec.name, spec.notebook)
    if students:
        subs = [s for s in subs if s.student in students]
    state = record.State(workspace / "state" / spec.name)
    fingerprint = judging.spec_fingerprint(spec, course.source(spec).read_bytes())
    todo, skipped = [], []
    for sub in subs:
        if not force and state.is_done(sub.student, sub.digest, fingerprint):
            skipped.append(sub.student)
        else:
            todo.append(sub)
    workers = max(1, min(workers or executor.default_slots(), len(todo) or 1, executor.max_slots))
    scratch = workspace / "scratch"
    scratch.mkdir(exist_ok=True)
    os.chmod(scratch, 0o711)
    outcomes: list[Outcome] = []
    if todo:
        executor.start(spec.setup, workers, scratch)  # the sandboxes warm up while nbgrader makes the release
    try:
        release, with_hidden = release_and_gradebook_cells(course.source(spec), spec, db_url)
        writer = record.Writer(workspace, db_url, spec, with_hidden)
        if progress:
            progress.start(len(todo), skipped=len(skipped))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(grade_one, sub, spec, release, executor) for sub in todo]
            for future in as_completed(futures):
                try:
                    outcome = future.result()
                except BaseException:  # a sandbox that keeps failing: stop, grade no more
                    for pending in futures:
                        pending.cancel()
                    raise
                writer.record(outcome)  # the single writer
                state.mark_done(outcome.student, outcome.digest, fingerprint, outcome.score)
                outcomes.append(outcome)
                if progress:
                    progress.advance(outcome)
    finally:
        executor.close()
    shutil.rmtree(scratch, ignore_errors=True)
    csv = writer.export_csv()
    writer.close()
    if progress:
        progress.finish()
    return RunSummary(sorted(outcomes, key=lambda o: o.student), skipped, time.monotonic() - started, workspace, csv,
                      executor.describe())


__all__ = ["Course", "Outcome", "RunSummary", "grade", "grade_one", "release_and_gradebook_cells"]
