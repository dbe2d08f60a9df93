"""Grading spec of the optional ``gru_kernel`` assignment: the fused GRU pointwise step in Triton.

Graded on the CPU under ``TRITON_INTERPRET=1``: the notebook's set-up imports :mod:`gated` first,
which sets it when there is no CUDA device, before anything imports triton; the sandbox sets it in
its environment (and cannot import the course library).
"""
from __future__ import annotations

from autograder.assignments._build import assignment, make_check
from autograder.rules import BASE_MODULES, RECURRENT
from autograder.spec import Rules

TRITON = "import triton\nimport triton.language as tl\n"

#: The kernel computes the gates itself: no torch activations (torch.nn.functional is not allowed either).
RULES = Rules(modules=tuple(m for m in BASE_MODULES if m != "torch.nn.functional") + ("triton", "triton.language"),
              forbidden=RECURRENT + ("torch.sigmoid", "torch.tanh", "torch.special", "torch.Tensor.sigmoid",
                                     "torch.Tensor.tanh", "torch.Tensor.sigmoid_", "torch.Tensor.tanh_"),
              attributes=("sigmoid", "tanh", "sigmoid_", "tanh_"), guards=("recurrent",))

SPEC = assignment(
    "gru_kernel",
    checks=(
        make_check("test_pointwise_kernel", 3, RULES, timeout_s=120.0),
        make_check("test_kernel_saturation", 1, RULES, timeout_s=120.0),
    ),
    first="import gated  # sets TRITON_INTERPRET=1 when there is no GPU: import it before triton\n",
    imports=TRITON + "\nfrom gated.checks import check_kernel_saturation, check_pointwise_kernel",
    sandbox=TRITON,
    optional=True,
    description="the GRU's fused pointwise step as a Triton kernel, graded on the CPU under "
                "`TRITON_INTERPRET=1`",
)
