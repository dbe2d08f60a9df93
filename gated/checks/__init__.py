"""Checks of the exercises: what a student's visible tests run and what the grader's judge decides.

One check per nbgrader test cell (:class:`~gated.checks.engine.CheckDef`), in one module per
assignment (:mod:`~gated.checks.gru`, :mod:`~gated.checks.bptt`, :mod:`~gated.checks.lstm`,
:mod:`~gated.checks.lstm_kernel`). Each has three parts, shared by the notebook and the grader so a
student sees the same named mistake the grader reports:

* **cases** (``check.cases(suite, seed)``): plain inputs (numpy arrays, numbers, strings);
* **probe** (:mod:`gated.checks.probes`): ``probe(ns, inputs)`` calls the student's function on one
  case and returns plain data. The grader runs its source in the sandbox; a visible test runs the
  same function here, on the student's function;
* **judge** (``check.judge(cases, results)``): compares the results with the references of
  :mod:`gated.cells` and with the known-wrong variants; it names the variant the student's output
  matches (:data:`~gated.checks.mistakes.MISTAKES`), or gives the largest difference and where.

A visible test is one line, ``check_gru_cell(gru_cell)``: it raises ``AssertionError`` with the
judge's feedback when the answer is wrong, so the cell fails under stock ``nbgrader autograde`` too.
Hidden tests call the same function with ``suite="hidden"`` and their own seed.
"""
from __future__ import annotations

from gated.checks import bptt, gru, lstm, lstm_kernel
from gated.checks.bptt import check_clip, check_jacobian_product, check_rnn_backward, check_rnn_forward
from gated.checks.contract import ProbeError, Verdict
from gated.checks.engine import SUITES, CheckDef
from gated.checks.gru import (check_candidate_after, check_candidate_before, check_gradient_flow,
                              check_gru_backward, check_gru_cell, check_gru_layer, check_gru_module,
                              check_new_state, check_reset_gate, check_unpack_pack, check_update_gate)
from gated.checks.lstm import check_forget_bias, check_lstm_cell, check_lstm_layer
from gated.checks.lstm_kernel import check_lstm_pointwise, check_lstm_saturation
from gated.checks.mistakes import MISTAKES
from gated.checks.problems import gradient_flow_problem
from gated.checks.probes import probe_source

#: Every check by its grade_id, from the assignments' modules.
CHECKS: dict[str, CheckDef] = {c.grade_id: c for m in (gru, bptt, lstm, lstm_kernel) for c in m.CHECKS}


def run_check(grade_id: str, ns: dict, suite: str = "visible", seed: int = 0) -> Verdict:
    """Run one check here, on the functions in ``ns``: what a visible (or hidden) test does."""
    return CHECKS[grade_id].run(ns, suite, seed)


__all__ = [
    "CHECKS", "MISTAKES", "SUITES", "CheckDef", "ProbeError", "Verdict", "gradient_flow_problem",
    "probe_source", "run_check",
    "check_candidate_after", "check_candidate_before", "check_clip", "check_forget_bias",
    "check_gradient_flow", "check_gru_backward", "check_gru_cell", "check_gru_layer", "check_gru_module",
    "check_jacobian_product", "check_lstm_cell", "check_lstm_layer", "check_lstm_pointwise",
    "check_lstm_saturation", "check_new_state", "check_reset_gate", "check_rnn_backward",
    "check_rnn_forward", "check_unpack_pack", "check_update_gate",
]
