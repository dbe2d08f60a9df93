"""What a grading run tells people: the student's feedback page, and the one-line diagnosis per
student that the summary table and the state files keep.

The page is a Jinja template (``templates/feedback.html.j2``; Jinja comes with nbconvert) that
reads on a phone. It shows points, the judge's feedback, repairs and the student's own answers,
never any test source. Student-controlled text goes through :func:`student_text`.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import jinja2
import markupsafe

from autograder.text import html_text
from gated.checks import MISTAKES

TEMPLATES = Path(__file__).parent / "templates"

#: Characters of one feedback line, repair or failure shown (the page stays small whatever a
#: submission raises), and of one answer (the student has the rest in their notebook).
LINE_SHOWN = 1_000
ANSWER_SHOWN = 20_000


def student_text(text: object, limit: int = LINE_SHOWN) -> markupsafe.Markup:
    """The template's ``student`` filter: :func:`autograder.text.html_text`, clipped to ``limit``."""
    return markupsafe.Markup(html_text(text, limit))


_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["student"] = student_text


# ----------------------------------------------------------------------------- the diagnosis


def named_mistakes(lines) -> list[str]:
    """The keys of :data:`gated.checks.MISTAKES` whose sentence appears in ``lines``, in order."""
    text = "\n".join(lines)
    found = [(text.find(sentence), key) for key, sentence in MISTAKES.items() if sentence in text]
    return [key for _, key in sorted(found)]


def lost_checks(outcome) -> list:
    """The checks that did not earn all their points, in the notebook's order."""
    return [c for c in outcome.checks if c.score < c.points]


def fix_first(outcome) -> str | None:
    """The page's top line: why the notebook was not graded, or the first lost test and its
    first feedback line (the named mistake when there is one); None when everything passed."""
    if outcome.fatal:
        return f"not graded: {outcome.fatal}"
    lost = lost_checks(outcome)
    if not lost:
        return None
    first = lost[0]
    return f"{first.grade_id}: {first.feedback[0] if first.feedback else 'no points'}"


def diagnosis(outcome) -> list[str]:
    """Why a student lost points, shortest first: the named mistakes (with how many tests each
    cost), then the first lost test that no named mistake explains. The summary table prints it
    and the state file keeps it for the students a rerun keeps."""
    if outcome.fatal:
        return [f"not graded: {outcome.fatal}"]
    named: Counter[str] = Counter()
    unexplained = []
    for check in lost_checks(outcome):
        keys = named_mistakes(check.feedback)
        named.update(keys)
        if not keys:
            unexplained.append(check)
    parts = [key if n == 1 else f"{key} ({n} tests)" for key, n in named.items()]
    if unexplained:
        first = unexplained[0]
        reason = first.feedback[0] if first.feedback else "no points"
        reason = reason if len(reason) <= REASON_CHARS else reason[:REASON_CHARS - 1] + "…"
        more = f" (+{len(unexplained) - 1} more tests)" if len(unexplained) > 1 else ""
        parts.append(f"{first.grade_id}: {reason}{more}")
    return parts


#: How much of an unnamed reason the diagnosis keeps (the feedback page has all of it).
REASON_CHARS = 100


# ------------------------------------------------------------------------------- the page


def _mark(score: float, points: float) -> str:
    return "full" if score >= points else "zero" if score == 0 else "part"


def feedback_html(outcome, spec) -> str:
    """The student's feedback page for ``outcome`` (a :class:`autograder.pipeline.Outcome`)."""
    return _ENV.get_template("feedback.html.j2").render(
        assignment=spec.name, student=outcome.student,
        score=f"{outcome.score:g}", max_score=f"{outcome.max_score:g}",
        fix_first=fix_first(outcome),
        tests=[{"grade_id": c.grade_id, "score": f"{c.score:g}", "points": f"{c.points:g}",
                "mark": _mark(c.score, c.points), "feedback": c.feedback} for c in outcome.checks],
        repairs=outcome.repairs, failures=outcome.failures, answers=list(outcome.answers.items()),
        answer_shown=ANSWER_SHOWN)
