"""Grading spec of the ``lstm`` assignment: the LSTM cell and layer in nn.LSTM's layout."""
from __future__ import annotations

from autograder.assignments._build import assignment, make_check

FORBIDDEN = ("nn.LSTM", "nn.LSTMCell", "torch.lstm", "torch.lstm_cell", "_VF", "torch._C", "gated.cells",
             "gated.conventions", "gated.checks", "lstm_variant")

SPEC = assignment(
    "lstm",
    checks=(
        make_check("test_lstm_cell", 3, FORBIDDEN),
        make_check("test_lstm_layer", 2, FORBIDDEN),
        # set_forget_bias receives an nn.LSTM: it may name it, not rebuild it from the course's cells
        make_check("test_forget_bias", 1, ("_VF", "gated.cells", "gated.checks")),
    ),
    imports="from gated.checks import check_forget_bias, check_lstm_cell, check_lstm_layer",
    description="the LSTM cell and layer (gate order i, f, g, o) and the forget-gate bias",
)
