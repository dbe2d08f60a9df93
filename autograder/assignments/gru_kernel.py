"""Grading spec of the optional ``gru_kernel`` assignment: the fused GRU pointwise step in Triton.

Graded on the CPU under ``TRITON_INTERPRET=1``: the set-up imports :mod:`gated` first, which sets it
when there is no CUDA device, before anything imports triton.
"""
from __future__ import annotations

from autograder.assignments._build import JUDGE_MODULES, SETUP, make_check
from autograder.spec import AssignmentSpec

FORBIDDEN = ("gated.kernels", "gated.cells", "gated.checks", "torch.sigmoid", "torch.tanh",
             "torch.nn.functional", "F.sigmoid", "F.tanh", "nn.GRU", "nn.GRUCell", "torch.gru",
             "torch.gru_cell", "_VF", "torch._C")

SETUP_KERNEL = "import gated  # sets TRITON_INTERPRET=1 when there is no GPU: import it before triton\n" \
    + SETUP + """import triton
import triton.language as tl

from gated.checks import check_kernel_saturation, check_pointwise_kernel
"""

SPEC = AssignmentSpec(
    name="gru_kernel",
    notebook="gru_kernel.ipynb",
    checks=(
        make_check("test_pointwise_kernel", 3, FORBIDDEN, timeout_s=120.0),
        make_check("test_kernel_saturation", 1, FORBIDDEN, timeout_s=120.0),
    ),
    optional=True,
    setup=SETUP_KERNEL.strip() + "\n",
    judge_modules=JUDGE_MODULES,
    description="the GRU's fused pointwise step as a Triton kernel, graded on the CPU under "
                "`TRITON_INTERPRET=1`",
)
