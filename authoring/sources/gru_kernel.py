"""The source of the `gru_kernel` assignment: the GRU's pointwise step as a Triton kernel
(see :mod:`authoring.sources`)."""

#: The seed of the hidden suite (the visible one uses 0).
HIDDEN_SEED = 6007


def build(nb) -> None:
    nb.md(r"""
# Challenge `gru_kernel`: the GRU's pointwise step in one Triton kernel (optional)

This assignment is optional: its points count as extra credit. On a machine without a GPU, `import
gated` sets `TRITON_INTERPRET=1` before Triton is imported, and your kernel runs in Triton's
interpreter on the CPU (slowly, but with the same semantics); that is how it is graded.

A GRU step has two matrix products, which a library does well, and then about ten elementwise
operations. Given the pre-activations that `nn.GRU` computes with its products,

$$ g_i = x W_{ih}^\top + b_{ih}, \qquad g_h = h W_{hh}^\top + b_{hh}, \qquad
   \text{both } (B, 3H), \text{ columns } r \mid z \mid n, $$

the elementwise part is

$$ r = \sigma(g_{i,r} + g_{h,r}),\quad z = \sigma(g_{i,z} + g_{h,z}),\quad
   n = \tanh(g_{i,n} + r \odot g_{h,n}),\quad h' = (1 - z) \odot n + z \odot h. $$

Fused into one kernel, each element of `gi`, `gh` and `h` is read once and `h'` written once,
with no temporaries in memory between the operations.

**How to work.** Write the kernel `gru_pointwise_kernel` (decorated with `@triton.jit`) and the
wrapper `gru_pointwise(gi, gh, h)` that allocates the output and launches it. Inside the kernel
use `tl.exp`, `tl.abs`, `tl.where` and arithmetic: `libdevice.tanh` does not exist in the
interpreter, and $\tanh x = (e^{2x} - 1)/(e^{2x} + 1)$ overflows for large $x$ (write it with
$e^{-2|x|}$ and put the sign back; likewise $\\sigma(x) = 1/(1 + e^{-x})$ is exact but
`exp` overflows, with a warning, for large negative $x$). Do not use `torch.sigmoid`, `torch.tanh` or the course's kernels
(`gated.kernels`) in your answers. Inputs are float32, `(B, 3H)`, `(B, 3H)`, `(B, H)`; B and H need
not be multiples of your block sizes (use masks), and the inputs may be non-contiguous (call
`.contiguous()` in the wrapper, or use their strides).

**Points** (extra credit).

{points_table}
""")
    nb.setup()
    nb.answer("answer_kernel", '''
@triton.jit
def gru_pointwise_kernel(gi_ptr, gh_ptr, h_ptr, out_ptr, B, H,
                         stride_gi, stride_gh, stride_h, stride_out,
                         BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    """One (BLOCK_B, BLOCK_H) tile of h' = GRU pointwise step; gate columns at offsets 0, H, 2H."""
    ### BEGIN SOLUTION
    rows = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)[:, None]
    cols = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)[None, :]
    mask = (rows < B) & (cols < H)
    gi = gi_ptr + rows * stride_gi + cols
    gh = gh_ptr + rows * stride_gh + cols
    a_r = tl.load(gi, mask=mask, other=0.0) + tl.load(gh, mask=mask, other=0.0)
    a_z = tl.load(gi + H, mask=mask, other=0.0) + tl.load(gh + H, mask=mask, other=0.0)
    e_r = tl.exp(-tl.abs(a_r))  # a sigmoid that never overflows: e^{-|a|} lies in (0, 1]
    r = tl.where(a_r >= 0, 1.0 / (1.0 + e_r), e_r / (1.0 + e_r))
    e_z = tl.exp(-tl.abs(a_z))
    z = tl.where(a_z >= 0, 1.0 / (1.0 + e_z), e_z / (1.0 + e_z))
    a_n = tl.load(gi + 2 * H, mask=mask, other=0.0) + r * tl.load(gh + 2 * H, mask=mask, other=0.0)
    e = tl.exp(-2.0 * tl.abs(a_n))
    n = tl.where(a_n >= 0, (1.0 - e) / (1.0 + e), -(1.0 - e) / (1.0 + e))
    h = tl.load(h_ptr + rows * stride_h + cols, mask=mask, other=0.0)
    tl.store(out_ptr + rows * stride_out + cols, (1.0 - z) * n + z * h, mask=mask)
    ### END SOLUTION
''')
    nb.answer("answer_wrapper", '''
def gru_pointwise(gi, gh, h):
    """h' (B, H) from gi, gh (B, 3H) and h (B, H), float32, by launching gru_pointwise_kernel."""
    ### BEGIN SOLUTION
    gi, gh, h = gi.contiguous(), gh.contiguous(), h.contiguous()
    B, H = h.shape
    out = torch.empty_like(h)
    block_b = min(16, triton.next_power_of_2(B))
    block_h = min(64, triton.next_power_of_2(H))
    grid = (triton.cdiv(B, block_b), triton.cdiv(H, block_h))
    gru_pointwise_kernel[grid](gi, gh, h, out, B, H, gi.stride(0), gh.stride(0), h.stride(0),
                               out.stride(0), BLOCK_B=block_b, BLOCK_H=block_h)
    return out
    ### END SOLUTION
''')
    nb.md("""
`test_pointwise_kernel` (3 points) compares with PyTorch's step on shapes that are not multiples of
the blocks, and recognises z and 1 − z swapped, the gate order z, r, n, sigmoid and tanh swapped,
and a missing reset gate. `test_kernel_saturation` (1 point) feeds pre-activations of size about
60, where a naive tanh overflows to NaN.
""")
    nb.test("test_pointwise_kernel", 'check_pointwise_kernel(gru_pointwise, gru_pointwise_kernel)',
            "the fused step against PyTorch's")
    nb.test("test_kernel_saturation", 'check_kernel_saturation(gru_pointwise, gru_pointwise_kernel)',
            "large pre-activations: no overflow")
