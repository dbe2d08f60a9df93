"""The source of the `bptt` assignment: back-propagation through time for the tanh RNN
(see :mod:`authoring.sources`)."""

#: The seed of the hidden suite (the visible one uses 0).
HIDDEN_SEED = 9127


def build(nb) -> None:
    nb.md(r"""
# Assignment `bptt`: back-propagation through time, by hand

The Elman RNN with a tanh nonlinearity, for inputs $x_1, \dots, x_T$ and an initial state $h_0$:

$$ h_t = \tanh(W_{ih} x_t + W_{hh} h_{t-1} + b), \qquad t = 1, \dots, T. $$

Shapes: `x` is `(T, B, I)`, `h0` `(B, H)`, `W_ih` `(H, I)`, `W_hh` `(H, H)`, `b` `(H,)`; in code
$W x$ is `x @ W.T` (these are `nn.RNN`'s `weight_ih_l0`, `weight_hh_l0` and `bias_ih_l0 + bias_hh_l0`).
You will write the forward pass, its backward pass without autograd, the Jacobian product
$\partial h_T / \partial h_0$ whose norm decides whether gradients vanish or explode, and
global-norm gradient clipping.

**How to work.** Fill in every cell that says `raise NotImplementedError()` (delete that line) and
run the test below it; a failing test names the mistake when it recognises it. Do not use autograd
(`backward`, `torch.autograd`) in `rnn_backward` and `hidden_jacobian`, nor
`torch.nn.utils.clip_grad_norm_` in `clip_by_global_norm`; the tests compare with them.
{answer_rules} Do not
modify the inputs in place. The graders run more cases than you see (batch 1, T = 1, I ≠ H, float64,
non-contiguous inputs).

**Points.**

{points_table}
""")
    nb.setup()
    nb.md(r"""
## 1. The forward pass

`rnn_forward(x, h0, W_ih, W_hh, b)` returns all the states $h_1, \dots, h_T$ stacked, `(T, B, H)`.
""")
    nb.answer("answer_forward", '''
def rnn_forward(x, h0, W_ih, W_hh, b):
    """States h_1..h_T, (T, B, H), of the tanh RNN from x (T, B, I) and h0 (B, H)."""
    ### BEGIN SOLUTION
    h = h0
    states = []
    for x_t in x:
        h = torch.tanh(x_t @ W_ih.T + h @ W_hh.T + b)
        states.append(h)
    return torch.stack(states)
    ### END SOLUTION
''')
    nb.test("test_rnn_forward", 'check_rnn_forward(rnn_forward)', "the forward pass, all states")
    nb.md(r"""
## 2. The backward pass

Let the loss be $L = \sum_t \langle g_t, h_t \rangle$ for given upstream gradients `grad_hs` $=
(g_1, \dots, g_T)$, `(T, B, H)`: every state receives a gradient from the loss. Going backwards in
time, the gradient reaching $h_t$ is $\delta_t = g_t + (\text{what } h_{t+1} \text{ sends back})$;
through the tanh, the pre-activation gets $\delta_t \odot (1 - h_t^2)$; this feeds
$\partial L/\partial W_{ih}$ (with $x_t$), $\partial L/\partial W_{hh}$ (with $h_{t-1}$),
$\partial L/\partial b$, and sends $(\delta_t \odot (1 - h_t^2))\, W_{hh}$ back to $h_{t-1}$.

`rnn_backward(grad_hs, x, h0, W_ih, W_hh, b)` returns `(grad_W_ih, grad_W_hh, grad_b, grad_h0)`,
shaped like `W_ih`, `W_hh`, `b`, `h0`. `test_rnn_backward` (3 points) compares with autograd and
recognises a missing tanh derivative, only the last state's gradient, and a transposed
$\partial L/\partial W_{hh}$.
""")
    nb.answer("answer_backward", '''
def rnn_backward(grad_hs, x, h0, W_ih, W_hh, b):
    """dL/dW_ih, dL/dW_hh, dL/db, dL/dh0 for L = sum(grad_hs * rnn_forward(x, h0, ...))."""
    ### BEGIN SOLUTION
    hs = rnn_forward(x, h0, W_ih, W_hh, b)
    previous = torch.cat([h0[None], hs[:-1]])
    grad_W_ih, grad_W_hh, grad_b = torch.zeros_like(W_ih), torch.zeros_like(W_hh), torch.zeros_like(b)
    carry = torch.zeros_like(h0)
    for t in reversed(range(x.shape[0])):
        grad_a = (grad_hs[t] + carry) * (1 - hs[t] ** 2)
        grad_W_ih = grad_W_ih + grad_a.T @ x[t]
        grad_W_hh = grad_W_hh + grad_a.T @ previous[t]
        grad_b = grad_b + grad_a.sum(0)
        carry = grad_a @ W_hh
    return grad_W_ih, grad_W_hh, grad_b, carry
    ### END SOLUTION
''')
    nb.test("test_rnn_backward", 'check_rnn_backward(rnn_backward)',
            "dL/dW_ih, dL/dW_hh, dL/db, dL/dh0 against autograd")
    nb.md(r"""
## 3. The Jacobian product

The gradient that reaches $h_0$ from $h_T$ passes through

$$ \frac{\partial h_T}{\partial h_0} = \prod_{t=T}^{1} \operatorname{diag}(1 - h_t^2)\, W_{hh}
   = D_T W_{hh}\, D_{T-1} W_{hh} \cdots D_1 W_{hh}, $$

whose norm shrinks or grows geometrically with $T$ (Pascanu et al. 2013). Write
`hidden_jacobian(x, h0, W_ih, W_hh, b)`, which returns this matrix for every batch element,
`(B, H, H)`, entry `[k, i, j]` $= \partial h_T[k, i] / \partial h_0[k, j]$.
`test_jacobian_product` (2 points) recognises the last step's Jacobian alone, the transpose, and a
missing tanh derivative.
""")
    nb.answer("answer_jacobian", '''
def hidden_jacobian(x, h0, W_ih, W_hh, b):
    """dh_T/dh_0 for each batch element, (B, H, H)."""
    ### BEGIN SOLUTION
    hs = rnn_forward(x, h0, W_ih, W_hh, b)
    B, H = h0.shape
    jacobian = torch.eye(H, dtype=h0.dtype).expand(B, H, H)
    for t in reversed(range(x.shape[0])):
        jacobian = jacobian @ ((1 - hs[t] ** 2)[:, :, None] * W_hh)
    return jacobian
    ### END SOLUTION
''')
    nb.test("test_jacobian_product", 'check_jacobian_product(hidden_jacobian)',
            "the Jacobian product dh_T/dh_0")
    nb.md(r"""
## 4. Gradient clipping by the global norm

`clip_by_global_norm(grads, max_norm)` takes a list of gradient tensors and returns
`(clipped, total_norm)`: `total_norm` $= \sqrt{\sum_k \lVert g_k \rVert^2}$ over all the tensors (a
0-dimensional tensor), and `clipped` a list of **new** tensors, each $g_k \cdot \min(1,
\text{max\_norm} / (\text{total\_norm} + 10^{-6}))$: the same as `torch.nn.utils.clip_grad_norm_`,
but without changing the inputs. `test_clip` (2 points) uses one case above and one below
`max_norm`; it recognises clipping every time and clipping each tensor by its own norm.
""")
    nb.answer("answer_clip", '''
def clip_by_global_norm(grads, max_norm):
    """Scale all tensors in grads by one factor so that their joint norm is at most max_norm."""
    ### BEGIN SOLUTION
    total_norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    scale = min(1.0, max_norm / (float(total_norm) + 1e-6))
    return [g * scale for g in grads], total_norm
    ### END SOLUTION
''')
    nb.test("test_clip", 'check_clip(clip_by_global_norm)', "global-norm clipping, equal to clip_grad_norm_")
