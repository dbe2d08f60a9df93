"""collect -> sanitize -> run (sandbox, parallel) -> judge -> record (one writer) -> export.

Workers are threads, each driving one sandboxed process at a time (the CPU work happens there);
the calling thread is the only one that writes the gradebook, the notebooks and the feedback.
A student is recorded in one transaction, then marked done in ``state/``; a run killed half-way
regrades at most the student it was recording, and scores are set, never added, so nothing counts twice.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from autograder import judge as judging
from autograder import sandbox
from autograder.collect import Submission, collect
from autograder.sanitize import NotANotebook, Sanitized, is_test, sanitize
from autograder.spec import AssignmentSpec, ProbeError


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

    ensure_alembic_on_path()
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


def ensure_alembic_on_path() -> None:
    """nbgrader runs ``alembic`` to stamp a new gradebook; it lives beside this interpreter."""
    bindir = os.path.dirname(sys.executable)
    if shutil.which("alembic") is None and os.path.exists(os.path.join(bindir, "alembic")):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


# --------------------------------------------------------------------------------------- grading


def build_job(job_dir: Path, clean: Sanitized, spec: AssignmentSpec, seed: int, limits: sandbox.Limits):
    """Write job.json and the cases' arrays; return (cases per check, cell index -> limit)."""
    if job_dir.exists():
        shutil.rmtree(job_dir)
    job_dir.mkdir(parents=True)
    cells, limits_by_cell = [], {}
    for i, cell in enumerate(clean.notebook.cells):
        if cell.cell_type == "code" and not is_test(cell) and cell.source.strip():
            cells.append({"index": i, "source": cell.source})
            limits_by_cell[i] = limits.cell_s
    checks, all_cases = [], {}
    for check in spec.checks:
        cases = check.cases(seed)
        all_cases[check.grade_id] = cases
        encoded = []
        for k, case in enumerate(cases):
            item = {}
            for n, (key, value) in enumerate(case.items()):
                if isinstance(value, (bool, int, float, str)) or value is None:
                    item[key] = {"type": "json", "value": value}
                else:
                    name = f"{check.grade_id}.{k}.{n}.npy"
                    np.save(job_dir / name, np.asarray(value), allow_pickle=False)
                    item[key] = {"type": "npy", "file": name}
            encoded.append(item)
        checks.append({"grade_id": check.grade_id, "probe": check.probe, "cases": encoded,
                       "timeout_s": check.timeout_s})
    job = {"setup": spec.setup, "cells": cells, "checks": checks, "cell_timeout_s": limits.cell_s}
    (job_dir / "job.json").write_text(json.dumps(job))
    for path in [job_dir, *job_dir.iterdir()]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return all_cases, limits_by_cell


