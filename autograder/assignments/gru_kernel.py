"""Grading spec of the optional ``gru_kernel`` assignment: the fused GRU pointwise step in Triton.

Graded on the CPU under ``TRITON_INTERPRET=1``: the set-up imports :mod:`gated` first, which sets it
when there is no CUDA device, before anything imports triton.
"""
from __future__ import annotations

from autograder.assignments._build import assignment, make_check

FORBIDDEN = ("gated.kernels", "gated.cells", "gated.checks", "torch.sigmoid", "torch.tanh",
             "torch.nn.functional", "F.sigmoid", "F.tanh", "nn.GRU", "nn.GRUCell", "torch.gru",
             "torch.gru_cell", "_VF", "torch._C")

SPEC = assignment(
    "gru_kernel",
    checks=(
        make_check("test_pointwise_kernel", 3, FORBIDDEN, timeout_s=120.0),
        make_check("test_kernel_saturation", 1, FORBIDDEN, timeout_s=120.0),
    ),
    first="import gated  # sets TRITON_INTERPRET=1 when there is no GPU: import it before triton\n",
    imports="import triton\nimport triton.language as tl\n\nfrom gated.checks import check_kernel_saturation, "
            "check_pointwise_kernel",
    optional=True,
    description="the GRU's fused pointwise step as a Triton kernel, graded on the CPU under "
                "`TRITON_INTERPRET=1`",
)
