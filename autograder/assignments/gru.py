"""Grading spec of the ``gru`` assignment: the GRU equations in PyTorch's packed layout."""
from __future__ import annotations

from autograder.assignments._build import assignment, make_check

#: Names an answer may not use: PyTorch's own GRU, its private kernels, and the course's references.
FORBIDDEN = ("nn.GRU", "nn.GRUCell", "torch.gru", "torch.gru_cell", "_VF", "torch._C", "torch.ops",
             "gated.cells", "gated.conventions", "gated.checks", "gated.kernels", "gru_variant")

SPEC = assignment(
    "gru",
    checks=(
        make_check("test_reset_gate", 1, FORBIDDEN),
        make_check("test_update_gate", 1, FORBIDDEN),
        make_check("test_candidate_after", 2, FORBIDDEN),
        make_check("test_candidate_before", 1, FORBIDDEN),
        make_check("test_new_state", 1, FORBIDDEN),
        make_check("test_gru_cell", 3, FORBIDDEN),
        make_check("test_gru_layer", 2, FORBIDDEN),
        make_check("test_unpack_pack", 2, FORBIDDEN),
        make_check("test_gru_module", 2, FORBIDDEN),
        make_check("test_gru_backward", 3, FORBIDDEN),
        make_check("test_gradient_flow", 2, ("gated.checks", "gated.cells")),
    ),
    imports="""
from gated.checks import (check_candidate_after, check_candidate_before, check_gradient_flow,
                          check_gru_backward, check_gru_cell, check_gru_layer, check_gru_module,
                          check_new_state, check_reset_gate, check_unpack_pack, check_update_gate,
                          gradient_flow_problem)""",
    description="GRU gates, candidate (reset after and before), cell, layer, weight layout, "
                "a drop-in nn.GRU, the backward pass of one step, and gradient flow",
)
