"""Back-propagation through time, measured: Jacobian products, gradient norms against the lag, clipping.

For the Elman RNN  a_t = W_ih x_t + b + W_hh h_{t-1},  h_t = φ(a_t),  the Jacobian of one step is
``diag(φ'(a_t)) W_hh``, and ∂h_T/∂h_{T-k} is the product of k of them (:func:`jacobian_products`,
:func:`jacobian_norms`). For any of the three cells, :func:`gradient_norm_vs_lag` measures with
autograd how strongly the last state h_T depends on the input k steps earlier, ‖∂h_T/∂x_{T-k}‖.

Clipping: :func:`clip_global_norm` (the same result as ``torch.nn.utils.clip_grad_norm_``) rescales
all gradients together and keeps their direction; :func:`clip_elementwise` (like
``clip_grad_value_``) clips each entry and changes the direction.

Shapes: T time, H hidden size, I input size.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor

from gated import cells

NONLINEARITIES = ("tanh", "linear")


def activation(a: Tensor, nonlinearity: str = "tanh") -> Tensor:
    """φ(a) for ``"tanh"`` or ``"linear"``."""
    if nonlinearity == "tanh":
        return torch.tanh(a)
    if nonlinearity == "linear":
        return a
    raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")


def activation_derivative(a: Tensor, nonlinearity: str = "tanh") -> Tensor:
    """φ'(a): 1 − tanh(a)² for ``"tanh"``, 1 for ``"linear"``."""
    if nonlinearity == "tanh":
        return 1 - torch.tanh(a) ** 2
    if nonlinearity == "linear":
        return torch.ones_like(a)
    raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")


def random_recurrent_weight(hidden_size: int, spectral_radius: float, seed: int = 0,
                            dtype: torch.dtype = torch.float64) -> Tensor:
    """A Gaussian (H, H) matrix rescaled so that its largest |eigenvalue| is ``spectral_radius``.

    Its largest singular value is about twice its spectral radius (for large H).
    """
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(hidden_size, hidden_size, generator=generator, dtype=dtype)
    radius = torch.linalg.eigvals(weight).abs().max().real
    return weight * (spectral_radius / radius)


def rnn_forward(x: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias: Tensor | None = None,
                h0: Tensor | None = None, nonlinearity: str = "tanh") -> tuple[Tensor, Tensor]:
    """Run an Elman RNN over one sequence x: (T, I); return pre-activations a and states h, both (T, H).

    a_t = W_ih x_t + b + W_hh h_{t-1},  h_t = φ(a_t),  h_0 = ``h0`` (zeros by default).
    """
    if x.dim() != 2 or x.shape[1] != weight_ih.shape[1]:
        raise ValueError(f"expected x of shape (T, {weight_ih.shape[1]}), got {tuple(x.shape)}")
    h = torch.zeros(weight_hh.shape[0], dtype=x.dtype) if h0 is None else h0
    pre, states = [], []
    for x_t in x:
        a = weight_ih @ x_t + weight_hh @ h + (0 if bias is None else bias)
        h = activation(a, nonlinearity)
        pre.append(a)
        states.append(h)
    return torch.stack(pre), torch.stack(states)


def jacobian_products(weight_hh: Tensor, pre_activations: Tensor, nonlinearity: str = "tanh") -> Tensor:
    """∂h_T/∂h_{T-k} for k = 0..T, as a (T+1, H, H) tensor; pre_activations: a_1..a_T, (T, H).

    k = 0 is the identity; k multiplies  diag(φ'(a_T)) W_hh · diag(φ'(a_{T-1})) W_hh · …  (k factors,
    the latest on the left). k = T is ∂h_T/∂h_0.
    """
    size = weight_hh.shape[0]
    if pre_activations.dim() != 2 or pre_activations.shape[1] != size:
        raise ValueError(f"expected pre_activations of shape (T, {size}), got {tuple(pre_activations.shape)}")
    product = torch.eye(size, dtype=weight_hh.dtype)
    products = [product]
    for a in pre_activations.flip(0):
        step = activation_derivative(a, nonlinearity)[:, None] * weight_hh  # diag(φ'(a)) W_hh
        product = product @ step
        products.append(product)
    return torch.stack(products)


def jacobian_norms(weight_hh: Tensor, pre_activations: Tensor, nonlinearity: str = "tanh",
                   ord: int | str = 2) -> Tensor:
    """‖∂h_T/∂h_{T-k}‖ for k = 0..T, shape (T+1,); ``ord`` 2 is the largest singular value, "fro" Frobenius."""
    products = jacobian_products(weight_hh, pre_activations, nonlinearity)
    return torch.linalg.matrix_norm(products, ord=ord)


def rnn_jacobian_norms(hidden_size: int = 64, length: int = 100, spectral_radius: float = 1.0,
                       nonlinearity: str = "tanh", input_scale: float = 1.0, seed: int = 0) -> Tensor:
    """‖∂h_T/∂h_{T-k}‖₂, k = 0..T, of a random Elman RNN driven by Gaussian inputs; shape (T+1,).

    W_hh from :func:`random_recurrent_weight`, one input unit with weight N(0, 1), inputs
    N(0, ``input_scale``²), float64.
    """
    generator = torch.Generator().manual_seed(seed + 1)
    weight_hh = random_recurrent_weight(hidden_size, spectral_radius, seed)
    weight_ih = torch.randn(hidden_size, 1, generator=generator, dtype=torch.float64)
    x = input_scale * torch.randn(length, 1, generator=generator, dtype=torch.float64)
    pre, _ = rnn_forward(x, weight_ih, weight_hh, nonlinearity=nonlinearity)
    return jacobian_norms(weight_hh, pre, nonlinearity)


