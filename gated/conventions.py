"""The GRU and LSTM conventions that differ between papers and frameworks, as data and as code.

The notation page renders its table from :data:`GRU_CONVENTIONS` and :data:`LSTM_GATE_ORDERS`; each
GRU row names the :func:`gated.cells.gru_cell` arguments that compute it, and
:func:`detect_pytorch_gru` reads PyTorch's row off ``nn.GRU`` itself, so the tests can check that the
table, the reference cell and PyTorch agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gated.cells import gru_cell


@dataclass(frozen=True)
class GRUConvention:
    """How one source writes the GRU. ``reset`` and ``update`` are :func:`gru_cell` arguments."""

    source: str
    cite: str  # a key of book/references.bib, or "" for a framework's documentation
    reset: str  # "after": r ⊙ (W_hn h + b_hn); "before": W_hn (r ⊙ h)
    update: str  # "keep_old": z multiplies h; "keep_new": z multiplies the candidate
    gate_order: tuple[str, ...]  # order of the gate blocks in the packed weights ("" if not packed)
    biases: str

    @property
    def candidate(self) -> str:
        return candidate_formula(self.reset)

    @property
    def new_state(self) -> str:
        return update_formula(self.update)


def candidate_formula(reset: str) -> str:
    """The candidate state for a reset placement, in the course's notation (LaTeX)."""
    if reset == "after":
        return r"n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))"
    if reset == "before":
        return r"n = \tanh(W_{in} x + b_{in} + W_{hn} (r \odot h) + b_{hn})"
    raise ValueError(f"reset must be 'after' or 'before', got {reset!r}")


def update_formula(update: str) -> str:
    """The new state for an update convention, in the course's notation (LaTeX)."""
    if update == "keep_old":
        return r"h' = (1 - z) \odot n + z \odot h"
    if update == "keep_new":
        return r"h' = z \odot n + (1 - z) \odot h"
    raise ValueError(f"update must be 'keep_old' or 'keep_new', got {update!r}")


GRU_CONVENTIONS: tuple[GRUConvention, ...] = (
    # The paper changed between its arXiv versions (pytorch/pytorch#8153): v1 applies r after U h.
    GRUConvention("Cho et al. 2014 (arXiv v1)", "cho2014learning", "after", "keep_old",
                  (), "omitted in the paper"),
    GRUConvention("Cho et al. 2014 (EMNLP; arXiv v3)", "cho2014learning", "before", "keep_old",
                  (), "omitted in the paper"),
    GRUConvention("Chung et al. 2014", "chung2014empirical", "before", "keep_new",
                  (), "omitted in the paper"),
    GRUConvention("PyTorch nn.GRU", "", "after", "keep_old",
                  ("r", "z", "n"), "bias_ih and bias_hh, (3H,) each"),
    GRUConvention("cuDNN", "", "after", "keep_old",
                  ("r", "z", "n"), "input and recurrent bias per gate"),
    GRUConvention("Keras GRU (reset_after=True, the default)", "", "after", "keep_old",
                  ("z", "r", "n"), "bias of shape (2, 3H): input row, recurrent row"),
    GRUConvention("Keras GRU (reset_after=False)", "", "before", "keep_old",
                  ("z", "r", "n"), "one bias (3H,)"),
    GRUConvention("ONNX GRU (linear_before_reset=0, the default)", "", "before", "keep_old",
                  ("z", "r", "n"), "Wb and Rb, (3H,) each"),
    GRUConvention("ONNX GRU (linear_before_reset=1)", "", "after", "keep_old",
                  ("z", "r", "n"), "Wb and Rb, (3H,) each"),
)

LSTM_GATE_ORDERS: dict[str, tuple[str, ...]] = {
    "PyTorch nn.LSTM": ("i", "f", "g", "o"),
    "cuDNN": ("i", "f", "g", "o"),
    "Keras LSTM": ("i", "f", "g", "o"),
    "ONNX LSTM": ("i", "o", "f", "g"),
}


