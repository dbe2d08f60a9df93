"""Write the nbgrader source notebooks ``solutions/<assignment>/<assignment>.ipynb`` from the cell
lists in ``tools/exercise_cells/`` (one module per assignment).

    python tools/exercise_notebooks.py [gru bptt lstm gru_kernel]

The notebooks in ``solutions/`` are the source of truth for nbgrader; this script is how they were
first written and how a change to many cells at once is easiest to make. After running it, run
``python tools/release.py`` to regenerate ``exercises/``.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ("gru", "bptt", "lstm", "gru_kernel")


def _meta(grade_id: str, *, grade=False, solution=False, locked=True, points=None) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


class Builder:
    """Collects cells with nbgrader metadata; ids are numbered per kind."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.cells = []
        self.tests = []
        self.count = 0

    def _id(self, kind: str) -> str:
        self.count += 1
        return f"{kind}_{self.count:02d}"

    def _add(self, cell) -> None:
        cell["id"] = cell.metadata["nbgrader"]["grade_id"].replace("_", "-")  # stable ids
        self.cells.append(cell)

    def md(self, text: str) -> None:
        self._add(nbformat.v4.new_markdown_cell(text.strip("\n"), metadata=_meta(self._id("md"))))

    def code(self, text: str) -> None:
        """A locked, read-only code cell (imports, given data)."""
        self._add(nbformat.v4.new_code_cell(text.strip("\n"), metadata=_meta(self._id("code"))))

    def answer(self, grade_id: str, text: str) -> None:
        """An answer cell: students replace the ``### BEGIN SOLUTION`` blocks."""
        self._add(nbformat.v4.new_code_cell(
            text.strip("\n"), metadata=_meta(grade_id, solution=True, locked=False)))

    def test(self, grade_id: str, points: float, text: str, what: str = "") -> None:
        """A test cell: visible checks, then a hidden block; ``what`` goes into the points table."""
        self.tests.append((grade_id, points, what))
        self._add(nbformat.v4.new_code_cell(
            text.strip("\n"), metadata=_meta(grade_id, grade=True, points=points)))

    def points_table(self) -> str:
        """The test cells and their points, as a Markdown table with the total."""
        rows = ["| test cell | what it checks | points |", "|---|---|---|"]
        total = 0.0
        for grade_id, points, what in self.tests:
            rows.append(f"| `{grade_id}` | {what} | {points:g} |")
            total += points
        rows.append(f"| **total** | | **{total:g}** |")
        return "\n".join(rows)

    def notebook(self) -> nbformat.NotebookNode:
        for cell in self.cells:
            if cell.cell_type == "markdown" and "{points_table}" in cell.source:
                cell.source = cell.source.replace("{points_table}", self.points_table())
        nb = nbformat.v4.new_notebook(cells=self.cells)
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        return nb


def write(name: str) -> Path:
    sys.path.insert(0, str(ROOT / "tools"))
    module = importlib.import_module(f"exercise_cells.{name}")
    builder = Builder(name)
    module.build(builder)
    path = ROOT / "solutions" / name / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nb = builder.notebook()
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path


if __name__ == "__main__":
    for name in sys.argv[1:] or ASSIGNMENTS:
        print("wrote", write(name).relative_to(ROOT))
