"""Kernel 1: the GRU's pointwise step, fused into one Triton kernel.

Given the two gate pre-activations that ``nn.GRU`` computes with matrix products,

    gi = x W_ihᵀ + b_ih   (B, 3H), columns r | z | n
    gh = h W_hhᵀ + b_hh   (B, 3H), columns r | z | n

one kernel computes, exactly as PyTorch does (reset after the recurrent product, z keeps the old state),

    r = σ(gi_r + gh_r),  z = σ(gi_z + gh_z),  n = tanh(gi_n + r ⊙ gh_n),  h' = (1 − z) ⊙ n + z ⊙ h.

Unfused, these are about ten elementwise PyTorch operations, each a kernel launch that reads its
operands from memory and writes a temporary back. Fused, each element of gi, gh and h is read once
and h' written once: 7·B·H loads and B·H stores, nothing in between.

The helpers :func:`sigmoid`, :func:`tanh` and :func:`load_gate_blocks` are shared by the other
kernels of the package.
``tanh`` is written by hand because ``libdevice.tanh`` does not exist under the interpreter; it is
built from exp(−2|x|) so that it never overflows, and the sign is put back afterwards.
"""
from __future__ import annotations

import gated  # noqa: F401  (sets TRITON_INTERPRET=1 before triton is imported when there is no GPU)

import torch
import triton
import triton.language as tl
from torch import Tensor


@triton.jit
def sigmoid(x):
    """Logistic function 1 / (1 + e^−x), elementwise (exp(−x) may be inf: the result is then 0)."""
    return 1.0 / (1.0 + tl.exp(-x))


@triton.jit
def tanh(x):
    """tanh from e = exp(−2|x|) ∈ (0, 1]: (1 − e)/(1 + e) carries the sign of x; no overflow, no NaN."""
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x >= 0, t, -t)


@triton.jit
def load_gate_blocks(ptr, H, mask):
    """The r, z and n blocks of a gate pre-activation (columns 0, H and 2H from ``ptr``), in float32."""
    r = tl.load(ptr, mask=mask, other=0.0).to(tl.float32)
    z = tl.load(ptr + H, mask=mask, other=0.0).to(tl.float32)
    n = tl.load(ptr + 2 * H, mask=mask, other=0.0).to(tl.float32)
    return r, z, n


@triton.jit
def gru_pointwise_math(gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h):
    """The GRU's elementwise part on blocks of any shape (all fp32): returns h'."""
    r = sigmoid(gi_r + gh_r)
    z = sigmoid(gi_z + gh_z)
    n = tanh(gi_n + r * gh_n)
    return (1.0 - z) * n + z * h


# Block shape: a (BLOCK_B, BLOCK_H) tile of the state per program; the three gate columns of gi and gh
# for that tile sit at offsets 0, H and 2H of the same rows. Masks cover B and H that are not multiples
# of the block.
@triton.jit
def gru_pointwise_kernel(
    gi_ptr, gh_ptr, h_ptr, out_ptr,
    B, H,
    stride_gi, stride_gh, stride_h, stride_out,
    BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)[:, None]
    cols = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)[None, :]
    mask = (rows < B) & (cols < H)
    gi_r, gi_z, gi_n = load_gate_blocks(gi_ptr + rows * stride_gi + cols, H, mask)
    gh_r, gh_z, gh_n = load_gate_blocks(gh_ptr + rows * stride_gh + cols, H, mask)
    h = tl.load(h_ptr + rows * stride_h + cols, mask=mask, other=0.0).to(tl.float32)
    h_next = gru_pointwise_math(gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h)
    tl.store(out_ptr + rows * stride_out + cols, h_next.to(out_ptr.dtype.element_ty), mask=mask)


def _check_pointwise_shapes(gi: Tensor, gh: Tensor, h: Tensor) -> None:
    if h.dim() != 2:
        raise ValueError(f"expected h of shape (B, H), got {tuple(h.shape)}")
    want = (h.shape[0], 3 * h.shape[1])
    for name, t in (("gi", gi), ("gh", gh)):
        if tuple(t.shape) != want:
            raise ValueError(f"expected {name} of shape (B, 3H) = {want} for h of shape "
                             f"{tuple(h.shape)}, got {tuple(t.shape)}")
    if not (gi.device == gh.device == h.device):
        raise ValueError(f"gi, gh and h must be on one device, got {gi.device}, {gh.device}, {h.device}")


def gru_pointwise(gi: Tensor, gh: Tensor, h: Tensor, block_b: int = 16, block_h: int = 64,
                  out: Tensor | None = None) -> Tensor:
    """One GRU step's elementwise part, fused. gi, gh: (B, 3H) (columns r, z, n), h: (B, H) -> h' (B, H).

    ``gi = x W_ihᵀ + b_ih`` and ``gh = h W_hhᵀ + b_hh`` as in ``nn.GRU``; h' has h's dtype. ``out``, if
    given, is a (B, H) tensor with unit column stride that receives h' (a layer writes it in place).
    """
    _check_pointwise_shapes(gi, gh, h)
    gi, gh, h = gi.contiguous(), gh.contiguous(), h.contiguous()
    batch, hidden = h.shape
    if out is None:
        out = torch.empty_like(h)
    elif out.shape != h.shape or out.dtype != h.dtype or out.stride(1) != 1:
        raise ValueError(f"expected out of shape {tuple(h.shape)}, dtype {h.dtype}, unit column stride; "
                         f"got {tuple(out.shape)}, {out.dtype}, strides {out.stride()}")
    block_b = min(block_b, triton.next_power_of_2(batch))
    block_h = min(block_h, triton.next_power_of_2(hidden))
    grid = (triton.cdiv(batch, block_b), triton.cdiv(hidden, block_h))
    gru_pointwise_kernel[grid](
        gi, gh, h, out, batch, hidden,
        gi.stride(0), gh.stride(0), h.stride(0), out.stride(0),
        BLOCK_B=block_b, BLOCK_H=block_h,
    )
    return out
