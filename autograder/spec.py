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
* ``rules``: what the answers this cell depends on may use (:class:`Rules`): the modules they may
  import, the library objects they may not touch, whatever the spelling (:mod:`autograder.analysis`),
  and the runtime guards armed in the sandbox while the cell's probes run (``"recurrent"``: PyTorch's
  recurrent kernels; ``"autograd"``). A use scores zero for that cell, with what was used and where.

The visible tests in the notebooks call the same checks (:mod:`gated.checks`) so a student sees
the same named mistakes the grader reports. :class:`ProbeError` and :class:`Verdict`, the types both
sides speak, are defined there (:mod:`gated.checks.contract`) and re-exported here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from gated.checks.contract import Inputs, ProbeError, Result, Verdict


@dataclass(frozen=True)
class Rules:
    """What the answers behind one test may use (see :mod:`autograder.rules` for the course's).

    ``modules``: the modules they may import or reach, exactly (a package does not allow its
    submodules); ``forbidden``: dotted names of library objects they may not use, however they reach
    them (a module's name forbids every class and function defined in it); ``attributes``: attribute
    names they may not use on objects the analysis cannot know (``loss.backward``); ``guards``: the
    runtime guards (:data:`autograder.rules.GUARDS`) armed while the test's probes run.
    """

    modules: tuple[str, ...]
    forbidden: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    guards: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    grade_id: str
    points: float
    probe: str
    cases: Callable[[int], list[Inputs]]
    judge: Callable[[list[Inputs], list[Result]], Verdict]
    rules: Rules | None = None  # None: the answers may use anything
    timeout_s: float = 30.0


@dataclass(frozen=True)
class AssignmentSpec:
    name: str  # the nbgrader assignment id, e.g. "gru"
    notebook: str  # the notebook's file name inside the assignment folder, e.g. "gru.ipynb"
    checks: tuple[Check, ...]
    optional: bool = False  # challenge assignments: points count as extra credit
    setup: str = ""  # the notebook's first code cell (imports, the visible checks)
    # trusted source the sandbox runs before the student's cells: the imports the answers rely on and
    # self-contained helpers (never the course's references; the sandbox cannot import them)
    sandbox_setup: str = ""
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


__all__ = ["AssignmentSpec", "Check", "Inputs", "ProbeError", "Result", "Rules", "Verdict"]
