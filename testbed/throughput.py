"""Grading throughput: our pipeline against stock ``nbgrader autograde`` on the same honest class.

    .venv/bin/python -m testbed.throughput --students 16        (make bench-grade)

Makes N honest submissions of ``gru`` from the solutions (correct, or with one or two planted
mistakes of the catalogue, or an answer left unwritten), grades them with stock nbgrader (a fresh
course folder, its own gradebook, sequential as nbgrader runs) and with our pipeline (sandboxed,
``--workers`` = the cores), checks that both give every student the same total, and prints
submissions per minute and the ratio.

To time each side as a whole process (several runs, medians), give the class a folder and run one
side at a time: ``--class DIR --only ours`` (a fresh workspace each run; ``--cluster tcp://H:P`` for
a Dask cluster, ``--as-user NAME`` to grade as that ordinary user) and ``--class DIR --only nbgrader
--course DIR`` (the course is made on the first run, then ``nbgrader autograde --force`` each run).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# testbed.mistakes and testbed.submissions import the course library (torch: seconds), so they are
# imported where a class is made, not when one side is timed as a whole process
ROOT = Path(__file__).resolve().parent.parent

#: The class's mistakes, in turn ("unanswered" leaves answer_backward as its stub); neighbours
#: edit different answer cells, so any two of them combine.
CLASS_MISTAKES = ("reset_before", "update_swapped", "gate_order_zrn", "batch_first_ignored", "frobenius",
                  "unanswered")


def honest_plan(n: int) -> dict[str, list[str]]:
    """Each of n students' planted mistakes (none, one or two of CLASS_MISTAKES)."""
    return {f"student{i:03d}": [CLASS_MISTAKES[j % len(CLASS_MISTAKES)] for j in range(i, i + (i % 3))]
            for i in range(n)}


def honest_class(n: int, folder: Path, assignment: str = "gru") -> dict[str, list[str]]:
    """Write ``folder/<student>/gru/gru.ipynb`` for n students; returns each one's mistakes."""
    import nbformat

    from testbed.mistakes import planted_mistakes
    from testbed.submissions import answers, submission

    catalogue = {m.name: m for m in planted_mistakes()}
    plan = honest_plan(n)
    for student, mistakes in plan.items():
        edits = {}
        for name in mistakes:
            if name != "unanswered":
                edits.update(catalogue[name].all_edits())
        filled = answers(assignment, edits)
        if "unanswered" in mistakes:
            del filled["answer_backward"]
        (folder / student / assignment).mkdir(parents=True, exist_ok=True)
        nbformat.write(submission(assignment, filled), str(folder / student / assignment / f"{assignment}.ipynb"))
    return plan


NBGRADER_CONFIG = """c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.db_url = "sqlite:///{root}/gradebook.db"
c.Execute.timeout = 120
c.Execute.skip_cells_with_tag = "gated-instructor-skip-4f1c9e"
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[A-Za-z]*Warning"
"""


def stock_nbgrader(course: Path, submitted: Path, assignment: str = "gru") -> tuple[float, dict[str, float]]:
    """Run ``nbgrader generate_assignment`` then time ``nbgrader autograde``; returns (seconds, totals)."""
    from nbgrader.api import Gradebook

    (course / "source" / assignment).mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / assignment / f"{assignment}.ipynb", course / "source" / assignment)
    (course / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(root=str(course)))
    shutil.copytree(submitted, course / "submitted")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    nbgrader = [os.path.join(os.path.dirname(sys.executable), "nbgrader")]
    subprocess.run(nbgrader + ["generate_assignment", assignment, "--force"], cwd=course, env=env, check=True,
                   capture_output=True)
    started = time.perf_counter()
    subprocess.run(nbgrader + ["autograde", assignment, "--force"], cwd=course, env=env, check=True,
                   capture_output=True)
    seconds = time.perf_counter() - started
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        totals = {s.student.id: float(s.score) for s in gb.assignment_submissions(assignment)}
    return seconds, totals


def autograde_again(course: Path, assignment: str = "gru") -> tuple[float, dict[str, float]]:
    """``nbgrader autograde --force`` once more in a course that stock_nbgrader made."""
    from nbgrader.api import Gradebook

    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    started = time.perf_counter()
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "nbgrader"), "autograde", assignment, "--force"],
                   cwd=course, env=env, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    with Gradebook(f"sqlite:///{course}/gradebook.db") as gb:
        return seconds, {s.student.id: float(s.score) for s in gb.assignment_submissions(assignment)}


