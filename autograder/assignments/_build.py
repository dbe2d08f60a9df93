"""Build the course's grading specs from the checks of :mod:`gated.checks`.

The probe, the cases and the judge all come from ``gated.checks``, the same code the notebooks'
visible tests run, so the grader and the student see the same named mistakes.
"""
from __future__ import annotations

from autograder.spec import AssignmentSpec, Check
from gated.checks import CHECKS, probe_source

#: The code that judges the course's checks: the checks and the reference cells they compare with.
JUDGE_MODULES = ("gated.checks", "gated.cells")

#: Trusted source the sandbox runs before the student's cells: what the notebooks' first cell imports.
SETUP = "import math\nimport numpy as np\nimport torch\nfrom torch import nn\n"


def make_check(grade_id: str, points: float, forbidden: tuple[str, ...] = (),
               timeout_s: float = 30.0) -> Check:
    """The grader's Check for one test cell of a notebook (``grade_id`` as in the notebook)."""
    check = CHECKS[grade_id]
    return Check(grade_id=grade_id, points=points, probe=probe_source(check.probe),
                 cases=check.grader_cases, judge=check.judge, forbidden=tuple(forbidden),
                 timeout_s=timeout_s)


def assignment(name: str, checks: tuple[Check, ...], imports: str, description: str, *,
               optional: bool = False, first: str = "") -> AssignmentSpec:
    """The spec of the course's assignment ``name`` (notebook ``<name>.ipynb``). Its set-up, the
    notebook's first code cell and the sandbox's, is ``first``, :data:`SETUP`, then ``imports``."""
    return AssignmentSpec(name=name, notebook=f"{name}.ipynb", checks=checks, optional=optional,
                          setup=f"{first}{SETUP}\n{imports.strip()}\n", description=description,
                          judge_modules=JUDGE_MODULES)
