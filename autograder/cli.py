"""``python -m autograder grade <assignment> --submissions PATH [--workers N] [--db URL] [--workspace DIR]
[--cluster tcp://HOST:PORT] [--unsafe]``."""
from __future__ import annotations

import argparse
import csv
import importlib
import shutil
import sys
import textwrap
import time
from pathlib import Path

from autograder import feedback, pipeline, sandbox
from autograder.errors import UserError
from autograder.text import terminal_line


class Progress:
    """Progress of a grading run: a live bar with the time left on a terminal (tqdm), and on
    anything else (a pipe, a file, a CI log) a plain line every tenth of the class and a last one."""

    def __init__(self, stream=None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.bar = None
        self.total = self.done = 0
        self.every = 1
        self.start_time = time.monotonic()

    def start(self, total: int, skipped: int = 0) -> None:
        self.total, self.done, self.start_time = total, 0, time.monotonic()
        self.every = max(1, -(-total // 10))
        if skipped:
            print(f"{skipped} submission(s) unchanged since their last grading: kept", file=self.stream)
        if total and self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=self.stream, unit="submission", dynamic_ncols=True,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}] {postfix}")

    def advance(self, outcome) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(terminal_line(outcome.student, 24), refresh=False)
            self.bar.update(1)
        elif self.done % self.every == 0 or self.done == self.total:
            elapsed = time.monotonic() - self.start_time
            left = elapsed / self.done * (self.total - self.done)
            print(f"graded {self.done}/{self.total} in {elapsed:.0f} s, time left about {left:.0f} s",
                  file=self.stream, flush=True)

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.close()


def load_spec(name: str):
    try:
        specs = importlib.import_module("autograder.assignments").SPECS
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"no grading specs found (autograder/assignments: {exc})") from None
    if name not in specs:
        raise SystemExit(f"unknown assignment {name!r}; known: {', '.join(sorted(specs))}")
    return specs[name]


def summary_table(result: pipeline.RunSummary, assignment: str, width: int | None = None) -> str:
    """One row per student of the run, graded now or kept: score and why points were lost (the
    named mistakes first); then the class's mean as the gradebook holds it (manual scores included)."""
    from autograder import record

    width = width or shutil.get_terminal_size((120, 24)).columns
    state = record.State(result.workspace / "state" / assignment)
    rows = []
    for o in result.outcomes:
        rows.append((terminal_line(o.student, 64), f"{o.score:g}/{o.max_score:g}", str(len(o.repairs)),
                     [*feedback.diagnosis(o), *o.flags]))
    for student in result.skipped:
        kept = state.read(student)
        score = f"{kept.get('score', 0):g}/{kept.get('max_score', 0):g}" if "max_score" in kept else "kept"
        rows.append((terminal_line(student, 64), score, "", ["(kept) " + "; ".join(kept.get("diagnosis", []))]))
    rows.sort(key=lambda r: r[0])
    head = ("student", "score", "repairs", "lost points")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    indent = sum(widths) + 6
    lines = [f"{head[0]:<{widths[0]}}  {head[1]:>{widths[1]}}  {head[2]:>{widths[2]}}  {head[3]}",
             "-" * min(width, 120)]
    for student, score, repairs, why in rows:
        text = terminal_line("; ".join(why)) or "-"
        wrapped = textwrap.wrap(text, max(30, width - indent)) or [""]
        lines.append(f"{student:<{widths[0]}}  {score:>{widths[1]}}  "
                     f"{repairs:>{widths[2]}}  {wrapped[0]}")
        lines += [" " * indent + more for more in wrapped[1:]]
    scores = class_scores(result.csv, {r[0] for r in rows})
    specs = importlib.import_module("autograder.assignments").SPECS
    total = specs[assignment].total_points if assignment in specs else None
    mean = (f"{sum(scores) / len(scores):.2f}" + (f"/{total:g}" if total else "") + f" over {len(scores)} students"
            if scores else "-")
    lines.append("")
    lines.append(f"graded {len(result.outcomes)}, kept {len(result.skipped)} unchanged, not gradable "
                 f"{sum(1 for o in result.outcomes if o.fatal)}, repaired "
                 f"{sum(1 for o in result.outcomes if o.repairs)}, mean {mean}, "
                 f"in {result.seconds:.1f} s")
    lines.append(f"gradebook, {result.csv.name}, autograded/ and feedback/ in {result.workspace}")
    lines.append(f"graded by: {result.executor}")
    return "\n".join(lines)


