"""Kernel 3: a persistent GRU layer, the whole time loop in one launch (Diamos et al. 2016).

The stepwise layer re-reads W_hh from global memory at every step and launches two kernels per step.
Here one launch runs all T steps. Each program owns a tile of BLOCK_B batch rows and all H hidden units:
it loads W_hh (as three H×H tiles, one per gate, transposed for ``tl.dot``) and b_hh once, keeps them
on chip for the whole sequence, and keeps its rows of h on chip between steps. Per step it reads only
its slice of GI = X W_ihᵀ + b_ih (computed beforehand for all steps in one product, as in
:mod:`gated.kernels.stepwise`) and writes h_t. Programs never talk to each other, because a batch row's
recurrence needs no other row: there is no barrier between programs, so the interpreter can run it
with any number of programs.

Memory traffic: W_hh once per program instead of once per step; per step 3·B·H loads of GI and B·H
stores of h_t. Launches: one instead of 2T.

The price, stated plainly: the recurrent weights of one program must fit on one streaming
multiprocessor. W_hh holds 3H² elements, 12·H² bytes in float32: :func:`gated.gpu_model.fits_one_sm`
and :func:`gated.gpu_model.largest_hidden_one_sm` give the largest H whose weights fit one SM's shared
memory, before the registers and the rest the kernel needs. Triton blocks are powers of two, so this
kernel accepts H ≤ 128 (:data:`MAX_HIDDEN`). Beyond that one must split the hidden units across
programs (FlashRNN splits them into heads; cuDNN's persistent kernels split W_hh across SMs), and then
every program needs the whole h_{t−1} at every step: a grid-wide barrier per step. That version is
:mod:`gated.kernels.persistent_split`; the interpreter runs programs one after another, so there it is
tested with one program, or with many programs for one step. Whether this kernel gets near its floor
on a GPU has not been measured (see ``bench/NOTES.md``).
"""
from __future__ import annotations

import gated  # noqa: F401  (sets TRITON_INTERPRET=1 before triton is imported when there is no GPU)

import torch
import triton
import triton.language as tl
from torch import Tensor

from gated import cells
from gated.kernels.pointwise import gru_pointwise_math, load_gate_blocks
from gated.kernels.stepwise import input_projection, run_gru_layers

MAX_HIDDEN = 128
"""Largest hidden size one program holds: 3·128² float32 weights are 192 KiB (the largest power of two
under :func:`gated.gpu_model.largest_hidden_one_sm` in float32)."""


@triton.jit
def load_gate_weights_t(w_ptr, H, stride_w, k, j):
    """The three gate blocks (r, z, n) of W_hh, rows ``j`` only, each transposed: tile[k, j] =
    W_hh[gate·H + j, k], zero outside H. Shared with :mod:`gated.kernels.persistent_split`."""
    mask = (k < H) & (j < H)
    w_r = tl.load(w_ptr + j * stride_w + k, mask=mask, other=0.0)
    w_z = tl.load(w_ptr + (H + j) * stride_w + k, mask=mask, other=0.0)
    w_n = tl.load(w_ptr + (2 * H + j) * stride_w + k, mask=mask, other=0.0)
    return w_r, w_z, w_n


@triton.jit
def load_gate_biases(b_ptr, H, j, HAS_BIAS: tl.constexpr, BLOCK_J: tl.constexpr):
    """The three gate blocks of b_hh at columns ``j`` (1, BLOCK_J), in float32; zeros without bias."""
    b_r = tl.zeros((1, BLOCK_J), dtype=tl.float32)
    b_z = tl.zeros((1, BLOCK_J), dtype=tl.float32)
    b_n = tl.zeros((1, BLOCK_J), dtype=tl.float32)
    if HAS_BIAS:
        b_r = tl.load(b_ptr + j, mask=j < H, other=0.0).to(tl.float32)
        b_z = tl.load(b_ptr + H + j, mask=j < H, other=0.0).to(tl.float32)
        b_n = tl.load(b_ptr + 2 * H + j, mask=j < H, other=0.0).to(tl.float32)
    return b_r, b_z, b_n


