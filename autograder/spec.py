"""The contract between an assignment's grading spec and the grading pipeline.

An assignment (``autograder/assignments/<name>.py``) exports ``SPEC: AssignmentSpec``. For each
nbgrader grade cell (``grade_id``) it gives the points and a :class:`Check`:

* ``probe``: the source of a function ``probe(ns, inputs) -> dict`` that the pipeline runs **inside
  the sandbox**, after the student's answer cells, once per case. ``ns`` is the notebook's namespace
  (where the student's functions live), ``inputs`` a dict of numpy arrays and plain numbers chosen by
  the judge. It returns a dict of numpy arrays, numbers, strings or bools: plain data that crosses
  the boundary as ``.npy`` and JSON, never pickle. A probe is trusted text but runs beside untrusted
  code, so nothing it returns is believed beyond being data.
* ``cases(seed)``: the inputs, one dict per case, made by trusted code outside the sandbox.
* ``judge(cases, results)``: trusted code that never imports student code. ``results[k]`` is the dict
  the probe returned for ``cases[k]``, or a :class:`ProbeError` (exception, timeout, crash). It
  returns a :class:`Verdict`: the fraction of the points earned and feedback lines that name the
  mistake.
* ``forbidden``: names that an answer to this cell may not use (``nn.GRU``, ``torch.gru_cell``,
  ``_VF``, the course's own reference cells); a use scores zero for that cell with a message.

The visible tests in the notebooks call the same checks (:mod:`gated.checks`) so a student sees
the same named mistakes the grader reports. :class:`ProbeError` and :class:`Verdict`, the types both
sides speak, are defined there (:mod:`gated.checks.contract`) and re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from gated.checks.contract import Inputs, ProbeError, Result, Verdict


@dataclass(frozen=True)
class Check:
    grade_id: str
    points: float
    probe: str
    cases: Callable[[int], list[Inputs]]
    judge: Callable[[list[Inputs], list[Result]], Verdict]
    forbidden: tuple[str, ...] = ()
    timeout_s: float = 30.0


@dataclass(frozen=True)
class AssignmentSpec:
    name: str  # the nbgrader assignment id, e.g. "gru"
    notebook: str  # the notebook's file name inside the assignment folder, e.g. "gru.ipynb"
    checks: tuple[Check, ...]
    optional: bool = False  # challenge assignments: points count as extra credit
    setup: str = ""  # trusted source run in the sandbox before the student's cells (imports, env)
    description: str = ""  # what the assignment covers, for the README's points tables
    # modules whose code decides the points (judges and the references they use); their source is
    # part of the regrade fingerprint, so a fix to a judge regrades every submission
    judge_modules: tuple[str, ...] = ()

    @property
    def total_points(self) -> float:
        return sum(check.points for check in self.checks)

    def check(self, grade_id: str) -> Check:
        for check in self.checks:
            if check.grade_id == grade_id:
                return check
        raise KeyError(f"{self.name} has no grade cell {grade_id!r}")


__all__ = ["AssignmentSpec", "Check", "Inputs", "ProbeError", "Result", "Verdict"]