def detect_pytorch_gru(hidden_size: int = 5, input_size: int = 3, seed: int = 0) -> dict[str, object]:
    """Find PyTorch's GRU convention by experiment, not by reading its documentation.

    Runs one step of ``nn.GRU`` (float64) and compares it with :func:`gru_cell` under each reset and
    update convention, then names the row blocks with :func:`probe_gru_gate_order`.
    Returns ``{"reset", "update", "gate_order"}``.
    """
    torch.manual_seed(seed)
    module = torch.nn.GRU(input_size, hidden_size, dtype=torch.float64)
    x = torch.randn(2, input_size, dtype=torch.float64)
    h = torch.randn(2, hidden_size, dtype=torch.float64)
    with torch.no_grad():
        expected = module(x[None], h[None])[1][0]
        params = (module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0)
        matches = [
            (reset, update)
            for reset in ("after", "before")
            for update in ("keep_old", "keep_new")
            if torch.allclose(gru_cell(x, h, *params, reset=reset, update=update), expected,
                              rtol=0, atol=1e-12)
        ]
    if len(matches) != 1:
        raise AssertionError(f"nn.GRU matches {len(matches)} conventions, expected one: {matches}")
    reset, update = matches[0]
    return {"reset": reset, "update": update, "gate_order": probe_gru_gate_order()}


def _saturated_step(module: torch.nn.Module, block: int, state: tuple[torch.Tensor, ...]) -> tuple:
    """One step from ``state`` with every parameter zero except ``bias_ih`` block ``block`` = 20."""
    size = module.hidden_size
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
        module.bias_ih_l0[block * size:(block + 1) * size] = 20.0
        x = torch.zeros(1, 1, module.input_size, dtype=torch.float64)
        _, final = module(x, state if len(state) > 1 else state[0])
    return final if isinstance(final, tuple) else (final,)


def probe_gru_gate_order(hidden_size: int = 3) -> tuple[str, ...]:
    """Name ``nn.GRU``'s row blocks by what saturating one block's input bias does.

    All weights and other biases zero, x = 0 and h = 1/2, so unsaturated gates sit at σ(0) = 1/2 and
    the candidate at tanh(0) = 0, giving h' = 1/4. Saturating z gives h' = h = 1/2; saturating the
    candidate gives n = 1 and h' = 3/4; saturating r leaves h' = 1/4 (r only scales W_hn h = 0),
    so r is the block that is neither.
    """
    names = []
    for block in range(3):
        module = torch.nn.GRU(1, hidden_size, dtype=torch.float64)
        h = torch.full((1, 1, hidden_size), 0.5, dtype=torch.float64)
        (h1,) = _saturated_step(module, block, (h,))
        value = h1.flatten()[0].item()
        names.append("z" if abs(value - 0.5) < 1e-6 else "n" if abs(value - 0.75) < 1e-6 else "r")
    return tuple(names)


def probe_lstm_gate_order(hidden_size: int = 3) -> tuple[str, ...]:
    """Name ``nn.LSTM``'s row blocks by what saturating one block's input bias does.

    All weights and other biases zero, x = h = 0 and c = 1/2: unsaturated gates are 1/2 and g = 0, so
    c' = f c + i g = 1/4 and h' = o tanh(c') = tanh(1/4)/2. Saturating f gives c' = 1/2, g gives
    c' = 3/4, o gives h' = tanh(1/4); saturating i changes nothing (it multiplies g = 0), so i is the
    block that is none of the others.
    """
    names = []
    for block in range(4):
        module = torch.nn.LSTM(1, hidden_size, dtype=torch.float64)
        h = torch.zeros(1, 1, hidden_size, dtype=torch.float64)
        c = torch.full((1, 1, hidden_size), 0.5, dtype=torch.float64)
        h1, c1 = (t.flatten()[0].item() for t in _saturated_step(module, block, (h, c)))
        if abs(c1 - 0.75) < 1e-6:
            names.append("g")
        elif abs(c1 - 0.5) < 1e-6:
            names.append("f")
        elif abs(h1 - math.tanh(0.25)) < 1e-6:
            names.append("o")
        else:
            names.append("i")
    return tuple(names)
