"""Grading spec of the optional ``lstm_kernel`` assignment: the LSTM's fused pointwise step in Triton.

Graded on the CPU in Triton's interpreter: the set-up sets ``TRITON_INTERPRET=1`` before anything
imports triton, in the notebook as in the sandbox, so a student's visible tests run the kernel the
way the grader does on any machine (the probes hand it CPU tensors).
"""
from __future__ import annotations

from autograder.assignments._build import assignment, make_check

#: The course's kernels and references, PyTorch's LSTM, and the activations the exercise asks the
#: student to write (PyTorch's, Triton's own sigmoid, libdevice's tanh).
FORBIDDEN = ("gated.kernels", "gated.cells", "gated.checks", "gated.conventions", "lstm_combine",
             "lstm_variant", "nn.LSTM", "nn.LSTMCell", "torch.lstm", "torch.lstm_cell", "_VF", "torch._C",
             "torch.sigmoid", "torch.tanh", "torch.special", "torch.nn.functional", "F.sigmoid", "F.tanh",
             "tl.sigmoid", "libdevice", "triton.language.extra", "tl.extra")

SPEC = assignment(
    "lstm_kernel",
    checks=(
        make_check("test_lstm_pointwise", 3, FORBIDDEN, timeout_s=120.0),
        make_check("test_lstm_saturation", 1, FORBIDDEN, timeout_s=120.0),
    ),
    first='import os\n\nos.environ["TRITON_INTERPRET"] = "1"  # run kernels in Triton\'s interpreter, as the '
          'grader does\nimport gated\n',
    imports="import triton\nimport triton.language as tl\n\nfrom gated.checks import check_lstm_pointwise, "
            "check_lstm_saturation",
    optional=True,
    description="the LSTM's fused pointwise step (gates i, f, g, o; c' and h') as a Triton kernel, "
                "graded on the CPU under `TRITON_INTERPRET=1`",
)
