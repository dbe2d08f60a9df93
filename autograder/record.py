"""The single writer: gradebook (nbgrader.api.Gradebook), autograded notebooks, feedback HTML, CSV.

Workspace layout (an nbgrader course root, so ``nbgrader formgrader`` run there finds everything)::

    gradebook.db                                  the default SQLite gradebook
    autograded/<student>/<assignment>/<nb>.ipynb  the rebuilt notebook, judge's feedback under each test
    feedback/<student>/<assignment>/<nb>.html     what the student sees (never any test source)
    <assignment>-grades.csv                       one row per student
    state/<assignment>/<student>.json             done markers (submission digest, spec fingerprint)
"""
from __future__ import annotations

import copy
import csv
import json
import os
from pathlib import Path

import nbformat

from autograder.notebook import grade_id, is_answer, is_test
from autograder.spec import AssignmentSpec
from autograder.text import html_text, printable

#: Characters of one answer shown on the feedback page (the student has the rest in their notebook).
ANSWER_SHOWN = 20_000
#: Characters of one feedback line, a repair or a failure shown to the student.
LINE_SHOWN = 1_000


class State:
    """Which students are done, for which submission and grading spec (resume and idempotency)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, student: str) -> Path:
        return self.folder / f"{student}.json"

    def is_done(self, student: str, digest: str, fingerprint: str) -> bool:
        try:
            doc = json.loads(self._path(student).read_text())
        except (OSError, ValueError):
            return False
        return doc.get("digest") == digest and doc.get("spec") == fingerprint

    def mark_done(self, student: str, digest: str, fingerprint: str, score: float) -> None:
        tmp = self._path(student).with_suffix(".tmp")
        tmp.write_text(json.dumps({"digest": digest, "spec": fingerprint, "score": score}))
        os.replace(tmp, self._path(student))


class Writer:
    def __init__(self, workspace: Path, db_url: str, spec: AssignmentSpec, instructor_nb) -> None:
        self.workspace, self.db_url, self.spec = workspace, db_url, spec
        self.instructor_nb = instructor_nb
        self.nb_id = Path(spec.notebook).stem
        import warnings

        from nbgrader.api import Gradebook
        from sqlalchemy.exc import SAWarning

        warnings.filterwarnings("ignore", category=SAWarning)  # nbgrader's add_submission triggers it
        self.gb = Gradebook(db_url)  # one connection for the run: this is the only writer
        config = workspace / "nbgrader_config.py"
        if not config.exists():
            config.write_text(
                "# Written by the autograder: open formgrader here (nbgrader formgrader) for manual review.\n"
                "c = get_config()  # noqa: F821\n"
                f"c.CourseDirectory.root = {str(workspace)!r}\n"
                f"c.CourseDirectory.db_url = {db_url!r}\n")

    # ---------------------------------------------------------------- gradebook
    def record(self, outcome) -> None:
        from nbgrader.api import MissingEntry

        spec, student = self.spec, outcome.student
        by_id = {c.grade_id: c for c in outcome.checks}
        gb = self.gb
        try:
            gb.update_or_create_student(student)
            try:
                gb.find_submission(spec.name, student)
            except MissingEntry:
                gb.add_submission(spec.name, student)
            notebook = gb.find_notebook(self.nb_id, spec.name)
            for cell in notebook.grade_cells:
                grade = gb.find_grade(cell.name, self.nb_id, spec.name, student)
                result = by_id.get(cell.name)
                if result is not None:
                    grade.auto_score = min(result.score, cell.max_score)
                    grade.needs_manual_grade = grade.manual_score is not None
                else:  # a manually graded cell (written answer) or a test without a grading spec
                    grade.auto_score = None
                    grade.needs_manual_grade = True
            for cell in notebook.solution_cells:
                comment = gb.find_comment(cell.name, self.nb_id, spec.name, student)
                answered = outcome.answers.get(cell.name)
                comment.auto_comment = None if answered and not outcome.fatal else "No response."
            gb.db.commit()
        except Exception:
            gb.db.rollback()
            raise
        self._write_autograded(outcome)
        self._write_feedback(outcome)

    # ---------------------------------------------------------------- files
    def _student_dir(self, kind: str, student: str) -> Path:
        folder = self.workspace / kind / student / self.spec.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _write_autograded(self, outcome) -> None:
        nb = copy.deepcopy(outcome.notebook) if outcome.notebook is not None else copy.deepcopy(self.instructor_nb)
        instructor = {grade_id(c): c for c in self.instructor_nb.cells if grade_id(c)}
        by_id = {c.grade_id: c for c in outcome.checks}
        for i, cell in enumerate(nb.cells):
            gid = grade_id(cell)
            if is_test(cell) and gid in instructor:
                nb.cells[i] = cell = copy.deepcopy(instructor[gid])
                result = by_id.get(gid)
                if result is not None:
                    text = f"autograder: {result.score:g} / {result.points:g}\n" + "".join(
                        f"  {printable(line, LINE_SHOWN)}\n" for line in result.feedback)
                    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
            elif outcome.fatal and is_answer(cell):
                cell.source = ""
        path = self._student_dir("autograded", outcome.student) / self.spec.notebook
        nbformat.write(nb, str(path))

    def _write_feedback(self, outcome) -> None:
        path = self._student_dir("feedback", outcome.student) / (self.nb_id + ".html")
        path.write_text(feedback_html(outcome, self.spec))

    def close(self) -> None:
        self.gb.close()

    def export_csv(self) -> Path:
        from nbgrader.api import MissingEntry

        path = self.workspace / f"{self.spec.name}-grades.csv"
        gb = self.gb
        cells = [c.name for c in gb.find_notebook(self.nb_id, self.spec.name).grade_cells]
        rows = []
        for student in sorted(s.id for s in gb.students):
            try:
                sub = gb.find_submission_notebook(self.nb_id, self.spec.name, student)
            except MissingEntry:
                continue
            grades = {g.name: g.score for g in sub.grades}
            rows.append([student, self.spec.name, f"{sub.score:g}", f"{sub.max_score:g}",
                         *(f"{grades.get(c, 0):g}" for c in cells), int(sub.needs_manual_grade)])
        with open(path, "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["student", "assignment", "score", "max_score", *cells, "needs_manual_grade"])
            out.writerows(rows)
        return path


def feedback_html(outcome, spec: AssignmentSpec) -> str:
    """The student's feedback page: scores, named mistakes, repairs, their own answers; no test source."""
    def e(text, limit=LINE_SHOWN):
        return html_text(text, limit)
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{e(spec.name)}: feedback for {e(outcome.student)}</title>",
        "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto}td,th{padding:.3em .6em;"
        "border-bottom:1px solid #ddd;vertical-align:top}pre{background:#f6f6f6;padding:.6em;overflow-x:auto}"
        ".zero{color:#a00}.full{color:#070}</style></head><body>",
        f"<h1>{e(spec.name)}: {outcome.score:g} / {outcome.max_score:g}</h1>",
    ]
    if outcome.fatal:
        parts.append(f"<p class='zero'><strong>Not graded:</strong> {e(outcome.fatal)}</p>")
    parts.append("<table><tr><th>test</th><th>points</th><th>feedback</th></tr>")
    for c in outcome.checks:
        cls = "full" if c.score >= c.points else "zero" if c.score == 0 else ""
        lines = "<br>".join(e(line) for line in c.feedback) or "correct"
        parts.append(f"<tr><td>{e(c.grade_id)}</td><td class='{cls}'>{c.score:g} / {c.points:g}</td><td>{lines}</td></tr>")
    parts.append("</table>")
    if outcome.repairs:
        parts.append("<h2>Repairs made to your notebook before grading</h2><ul>")
        parts += [f"<li>{e(r)}</li>" for r in outcome.repairs]
        parts.append("</ul>")
    if outcome.failures:
        parts.append("<h2>Problems while running your code</h2><ul>")
        parts += [f"<li>{e(f)}</li>" for f in outcome.failures]
        parts.append("</ul>")
    if outcome.answers:
        parts.append("<h2>Your answers as graded</h2>")
        for gid, source in outcome.answers.items():
            parts.append(f"<h3>{e(gid)}</h3><pre>{e(source, ANSWER_SHOWN)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