# Block shape: (BLOCK_B, BLOCK_H) for h and each gate's pre-activation, (BLOCK_H, BLOCK_H) for each of
# the three weight tiles; BLOCK_H ≥ H, so one program holds every hidden unit of its batch rows.
@triton.jit
def gru_persistent_kernel(
    gi_ptr, w_ptr, b_ptr, h0_ptr, out_ptr,
    T, B, H,
    stride_gi_t, stride_gi_b, stride_w, stride_h0, stride_out_t, stride_out_b,
    HAS_BIAS: tl.constexpr, BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr,
    INPUT_PRECISION: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)[:, None]
    cols = tl.arange(0, BLOCK_H)[None, :]
    ks = tl.arange(0, BLOCK_H)[:, None]
    mask = (rows < B) & (cols < H)

    # Loaded once, kept on chip for all T steps.
    w_r, w_z, w_n = load_gate_weights_t(w_ptr, H, stride_w, ks, cols)
    b_r, b_z, b_n = load_gate_biases(b_ptr, H, cols, HAS_BIAS, BLOCK_H)
    h = tl.load(h0_ptr + rows * stride_h0 + cols, mask=mask, other=0.0).to(tl.float32)

    for t in range(T):
        gi_r, gi_z, gi_n = load_gate_blocks(gi_ptr + t * stride_gi_t + rows * stride_gi_b + cols, H, mask)
        h_in = h.to(w_r.dtype)
        gh_r = tl.dot(h_in, w_r, input_precision=INPUT_PRECISION) + b_r
        gh_z = tl.dot(h_in, w_z, input_precision=INPUT_PRECISION) + b_z
        gh_n = tl.dot(h_in, w_n, input_precision=INPUT_PRECISION) + b_n
        h = gru_pointwise_math(gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h)
        # Padded columns stay 0: their gates are σ(0) = ½ and n = tanh(0) = 0, so h' = ½·0.
        tl.store(out_ptr + t * stride_out_t + rows * stride_out_b + cols,
                 h.to(out_ptr.dtype.element_ty), mask=mask)


def persistent_block_sizes(batch: int, hidden: int, block_b: int = 16) -> tuple[int, int]:
    """(BLOCK_B, BLOCK_H): ``tl.dot`` on a GPU needs every block dimension ≥ 16."""
    if hidden > MAX_HIDDEN:
        raise ValueError(
            f"the persistent kernel holds all of W_hh in one program and accepts hidden_size ≤ "
            f"{MAX_HIDDEN}, got {hidden}: 3·H² weights must fit in one SM (see gated.kernels.persistent)"
        )
    return max(16, min(block_b, triton.next_power_of_2(batch))), max(16, triton.next_power_of_2(hidden))


def gru_layer_persistent(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                         bias_ih: Tensor | None, bias_hh: Tensor | None,
                         input_precision: str = "ieee") -> Tensor:
    """One GRU layer with one launch for the whole sequence. x: (T, B, I), h0: (B, H) -> (T, B, H).

    ``input_precision`` of the recurrent ``tl.dot``: "ieee" (exact float32) or "tf32" (what cuDNN uses
    for float32 by default on a GPU); bfloat16 weights use bfloat16 products with float32 sums.
    """
    cells._check_state(h0, weight_hh, 3, what="h0")
    steps, batch, _ = x.shape
    hidden = weight_hh.shape[1]
    block_b, block_h = persistent_block_sizes(batch, hidden)
    gi = input_projection(x, weight_ih, bias_ih).contiguous()
    w = weight_hh.contiguous()
    h0 = h0.contiguous()
    out = x.new_empty(steps, batch, hidden)
    bias = bias_hh.contiguous() if bias_hh is not None else w  # any pointer; unused without bias
    grid = (triton.cdiv(batch, block_b),)
    gru_persistent_kernel[grid](
        gi, w, bias, h0, out, steps, batch, hidden,
        gi.stride(0), gi.stride(1), w.stride(0), h0.stride(0), out.stride(0), out.stride(1),
        HAS_BIAS=bias_hh is not None, BLOCK_B=block_b, BLOCK_H=block_h,
        # The precision choice applies to float32 operands; other types use Triton's default.
        INPUT_PRECISION=input_precision if w.dtype == torch.float32 else None,
    )
    return out


def gru_persistent(x: Tensor, state_dict: dict[str, Tensor], h0: Tensor | None = None,
                   batch_first: bool = False) -> tuple[Tensor, Tensor]:
    """Multi-layer GRU, one persistent launch per layer; same call and result as ``nn.GRU``.

    x: (T, B, I) (or (B, T, I) if ``batch_first``), h0: (L, B, H) -> output (T, B, H), h_n (L, B, H).
    Accepts hidden_size ≤ :data:`MAX_HIDDEN`.
    """
    return run_gru_layers(gru_layer_persistent, x, state_dict, h0, batch_first)