# ------------------------------------------------------------------ any cell, through autograd


def random_state_dict(cell: str, input_size: int, hidden_size: int, spectral_radius: float | None = None,
                      seed: int = 0, dtype: torch.dtype = torch.float64) -> dict[str, Tensor]:
    """Parameters of an ``nn.RNN``/``nn.LSTM``/``nn.GRU`` layer with PyTorch's initialisation.

    With ``spectral_radius``, every (H, H) gate block of ``weight_hh_l0`` is replaced by its own
    :func:`random_recurrent_weight` of that spectral radius (for the RNN, the one block).
    """
    module_type = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = module_type(input_size, hidden_size, dtype=dtype)
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    if spectral_radius is not None:
        gates = len(cells.GATE_ORDER[cell])
        blocks = [random_recurrent_weight(hidden_size, spectral_radius, seed + 100 + g, dtype)
                  for g in range(gates)]
        state["weight_hh_l0"] = torch.cat(blocks, dim=0)
    return state


def gradient_norm_vs_lag(cell: str, hidden_size: int = 32, length: int = 100,
                         spectral_radius: float | None = 1.0, nonlinearity: str = "tanh",
                         input_size: int = 1, seed: int = 0, state_dict: dict[str, Tensor] | None = None,
                         inputs: Tensor | None = None) -> Tensor:
    """‖∂h_T/∂x_{T-k}‖_F for k = 0..T-1, shape (T,), measured with autograd in float64.

    ``cell``: "rnn" (``nonlinearity`` "tanh" or "linear"), "lstm" or "gru". The layer's parameters are
    ``state_dict`` (e.g. ``model.rnn.state_dict()`` of a trained :class:`gated.training.SequenceModel`)
    or else :func:`random_state_dict` with ``spectral_radius``. ``inputs`` (T, I) is the sequence
    (default: N(0, 1) noise of ``length`` steps). The H rows of the Jacobian come from one backward
    pass over H copies of the sequence.
    """
    if cell not in ("rnn", "lstm", "gru"):
        raise ValueError(f"cell must be 'rnn', 'lstm' or 'gru', got {cell!r}")
    if state_dict is None:
        state_dict = random_state_dict(cell, input_size, hidden_size, spectral_radius, seed)
    params = [p.detach().to(torch.float64) for p in cells.layer_params(state_dict, 0)]
    hidden_size = params[1].shape[1]
    input_size = params[0].shape[1]
    if inputs is None:
        generator = torch.Generator().manual_seed(seed + 7)
        inputs = torch.randn(length, input_size, generator=generator, dtype=torch.float64)
    if inputs.dim() != 2 or inputs.shape[1] != input_size:
        raise ValueError(f"expected inputs of shape (T, {input_size}), got {tuple(inputs.shape)}")
    x = inputs.to(torch.float64).expand(hidden_size, -1, -1).clone().requires_grad_(True)  # (H, T, I)
    h = x.new_zeros(hidden_size, hidden_size)
    c = x.new_zeros(hidden_size, hidden_size)
    for t in range(x.shape[1]):
        if cell == "rnn":
            h = activation(x[:, t] @ params[0].T + h @ params[1].T
                           + sum(b for b in params[2:] if b is not None), nonlinearity)
        elif cell == "lstm":
            h, c = cells.lstm_cell(x[:, t], (h, c), *params)
        else:
            h = cells.gru_cell(x[:, t], h, *params)
    # Copy j of the batch back-propagates output unit j: its input gradient is row j of the Jacobian.
    (grad,) = torch.autograd.grad(h.diagonal().sum(), x)
    norms = grad.pow(2).sum(dim=(0, 2)).sqrt()  # (T,), indexed by time t
    return norms.flip(0)  # indexed by lag k = T - 1 - t


# ---------------------------------------------------------------------------------- clipping


def _grads(parameters: Iterable[torch.nn.Parameter] | Tensor) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_global_norm(parameters: Iterable[torch.nn.Parameter] | Tensor, max_norm: float) -> Tensor:
    """Rescale all gradients together when their global norm exceeds ``max_norm``; return that norm.

    g ← g · max_norm / (‖g‖ + 1e-6) if ‖g‖ > max_norm, with ‖g‖ the 2-norm of all gradients
    concatenated: the same result as ``torch.nn.utils.clip_grad_norm_``. The direction is unchanged.
    """
    grads = _grads(parameters)
    if not grads:
        return torch.tensor(0.0)
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
    for g in grads:
        g.mul_(scale)
    return total


def clip_elementwise(parameters: Iterable[torch.nn.Parameter] | Tensor, clip_value: float) -> None:
    """Clip every gradient entry to [−clip_value, clip_value] (as ``clip_grad_value_``): the direction changes."""
    for g in _grads(parameters):
        g.clamp_(-clip_value, clip_value)
