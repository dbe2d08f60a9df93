"""Kernel 2: the cuDNN structure of a GRU layer (Appleyard et al. 2016).

The input side of every gate does not depend on the state, so it is computed for all T steps at once,
as one large matrix product with good arithmetic intensity:

    GI = X W_ihᵀ + b_ih           X: (T·B, I)  ->  GI: (T·B, 3H)

Only the recurrent side is sequential. Each step is then one small product and the fused pointwise
kernel of :mod:`gated.kernels.pointwise`:

    gh_t = h_{t−1} W_hhᵀ + b_hh   (B, 3H)
    h_t  = pointwise(GI_t, gh_t, h_{t−1})

Memory traffic per step: W_hh (3H² elements) is read again by every step's product, h and gh make a
round trip through global memory, and each step costs two kernel launches. With B small the product
does 2·B·3H² FLOPs for 3H² weights read: an arithmetic intensity of about B FLOPs per weight, far below
what a GPU needs to be compute-bound. That, and the 2·T launches in sequence, is what the persistent
kernel of :mod:`gated.kernels.persistent` removes.

The matrix products here are PyTorch's (cuBLAS on a GPU, the CPU's BLAS otherwise); the kernel this
file adds to them is the fused pointwise step.
"""
from __future__ import annotations

import gated  # noqa: F401  (sets TRITON_INTERPRET=1 before triton is imported when there is no GPU)

import torch
from torch import Tensor

from gated import cells
from gated.kernels.pointwise import gru_pointwise


def input_projection(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None) -> Tensor:
    """GI = x W_ihᵀ + b_ih for all steps in one product. x: (T, B, I) -> (T, B, 3H)."""
    steps, batch, inputs = x.shape
    flat = x.reshape(steps * batch, inputs)
    gi = flat @ weight_ih.T if bias_ih is None else torch.addmm(bias_ih, flat, weight_ih.T)
    return gi.reshape(steps, batch, -1)


def gru_layer_stepwise(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                       bias_ih: Tensor | None, bias_hh: Tensor | None) -> Tensor:
    """One GRU layer, one recurrent product and one fused pointwise launch per step.

    x: (T, B, I), h0: (B, H) -> outputs (T, B, H).
    """
    cells._check_state(h0, weight_hh, 3, what="h0")
    gi = input_projection(x, weight_ih, bias_ih)
    w_hh_t = weight_hh.T
    out = x.new_empty(x.shape[0], x.shape[1], weight_hh.shape[1])
    h = h0
    for t in range(x.shape[0]):
        # Two launches per step: the product (with its bias, one addmm) and the fused pointwise kernel,
        # which writes h_t straight into the output.
        gh = h @ w_hh_t if bias_hh is None else torch.addmm(bias_hh, h, w_hh_t)
        h = gru_pointwise(gi[t], gh, h, out=out[t])
    return out


def gru_stepwise(x: Tensor, state_dict: dict[str, Tensor], h0: Tensor | None = None,
                 batch_first: bool = False) -> tuple[Tensor, Tensor]:
    """Multi-layer GRU in the cuDNN structure; same call and result as ``nn.GRU``: ``(output, h_n)``.

    x: (T, B, I) (or (B, T, I) if ``batch_first``), h0: (L, B, H) -> output (T, B, H), h_n (L, B, H).
    """
    return run_gru_layers(gru_layer_stepwise, x, state_dict, h0, batch_first)


def run_gru_layers(layer_fn, x: Tensor, state_dict: dict[str, Tensor], h0: Tensor | None,
                   batch_first: bool) -> tuple[Tensor, Tensor]:
    """Apply ``layer_fn(x, h0, *params) -> (T, B, H)`` layer after layer, as ``nn.GRU`` stacks them."""
    if x.dim() != 3:
        raise ValueError(f"expected x of shape (T, B, I) or (B, T, I), got {tuple(x.shape)}")
    seq = x.transpose(0, 1) if batch_first else x
    layers = cells.num_layers(state_dict)
    hidden = state_dict["weight_hh_l0"].shape[1]
    if h0 is None:
        h0 = seq.new_zeros(layers, seq.shape[1], hidden)
    if tuple(h0.shape) != (layers, seq.shape[1], hidden):
        raise ValueError(f"expected h0 of shape (L, B, H) = {(layers, seq.shape[1], hidden)}, "
                         f"got {tuple(h0.shape)}")
    finals = []
    for layer in range(layers):
        seq = layer_fn(seq.contiguous(), h0[layer].contiguous(), *cells.layer_params(state_dict, layer))
        finals.append(seq[-1])
    out = seq.transpose(0, 1) if batch_first else seq
    return out, torch.stack(finals)
