"""nbgrader's cell metadata, read defensively: a submitted notebook is hostile input, so a missing or
mistyped ``metadata`` or ``nbgrader`` entry reads as none rather than raising. Every reader of
nbgrader metadata in the project goes through these."""
from __future__ import annotations

#: The grade id of every exercise's first code cell, which installs the course where it is missing
#: (Colab): the grader never runs it, since the sandbox must not have the course library.
INSTALL_CELL = "install_course"


def nbgrader(cell: dict) -> dict:
    """The cell's ``metadata.nbgrader`` dict, or ``{}`` when it is missing or not a dict."""
    meta = cell.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    nbg = meta.get("nbgrader")
    return nbg if isinstance(nbg, dict) else {}


def grade_id(cell: dict) -> str | None:
    """The cell's nbgrader ``grade_id``, or None."""
    gid = nbgrader(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def is_answer(cell: dict) -> bool:
    """An answer cell (nbgrader ``solution``): the student writes it."""
    return bool(nbgrader(cell).get("solution"))


def is_test(cell: dict) -> bool:
    """A test cell (``grade`` without ``solution``): the instructor's, graded automatically."""
    nbg = nbgrader(cell)
    return bool(nbg.get("grade")) and not nbg.get("solution")
