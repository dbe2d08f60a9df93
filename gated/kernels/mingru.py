"""Kernel 4: minGRU (Feng et al. 2024), sequentially and as a parallel scan.

minGRU drops h from the gates and the candidate:

    z_t = σ(W_z x_t + b_z),   h̃_t = W_h x_t + b_h,   h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t.

(Note the convention: in minGRU z weights the *new* candidate, unlike nn.GRU's z.) The weights are
packed like PyTorch's: ``weight`` (2H, I) with rows z | h̃, ``bias`` (2H,).

Because nothing on the right-hand side but h_{t−1} itself depends on the state, the recurrence is
linear: h_t = a_t ⊙ h_{t−1} + b_t with a_t = 1 − z_t and b_t = z_t ⊙ h̃_t, all computable from the
inputs at once. Composing two such steps gives another one,

    (a₁, b₁) then (a₂, b₂)  =  (a₁ a₂,  a₂ b₁ + b₂),

an associative operation, so all T states follow from a prefix scan (Blelloch 1990) in O(log T)
dependent rounds instead of T. :func:`mingru_scan` does this with ``tl.associative_scan`` over blocks of
BLOCK_T steps, carrying the state from one block to the next; :func:`mingru_sequential` walks the
steps one by one. Both read the projection P = x Wᵀ + b (T, B, 2H), computed for all steps in one
product, once, and write h once: the same memory traffic, a different length of the dependency chain.

This is the plain-product form; Feng et al. also give a log-space form for long sequences, not
needed at the lengths used here.
"""
from __future__ import annotations

import gated  # noqa: F401  (sets TRITON_INTERPRET=1 before triton is imported when there is no GPU)

import torch
import triton
import triton.language as tl
from torch import Tensor

from gated.kernels.pointwise import sigmoid


