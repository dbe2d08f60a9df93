"""collect -> sanitize -> run (sandbox, parallel) -> judge -> record (one writer) -> export.

Workers are threads, each borrowing a slot of the run's executor (:mod:`autograder.executors`,
chosen once in :func:`grade`) and driving one sandboxed process at a time there (the CPU work
happens there); the calling thread is the only one that writes the gradebook, the notebooks and the feedback.
A student is recorded in one transaction, then marked done in ``state/``; a run killed half-way
regrades at most the student it was recording, and scores are set, never added, so nothing counts twice.
One run at a time holds the workspace (:class:`autograder.workspace.Lock`); each student's hidden
cases come from the workspace's secret (:mod:`autograder.workspace`). A user's mistake (a missing
folder, a corrupt or locked gradebook, a busy workspace) raises :class:`~autograder.errors.UserError`.
"""
from __future__ import annotations

import contextlib
import copy
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder import executors
from autograder import judge as judging
from autograder import workspace as workspaces
from autograder.collect import Submission, collect
from autograder.errors import UserError
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
    repairs: list[str] = field(default_factory=list)  # what was changed in the student's notebook
    flags: list[str] = field(default_factory=list)  # for the instructor: how the submission was found and named
    failures: list[str] = field(default_factory=list)  # cells that crashed, timed out, errors
    fatal: str | None = None  # the notebook could not be graded at all
    output_excerpt: str = ""
    seconds: float = 0.0
    answers: dict[str, str] = field(default_factory=dict)
    notebook: object = None
    source: str = ""  # where the notebook was found in the submissions (a path in the folder or zip)
    submitted: bytes | None = None  # the notebook as the student sent it


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


def grade_one(sub: Submission, spec: AssignmentSpec, skeleton, executor: Executor, secret: bytes) -> Outcome:
    """Sanitize, run and judge one submission (runs in a worker thread; writes nothing shared)."""
    started = time.monotonic()
    outcome = Outcome(sub.student, sub.digest, max_score=spec.total_points, repairs=list(sub.problems),
                      source=sub.source, submitted=sub.data, flags=list(sub.flags))
    clean = None
    if sub.data is None:
        outcome.fatal = "; ".join(sub.problems) or "no notebook"
    else:
        try:
            clean = sanitize(sub.data, skeleton)
            outcome.repairs += clean.repairs
            outcome.answers, outcome.notebook = clean.answers, clean.notebook
            outcome.fatal = clean.foreign
        except NotANotebook as exc:
            outcome.fatal = f"not a notebook: {exc}"
    if clean is not None and not outcome.fatal:
        def seed_of(grade_id: str) -> int:
            return workspaces.case_seed(secret, spec.name, sub.student, sub.digest, grade_id)

        job, cases = build_job(clean, spec, seed_of, executor.limits)
        with executor.slot() as slot:
            ran = run_submission(slot, job, cases, clean, executor.limits)
        outcome.failures, outcome.output_excerpt = ran.failures, ran.output[-4000:]
        try:
            breaks = judging.rule_breaks(spec, clean.notebook, clean.answers)
        except Exception as exc:  # noqa: BLE001 - a fault of the grader's must not stop the class's grading
            outcome.fatal = (f"the grader could not check what this notebook's answers use ({type(exc).__name__}: "
                             f"{str(exc)[:200]}); tell your instructor")
        else:
            for check in spec.checks:
                gid = check.grade_id
                outcome.checks.append(judging.judge_check(check, cases[gid], ran.results[gid], breaks[gid],
                                                          ran.guarded[gid]))
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
          students: list[str] | None = None, lock_wait_s: float = 10.0, cluster: str | None = None) -> RunSummary:
    """Grade every submission under ``submissions``; see the module docstring.

    The executor decides how each submission runs: given, or chosen here once from ``cluster``,
    ``unsafe`` and ``limits`` (the warm sandbox by default, :func:`autograder.executors.choose`). Raises
    :class:`UserError` for bad input or a busy workspace or gradebook, before changing anything
    where it can (a run stopped half-way keeps what it recorded, and the next one resumes).
    """
    executor = executor or executors.choose(unsafe, limits, cluster)
    executor.check()
    source = course.source(spec)
    if not source.is_file():
        raise UserError(f"no instructor notebook at {source}: pass --course, the folder that holds "
                        f"{course.source_directory}/{spec.name}/{spec.notebook}")
    executor.prepare(spec.sandbox_setup)  # the sandbox boots while the class is read and checked
    try:
        return _grade_checked(spec, submissions, source, workspace, db_url, workers, executor, force, progress,
                              students, lock_wait_s)
    finally:
        executor.close()