def ours(workspace: Path, submitted: Path, workers: int | None, assignment: str = "gru",
         cluster: str | None = None) -> tuple[float, dict[str, float]]:
    from autograder import pipeline
    from autograder.assignments import SPECS

    started = time.perf_counter()
    summary = pipeline.grade(SPECS[assignment], submitted, pipeline.Course(ROOT), workspace, workers=workers,
                             cluster=cluster)
    seconds = time.perf_counter() - started
    return seconds, {o.student: float(o.score) for o in summary.outcomes}


class Breakdown:
    """Where a submission's time goes, measured in this process by wrapping the pipeline's steps
    (``--profile``), the sandbox's steps by when the runner's events arrive: fork (from the request
    to the job's first event, and from its last to the sandbox's answer: the job's namespaces, its
    process, its end), set-up in job, answers (the student's cells), probes (the checks' cases),
    judge (the rules' analysis and the judges), record (the one writer), and the rest of a
    submission's way (sanitizing, the job's files)."""

    STEPS = ("sanitize", "job files", "fork", "set-up in job", "answers", "probes", "judge", "record")

    def __init__(self) -> None:
        import collections
        import threading

        self.seconds: dict[str, float] = collections.defaultdict(float)
        self.lock = threading.Lock()

    def add(self, step: str, seconds: float) -> None:
        with self.lock:
            self.seconds[step] += seconds

    def timed(self, owner, name: str, step: str) -> None:
        inner = getattr(owner, name)

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.add(step, time.perf_counter() - started)

        setattr(owner, name, wrapper)

    def install(self) -> None:
        from autograder import executors, judge, pipeline, record, sandbox

        self.timed(pipeline, "sanitize", "sanitize")
        self.timed(executors.Job, "write", "job files")
        self.timed(judge, "rule_breaks", "judge")
        self.timed(judge, "judge_check", "judge")
        self.timed(record.Writer, "record", "record")
        from autograder import channel

        seen: dict[int, dict] = {}  # id(attempt) -> when each first kind of event arrived (this clock)
        line = channel._Reader.line

        def arrived(reader, raw):
            now = time.perf_counter()
            line(reader, raw)
            try:
                event = json.loads(raw)
                kind = (event.get("ev"), event.get("status"))
            except (ValueError, AttributeError):
                return
            seen.setdefault(id(reader.attempt), {}).setdefault(kind, now)

        channel._Reader.line = arrived
        run = sandbox.Sandbox.run

        def attempt(box, *args, **kwargs):
            started = time.perf_counter()
            result = run(box, *args, **kwargs)
            ended = time.perf_counter()
            at = seen.pop(id(result), {})
            ready, done = at.get(("ready", None), started), at.get(("done", None), ended)
            first_cell = at.get(("cell", "start"), ready)
            first_probe = at.get(("probe", "start"), done)
            self.add("fork", (ready - started) + (ended - done))
            self.add("set-up in job", first_cell - ready)
            self.add("answers", max(0.0, first_probe - first_cell))
            self.add("probes", max(0.0, done - first_probe))
            return result

        sandbox.Sandbox.run = attempt

    def table(self, students: int, seconds: float, workers: int) -> str:
        lines = [f"per submission (mean of {students}; {workers} worker(s) in parallel, so the steps add up to "
                 f"about {workers} x the wall time of {seconds / students:.3f} s):"]
        for step in self.STEPS:
            lines.append(f"  {step:<14} {1000 * self.seconds.get(step, 0.0) / students:8.1f} ms")
        return "\n".join(lines)


