"""Reference recurrent cells and layers, written from the equations in PyTorch's packed layout.

Every function here takes the weights exactly as ``torch.nn.RNN``, ``nn.LSTM`` and ``nn.GRU`` store
them, so an ``nn.GRU``'s ``state_dict`` can be handed to :func:`gru` unchanged:

* ``weight_ih``: ``(G*H, I)`` and ``weight_hh``: ``(G*H, H)``, the gates stacked along the rows
  (G = 1 for the RNN; LSTM rows i, f, g, o; GRU rows r, z, n);
* ``bias_ih``, ``bias_hh``: ``(G*H,)``, or ``None`` for a layer built with ``bias=False``.

Shapes in the docstrings: B batch, T time, I input size, H hidden size.
The tests check every function against PyTorch's modules and autograd in float64.
"""
from __future__ import annotations

from typing import Callable, Literal

import torch
from torch import Tensor

Reset = Literal["after", "before"]
Update = Literal["keep_old", "keep_new"]

GATE_ORDER = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


def split_gates(packed: Tensor, cell: str) -> dict[str, Tensor]:
    """Split a packed weight ``(G*H, ...)`` or bias ``(G*H,)`` into one block per gate, by name.

    >>> split_gates(gru.weight_ih_l0, "gru")["z"]   # W_iz, shape (H, I)
    """
    names = GATE_ORDER[cell]
    if packed.shape[0] % len(names):
        raise ValueError(
            f"a packed {cell} parameter needs a first dimension divisible by {len(names)}, "
            f"got shape {tuple(packed.shape)}"
        )
    return dict(zip(names, packed.chunk(len(names), dim=0)))


def pack_gates(blocks: dict[str, Tensor], cell: str) -> Tensor:
    """Inverse of :func:`split_gates`: stack the per-gate blocks in PyTorch's order."""
    return torch.cat([blocks[name] for name in GATE_ORDER[cell]], dim=0)


def _affine(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    out = x @ weight.T
    return out if bias is None else out + bias


def _check_state(h: Tensor, weight_hh: Tensor, gates: int, what: str = "h") -> None:
    hidden_size = weight_hh.shape[1]
    if weight_hh.shape[0] != gates * hidden_size or h.shape[-1] != hidden_size:
        raise ValueError(
            f"hidden_size {hidden_size} (from weight_hh of shape {tuple(weight_hh.shape)}) "
            f"does not match {what} of shape {tuple(h.shape)}"
        )


# --------------------------------------------------------------------------------------- cells


def rnn_cell(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
) -> Tensor:
    """Elman step ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``. x: (B, I), h: (B, H) -> (B, H)."""
    _check_state(h, weight_hh, 1)
    act = {"tanh": torch.tanh, "relu": torch.relu, "linear": lambda a: a}[nonlinearity]
    return act(_affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh))


def lstm_cell(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """LSTM step in ``nn.LSTM``'s layout (rows i, f, g, o). x: (B, I), h, c: (B, H) -> (h', c').

    i = σ(..), f = σ(..), g = tanh(..), o = σ(..);  c' = f ⊙ c + i ⊙ g;  h' = o ⊙ tanh(c').
    """
    step = lstm_gates(x, state, weight_ih, weight_hh, bias_ih, bias_hh)
    return step["h"], step["c"]


def lstm_gates(
    x: Tensor,
    state: tuple[Tensor, Tensor],
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
) -> dict[str, Tensor]:
    """One LSTM step with everything it computes: ``{"i", "f", "g", "o", "c", "h"}``, each (B, H).

    The same step as :func:`lstm_cell` (which returns only ``h`` and ``c``), for looking at the gates.
    """
    h, c = state
    _check_state(h, weight_hh, 4)
    _check_state(c, weight_hh, 4, what="c")
    pre = _affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh)
    i, f, g, o = pre.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_next = f * c + i * g
    return {"i": i, "f": f, "g": g, "o": o, "c": c_next, "h": o * torch.tanh(c_next)}


def gru_cell(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    reset: Reset = "after",
    update: Update = "keep_old",
) -> Tensor:
    """GRU step in ``nn.GRU``'s layout (rows r, z, n). x: (B, I), h: (B, H) -> (B, H).

    r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
    reset="after"  (PyTorch, cuDNN):     n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    reset="before" (Cho et al. 2014 v3): n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)
    update="keep_old" (Cho, PyTorch):    h' = (1 − z) ⊙ n + z ⊙ h
    update="keep_new" (Chung et al.):    h' = z ⊙ n + (1 − z) ⊙ h
    """
    return gru_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset, update)["h"]


