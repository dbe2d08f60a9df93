"""Grading spec of the ``bptt`` assignment: back-propagation through time for the tanh RNN."""
from __future__ import annotations

from autograder.assignments._build import assignment, make_check

COURSE = ("gated.cells", "gated.conventions", "gated.checks", "gated.gradients", "_VF", "torch._C")
# names are matched as whole words (autograder.judge.forbidden_uses): "backward" catches loss.backward()
NO_AUTOGRAD = COURSE + ("torch.autograd", "autograd", "backward", "torch.func", "functorch")

SPEC = assignment(
    "bptt",
    checks=(
        make_check("test_rnn_forward", 1, COURSE + ("nn.RNN",)),
        make_check("test_rnn_backward", 3, NO_AUTOGRAD),
        make_check("test_jacobian_product", 2, NO_AUTOGRAD),
        make_check("test_clip", 2, COURSE + ("clip_grad_norm_", "clip_grad_norm")),
    ),
    imports="from gated.checks import check_clip, check_jacobian_product, check_rnn_backward, check_rnn_forward",
    description="the tanh RNN's forward and backward passes, the Jacobian product, global-norm clipping",
)
