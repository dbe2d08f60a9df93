"""The source of the `lstm_kernel` assignment: the LSTM's pointwise step as a Triton kernel
(see :mod:`authoring.sources`)."""

#: The seed of the hidden suite (the visible one uses 0).
HIDDEN_SEED = 6007


def build(nb) -> None:
    nb.md(r"""
# Challenge `lstm_kernel`: the LSTM's pointwise step in one Triton kernel (optional)

This assignment is optional: its points count as extra credit. The GPU chapter fuses the GRU's
elementwise step into one Triton kernel; here you write the same kind of kernel for the LSTM, whose
step has four gates and two outputs. The set-up cell sets `TRITON_INTERPRET=1` before anything imports
Triton, so your kernel runs in Triton's interpreter on the CPU (slowly, with the same semantics as on
a GPU), on any machine: that is how it is graded. To time it on a GPU, copy it into a notebook of your
own.

An LSTM step has two matrix products, which a library does well, and then elementwise work. Given the
pre-activations that `nn.LSTM` computes with its products,

$$ g_i = x W_{ih}^\top + b_{ih}, \qquad g_h = h W_{hh}^\top + b_{hh}, \qquad
   \text{both } (B, 4H), \text{ columns } i \mid f \mid g \mid o, $$

and their sum $a = g_i + g_h$, the elementwise part is

$$ i = \sigma(a_i),\quad f = \sigma(a_f),\quad g = \tanh(a_g),\quad o = \sigma(a_o),\qquad
   c' = f \odot c + i \odot g,\qquad h' = o \odot \tanh(c'). $$

The column blocks come in `nn.LSTM`'s order i, f, g, o (the block of $a_g$ is the third, at columns
$2H$ to $3H$), and the order of the two lines matters: $c'$ is computed from the old $c$ first, and
$h'$ takes the tanh of the new $c'$. Fused into one kernel, each element of $g_i$, $g_h$ and $c$ is
read once and $h'$, $c'$ written once: $9BH$ loads and $2BH$ stores, no temporaries in memory.

**How to work.** Three answer cells:

1. `stable_sigmoid(x)` and `stable_tanh(x)`, two `@triton.jit` helpers that the kernel calls.
   `libdevice.tanh` does not exist in the interpreter, and the textbook forms overflow: in float32
   $e^{2x}$ is inf beyond $x \approx 44$, so $(e^{2x} - 1)/(e^{2x} + 1)$ gives inf/inf = NaN, and
   $e^x/(1 + e^x)$ fails the same way. Build both from $e^{-|x|}$, which lies in $(0, 1]$ for every
   $x$, and choose the sign or the branch with `tl.where`.
2. The kernel `lstm_pointwise_kernel`: one program for each `(BLOCK_B, BLOCK_H)` tile of the state,
   with masks where $B$ or $H$ is not a multiple of the tile.
3. The wrapper `lstm_pointwise(gi, gh, c)`: it allocates $h'$ and $c'$, computes the grid, launches
   the kernel and returns `(h_next, c_next)`, both what the kernel wrote (the tests run the wrapper a
   second time with the kernel's launches made to do nothing, and the outputs must change).

Inside the kernel use `tl.load`, `tl.store`, `tl.exp`, `tl.abs`, `tl.where` and arithmetic. The inputs
are float32 or float64: compute in their dtype and return $h'$ and $c'$ in it (no `.to(tl.float32)`).
They may be non-contiguous: call `.contiguous()` in the wrapper, or pass and use both strides. Do not
use `torch.sigmoid`, `torch.tanh`, `tl.sigmoid`, `nn.LSTM`, the course's kernels (`gated.kernels`) or
its reference cells in your answers.

**Points** (extra credit).

{points_table}
""")
    nb.setup()
    nb.answer("answer_activations", '''
@triton.jit
def stable_sigmoid(x):
    """σ(x) = 1 / (1 + e^{-x}) elementwise, finite for every x."""
    ### BEGIN SOLUTION
    t = tl.exp(-tl.abs(x))  # e^{-|x|} in (0, 1]: σ(x) for x >= 0 is 1/(1 + t), for x < 0 it is t/(1 + t)
    return tl.where(x >= 0, 1.0 / (1.0 + t), t / (1.0 + t))
    ### END SOLUTION


@triton.jit
def stable_tanh(x):
    """tanh(x) elementwise, finite for every x."""
    ### BEGIN SOLUTION
    t = tl.exp(-2.0 * tl.abs(x))  # in (0, 1]: tanh |x| = (1 - t)/(1 + t), and tanh is odd
    magnitude = (1.0 - t) / (1.0 + t)
    return tl.where(x < 0, -magnitude, magnitude)
    ### END SOLUTION
''')
    nb.answer("answer_kernel", '''
@triton.jit
def lstm_pointwise_kernel(gi_ptr, gh_ptr, c_ptr, h_out_ptr, c_out_ptr, B, H,
                          stride_gi, stride_gh, stride_c, stride_out,
                          BLOCK_B: tl.constexpr, BLOCK_H: tl.constexpr):
    """One (BLOCK_B, BLOCK_H) tile of (h', c'); gate columns i, f, g, o at offsets 0, H, 2H, 3H."""
    ### BEGIN SOLUTION
    row = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)[:, None]
    unit = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)[None, :]
    inside = (row < B) & (unit < H)
    from_x = gi_ptr + row * stride_gi + unit
    from_h = gh_ptr + row * stride_gh + unit
    a_i = tl.load(from_x, mask=inside, other=0.0) + tl.load(from_h, mask=inside, other=0.0)
    a_f = tl.load(from_x + H, mask=inside, other=0.0) + tl.load(from_h + H, mask=inside, other=0.0)
    a_g = tl.load(from_x + 2 * H, mask=inside, other=0.0) + tl.load(from_h + 2 * H, mask=inside, other=0.0)
    a_o = tl.load(from_x + 3 * H, mask=inside, other=0.0) + tl.load(from_h + 3 * H, mask=inside, other=0.0)
    c_old = tl.load(c_ptr + row * stride_c + unit, mask=inside, other=0.0)
    c_new = stable_sigmoid(a_f) * c_old + stable_sigmoid(a_i) * stable_tanh(a_g)
    h_new = stable_sigmoid(a_o) * stable_tanh(c_new)
    tl.store(h_out_ptr + row * stride_out + unit, h_new, mask=inside)
    tl.store(c_out_ptr + row * stride_out + unit, c_new, mask=inside)
    ### END SOLUTION
''')
    nb.answer("answer_wrapper", '''
def lstm_pointwise(gi, gh, c):
    """(h', c'), each (B, H), from gi, gh (B, 4H) and c (B, H), by launching lstm_pointwise_kernel."""
    ### BEGIN SOLUTION
    gi, gh, c = gi.contiguous(), gh.contiguous(), c.contiguous()
    B, H = c.shape
    h_next, c_next = torch.empty_like(c), torch.empty_like(c)
    block_b = min(16, triton.next_power_of_2(B))
    block_h = min(32, triton.next_power_of_2(H))
    grid = (triton.cdiv(B, block_b), triton.cdiv(H, block_h))
    lstm_pointwise_kernel[grid](gi, gh, c, h_next, c_next, B, H, gi.stride(0), gh.stride(0),
                                c.stride(0), h_next.stride(0), BLOCK_B=block_b, BLOCK_H=block_h)
    return h_next, c_next
    ### END SOLUTION
''')
    nb.md("""
`test_lstm_pointwise` (3 points) compares $h'$ and $c'$ with `nn.LSTM`'s step on sizes that are not
multiples of the tiles, in float32 and float64, with non-contiguous inputs, and recognises the gate
orders i, f, o, g and i, o, f, g, $h'$ made from the old $c$, the tanh missing from $h'$, sigmoid and
tanh swapped, a sigmoid for $g$, $h'$ and $c'$ returned in the wrong order, strides ignored, float64
computed in float32, and a wrapper whose outputs do not come from the kernel.
`test_lstm_saturation` (1 point) feeds float32 pre-activations of size about 60, where the textbook
tanh and sigmoid overflow to NaN.
""")
    nb.test("test_lstm_pointwise", "check_lstm_pointwise(lstm_pointwise, lstm_pointwise_kernel)",
            "h' and c' of the fused step against nn.LSTM's (float32, float64, awkward sizes)")
    nb.test("test_lstm_saturation", "check_lstm_saturation(lstm_pointwise, lstm_pointwise_kernel)",
            "large pre-activations: no overflow, no NaN")
