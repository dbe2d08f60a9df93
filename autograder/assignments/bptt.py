"""Grading spec of the ``bptt`` assignment: back-propagation through time for the tanh RNN."""
from __future__ import annotations

from autograder.assignments._build import assignment, make_check
from autograder.rules import NO_AUTOGRAD, PLAIN

SPEC = assignment(
    "bptt",
    checks=(
        make_check("test_rnn_forward", 1, PLAIN),
        make_check("test_rnn_backward", 3, NO_AUTOGRAD),
        make_check("test_jacobian_product", 2, NO_AUTOGRAD),
        # torch.nn.utils (clip_grad_norm_) is outside every test's modules: no answer can reach it
        make_check("test_clip", 2, PLAIN),
    ),
    imports="from gated.checks import check_clip, check_jacobian_product, check_rnn_backward, check_rnn_forward",
    description="the tanh RNN's forward and backward passes, the Jacobian product, global-norm clipping",
)
