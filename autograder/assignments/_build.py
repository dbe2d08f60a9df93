"""Build :class:`autograder.spec.Check` objects from the checks of :mod:`gated.checks`.

The probe, the cases and the judge all come from ``gated.checks``, the same code the notebooks'
visible tests run, so the grader and the student see the same named mistakes.
"""
from __future__ import annotations

from functools import partial

from autograder.spec import Check

#: Trusted source the sandbox runs before the student's cells: what the notebooks' first cell imports.
SETUP = "import math\nimport numpy as np\nimport torch\nfrom torch import nn\n"


def _cases(grade_id: str, seed: int) -> list[dict]:
    from gated.checks import grader_cases

    return [{k: v for k, v in case.items() if k != "_rng"} for case in grader_cases(grade_id, seed)]


def _judge(grade_id: str, cases, results):
    from gated.checks import CHECKS

    return CHECKS[grade_id].judge(cases, results)


def make_check(grade_id: str, points: float, forbidden: tuple[str, ...] = (),
               timeout_s: float = 30.0) -> Check:
    """The grader's Check for one test cell of a notebook (``grade_id`` as in the notebook)."""
    from gated.checks import CHECKS, probe_source

    return Check(grade_id=grade_id, points=points, probe=probe_source(CHECKS[grade_id].probe),
                 cases=partial(_cases, grade_id), judge=partial(_judge, grade_id),
                 forbidden=tuple(forbidden), timeout_s=timeout_s)
