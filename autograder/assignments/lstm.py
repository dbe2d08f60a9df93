"""Grading spec of the ``lstm`` assignment: the LSTM cell and layer in nn.LSTM's layout."""
from __future__ import annotations

from autograder.assignments._build import assignment, make_check
from autograder.rules import AUTOGRAD_MODULES, BASE_MODULES, PLAIN
from autograder.spec import Rules

SPEC = assignment(
    "lstm",
    checks=(
        make_check("test_lstm_cell", 3, PLAIN),
        make_check("test_lstm_layer", 2, PLAIN),
        # set_forget_bias receives an nn.LSTM: it may name it (PLAIN's recurrent guard watches the
        # other two tests, so nothing defined here can run an LSTM for them)
        make_check("test_forget_bias", 1, Rules(modules=BASE_MODULES + AUTOGRAD_MODULES)),
    ),
    imports="from gated.checks import check_forget_bias, check_lstm_cell, check_lstm_layer",
    description="the LSTM cell and layer (gate order i, f, g, o) and the forget-gate bias",
)
