"""The reference cells and layers in gated.cells against PyTorch's modules and autograd, in float64."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from gated import cells

F64 = torch.float64
TOL = 1e-10

# (batch, time, input_size, hidden_size, num_layers, batch_first): batch 1, T = 1, I != H, stacks.
SHAPES = [
    (1, 1, 3, 3, 1, False),
    (4, 7, 3, 5, 1, True),
    (2, 5, 6, 4, 3, False),
    (3, 1, 2, 7, 2, True),
    (1, 9, 1, 2, 2, False),
]


def _module(kind: str, input_size: int, hidden_size: int, layers: int, batch_first: bool, seed: int):
    torch.manual_seed(seed)
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    return cls(input_size, hidden_size, num_layers=layers, batch_first=batch_first, dtype=F64)


def _inputs(batch, time, input_size, hidden_size, layers, batch_first, seed):
    g = torch.Generator().manual_seed(seed + 1)
    x_shape = (batch, time, input_size) if batch_first else (time, batch, input_size)
    x = torch.randn(x_shape, generator=g, dtype=F64)
    h0 = torch.randn(layers, batch, hidden_size, generator=g, dtype=F64)
    c0 = torch.randn(layers, batch, hidden_size, generator=g, dtype=F64)
    return x, h0, c0


def _reference(kind, x, state_dict, h0, c0, batch_first):
    if kind == "lstm":
        out, (h, c) = cells.lstm(x, state_dict, (h0, c0), batch_first=batch_first)
        return out, h, c
    fn = cells.rnn if kind == "rnn" else cells.gru
    out, h = fn(x, state_dict, h0, batch_first=batch_first)
    return (out, h)


def _torch(kind, module, x, h0, c0):
    if kind == "lstm":
        out, (h, c) = module(x, (h0, c0))
        return out, h, c
    out, h = module(x, h0)
    return (out, h)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "B{}-T{}-I{}-H{}-L{}-bf{}".format(*s))
def test_layer_matches_torch_module(kind, shape):
    batch, time, input_size, hidden_size, layers, batch_first = shape
    module = _module(kind, input_size, hidden_size, layers, batch_first, seed=sum(shape))
    x, h0, c0 = _inputs(*shape, seed=len(kind))
    with torch.no_grad():
        expected = _torch(kind, module, x, h0, c0)
        got = _reference(kind, x, module.state_dict(), h0, c0, batch_first)
    for e, g in zip(expected, got):
        assert e.shape == g.shape
        assert (e - g).abs().max().item() < TOL


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_layer_gradients_match_autograd_through_torch_module(kind):
    shape = (3, 6, 4, 5, 2, True)
    module = _module(kind, *shape[2:], seed=11)
    x, h0, c0 = _inputs(*shape, seed=12)
    weights = torch.randn_like(x.new_empty(3, 6, 5))  # a random linear loss on the outputs

    def grads(run):
        leaves = [t.clone().requires_grad_() for t in (x, h0, c0)] + [
            p.detach().clone().requires_grad_() for p in module.parameters()
        ]
        xs, hs, cs, *params = leaves
        state_dict = dict(zip([n for n, _ in module.named_parameters()], params))
        out = run(xs, hs, cs, state_dict)
        loss = (out[0] * weights).sum() + sum(t.sum() for t in out[1:])
        used = leaves if kind == "lstm" else [xs, hs, *params]
        return torch.autograd.grad(loss, used)

    def through_module(xs, hs, cs, state_dict):
        args = (xs, (hs, cs)) if kind == "lstm" else (xs, hs)
        return torch.func.functional_call(module, state_dict, args)

    def through_reference(xs, hs, cs, state_dict):
        return _reference(kind, xs, state_dict, hs, cs, batch_first=True)

    def flatten(out):
        if kind == "lstm":
            o, (h, c) = out
            return o, h, c
        return out

    expected = grads(lambda *a: flatten(through_module(*a)))
    got = grads(through_reference)
    for e, g in zip(expected, got):
        assert (e - g).abs().max().item() < TOL


@pytest.mark.parametrize(
    "kind, module_cls, fn",
    [
        ("rnn", torch.nn.RNNCell, cells.rnn_cell),
        ("lstm", torch.nn.LSTMCell, cells.lstm_cell),
        ("gru", torch.nn.GRUCell, cells.gru_cell),
    ],
)
def test_cell_matches_torch_cell_module(kind, module_cls, fn):
    torch.manual_seed(3)
    module = module_cls(4, 6, dtype=F64)
    x = torch.randn(5, 4, dtype=F64)
    h = torch.randn(5, 6, dtype=F64)
    c = torch.randn(5, 6, dtype=F64)
    params = (module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh)
    with torch.no_grad():
        if kind == "lstm":
            expected = torch.cat(module(x, (h, c)))
            got = torch.cat(fn(x, (h, c), *params))
        else:
            expected, got = module(x, h), fn(x, h, *params)
    assert (expected - got).abs().max().item() < TOL


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_layer_without_biases_matches_torch(kind):
    torch.manual_seed(4)
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    module = cls(3, 4, bias=False, dtype=F64)
    x = torch.randn(5, 2, 3, dtype=F64)
    with torch.no_grad():
        expected = module(x)[0]
        got = {"rnn": cells.rnn, "lstm": cells.lstm, "gru": cells.gru}[kind](x, module.state_dict())[0]
    assert (expected - got).abs().max().item() < TOL


def test_relu_rnn_matches_torch():
    torch.manual_seed(5)
    module = torch.nn.RNN(3, 4, nonlinearity="relu", dtype=F64)
    x = torch.randn(6, 2, 3, dtype=F64)
    with torch.no_grad():
        assert (module(x)[0] - cells.rnn(x, module.state_dict(), nonlinearity="relu")[0]).abs().max() < TOL


def _cho_gru_step(x, h, W, U, b_in, b_hid):
    """Cho et al. 2014 (v3), one unit at a time as the paper writes it, with biases added per gate.

    W, U, biases are dicts by gate name; r and z are computed first, then each unit's candidate
    h̃_j = tanh([W x]_j + [U (r ⊙ h)]_j), then h_j = z_j h_j + (1 − z_j) h̃_j.
    """
    hidden = h.shape[0]
    sig = lambda a: 1.0 / (1.0 + torch.exp(-a))  # noqa: E731
    r = sig(W["r"] @ x + b_in["r"] + U["r"] @ h + b_hid["r"])
    z = sig(W["z"] @ x + b_in["z"] + U["z"] @ h + b_hid["z"])
    reset_h = torch.stack([r[k] * h[k] for k in range(hidden)])
    new = torch.empty(hidden, dtype=h.dtype)
    for j in range(hidden):
        candidate = torch.tanh((W["n"][j] @ x) + b_in["n"][j] + (U["n"][j] @ reset_h) + b_hid["n"][j])
        new[j] = z[j] * h[j] + (1 - z[j]) * candidate
    return new


def test_reset_before_gru_matches_an_independent_implementation_of_the_paper():
    torch.manual_seed(6)
    module = torch.nn.GRU(3, 4, dtype=F64)
    W = cells.split_gates(module.weight_ih_l0.detach(), "gru")
    U = cells.split_gates(module.weight_hh_l0.detach(), "gru")
    b_in = cells.split_gates(module.bias_ih_l0.detach(), "gru")
    b_hid = cells.split_gates(module.bias_hh_l0.detach(), "gru")
    x = torch.randn(8, 2, 3, dtype=F64)
    with torch.no_grad():
        out, _ = cells.gru(x, module.state_dict(), reset="before")
    for b in range(2):
        h = torch.zeros(4, dtype=F64)
        for t in range(8):
            h = _cho_gru_step(x[t, b], h, W, U, b_in, b_hid)
            assert (out[t, b] - h).abs().max().item() < TOL


def test_reset_before_differs_from_torch_gru_by_more_than_rounding():
    torch.manual_seed(7)
    module = torch.nn.GRU(3, 16, dtype=F64)
    x = torch.randn(20, 4, 3, dtype=F64)
    with torch.no_grad():
        before = cells.gru(x, module.state_dict(), reset="before")[1]
        torch_h = module(x)[1]
    assert (before - torch_h).abs().max().item() > 1e-3


def test_keep_new_update_is_the_mirror_of_keep_old():
    """h' = z n + (1 − z) h equals PyTorch's form with the update gate's pre-activation negated."""
    torch.manual_seed(8)
    module = torch.nn.GRU(3, 4, dtype=F64)
    x = torch.randn(5, 2, 3, dtype=F64)
    flipped = {k: v.clone() for k, v in module.state_dict().items()}
    for key in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        flipped[key][4:8] *= -1  # σ(−a) = 1 − σ(a)
    with torch.no_grad():
        assert (cells.gru(x, flipped, update="keep_new")[0] - module(x)[0]).abs().max() < TOL
        assert (cells.gru(x, module.state_dict(), update="keep_new")[0] - module(x)[0]).abs().max() > 1e-3