def ours_as(user: str, workspace: Path, submitted: Path, workers: int | None,
            assignment: str = "gru") -> tuple[float, dict[str, float]]:
    """The grading command run as the ordinary user ``user`` (who must be able to read the class
    and write ``workspace``'s folder); the totals read back from its CSV."""
    import csv
    import pwd

    from testbed.users import User, run_as

    entry = pwd.getpwnam(user)
    argv = [sys.executable, "-m", "autograder", "grade", assignment, "--submissions", str(submitted),
            "--workspace", str(workspace), *(["--workers", str(workers)] if workers else [])]
    hold = Path(tempfile.mkdtemp(prefix="hold-"))
    started = time.perf_counter()
    run = run_as(User(user, entry.pw_uid, entry.pw_gid, made=True), argv, hold, cwd=ROOT, capture_output=True,
                 text=True, env=dict(os.environ, TMPDIR=str(workspace.parent)))
    seconds = time.perf_counter() - started
    shutil.rmtree(hold, ignore_errors=True)
    if run.returncode:
        raise SystemExit(f"grading as {user} failed: {run.stderr.strip().splitlines()[-1:]}")
    with open(workspace / f"{assignment}-grades.csv") as fh:
        return seconds, {row["student"]: float(row["score"]) for row in csv.DictReader(fh)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=16)
    parser.add_argument("--workers", type=int, default=None, help="default: the cores (a cluster's threads)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the class and both gradebooks here")
    parser.add_argument("--class", dest="klass", type=Path, default=None,
                        help="the class's folder: made there when missing, else graded as it is")
    parser.add_argument("--only", choices=("ours", "nbgrader"), default=None, help="time one side only")
    parser.add_argument("--workspace", type=Path, default=None, help="with --only ours: the workspace (emptied first)")
    parser.add_argument("--course", type=Path, default=None, help="with --only nbgrader: stock nbgrader's course")
    parser.add_argument("--cluster", default=None, help="grade on this Dask scheduler's workers")
    parser.add_argument("--as-user", default=None, help="grade as this ordinary user (the grader must be root)")
    parser.add_argument("--profile", action="store_true", help="with --only ours: where a submission's time goes")
    args = parser.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="bench-grade-")) if args.keep is None else args.keep
    base.mkdir(parents=True, exist_ok=True)
    submitted = args.klass or base / "class"
    if not submitted.exists():
        honest_class(args.students, submitted)
    students = sum(1 for p in submitted.iterdir() if p.is_dir())
    if args.only == "ours":
        workspace = args.workspace or base / "ours"
        shutil.rmtree(workspace, ignore_errors=True)
        if args.as_user:
            workspace.parent.mkdir(parents=True, exist_ok=True)
            seconds, totals = ours_as(args.as_user, workspace, submitted, args.workers)
        else:
            breakdown = Breakdown() if args.profile else None
            if breakdown:
                breakdown.install()
            seconds, totals = ours(workspace, submitted, args.workers, cluster=args.cluster)
            if breakdown:
                print(breakdown.table(students, seconds, args.workers or os.cpu_count() or 1))
        print(f"ours: {seconds:.2f} s  {60 * students / seconds:.1f} submissions/minute  totals {sorted(totals.items())}")
        return 0
    if args.only == "nbgrader":
        course = args.course or base / "nbgrader"
        seconds, totals = stock_nbgrader(course, submitted) if not course.exists() else autograde_again(course)
        print(f"nbgrader: {seconds:.2f} s  {60 * students / seconds:.1f} submissions/minute  "
              f"totals {sorted(totals.items())}")
        return 0
    plan = {p.name: [] for p in submitted.iterdir() if p.is_dir()} if args.klass else \
        honest_plan(args.students)
    print(f"{students} honest submissions of gru in {submitted} "
          f"({sum(1 for m in plan.values() if m)} with known mistakes); {os.cpu_count()} cores")
    if args.as_user:
        t_ours, s_ours = ours_as(args.as_user, base / "ours", submitted, args.workers)
    else:
        t_ours, s_ours = ours(base / "ours", submitted, args.workers, cluster=args.cluster)
    print(f"ours:  {t_ours:7.1f} s  {60 * students / t_ours:6.1f} submissions/minute")
    t_nbg, s_nbg = stock_nbgrader(base / "nbgrader", submitted)
    print(f"stock nbgrader autograde: {t_nbg:7.1f} s  {60 * students / t_nbg:6.1f} submissions/minute")
    diff = {s: (s_ours.get(s), s_nbg.get(s)) for s in plan if abs((s_ours.get(s) or -1) - (s_nbg.get(s) or -2)) > 1e-6}
    for student, (a, b) in sorted(diff.items()):
        print(f"  DIFFERENT SCORE {student} ({', '.join(plan[student]) or 'correct'}): ours {a}, nbgrader {b}")
    print(f"same scores on all {len(plan)}: {not diff}; ratio (ours / nbgrader throughput): {t_nbg / t_ours:.2f}x")
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)
    return 1 if diff else 0


if __name__ == "__main__":
    raise SystemExit(main())
