"""The source of the `lstm` assignment: the LSTM in nn.LSTM's layout
(see :mod:`authoring.sources`)."""

#: The seed of the hidden suite (the visible one uses 0).
HIDDEN_SEED = 3313


def build(nb) -> None:
    nb.md(r"""
# Assignment `lstm`: the LSTM in PyTorch's layout

`nn.LSTM` packs its four blocks along the rows in the order **i, f, g, o** (input gate, forget
gate, cell input, output gate): `weight_ih` is `(4H, I)`, `weight_hh` `(4H, H)`, `bias_ih` and
`bias_hh` `(4H,)`. With $W x$ written `x @ W.T` in code, one step is

$$
\begin{aligned}
i &= \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi}), &
f &= \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf}), \\
g &= \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg}), &
o &= \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho}), \\
c' &= f \odot c + i \odot g, & h' &= o \odot \tanh(c').
\end{aligned}
$$

**How to work.** Fill in every cell that says `raise NotImplementedError()` (delete that line) and
run the test below it; a failing test names the mistake when it recognises it. Do not use
`nn.LSTM`, `nn.LSTMCell`, `torch.lstm_cell`, `_VF` or `gated.cells` in `lstm_cell` and
`lstm_layer` (an answer that does scores zero there). {answer_rules} Do not modify the inputs in
place. The graders run more cases than you see (batch 1, T = 1, I ≠ H, float64, non-contiguous
inputs).

**Points.**

{points_table}
""")
    nb.setup()
    nb.md(r"""
## 1. The cell

`lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh)`: `x` `(B, I)`, `h` and `c` `(B, H)`
→ `(h_next, c_next)`, both `(B, H)`. `test_lstm_cell` (3 points) recognises the gate order
i, f, o, g (CS231n's), $h' = o \odot c'$ without the tanh, a sigmoid for $g$, and transposed weights.
""")
    nb.answer("answer_cell", '''
def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    """One LSTM step, packed rows i, f, g, o: returns (h_next, c_next), each (B, H)."""
    ### BEGIN SOLUTION
    pre = x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh
    i, f, g, o = pre.chunk(4, dim=-1)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_next = torch.sigmoid(o) * torch.tanh(c_next)
    return h_next, c_next
    ### END SOLUTION
''')
    nb.test("test_lstm_cell", 'check_lstm_cell(lstm_cell)', "one LSTM step (gate order i, f, g, o)")
    nb.md(r"""
## 2. The layer

`lstm_layer(x, weight_ih, weight_hh, bias_ih, bias_hh, h0=None, c0=None, batch_first=False)` runs
`lstm_cell` over `x` `(T, B, I)` (or `(B, T, I)` with `batch_first=True`) from `h0`, `c0`
`(B, H)` (zeros when `None`) and returns `(output, (h_n, c_n))`: every step's `h`, `(T, B, H)` (or
`(B, T, H)`), and the last `h` and `c`, `(B, H)` each. `test_lstm_layer` (2 points) also recognises
ignored initial states, the first state in place of the last, and an ignored `batch_first`.
""")
    nb.answer("answer_layer", '''
def lstm_layer(x, weight_ih, weight_hh, bias_ih, bias_hh, h0=None, c0=None, batch_first=False):
    """Run lstm_cell over time: output (T, B, H) [(B, T, H)], (h_n, c_n) (B, H) each."""
    ### BEGIN SOLUTION
    if batch_first:
        x = x.transpose(0, 1)
    H = weight_hh.shape[1]
    h = x.new_zeros(x.shape[1], H) if h0 is None else h0
    c = x.new_zeros(x.shape[1], H) if c0 is None else c0
    outputs = []
    for x_t in x:
        h, c = lstm_cell(x_t, h, c, weight_ih, weight_hh, bias_ih, bias_hh)
        outputs.append(h)
    output = torch.stack(outputs)
    if batch_first:
        output = output.transpose(0, 1)
    return output, (h, c)
    ### END SOLUTION
''')
    nb.test("test_lstm_layer", 'check_lstm_layer(lstm_layer)',
            "the layer: h0, c0, batch_first, (output, (h_n, c_n))")
    nb.md(r"""
## 3. The forget-gate bias

A forget gate that starts near 1 lets the cell keep its content, and a forget bias of 1 is a common
initialisation (Gers et al. 2000; Jozefowicz et al. 2015). PyTorch adds `bias_ih` and `bias_hh`,
so the *effective* forget bias is `bias_ih[H:2H] + bias_hh[H:2H]`. Write
`set_forget_bias(lstm, value)`: for an `nn.LSTM` with any number of layers, make the effective
forget bias of every layer equal to `value` by setting `bias_ih_l{k}[H:2H] = value` and
`bias_hh_l{k}[H:2H] = 0`, in place (under `torch.no_grad()`), leaving every other entry as it was.
`test_forget_bias` (1 point) recognises both halves set to `value` (an effective `2 * value`), the
wrong slice, and only the first layer set.
""")
    nb.answer("answer_forget", '''
def set_forget_bias(lstm, value):
    """Make the effective forget-gate bias of every layer of lstm equal to value, in place."""
    ### BEGIN SOLUTION
    H = lstm.hidden_size
    with torch.no_grad():
        for layer in range(lstm.num_layers):
            getattr(lstm, f"bias_ih_l{layer}")[H:2 * H] = value
            getattr(lstm, f"bias_hh_l{layer}")[H:2 * H] = 0.0
    ### END SOLUTION
''')
    nb.test("test_forget_bias", 'check_forget_bias(set_forget_bias)',
            "the forget bias through the right slice")