def test_split_and_pack_gates_round_trip_and_name_the_blocks():
    torch.manual_seed(9)
    module = torch.nn.LSTM(3, 2)
    blocks = cells.split_gates(module.weight_ih_l0, "lstm")
    assert list(blocks) == ["i", "f", "g", "o"]
    assert torch.equal(blocks["f"], module.weight_ih_l0[2:4])
    assert torch.equal(cells.pack_gates(blocks, "lstm"), module.weight_ih_l0)


def test_split_gates_rejects_a_size_that_does_not_divide():
    with pytest.raises(ValueError, match="divisible by 3"):
        cells.split_gates(torch.zeros(7, 2), "gru")


def test_wrong_hidden_size_is_reported_with_both_shapes():
    module = torch.nn.GRU(3, 4)
    with pytest.raises(ValueError, match=r"hidden_size 4 .* does not match h of shape \(2, 5\)"):
        cells.gru_cell(torch.zeros(2, 3), torch.zeros(2, 5), module.weight_ih_l0, module.weight_hh_l0)


def test_unknown_reset_convention_is_rejected():
    module = torch.nn.GRU(3, 4)
    with pytest.raises(ValueError, match="reset must be"):
        cells.gru_cell(torch.zeros(2, 3), torch.zeros(2, 4), module.weight_ih_l0, module.weight_hh_l0,
                       reset="middle")


