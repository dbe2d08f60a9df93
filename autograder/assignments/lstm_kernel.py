"""Grading spec of the optional ``lstm_kernel`` assignment: the LSTM's fused pointwise step in Triton.

Graded on the CPU in Triton's interpreter: the set-up sets ``TRITON_INTERPRET=1`` before anything
imports triton, in the notebook as in the sandbox (whose environment sets it too, and which cannot
import the course library), so a student's visible tests run the kernel the way the grader does on
any machine (the probes hand it CPU tensors).
"""
from __future__ import annotations

from autograder.assignments._build import assignment, make_check
from autograder.rules import BASE_MODULES, RECURRENT
from autograder.spec import Rules

TRITON = "import triton\nimport triton.language as tl\n"

#: The kernel computes the gates itself: no activations of PyTorch's (torch.nn.functional is not
#: allowed either) nor Triton's own sigmoid, and no LSTM of PyTorch's; the course library's kernels
#: and references are outside every allowlist.
RULES = Rules(modules=tuple(m for m in BASE_MODULES if m != "torch.nn.functional") + ("triton", "triton.language"),
              forbidden=RECURRENT + ("torch.sigmoid", "torch.tanh", "torch.special", "torch.Tensor.sigmoid",
                                     "torch.Tensor.tanh", "torch.Tensor.sigmoid_", "torch.Tensor.tanh_",
                                     "triton.language.sigmoid", "triton.language.extra"),
              attributes=("sigmoid", "tanh", "sigmoid_", "tanh_", "libdevice"), guards=("recurrent",))

SPEC = assignment(
    "lstm_kernel",
    checks=(
        make_check("test_lstm_pointwise", 3, RULES, timeout_s=120.0),
        make_check("test_lstm_saturation", 1, RULES, timeout_s=120.0),
    ),
    first='import os\n\nos.environ["TRITON_INTERPRET"] = "1"  # run kernels in Triton\'s interpreter, as the '
          'grader does\nimport gated\n',
    imports=TRITON + "\nfrom gated.checks import check_lstm_pointwise, check_lstm_saturation",
    sandbox=TRITON,
    optional=True,
    description="the LSTM's fused pointwise step (gates i, f, g, o; c' and h') as a Triton kernel, "
                "graded on the CPU under `TRITON_INTERPRET=1`",
)