def mingru_reference(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                     h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """minGRU in PyTorch, step by step. x: (T, B, I), weight: (2H, I), bias: (2H,), h0: (B, H).

    Returns ``(output (T, B, H), h_n (B, H))``.
    """
    proj = _projection(x, weight, bias)
    z_pre, cand = proj.chunk(2, dim=-1)
    h = _initial_state(x, weight, h0)
    outputs = []
    for t in range(x.shape[0]):
        z = torch.sigmoid(z_pre[t])
        h = (1 - z) * h + z * cand[t]
        outputs.append(h)
    return torch.stack(outputs), h


def _projection(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    if x.dim() != 3 or weight.dim() != 2 or weight.shape[0] % 2 or weight.shape[1] != x.shape[2]:
        raise ValueError(f"expected x (T, B, I) and weight (2H, I) with matching I, got "
                         f"x {tuple(x.shape)} and weight {tuple(weight.shape)}")
    proj = x @ weight.T
    return proj if bias is None else proj + bias


def _initial_state(x: Tensor, weight: Tensor, h0: Tensor | None) -> Tensor:
    hidden = weight.shape[0] // 2
    if h0 is None:
        return x.new_zeros(x.shape[1], hidden)
    if tuple(h0.shape) != (x.shape[1], hidden):
        raise ValueError(f"expected h0 of shape (B, H) = {(x.shape[1], hidden)}, got {tuple(h0.shape)}")
    return h0


# Block shape: each program owns one batch row and BLOCK_H channels; it walks the T steps in order,
# keeping h in registers. Reads P once, writes h once.
@triton.jit
def mingru_sequential_kernel(
    p_ptr, h0_ptr, out_ptr, T, H,
    stride_p_t, stride_p_b, stride_h0, stride_out_t, stride_out_b,
    BLOCK_H: tl.constexpr,
):
    b = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    mask = cols < H
    h = tl.load(h0_ptr + b * stride_h0 + cols, mask=mask, other=0.0).to(tl.float32)
    for t in range(T):
        p = p_ptr + t * stride_p_t + b * stride_p_b + cols
        z = sigmoid(tl.load(p, mask=mask, other=0.0).to(tl.float32))
        cand = tl.load(p + H, mask=mask, other=0.0).to(tl.float32)
        h = (1.0 - z) * h + z * cand
        tl.store(out_ptr + t * stride_out_t + b * stride_out_b + cols, h.to(out_ptr.dtype.element_ty),
                 mask=mask)


@triton.jit
def _compose(a1, b1, a2, b2):
    """Step (a₁, b₁) followed by step (a₂, b₂): h ↦ a₂(a₁h + b₁) + b₂."""
    return a1 * a2, a2 * b1 + b2


# Block shape: each program owns one batch row and BLOCK_H channels, and takes the time axis in
# blocks of BLOCK_T steps: a (BLOCK_T, BLOCK_H) tile is scanned along axis 0 in one go, and the last
# state of the block is carried into the next. Padded steps are the identity step (a = 1, b = 0).
@triton.jit
def mingru_scan_kernel(
    p_ptr, h0_ptr, out_ptr, T, H,
    stride_p_t, stride_p_b, stride_h0, stride_out_t, stride_out_b,
    BLOCK_T: tl.constexpr, BLOCK_H: tl.constexpr,
):
    b = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    steps = tl.arange(0, BLOCK_T)
    h = tl.load(h0_ptr + b * stride_h0 + cols, mask=cols < H, other=0.0).to(tl.float32)
    for start in range(0, T, BLOCK_T):
        t = start + steps[:, None]
        mask = (t < T) & (cols[None, :] < H)
        p = p_ptr + t * stride_p_t + b * stride_p_b + cols[None, :]
        z = sigmoid(tl.load(p, mask=mask, other=0.0).to(tl.float32))
        cand = tl.load(p + H, mask=mask, other=0.0).to(tl.float32)
        a = tl.where(mask, 1.0 - z, 1.0)
        c = tl.where(mask, z * cand, 0.0)
        a_prefix, c_prefix = tl.associative_scan((a, c), 0, _compose)
        states = a_prefix * h[None, :] + c_prefix
        tl.store(out_ptr + t * stride_out_t + b * stride_out_b + cols[None, :],
                 states.to(out_ptr.dtype.element_ty), mask=mask)
        # Carry the state after the block's last real step (padded steps leave it unchanged).
        h = tl.sum(tl.where(steps[:, None] == BLOCK_T - 1, states, 0.0), axis=0)


def _launch(kernel, x: Tensor, weight: Tensor, bias: Tensor | None, h0: Tensor | None,
            block_h: int, **meta) -> tuple[Tensor, Tensor]:
    proj = _projection(x, weight, bias).contiguous()
    h0 = _initial_state(x, weight, h0).contiguous()
    steps, batch, _ = x.shape
    hidden = weight.shape[0] // 2
    out = x.new_empty(steps, batch, hidden)
    block_h = min(block_h, triton.next_power_of_2(hidden))
    grid = (batch, triton.cdiv(hidden, block_h))
    kernel[grid](proj, h0, out, steps, hidden, proj.stride(0), proj.stride(1), h0.stride(0),
                 out.stride(0), out.stride(1), BLOCK_H=block_h, **meta)
    return out, out[-1]


def mingru_sequential(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                      h0: Tensor | None = None, block_h: int = 64) -> tuple[Tensor, Tensor]:
    """minGRU, one step after another in a Triton kernel; same call and result as
    :func:`mingru_reference`: x (T, B, I) -> ``(output (T, B, H), h_n (B, H))``."""
    return _launch(mingru_sequential_kernel, x, weight, bias, h0, block_h)


def mingru_scan(x: Tensor, weight: Tensor, bias: Tensor | None = None, h0: Tensor | None = None,
                block_h: int = 32, block_t: int = 64) -> tuple[Tensor, Tensor]:
    """minGRU as a parallel prefix scan over time in blocks of ``block_t`` steps; same call and
    result as :func:`mingru_reference`: x (T, B, I) -> ``(output (T, B, H), h_n (B, H))``."""
    block_t = min(block_t, max(2, triton.next_power_of_2(x.shape[0])))
    return _launch(mingru_scan_kernel, x, weight, bias, h0, block_h, BLOCK_T=block_t)


def mingru_scan_torch(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                      h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """minGRU as a Hillis–Steele prefix scan in PyTorch: ⌈log₂ T⌉ rounds of whole-sequence operations
    instead of T steps. Same call and result as :func:`mingru_reference`. Does O(T log T) work, which
    a parallel machine (or a vectorised CPU) pays for with a chain of ⌈log₂ T⌉ dependent rounds."""
    z_pre, cand = _projection(x, weight, bias).chunk(2, dim=-1)
    h0 = _initial_state(x, weight, h0)
    z = torch.sigmoid(z_pre)
    a, c = 1 - z, z * cand
    shift = 1
    while shift < x.shape[0]:
        # step t absorbs the composed steps ending at t − shift: (a, c)_t ← (a_{t−s} a_t, a_t c_{t−s} + c_t)
        c = torch.cat([c[:shift], a[shift:] * c[:-shift] + c[shift:]])
        a = torch.cat([a[:shift], a[shift:] * a[:-shift]])
        shift *= 2
    out = a * h0 + c
    return out, out[-1]