@pytest.mark.parametrize("kind, module_cls", [("rnn", torch.nn.RNN), ("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)])
@pytest.mark.parametrize("input_size, hidden_size, layers", list(itertools.product([1, 7], [3, 10], [1, 2])))
def test_parameter_count_matches_torch(kind, module_cls, input_size, hidden_size, layers):
    module = module_cls(input_size, hidden_size, num_layers=layers)
    assert cells.parameter_count(kind, input_size, hidden_size, layers) == sum(p.numel() for p in module.parameters())


def test_lstm_gates_return_the_gates_of_the_step_lstm_cell_takes():
    torch.manual_seed(5)
    module = torch.nn.LSTMCell(3, 4, dtype=F64)
    x, h, c = torch.randn(2, 3, dtype=F64), torch.randn(2, 4, dtype=F64), torch.randn(2, 4, dtype=F64)
    params = (module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh)
    with torch.no_grad():
        step = cells.lstm_gates(x, (h, c), *params)
        h1, c1 = module(x, (h, c))
        pre = x @ module.weight_ih.T + module.bias_ih + h @ module.weight_hh.T + module.bias_hh
    assert torch.allclose(step["h"], h1, atol=TOL) and torch.allclose(step["c"], c1, atol=TOL)
    for name, block in zip("ifgo", pre.chunk(4, dim=-1)):
        act = torch.tanh if name == "g" else torch.sigmoid
        assert torch.allclose(step[name], act(block), atol=TOL), name


@pytest.mark.parametrize("reset, update", [("after", "keep_old"), ("before", "keep_new")])
def test_gru_gates_new_state_is_gru_cell_and_mixes_old_state_and_candidate(reset, update):
    torch.manual_seed(6)
    module = torch.nn.GRUCell(3, 4, dtype=F64)
    x, h = torch.randn(2, 3, dtype=F64), torch.randn(2, 4, dtype=F64)
    params = (module.weight_ih, module.weight_hh, module.bias_ih, module.bias_hh)
    with torch.no_grad():
        step = cells.gru_gates(x, h, *params, reset=reset, update=update)
        expected = cells.gru_cell(x, h, *params, reset=reset, update=update)
    keep = step["z"] if update == "keep_old" else 1 - step["z"]
    assert torch.equal(step["h"], expected)
    assert torch.allclose(step["h"], keep * h + (1 - keep) * step["n"], atol=TOL)
    if reset == "after":
        assert torch.allclose(step["h"], module(x, h), atol=TOL)


@pytest.mark.parametrize("kind, module_cls", [("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)])
def test_gates_over_time_records_the_states_of_the_torch_layer(kind, module_cls):
    torch.manual_seed(7)
    module = module_cls(3, 5, batch_first=True, dtype=F64)
    x = torch.randn(4, 9, 3, dtype=F64)
    with torch.no_grad():
        expected, _ = module(x)
    recorded = cells.gates_over_time(kind, x, module.state_dict())
    assert set(recorded) == set({"lstm": "ifgoch", "gru": "rznh"}[kind])
    assert all(v.shape == (4, 9, 5) for v in recorded.values())
    assert (recorded["h"] - expected).abs().max().item() < TOL


def test_gates_over_time_refuses_the_elman_rnn():
    with pytest.raises(ValueError, match="'lstm' or 'gru'"):
        cells.gates_over_time("rnn", torch.zeros(1, 2, 1), torch.nn.RNN(1, 2).state_dict())


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_module_from_blocks_puts_each_gate_where_torch_reads_it(kind):
    torch.manual_seed(8)
    names = cells.GATE_ORDER[kind]
    blocks = {name: (torch.randn(4, 3, dtype=F64), torch.randn(4, 4, dtype=F64), torch.randn(4, dtype=F64),
                     torch.randn(4, dtype=F64)) for name in names}
    module = cells.module_from_blocks(kind, blocks)
    for index, key in enumerate(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")):
        by_gate = cells.split_gates(getattr(module, key).detach(), kind)
        assert all(torch.equal(by_gate[name], blocks[name][index]) for name in names), key


def test_module_from_blocks_takes_plain_numbers_for_one_unit():
    module = cells.module_from_blocks("rnn", {"h": (1.0, 0.5, 0.0, 0.0)})
    with torch.no_grad():
        out, _ = module(torch.tensor([1.0, 0.5], dtype=F64).reshape(2, 1, 1))
    first = math.tanh(1.0)
    assert out.flatten().tolist() == pytest.approx([first, math.tanh(0.5 + 0.5 * first)], abs=1e-15)


def test_module_from_blocks_names_missing_gates():
    with pytest.raises(ValueError, match="needs the blocks"):
        cells.module_from_blocks("gru", {"r": (1.0, 0.0, 0.0, 0.0)})