def gru_gates(
    x: Tensor,
    h: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    reset: Reset = "after",
    update: Update = "keep_old",
) -> dict[str, Tensor]:
    """One GRU step with everything it computes: ``{"r", "z", "n", "h"}``, each (B, H).

    The same step and conventions as :func:`gru_cell` (which returns only the new ``h``).
    """
    if reset not in ("after", "before"):
        raise ValueError(f"reset must be 'after' or 'before', got {reset!r}")
    if update not in ("keep_old", "keep_new"):
        raise ValueError(f"update must be 'keep_old' or 'keep_new', got {update!r}")
    _check_state(h, weight_hh, 3)
    W_hr, W_hz, W_hn = weight_hh.chunk(3, dim=0)
    b_hr, b_hz, b_hn = bias_hh.chunk(3) if bias_hh is not None else (None, None, None)
    gi_r, gi_z, gi_n = _affine(x, weight_ih, bias_ih).chunk(3, dim=-1)
    r = torch.sigmoid(gi_r + _affine(h, W_hr, b_hr))
    z = torch.sigmoid(gi_z + _affine(h, W_hz, b_hz))
    if reset == "after":
        n = torch.tanh(gi_n + r * _affine(h, W_hn, b_hn))
    else:
        n = torch.tanh(gi_n + _affine(r * h, W_hn, b_hn))
    h_next = (1 - z) * n + z * h if update == "keep_old" else z * n + (1 - z) * h
    return {"r": r, "z": z, "n": n, "h": h_next}


# -------------------------------------------------------------------------------------- layers


def layer_params(state_dict: dict[str, Tensor], layer: int) -> tuple[Tensor, ...]:
    """``(weight_ih, weight_hh, bias_ih, bias_hh)`` of one layer of a PyTorch RNN ``state_dict``.

    Biases are ``None`` for a module built with ``bias=False``.
    """
    key = f"weight_ih_l{layer}"
    if key not in state_dict:
        raise KeyError(f"{key} not in the state_dict (keys: {sorted(state_dict)})")
    return (
        state_dict[key],
        state_dict[f"weight_hh_l{layer}"],
        state_dict.get(f"bias_ih_l{layer}"),
        state_dict.get(f"bias_hh_l{layer}"),
    )


def num_layers(state_dict: dict[str, Tensor]) -> int:
    """How many stacked layers a PyTorch RNN ``state_dict`` holds."""
    count = 0
    while f"weight_ih_l{count}" in state_dict:
        count += 1
    if count == 0:
        raise ValueError(f"no weight_ih_l0 in the state_dict (keys: {sorted(state_dict)})")
    for key in state_dict:
        if key.endswith("_reverse") or "_hr_" in key:
            raise ValueError(f"{key}: bidirectional and projected layers are not supported")
    return count


