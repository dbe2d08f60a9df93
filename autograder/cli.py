"""``python -m autograder grade <assignment> --submissions PATH [--workers N] [--db URL] [--workspace DIR]
[--cluster tcp://HOST:PORT] [--unsafe]``."""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from autograder import pipeline, sandbox


class Progress:
    """A one-line progress bar with the time left, estimated from the submissions done so far."""

    def __init__(self, stream=sys.stderr) -> None:
        self.stream, self.total, self.done, self.start_time = stream, 0, 0, time.monotonic()

    def start(self, total: int, skipped: int = 0) -> None:
        self.total, self.start_time = total, time.monotonic()
        if skipped:
            print(f"{skipped} submission(s) unchanged since their last grading: kept", file=self.stream)
        self._draw("")

    def advance(self, outcome) -> None:
        self.done += 1
        self._draw(outcome.student)

    def _draw(self, last: str) -> None:
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        elapsed = time.monotonic() - self.start_time
        left = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        eta = "--:--" if left != left else f"{int(left) // 60:02d}:{int(left) % 60:02d}"
        line = f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}  time left {eta}  {last[:24]:<24}"
        self.stream.write(line)
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")


def load_spec(name: str):
    try:
        specs = importlib.import_module("autograder.assignments").SPECS
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"no grading specs found (autograder/assignments: {exc})") from None
    if name not in specs:
        raise SystemExit(f"unknown assignment {name!r}; known: {', '.join(sorted(specs))}")
    return specs[name]


def summary_table(result: pipeline.RunSummary) -> str:
    rows = [("student", "score", "repairs", "failures / reasons")]
    for o in result.outcomes:
        reasons = [o.fatal] if o.fatal else o.failures
        rows.append((o.student, f"{o.score:g}/{o.max_score:g}", str(len(o.repairs)), "; ".join(reasons)[:90]))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows]
    graded = len(result.outcomes)
    mean = sum(o.score for o in result.outcomes) / graded if graded else 0.0
    lines.insert(1, "-" * min(120, max(len(line) for line in lines)))
    lines.append("")
    lines.append(f"graded {graded}, kept {len(result.skipped)} unchanged, not gradable "
                 f"{sum(1 for o in result.outcomes if o.fatal)}, repaired "
                 f"{sum(1 for o in result.outcomes if o.repairs)}, mean {mean:.2f}, in {result.seconds:.1f} s")
    lines.append(f"gradebook, {result.csv.name}, autograded/ and feedback/ in {result.workspace}")
    lines.append(f"graded by: {result.executor}")
    return "\n".join(lines)


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
    args = parser.parse_args(argv)
    spec = load_spec(args.assignment)
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
    print(summary_table(result))
    return 0
