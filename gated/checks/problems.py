"""Inputs the exercises hand to students, self-contained: numpy and torch only.

The grader's sandbox runs this file's source as part of its set-up (students' answers call
:func:`gradient_flow_problem`), and it must not see the course library, whose references could
compute the right answers. So nothing here imports ``gated``, and nothing here is a reference.
"""
import numpy as np
import torch


def packed_params(generator: np.random.Generator, input_size: int, hidden_size: int,
                  gates: int = 3) -> dict:
    """Packed weights and biases (``gates`` blocks), large enough that every convention gives a
    visibly different answer: ``weight_ih`` (gates*H, I), ``weight_hh`` (gates*H, H), biases (gates*H,)."""
    rows = gates * hidden_size
    return {
        "weight_ih": generator.normal(0, 0.6, (rows, input_size)),
        "weight_hh": generator.normal(0, 0.6, (rows, hidden_size)),
        "bias_ih": generator.normal(0, 0.5, rows),
        "bias_hh": generator.normal(0, 0.5, rows),
    }


#: The seed of the gradient-flow problem every student sees (graded problems use secret seeds).
FLOW_SEED = 2024
FLOW_INPUT, FLOW_HIDDEN = 3, 6


def flow_arrays(seed, steps: int = 25) -> dict:
    """The arrays of one gradient-flow problem: x (steps, 1, I), h0 (1, H), the packed parameters."""
    g = np.random.default_rng(seed)
    out = packed_params(g, FLOW_INPUT, FLOW_HIDDEN)
    out["x"] = g.normal(0, 1, (steps, 1, FLOW_INPUT))
    out["h0"] = g.normal(0, 0.5, (1, FLOW_HIDDEN))
    return out


def gradient_flow_problem(seed: int = FLOW_SEED) -> dict:
    """The GRU of the gradient-flow question: float64, I=3, H=6, T=25, batch 1.

    Returns ``x`` (T, 1, I), ``h0`` (1, H) and the four packed parameters ``weight_ih``,
    ``weight_hh``, ``bias_ih``, ``bias_hh``, as tensors.
    """
    return {name: torch.tensor(value) for name, value in flow_arrays(seed).items()}