def class_scores(csv_path: Path, students: set[str]) -> list[float]:
    """The gradebook's scores (the CSV the run exported) of ``students``."""
    with open(csv_path, newline="") as fh:
        return [float(row["score"]) for row in csv.DictReader(fh) if row["student"] in students]


def hand_back(args, spec) -> int:
    """``python -m autograder feedback``: the zip (default) or nbgrader's exchange."""
    from autograder import record

    workspace = args.workspace.resolve()
    if not (workspace / "state" / spec.name).is_dir():
        raise SystemExit(f"nothing graded for {spec.name} in {workspace}: run  python -m autograder grade "
                         f"{spec.name} --submissions PATH  first")
    if args.exchange:
        if not args.course:
            raise SystemExit("--exchange needs --course ID (the course id of the exchange)")
        record.release_feedback(workspace, spec, args.course, args.exchange_root)
        print(f"released the feedback of {spec.name} to the exchange of course {args.course}: "
              f"students run  nbgrader fetch_feedback {spec.name} --course {args.course}")
        return 0
    out, count = record.feedback_zip(workspace, spec, args.zip or workspace / f"{spec.name}-feedback.zip")
    print(f"wrote {count} feedback pages to {out}: upload it to the assignment's bulk feedback upload "
          "(each page is named after the file its student submitted)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a class's submissions of one assignment")
    g.add_argument("assignment")
    g.add_argument("--submissions", required=True, type=Path,
                   help="a folder <student>/<assignment>/<notebook>.ipynb or an LMS zip")
    g.add_argument("--workers", type=int, default=None,
                   help="sandboxes in parallel (default: the cores; with --cluster, its workers' threads)")
    g.add_argument("--db", default=None, help="SQLAlchemy URL of the gradebook (default: sqlite in the workspace)")
    g.add_argument("--workspace", type=Path, default=Path("grading"), help="grading workspace (default: grading/)")
    g.add_argument("--course", type=Path, default=Path("."), help="course root holding solutions/ (default: .)")
    g.add_argument("--student", action="append", help="grade only this student (repeatable)")
    g.add_argument("--force", action="store_true", help="regrade submissions already graded and unchanged")
    g.add_argument("--cluster", metavar="tcp://HOST:PORT", default=None,
                   help="a Dask scheduler: each submission runs in the sandbox of one of its workers")
    g.add_argument("--unsafe", action="store_true",
                   help="run without the bubblewrap sandbox (student code can read and write your files!)")
    f = sub.add_parser("feedback", help="hand the feedback pages back: a zip for the LMS, or the nbgrader exchange")
    f.add_argument("assignment")
    f.add_argument("--workspace", type=Path, default=Path("grading"), help="grading workspace (default: grading/)")
    f.add_argument("--zip", type=Path, default=None,
                   help="the zip to write (default: <workspace>/<assignment>-feedback.zip)")
    f.add_argument("--exchange", action="store_true",
                   help="release to the nbgrader exchange instead (nbgrader release_feedback)")
    f.add_argument("--course", help="the course id, with --exchange")
    f.add_argument("--exchange-root", help="the exchange's folder, with --exchange (default: nbgrader's)")
    args = parser.parse_args(argv)
    if getattr(args, "workers", None) is not None and args.workers < 1:
        parser.error(f"--workers must be 1 or more, got {args.workers}")
    spec = load_spec(args.assignment)
    if args.command == "feedback":
        return hand_back(args, spec)
    if args.unsafe:
        print("WARNING: --unsafe: student code runs without the sandbox, as you, and can read or change your files",
              file=sys.stderr)
    try:
        result = pipeline.grade(spec, args.submissions, pipeline.Course(args.course.resolve()), args.workspace,
                                db_url=args.db, workers=args.workers, unsafe=args.unsafe, force=args.force,
                                progress=Progress(), students=args.student, cluster=args.cluster)
    except sandbox.SandboxUnavailable as exc:
        print(f"refusing to grade: {exc}", file=sys.stderr)
        return 2
    except sandbox.SandboxError as exc:  # a worker's sandbox did not start, or died twice running
        print(f"\ngrading stopped: {exc}; what was graded is kept, run the command again to go on", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"\nerror: {terminal_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: what was recorded is kept; run the same command again to resume", file=sys.stderr)
        return 130
    print(summary_table(result, spec.name))
    return 0