def _grade_checked(spec, submissions, source, workspace, db_url, workers, executor, force, progress, students,
                   lock_wait_s) -> RunSummary:
    subs = collect(Path(submissions), spec.name, spec.notebook)
    if students:
        unknown = sorted(set(students) - {s.student for s in subs})
        if unknown:
            raise UserError(f"no submission of {', '.join(map(repr, unknown))} in {submissions}; "
                            f"the students there: {', '.join(sorted(s.student for s in subs)[:10])}")
        subs = [s for s in subs if s.student in students]
    _refuse_another_assignment(subs, source, spec, submissions)
    workspace = Path(workspace).resolve()
    try:
        workspace.mkdir(parents=True, exist_ok=True)
        os.chmod(workspace, 0o700)
    except OSError as exc:
        raise UserError(f"cannot use {workspace} as the grading workspace: {exc.strerror}") from None
    with workspaces.Lock(workspace, lock_wait_s), _gradebook_errors(db_url or workspace / "gradebook.db"):
        return _grade_locked(spec, subs, Path(submissions), source, workspace,
                             db_url or f"sqlite:///{workspace / 'gradebook.db'}", workers, executor, force, progress)


def _grade_locked(spec, subs, submissions, source, workspace, db_url, workers, executor, force,
                  progress) -> RunSummary:
    from autograder import record

    started = time.monotonic()
    secret = workspaces.secret(workspace)
    state = record.State(workspace / "state" / spec.name)
    fingerprint = judging.spec_fingerprint(spec, source.read_bytes(), workspaces.secret_digest(secret))
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
        executor.start(spec.sandbox_setup, workers, scratch)  # the sandboxes warm up while nbgrader makes the release
    try:
        release, with_hidden = release_and_gradebook_cells(source, spec, db_url)
        writer = record.Writer(workspace, db_url, spec, with_hidden, source, submissions)
        if progress:
            progress.start(len(todo), skipped=len(skipped))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(grade_one, sub, spec, release, executor, secret) for sub in todo]
            try:
                for future in as_completed(futures):
                    outcome = future.result()
                    writer.record(outcome)  # the single writer
                    state.mark_done(outcome, fingerprint)
                    outcomes.append(outcome)
                    if progress:
                        progress.advance(outcome)
            except BaseException:  # a sandbox that keeps failing, or an interrupt
                for future in futures:  # stop soon: the workers finish the submission in hand only
                    future.cancel()
                raise
    finally:
        executor.close()
    shutil.rmtree(scratch, ignore_errors=True)
    csv = writer.export_csv()
    writer.close()
    if progress:
        progress.finish()
    return RunSummary(sorted(outcomes, key=lambda o: o.student), skipped, time.monotonic() - started, workspace, csv,
                      executor.describe())


def _refuse_another_assignment(subs: list[Submission], source: Path, spec: AssignmentSpec, where) -> None:
    """Refuse a class none of whose notebooks is this assignment's (a folder of another one)."""
    release, _ = release_and_gradebook_cells(source, spec, None)
    readable = [sub for sub in subs if sub.data is not None]
    foreign = 0
    for sub in readable:
        try:
            foreign += bool(sanitize(sub.data, release).foreign)
        except NotANotebook:
            pass
    if readable and foreign == len(readable):
        raise UserError(f"none of the {len(readable)} notebook(s) in {where} is the {spec.name} assignment's: no cell "
                        f"of theirs belongs to it (another assignment's submissions?)")


@contextlib.contextmanager
def _gradebook_errors(where):
    """The database's errors as one-line UserErrors: a corrupt, locked or unreachable gradebook."""
    from sqlalchemy import exc as db

    try:
        yield
    except db.ArgumentError as error:
        raise UserError(f"--db {where}: not a database URL SQLAlchemy can open ({error})") from None
    except db.NoSuchModuleError as error:
        raise UserError(f"--db {where}: no database driver for it is installed ({error})") from None
    except db.DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error).splitlines()[0]
        if "locked" in reason or "busy" in reason:
            raise UserError(f"the gradebook {where} is locked by another program ({reason}); close it (a database "
                            "browser, formgrader, another tool) and run again: what was recorded is kept") from None
        if "not a database" in reason or "malformed" in reason or "file is encrypted" in reason:
            raise UserError(f"the gradebook {where} is not a database nbgrader can read ({reason}); restore it from "
                            "a backup, or move it away to start a new one") from None
        raise UserError(f"the gradebook {where} cannot be used ({reason})") from None


__all__ = ["Course", "Outcome", "RunSummary", "grade", "grade_one", "release_and_gradebook_cells"]
