"""Grading spec of the ``gru`` assignment: the GRU equations in PyTorch's packed layout."""
from __future__ import annotations

from autograder.assignments._build import PROBLEMS, assignment, make_check
from autograder.rules import NO_AUTOGRAD, PLAIN

SPEC = assignment(
    "gru",
    checks=(
        make_check("test_reset_gate", 1, PLAIN),
        make_check("test_update_gate", 1, PLAIN),
        make_check("test_candidate_after", 2, PLAIN),
        make_check("test_candidate_before", 1, PLAIN),
        make_check("test_new_state", 1, PLAIN),
        make_check("test_gru_cell", 3, PLAIN),
        make_check("test_gru_layer", 2, PLAIN),
        make_check("test_unpack_pack", 2, PLAIN),
        make_check("test_gru_module", 2, PLAIN),
        make_check("test_gru_backward", 3, NO_AUTOGRAD),  # "without autograd"
        make_check("test_gradient_flow", 2, PLAIN),
    ),
    imports="""
from gated.checks import (check_candidate_after, check_candidate_before, check_gradient_flow,
                          check_gru_backward, check_gru_cell, check_gru_layer, check_gru_module,
                          check_new_state, check_reset_gate, check_unpack_pack, check_update_gate,
                          gradient_flow_problem)""",
    sandbox=PROBLEMS,
    description="GRU gates, candidate (reset after and before), cell, layer, weight layout, "
                "a drop-in nn.GRU, the backward pass of one step, and gradient flow",
)
