"""Build the course's grading specs from the checks of :mod:`gated.checks`.

The probe, the cases and the judge all come from ``gated.checks``, the same code the notebooks'
visible tests run, so the grader and the student see the same named mistakes. What the answers may
use comes from :mod:`autograder.rules`.
"""
from __future__ import annotations

from pathlib import Path

from autograder.spec import AssignmentSpec, Check, Rules
from gated.checks import CHECKS, probe_source, problems

#: The code that judges the course's checks: the checks and the reference cells they compare with.
JUDGE_MODULES = ("gated.checks", "gated.cells")

#: What the notebooks' first cell and the sandbox both import before the student's cells.
SETUP = "import math\nimport numpy as np\nimport torch\nfrom torch import nn\n"

#: The helpers the answers may call (gradient_flow_problem), as source the sandbox runs in its set-up:
#: self-contained, so the sandbox needs none of the course library and can import none of it.
PROBLEMS = Path(problems.__file__).read_text()


def make_check(grade_id: str, points: float, rules: Rules | None = None, timeout_s: float = 30.0) -> Check:
    """The grader's Check for one test cell of a notebook (``grade_id`` as in the notebook)."""
    check = CHECKS[grade_id]
    return Check(grade_id=grade_id, points=points, probe=probe_source(check.probe),
                 cases=check.grader_cases, judge=check.judge, rules=rules, timeout_s=timeout_s)


def assignment(name: str, checks: tuple[Check, ...], imports: str, description: str, *,
               optional: bool = False, first: str = "", sandbox: str = "") -> AssignmentSpec:
    """The spec of the course's assignment ``name`` (notebook ``<name>.ipynb``).

    The notebook's first code cell is ``first``, :data:`SETUP`, then ``imports`` (the visible checks);
    the sandbox runs :data:`SETUP` then ``sandbox`` (never the course library: it is not there).
    """
    return AssignmentSpec(name=name, notebook=f"{name}.ipynb", checks=checks, optional=optional,
                          setup=f"{first}{SETUP}\n{imports.strip()}\n", sandbox_setup=f"{SETUP}{sandbox}",
                          description=description, judge_modules=JUDGE_MODULES)