def run_in_sandbox(base: Path, clean: Sanitized, spec: AssignmentSpec, seed: int, slot: int,
                   limits: sandbox.Limits, unsafe: bool, worker: sandbox.WarmWorker | None = None):
    """Run the job (retrying past crashes); return (cases, results per check, failures, output)."""
    uid = sandbox.sandbox_uid(slot)
    job_dir = sandbox.prepare_dir((worker.inbox if worker else base) / "job")
    all_cases, cell_limits = build_job(job_dir, clean, spec, seed, limits)
    probe_limits = {c.grade_id: c.timeout_s for c in spec.checks}
    job = json.loads((job_dir / "job.json").read_text())
    skip_cells: set[int] = set()
    skip_probes: set[tuple[str, int]] = set()
    killed: dict[tuple[str, int], ProbeError] = {}
    failures: list[str] = []
    cell_errors: dict[int, str] = {}
    output = b""
    received: dict[tuple[str, int], dict] = {}
    started = time.monotonic()
    deadline = started + limits.submission_s
    for _ in range(limits.max_attempts):
        job["skip_cells"], job["skip_probes"] = sorted(skip_cells), sorted(skip_probes)
        (job_dir / "job.json").write_text(json.dumps(job))
        if worker is not None:
            attempt = worker.run("job", cell_limits, probe_limits, deadline)
        else:
            attempt = sandbox.execute(job_dir, base, uid, limits, cell_limits, probe_limits, deadline, unsafe)
        received.update(attempt.results)
        output = output or attempt.output
        if attempt.output_total > limits.output_bytes:
            failures.append(f"output flood: {attempt.output_total / 2**20:.1f} MiB printed, "
                            f"the first {limits.output_bytes // 1024} KiB kept")
        for event in attempt.events:
            if event.get("ev") == "setup":
                failures.append(f"the grader's own set-up failed in the sandbox: {str(event.get('error'))[:200]}")
            if event.get("ev") == "cell" and event.get("status") in ("error", "timeout"):
                cell_errors[event.get("i")] = f"{event.get('status')}: {str(event.get('error', ''))[:200]}"
        if attempt.done:
            break
        kind, message = sandbox.describe_exit(attempt, limits)
        where = attempt.in_progress or ("startup",)
        if where[0] == "cell":
            cell_errors[where[1]] = f"{kind}: {message}"
            skip_cells.add(where[1])
        elif where[0] == "probe":
            grade_id, k = where[1], where[2]
            killed[(grade_id, k)] = ProbeError(kind, message)
            skip_probes.add((grade_id, k))
            # the other cases of a test that hangs or kills the process would do the same: skip them
            for j in range(k + 1, len(all_cases[grade_id])):
                if (grade_id, j) not in skip_probes:
                    killed[(grade_id, j)] = ProbeError(kind, f"skipped after an earlier case: {message}")
                    skip_probes.add((grade_id, j))
        else:
            failures.append(f"the sandbox stopped during {where[0]}: {message}")
            break
        if time.monotonic() >= deadline:
            failures.append(f"the submission used up its {limits.submission_s:g} s")
            break
    results = {}
    for check in spec.checks:
        results[check.grade_id] = [killed.get((check.grade_id, k)) or judging.read_result(received.get((check.grade_id, k)))
                                   for k in range(len(all_cases[check.grade_id]))]
    names = {i: clean.notebook.cells[i].metadata.get("nbgrader", {}).get("grade_id") or f"cell {i + 1}"
             for i in cell_errors}
    failures += [f"{names[i]}: {msg}" for i, msg in sorted(cell_errors.items())]
    shutil.rmtree(job_dir, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    return all_cases, results, failures, output.decode("utf-8", "replace")


def grade_one(sub: Submission, spec: AssignmentSpec, skeleton, scratch: Path, slot: int,
              limits: sandbox.Limits, unsafe: bool, worker: sandbox.WarmWorker | None = None) -> Outcome:
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
            cases, results, failures, output = run_in_sandbox(scratch / sub.student, clean, spec, seed, slot,
                                                              limits, unsafe, worker)
            outcome.failures, outcome.output_excerpt = failures, output[-4000:]
            bad_uses = judging.forbidden_per_check(spec, clean.notebook, clean.answers)
            for check in spec.checks:
                bad = bad_uses[check.grade_id]
                outcome.checks.append(judging.judge_check(check, cases[check.grade_id],
                                                          results[check.grade_id], bad))
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


def grade(spec: AssignmentSpec, submissions: Path, course: Course, workspace: Path, db_url: str | None = None,
          workers: int | None = None, unsafe: bool = False, limits: sandbox.Limits | None = None,
          force: bool = False, progress=None, students: list[str] | None = None) -> RunSummary:
    """Grade every submission under ``submissions``; see the module docstring."""
    from autograder import record

    limits = limits or sandbox.Limits()
    if not unsafe:
        sandbox.check_available()
    workspace = Path(workspace).resolve()
    workspace.mkdir(parents=True, exist_ok=True)
    os.chmod(workspace, 0o700)
    db_url = db_url or f"sqlite:///{workspace / 'gradebook.db'}"
    started = time.monotonic()
    release, with_hidden = release_and_gradebook_cells(course.source(spec), spec, db_url)
    subs = collect(Path(submissions), spec.name, spec.notebook)
    if students:
        subs = [s for s in subs if s.student in students]
    state = record.State(workspace / "state" / spec.name)
    fingerprint = judging.spec_fingerprint(spec)
    todo, skipped = [], []
    for sub in subs:
        if not force and state.is_done(sub.student, sub.digest, fingerprint):
            skipped.append(sub.student)
        else:
            todo.append(sub)
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1, sandbox.MAX_WORKERS))
    scratch = workspace / "scratch"
    scratch.mkdir(exist_ok=True)
    os.chmod(scratch, 0o711)
    writer = record.Writer(workspace, db_url, spec, with_hidden)
    outcomes: list[Outcome] = []
    slots = list(range(workers))
    lock = threading.Lock()

    warm: dict[int, sandbox.WarmWorker] = {}

    def worker_for(slot: int) -> sandbox.WarmWorker | None:
        if unsafe or not limits.warm:
            return None
        if slot not in warm:
            warm[slot] = sandbox.WarmWorker(slot, limits, spec.setup, scratch / f"worker{slot}")
        return warm[slot]

    def work(sub: Submission) -> Outcome:
        with lock:
            slot = slots.pop()
        try:
            for attempt in range(2):
                try:
                    return grade_one(sub, spec, release, scratch, slot, limits, unsafe, worker_for(slot))
                except sandbox.WorkerBroken:
                    broken = warm.pop(slot, None)
                    if broken is not None:
                        broken.close()
                    if attempt:
                        raise
            raise AssertionError("unreachable")
        finally:
            with lock:
                slots.append(slot)

    if progress:
        progress.start(len(todo), skipped=len(skipped))
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(work, sub) for sub in todo]
            for future in as_completed(futures):
                outcome = future.result()
                writer.record(outcome)  # the single writer
                state.mark_done(outcome.student, outcome.digest, fingerprint, outcome.score)
                outcomes.append(outcome)
                if progress:
                    progress.advance(outcome)
    finally:
        for worker in warm.values():
            worker.close()
    shutil.rmtree(scratch, ignore_errors=True)
    csv = writer.export_csv()
    writer.close()
    if progress:
        progress.finish()
    return RunSummary(sorted(outcomes, key=lambda o: o.student), skipped, time.monotonic() - started, workspace, csv)


__all__ = ["Course", "Outcome", "RunSummary", "grade", "grade_one", "release_and_gradebook_cells"]
