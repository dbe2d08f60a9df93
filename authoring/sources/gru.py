"""The source of the `gru` assignment: the GRU, from its gates to its backward pass
(see :mod:`authoring.sources`)."""

HIDDEN_SEED = 4051


def build(nb) -> None:
    nb.md(r"""
# Assignment `gru`: the gated recurrent unit, equation by equation

You will write the GRU of PyTorch's `nn.GRU` from its equations: the two gates, the candidate state
(with the reset gate after the recurrent product, as PyTorch and cuDNN do, and before it, as Cho et
al. 2014 wrote it), the new state, a cell, a layer, the packed weight layout, a module that loads an
`nn.GRU` checkpoint, the backward pass of one step, and one number about gradient flow.

**How to work.** Fill in every cell that says `raise NotImplementedError()` (delete that line), then
run the test cell below it. A test that fails says *what* is wrong: which convention your output
matches ("you applied the reset gate before the recurrent product", "z and 1 − z are swapped"...)
or where the largest difference is. Do not use `nn.GRU`, `nn.GRUCell`, `torch.gru_cell`, `_VF`
or the course library's reference cells (`gated.cells`) in your answers: an answer that does scores
zero for that part. Plain tensor operations (`@`, `torch.sigmoid`, `torch.tanh`, indexing,
`torch.cat`) are all you need. {answer_rules} Do not modify the inputs in place. Before submitting, restart the
kernel and run all cells (and `nbgrader validate gru.ipynb` if you have nbgrader).

The graders run more tests than you see (other seeds and shapes: batch 1, sequence length 1, input
size different from the hidden size, float64, non-contiguous inputs).

**Points.**

{points_table}
""")
    nb.setup()
    nb.md(r"""
## 1. PyTorch's packed layout and the two gates

Shapes: `B` batch, `I` input size, `H` hidden size. A GRU layer stores its weights *packed*, the
three blocks stacked along the rows in the order **r, z, n**:

| tensor | shape | rows `[0:H]` | rows `[H:2H]` | rows `[2H:3H]` |
|---|---|---|---|---|
| `weight_ih` | `(3H, I)` | $W_{ir}$ | $W_{iz}$ | $W_{in}$ |
| `weight_hh` | `(3H, H)` | $W_{hr}$ | $W_{hz}$ | $W_{hn}$ |
| `bias_ih` | `(3H,)` | $b_{ir}$ | $b_{iz}$ | $b_{in}$ |
| `bias_hh` | `(3H,)` | $b_{hr}$ | $b_{hz}$ | $b_{hn}$ |

For a batch of inputs `x` of shape `(B, I)` and states `h` of shape `(B, H)`, a product $W x$ in
the equations is `x @ W.T` in code. The reset gate $r$ and the update gate $z$, each `(B, H)`, are

$$
r = \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr}), \qquad
z = \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz}),
$$

where $\sigma$ is the logistic sigmoid (`torch.sigmoid`). Write `reset_gate` and `update_gate`.
""")
    nb.answer("answer_gates", '''
def reset_gate(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """The reset gate r, (B, H), from x (B, I), h (B, H) and the packed parameters."""
    ### BEGIN SOLUTION
    H = weight_hh.shape[1]
    rows = slice(0, H)
    return torch.sigmoid(x @ weight_ih[rows].T + bias_ih[rows] + h @ weight_hh[rows].T + bias_hh[rows])
    ### END SOLUTION


def update_gate(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """The update gate z, (B, H), from x (B, I), h (B, H) and the packed parameters."""
    ### BEGIN SOLUTION
    H = weight_hh.shape[1]
    rows = slice(H, 2 * H)
    return torch.sigmoid(x @ weight_ih[rows].T + bias_ih[rows] + h @ weight_hh[rows].T + bias_hh[rows])
    ### END SOLUTION
''')
    nb.md("""
`test_reset_gate` and `test_update_gate` compare your gates with the reference on random inputs
in float32 (`I ≠ H`) and float64 (`I = H`). They recognise the rows of the wrong gate, tanh in place
of the sigmoid, and transposed weights.
""")
    nb.test("test_reset_gate", 'check_reset_gate(reset_gate)', "the reset gate r")
    nb.test("test_update_gate", 'check_update_gate(update_gate)', "the update gate z")
    nb.md(r"""
## 2. The candidate state: where does the reset gate go?

The candidate $n$, `(B, H)`, uses tanh. PyTorch and cuDNN apply the reset gate **after** the
recurrent product, to $W_{hn} h + b_{hn}$ (bias included):

$$ n = \tanh\big(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn})\big) \qquad \texttt{reset="after"} $$

Cho et al. (2014), and most textbooks, apply it to the state **before** the product:

$$ n = \tanh\big(W_{in} x + b_{in} + W_{hn} (r \odot h) + b_{hn}\big) \qquad \texttt{reset="before"} $$

Both read the same packed parameters. Write `candidate` with `reset="after"` as the default and
`reset="before"` behind the flag; any other value should raise a `ValueError`. The gate `r` is given
(`(B, H)`), so this exercise does not depend on your gates.

`test_candidate_after` (2 points) and `test_candidate_before` (1 point) recognise the other
placement, $b_{hn}$ outside the reset product (`r * (h @ W_hn.T) + b_hn`), a missing reset gate,
the sigmoid in place of tanh, and transposed weights.
""")
    nb.answer("answer_candidate", '''
def candidate(x, h, r, weight_ih, weight_hh, bias_ih, bias_hh, reset="after"):
    """The candidate state n, (B, H), given the reset gate r (B, H); reset is "after" or "before"."""
    ### BEGIN SOLUTION
    H = weight_hh.shape[1]
    rows = slice(2 * H, 3 * H)
    from_input = x @ weight_ih[rows].T + bias_ih[rows]
    if reset == "after":
        return torch.tanh(from_input + r * (h @ weight_hh[rows].T + bias_hh[rows]))
    if reset == "before":
        return torch.tanh(from_input + (r * h) @ weight_hh[rows].T + bias_hh[rows])
    raise ValueError(f"reset must be 'after' or 'before', got {reset!r}")
    ### END SOLUTION
''')
    nb.test("test_candidate_after", 'check_candidate_after(candidate)',
            "the candidate n, reset after the product (PyTorch)")
    nb.test("test_candidate_before", 'check_candidate_before(candidate)',
            "the candidate n, reset before the product (Cho et al. 2014)")
    nb.md(r"""
## 3. The new state and the cell

The update gate interpolates between the old state and the candidate. In Cho et al. and PyTorch
$z$ near 1 **keeps the old state**:

$$ h' = (1 - z) \odot n + z \odot h $$

(Chung et al. 2014 and several courses write $z \odot n + (1 - z) \odot h$ instead: the same
model with $z$ renamed $1 - z$, but not the same numbers for PyTorch's weights.)

Write `new_state(z, n, h)`, then `gru_cell`, one step of the GRU: `x` `(B, I)`, `h` `(B, H)` →
`h'` `(B, H)`, with the `reset` flag passed on to `candidate`. `test_gru_cell` (3 points) compares
with PyTorch's GRU and recognises: reset before the product, z and 1 − z swapped (and both at once,
the GRU of Chung et al.), gate rows read as z, r, n (the Keras and ONNX order), $b_{hn}$ outside the
reset product, sigmoid and tanh swapped, a missing reset gate, transposed weights.
""")
    nb.answer("answer_cell", '''
def new_state(z, n, h):
    """h' = (1 - z) * n + z * h, all (B, H)."""
    ### BEGIN SOLUTION
    return (1 - z) * n + z * h
    ### END SOLUTION


def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset="after"):
    """One GRU step: x (B, I), h (B, H) -> h' (B, H), with PyTorch's packed parameters."""
    ### BEGIN SOLUTION
    r = reset_gate(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    z = update_gate(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    n = candidate(x, h, r, weight_ih, weight_hh, bias_ih, bias_hh, reset=reset)
    return new_state(z, n, h)
    ### END SOLUTION
''')
    nb.test("test_new_state", 'check_new_state(new_state)', "the new state h' = (1 − z) ⊙ n + z ⊙ h")
    nb.test("test_gru_cell", 'check_gru_cell(gru_cell)', "one GRU step, equal to PyTorch's")
    nb.md(r"""
## 4. A layer: the cell over a sequence

`gru_layer(x, weight_ih, weight_hh, bias_ih, bias_hh, h0=None, batch_first=False)` runs `gru_cell`
over time. The input `x` is `(T, B, I)`, or `(B, T, I)` when `batch_first=True`; `h0` is the
initial state `(B, H)`, zeros when it is `None`. Return `(output, h_n)`: `output` holds every
step's state, `(T, B, H)` (or `(B, T, H)` with `batch_first=True`), and `h_n` the last state,
`(B, H)`. Keep the dtype of `x` (create zeros with `x.new_zeros`).

`test_gru_layer` (2 points) uses both layouts and both kinds of `h0`; besides the cell's mistakes it
recognises an ignored `h0`, `h_n` taken after the first step, and an ignored `batch_first`.
""")
    nb.answer("answer_layer", '''
def gru_layer(x, weight_ih, weight_hh, bias_ih, bias_hh, h0=None, batch_first=False):
    """Run gru_cell over x (T, B, I) [or (B, T, I)]: returns output (T, B, H) [(B, T, H)], h_n (B, H)."""
    ### BEGIN SOLUTION
    if batch_first:
        x = x.transpose(0, 1)
    H = weight_hh.shape[1]
    h = x.new_zeros(x.shape[1], H) if h0 is None else h0
    outputs = []
    for x_t in x:
        h = gru_cell(x_t, h, weight_ih, weight_hh, bias_ih, bias_hh)
        outputs.append(h)
    output = torch.stack(outputs)
    if batch_first:
        output = output.transpose(0, 1)
    return output, h
    ### END SOLUTION
''')
    nb.test("test_gru_layer", 'check_gru_layer(gru_layer)',
            "a layer over a sequence: h0, batch_first, (output, h_n)")
    nb.md(r"""
## 5. Unpacking and packing the weights

Write `unpack_gru_weights(weight_ih, weight_hh, bias_ih, bias_hh)`, which returns a dict of the
twelve per-gate blocks under the keys `"W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn", "b_ir",
"b_iz", "b_in", "b_hr", "b_hz", "b_hn"` (matrices keep PyTorch's orientation: `W_ir` is `(H, I)`),
and its inverse `pack_gru_weights(blocks)`, which returns the tuple `(weight_ih, weight_hh,
bias_ih, bias_hh)`. `test_unpack_pack` (2 points) recognises the order z, r, n and transposed blocks.
""")
    nb.answer("answer_unpack", '''
def unpack_gru_weights(weight_ih, weight_hh, bias_ih, bias_hh):
    """Packed (3H, I), (3H, H), (3H,), (3H,) -> dict of the twelve blocks, e.g. "W_iz": (H, I)."""
    ### BEGIN SOLUTION
    blocks = {}
    for prefix, packed in (("W_i", weight_ih), ("W_h", weight_hh), ("b_i", bias_ih), ("b_h", bias_hh)):
        for gate, block in zip("rzn", packed.chunk(3, dim=0)):
            blocks[prefix + gate] = block
    return blocks
    ### END SOLUTION


def pack_gru_weights(blocks):
    """Inverse of unpack_gru_weights: dict of blocks -> (weight_ih, weight_hh, bias_ih, bias_hh)."""
    ### BEGIN SOLUTION
    return tuple(torch.cat([blocks[prefix + gate] for gate in "rzn"], dim=0)
                 for prefix in ("W_i", "W_h", "b_i", "b_h"))
    ### END SOLUTION
''')
    nb.test("test_unpack_pack", 'check_unpack_pack(unpack_gru_weights, pack_gru_weights)',
            "unpacking and packing the r, z, n blocks")
    nb.md(r"""
## 6. A drop-in replacement for a one-layer `nn.GRU`

Write a module `MyGRU(input_size, hidden_size, batch_first=False)` that can load the `state_dict`
of a one-layer `nn.GRU(input_size, hidden_size)` and gives the same results. It needs exactly the
parameters `weight_ih_l0` `(3H, I)`, `weight_hh_l0` `(3H, H)`, `bias_ih_l0` `(3H,)` and `bias_hh_l0`
`(3H,)` (as `nn.Parameter`s), initialised like PyTorch's from $U(-1/\sqrt{H}, 1/\sqrt{H})$.
`forward(x, h0=None)` takes `h0` of shape `(1, B, H)`, as `nn.GRU` does, and returns
`(output, h_n)` with `h_n` of shape `(1, B, H)`. Use your `gru_layer`.

`test_gru_module` (2 points) builds `MyGRU`, loads an `nn.GRU`'s `state_dict` with
`load_state_dict`, and compares the outputs; it also checks the parameters' names, shapes and
initial range.
""")
    nb.answer("answer_module", '''
class MyGRU(nn.Module):
    """A one-layer GRU with the parameters and the call of PyTorch's, built on gru_layer."""

    def __init__(self, input_size, hidden_size, batch_first=False):
        super().__init__()
        ### BEGIN SOLUTION
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        self.weight_ih_l0 = nn.Parameter(torch.empty(3 * hidden_size, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias_ih_l0 = nn.Parameter(torch.empty(3 * hidden_size))
        self.bias_hh_l0 = nn.Parameter(torch.empty(3 * hidden_size))
        bound = 1 / math.sqrt(hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)
        ### END SOLUTION

    def forward(self, x, h0=None):
        """x (T, B, I) [or (B, T, I)], h0 (1, B, H) -> output, h_n (1, B, H)."""
        ### BEGIN SOLUTION
        output, h_n = gru_layer(x, self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0,
                                self.bias_hh_l0, None if h0 is None else h0[0], self.batch_first)
        return output, h_n.unsqueeze(0)
        ### END SOLUTION
''')
    nb.test("test_gru_module", 'check_gru_module(MyGRU)', "a module that loads an nn.GRU state_dict")
    nb.md(r"""
## 7. The backward pass of one step

Given the gradient $g = \partial L / \partial h'$ of a loss with respect to the new state, write
`gru_cell_backward(grad_h_next, x, h, weight_ih, weight_hh, bias_ih, bias_hh)` for
`reset="after"`. It returns the tuple `(grad_x, grad_h, grad_weight_ih, grad_weight_hh,
grad_bias_ih, grad_bias_hh)`, each of the shape of the tensor it belongs to, **without autograd**.
Recompute the forward quantities you need inside the function. A guide, with
$a_r, a_z, a_n$ the pre-activations and $m = W_{hn} h + b_{hn}$:

* $\partial L/\partial n = g \odot (1 - z)$, $\partial L/\partial z = g \odot (h - n)$, and
  $g \odot z$ flows straight to $h$;
* through the nonlinearities: $\partial L/\partial a_n = \partial L/\partial n \odot (1 - n^2)$,
  $\partial L/\partial a_z = \partial L/\partial z \odot z (1 - z)$ and, since $a_n$ contains
  $r \odot m$, $\partial L/\partial r = \partial L/\partial a_n \odot m$;
* the input-side and recurrent-side pre-activations get the same gradient for $r$ and $z$, but
  the recurrent side of $n$ gets $\partial L/\partial a_n \odot r$;
* for a product $A = x W^\top$, $\partial L/\partial W = (\partial L/\partial A)^\top x$ and
  $\partial L/\partial x = (\partial L/\partial A)\, W$; biases sum over the batch.

`test_gru_backward` (3 points) compares each gradient with autograd's (naming the one that is
wrong and the gate its rows belong to), recognises the gradients of the wrong conventions, and
then runs `torch.autograd.gradcheck` in float64 on an `autograd.Function` whose backward is yours.
""")
    nb.answer("answer_backward", '''
def gru_cell_backward(grad_h_next, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """Gradients of one GRU step (reset after): returns grads of x, h, weight_ih, weight_hh, bias_ih, bias_hh."""
    ### BEGIN SOLUTION
    H = weight_hh.shape[1]
    from_input = x @ weight_ih.T + bias_ih
    from_state = h @ weight_hh.T + bias_hh
    r = torch.sigmoid(from_input[:, :H] + from_state[:, :H])
    z = torch.sigmoid(from_input[:, H:2 * H] + from_state[:, H:2 * H])
    m = from_state[:, 2 * H:]
    n = torch.tanh(from_input[:, 2 * H:] + r * m)
    grad_a_n = grad_h_next * (1 - z) * (1 - n ** 2)
    grad_a_z = grad_h_next * (h - n) * z * (1 - z)
    grad_a_r = grad_a_n * m * r * (1 - r)
    grad_input = torch.cat([grad_a_r, grad_a_z, grad_a_n], dim=1)
    grad_state = torch.cat([grad_a_r, grad_a_z, grad_a_n * r], dim=1)
    grad_x = grad_input @ weight_ih
    grad_h = grad_state @ weight_hh + grad_h_next * z
    return (grad_x, grad_h, grad_input.T @ x, grad_state.T @ h,
            grad_input.sum(0), grad_state.sum(0))
    ### END SOLUTION
''')
    nb.test("test_gru_backward", 'check_gru_backward(gru_cell_backward)',
            "the backward pass of one step, and gradcheck in float64")
    nb.md(r"""
## 8. Gradient flow through the update gate

`gradient_flow_problem()` returns a GRU in float64: `x` `(25, 1, 3)`, `h0` `(1, 6)` and the four
packed parameters (`weight_ih`, `weight_hh`, `bias_ih`, `bias_hh`; `H = 6`). Write
`gradient_flow_norms(problem)`, which takes such a problem (of any length `T`) and returns two
numbers, `(norm, norm_keep)`, as Python floats:

1. `norm`: run your `gru_cell` (reset after) over `problem["x"]` from `problem["h0"]`, compute the
   Jacobian $J = \partial h_T / \partial h_0$, a `(6, 6)` matrix (`torch.autograd.functional.jacobian`
   is allowed here, or the chain rule by hand), and return its spectral norm, the largest singular
   value (`torch.linalg.matrix_norm(J, ord=2)`);
2. `norm_keep`: the same after pushing the update gate towards 1, with its biases set to
   `bias_ih[6:12] = 3.0` and `bias_hh[6:12] = 0.0`.

Then compare the two numbers for `gradient_flow_problem()`: what does an update gate near 1 do to
the gradient that reaches $h_0$? `test_gradient_flow` (2 points) checks both values to 0.1 % on
that problem, and the grader on problems of its own; it recognises the Frobenius norm, swapped
answers, the reset-before GRU, the Jacobian of the last step alone, and the update gate's bias set
in both biases.
""")
    nb.answer("answer_gradient_flow", '''
def gradient_flow_norms(problem):
    """(norm, norm_keep): the spectral norm of dh_T/dh_0 for the GRU of problem, and the same with
    the update gate pushed towards 1 (bias_ih[6:12] = 3, bias_hh[6:12] = 0)."""
    ### BEGIN SOLUTION
    def spectral_norm(weight_ih, weight_hh, bias_ih, bias_hh):
        def run(h0):
            h = h0
            for x_t in problem["x"]:
                h = gru_cell(x_t, h, weight_ih, weight_hh, bias_ih, bias_hh)
            return h[0]

        jacobian = torch.autograd.functional.jacobian(run, problem["h0"])[:, 0, :]
        return torch.linalg.matrix_norm(jacobian, ord=2).item()

    norm = spectral_norm(problem["weight_ih"], problem["weight_hh"], problem["bias_ih"], problem["bias_hh"])
    keep_ih, keep_hh = problem["bias_ih"].clone(), problem["bias_hh"].clone()
    keep_ih[6:12] = 3.0
    keep_hh[6:12] = 0.0
    return norm, spectral_norm(problem["weight_ih"], problem["weight_hh"], keep_ih, keep_hh)
    ### END SOLUTION
''')
    nb.test("test_gradient_flow", 'check_gradient_flow(gradient_flow_norms)',
            "the norm of dh_T/dh_0, with and without z near 1")