def run_layers(
    step: Callable,
    x: Tensor,
    state_dict: dict[str, Tensor],
    state0: tuple[Tensor, ...],
    batch_first: bool,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run ``step(x_t, state, *params) -> state`` over time and stacked layers.

    ``state0`` holds one ``(L, B, H)`` tensor per state (h for RNN and GRU; h and c for the LSTM).
    Returns the top layer's outputs ``(T, B, H)`` (``(B, T, H)`` if ``batch_first``) and the final
    states, each ``(L, B, H)``: the same as PyTorch's modules.
    """
    if x.dim() != 3:
        raise ValueError(f"expected x of shape (T, B, I) or (B, T, I), got {tuple(x.shape)}")
    seq = x.transpose(0, 1) if batch_first else x
    finals: list[list[Tensor]] = [[] for _ in state0]
    for layer in range(num_layers(state_dict)):
        params = layer_params(state_dict, layer)
        state = tuple(s[layer] for s in state0)
        outputs = []
        for x_t in seq:
            state = step(x_t, state, *params)
            outputs.append(state[0])
        seq = torch.stack(outputs)
        for kept, s in zip(finals, state):
            kept.append(s)
    out = seq.transpose(0, 1) if batch_first else seq
    return out, tuple(torch.stack(kept) for kept in finals)


def _zeros_state(x: Tensor, state_dict: dict[str, Tensor], batch_first: bool) -> Tensor:
    hidden_size = state_dict["weight_hh_l0"].shape[1]
    batch = x.shape[0] if batch_first else x.shape[1]
    return x.new_zeros(num_layers(state_dict), batch, hidden_size)


def rnn(
    x: Tensor,
    state_dict: dict[str, Tensor],
    h0: Tensor | None = None,
    batch_first: bool = False,
    nonlinearity: str = "tanh",
) -> tuple[Tensor, Tensor]:
    """Multi-layer Elman RNN, same call and result as ``nn.RNN``: ``(output, h_n)``."""
    h0 = _zeros_state(x, state_dict, batch_first) if h0 is None else h0

    def step(x_t, state, *params):
        return (rnn_cell(x_t, state[0], *params, nonlinearity=nonlinearity),)

    out, (h_n,) = run_layers(step, x, state_dict, (h0,), batch_first)
    return out, h_n


def lstm(
    x: Tensor,
    state_dict: dict[str, Tensor],
    state0: tuple[Tensor, Tensor] | None = None,
    batch_first: bool = False,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Multi-layer LSTM, same call and result as ``nn.LSTM``: ``(output, (h_n, c_n))``."""
    if state0 is None:
        zeros = _zeros_state(x, state_dict, batch_first)
        state0 = (zeros, zeros)

    def step(x_t, state, *params):
        return lstm_cell(x_t, state, *params)

    out, (h_n, c_n) = run_layers(step, x, state_dict, tuple(state0), batch_first)
    return out, (h_n, c_n)


def gru(
    x: Tensor,
    state_dict: dict[str, Tensor],
    h0: Tensor | None = None,
    batch_first: bool = False,
    reset: Reset = "after",
    update: Update = "keep_old",
) -> tuple[Tensor, Tensor]:
    """Multi-layer GRU, same call and result as ``nn.GRU``: ``(output, h_n)``.

    ``reset`` and ``update`` choose the convention (see :func:`gru_cell`); the defaults are PyTorch's.
    """
    h0 = _zeros_state(x, state_dict, batch_first) if h0 is None else h0

    def step(x_t, state, *params):
        return (gru_cell(x_t, state[0], *params, reset=reset, update=update),)

    out, (h_n,) = run_layers(step, x, state_dict, (h0,), batch_first)
    return out, h_n


def parameter_count(cell: str, input_size: int, hidden_size: int, num_layers: int = 1) -> int:
    """Parameters of a PyTorch RNN/LSTM/GRU with biases: G·H·(I + H + 2) for the first layer.

    G = 1, 4, 3 gates; layers above the first take an input of size H.
    """
    gates = len(GATE_ORDER[cell])
    total = 0
    for layer in range(num_layers):
        inputs = input_size if layer == 0 else hidden_size
        total += gates * hidden_size * (inputs + hidden_size + 2)
    return total


# ------------------------------------------------------------------------ looking inside a layer


def gates_over_time(cell: str, x: Tensor, state_dict: dict[str, Tensor],
                    batch_first: bool = True) -> dict[str, Tensor]:
    """Run layer 0 of an LSTM or GRU over x and keep every gate at every step.

    x: (B, T, I) (or (T, B, I) without ``batch_first``). Returns ``{name: (B, T, H)}`` (likewise laid
    out) with the names of :func:`lstm_gates` (i, f, g, o, c, h) or :func:`gru_gates` (r, z, n, h),
    PyTorch's conventions; ``state_dict`` is, e.g., an ``nn.LSTM``'s or ``nn.GRU``'s.
    """
    if cell not in ("lstm", "gru"):
        raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
    if x.dim() != 3:
        raise ValueError(f"expected x of shape (B, T, I) or (T, B, I), got {tuple(x.shape)}")
    params = [p if p is None else p.detach().to(x.dtype) for p in layer_params(state_dict, 0)]
    seq = x.transpose(0, 1) if batch_first else x
    h = seq.new_zeros(seq.shape[1], params[1].shape[1])
    c = torch.zeros_like(h)
    record: dict[str, list[Tensor]] = {}
    with torch.no_grad():
        for x_t in seq:
            if cell == "lstm":
                step = lstm_gates(x_t, (h, c), *params)
                c = step["c"]
            else:
                step = gru_gates(x_t, h, *params)
            h = step["h"]
            for name, value in step.items():
                record.setdefault(name, []).append(value)
    return {name: torch.stack(values, dim=1 if batch_first else 0) for name, values in record.items()}


def module_from_blocks(cell: str, blocks: dict[str, tuple], dtype: torch.dtype = torch.float64) -> torch.nn.Module:
    """A one-layer ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` whose parameters are given gate by gate.

    ``blocks`` maps each gate of :data:`GATE_ORDER` (``"h"`` for the RNN) to ``(W_i, W_h, b_i, b_h)``:
    arrays of shape (H, I), (H, H), (H,), (H,), or plain numbers for a network of one unit and one
    input. The blocks are packed in PyTorch's order, so the module computes exactly these gates.
    """
    names = GATE_ORDER[cell]
    if set(blocks) != set(names):
        raise ValueError(f"a {cell} needs the blocks {names}, got {tuple(blocks)}")

    def as_tensor(value, dims: int) -> Tensor:
        tensor = torch.as_tensor(value, dtype=dtype)
        return tensor.reshape((1,) * dims) if tensor.dim() == 0 else tensor

    parts = {name: [as_tensor(v, d) for v, d in zip(blocks[name], (2, 2, 1, 1))] for name in names}
    hidden_size, input_size = parts[names[0]][0].shape
    module_type = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    module = module_type(input_size, hidden_size, dtype=dtype)
    with torch.no_grad():
        for index, key in enumerate(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")):
            packed = torch.cat([parts[name][index] for name in names], dim=0)
            target = getattr(module, key)
            if packed.shape != target.shape:
                raise ValueError(f"{key}: the blocks pack to shape {tuple(packed.shape)}, "
                                 f"expected {tuple(target.shape)}")
            target.copy_(packed)
    return module
