"""Submissions made from the solutions: the one place that fills a release with answers.

* :func:`answers`: the answer cells of the source notebook (solution markers removed), optionally
  with text edits that plant a mistake (:mod:`testbed.mistakes`);
* :func:`submission`: the released notebook with answers put in (the others left as the stubs),
  and code appended to cells;
* :func:`answer_namespace`: run the set-up and the answer cells in this process and return the
  namespace a probe receives (trusted tests only: this executes the answers here);
* :func:`execute_notebook`, :func:`errored`: run a notebook top to bottom with nbclient.
"""
from __future__ import annotations

import copy
import linecache
from pathlib import Path

import nbformat

from autograder.assignments import SPECS
from autograder.notebook import grade_id, is_answer

ROOT = Path(__file__).resolve().parent.parent

Edits = dict[str, tuple[tuple[str, str], ...]]  # answer cell -> (old, new) replacements, each old must occur

_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def read(assignment: str, folder: str = "solutions") -> nbformat.NotebookNode:
    """The committed notebook of ``assignment`` in ``solutions/`` (the source) or ``exercises/``."""
    return nbformat.read(ROOT / folder / assignment / f"{assignment}.ipynb", as_version=4)


def answers(assignment: str, edits: Edits | None = None, folder: str = "solutions") -> dict[str, str]:
    """The answer cells by grade_id (``folder="exercises"``: the stubs), markers removed, edited."""
    out = {}
    for cell in read(assignment, folder).cells:
        if is_answer(cell):
            gid = grade_id(cell)
            source = "\n".join(line for line in cell.source.splitlines() if line.strip() not in _MARKERS)
            for old, new in (edits or {}).get(gid, ()):
                if old not in source:
                    raise ValueError(f"{old!r} not in answer cell {gid} of {assignment}")
                source = source.replace(old, new)
            out[gid] = source
    return out


def submission(assignment: str, filled: dict[str, str] | None = None,
               append: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The released notebook with the answer cells of ``filled`` put in (others left as the stubs)
    and ``append[grade_id]`` added at the end of that cell."""
    nb = copy.deepcopy(read(assignment, "exercises"))
    for cell in nb.cells:
        gid = grade_id(cell)
        if filled and gid in filled:
            cell.source = filled[gid]
        if append and gid in append:
            cell.source = cell.source + "\n\n" + append[gid]
    return nb


def answer_namespace(assignment: str, edits: Edits | None = None, folder: str = "solutions") -> dict:
    """Run the spec's set-up and the answer cells here; the namespace a probe receives."""
    ns: dict = {"__name__": "__main__"}
    _run(SPECS[assignment].setup, f"{assignment}-setup", ns)
    for gid, source in answers(assignment, edits, folder).items():
        try:
            _run(source, f"{assignment}-{gid}", ns)
        except Exception:  # a failing answer cell leaves the others running, as in a kernel
            pass
    return ns


def _run(source: str, name: str, ns: dict) -> None:
    """exec with the source registered in linecache (Triton's @jit reads a kernel's source)."""
    filename = f"<answer-{name}-{abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), ns)


def execute_notebook(nb: nbformat.NotebookNode, allow_errors: bool = False, timeout: int = 120,
                     cwd: Path | None = None) -> nbformat.NotebookNode:
    """Execute ``nb`` in a fresh python3 kernel (in place) and return it."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd or ROOT)}})
    client.execute()
    return nb


def errored(cell) -> bool:
    """True when a code cell raised, or wrote to stderr (both fail a test cell in nbgrader)."""
    return any(o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")
               for o in cell.get("outputs", []))
