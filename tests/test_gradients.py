"""gated.gradients: Jacobian products of BPTT, gradient norms against the lag, clipping."""
from __future__ import annotations

import pytest
import torch

from gated import cells
from gated.gradients import (activation_derivative, clip_elementwise, clip_global_norm,
                             gradient_norm_vs_lag, jacobian_norms, jacobian_products,
                             random_recurrent_weight, random_state_dict, rnn_forward,
                             rnn_jacobian_norms)

D = torch.float64


def small_rnn(seed: int = 0, hidden: int = 5, inputs: int = 2, length: int = 6):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(length, inputs, generator=g, dtype=D),
            torch.randn(hidden, inputs, generator=g, dtype=D),
            torch.randn(hidden, hidden, generator=g, dtype=D) * 0.6,
            torch.randn(hidden, generator=g, dtype=D))


def test_rnn_forward_matches_nn_rnn():
    x, w_ih, w_hh, b = small_rnn()
    module = torch.nn.RNN(2, 5, dtype=D)
    with torch.no_grad():
        module.weight_ih_l0.copy_(w_ih)
        module.weight_hh_l0.copy_(w_hh)
        module.bias_ih_l0.copy_(b)
        module.bias_hh_l0.zero_()
        expected, _ = module(x[:, None])
    _, h = rnn_forward(x, w_ih, w_hh, b)
    assert torch.allclose(h, expected[:, 0], atol=1e-12)


def test_tanh_derivative_matches_autograd():
    a = torch.linspace(-4, 4, 50, dtype=D, requires_grad=True)
    (grad,) = torch.autograd.grad(torch.tanh(a).sum(), a)
    assert torch.allclose(activation_derivative(a.detach()), grad)


@pytest.mark.parametrize("nonlinearity", ["tanh", "linear"])
def test_jacobian_products_equal_autograd_dhT_dh_T_minus_k(nonlinearity):
    x, w_ih, w_hh, b = small_rnn(1)
    pre, h = rnn_forward(x, w_ih, w_hh, b, nonlinearity=nonlinearity)
    products = jacobian_products(w_hh, pre, nonlinearity)
    length = x.shape[0]
    states = torch.cat([torch.zeros(1, 5, dtype=D), h])  # h_0 .. h_T
    for k in range(length + 1):
        start = length - k

        def last_state(h_start, start=start):
            return rnn_forward(x[start:], w_ih, w_hh, b, h0=h_start, nonlinearity=nonlinearity)[1][-1] \
                if start < length else h_start

        expected = torch.autograd.functional.jacobian(last_state, states[start])
        assert torch.allclose(products[k], expected, atol=1e-12), f"lag {k}"


def test_linear_rnn_with_a_scaled_orthogonal_matrix_has_norm_radius_to_the_lag():
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(0), dtype=D))
    pre = torch.zeros(20, 8, dtype=D)
    norms = jacobian_norms(1.3 * q, pre, "linear")
    assert torch.allclose(norms, 1.3 ** torch.arange(21, dtype=D), rtol=1e-10)


def test_tanh_jacobian_norm_is_bounded_by_the_largest_singular_value_to_the_lag():
    weight = random_recurrent_weight(16, 1.5, seed=2)
    pre = torch.randn(30, 16, generator=torch.Generator().manual_seed(3), dtype=D)
    norms = jacobian_norms(weight, pre, "tanh")
    sigma = torch.linalg.matrix_norm(weight, ord=2)
    assert torch.all(norms <= sigma ** torch.arange(31, dtype=D) * (1 + 1e-10))


def test_random_recurrent_weight_has_the_requested_spectral_radius():
    weight = random_recurrent_weight(32, 0.9, seed=4)
    assert torch.linalg.eigvals(weight).abs().max().item() == pytest.approx(0.9)


def test_saturation_keeps_a_tanh_rnn_bounded_where_a_linear_one_explodes():
    tanh = rnn_jacobian_norms(64, 50, spectral_radius=1.5, nonlinearity="tanh")
    linear = rnn_jacobian_norms(64, 50, spectral_radius=1.5, nonlinearity="linear")
    assert linear[50] > 1e6 and tanh[50] < 1.0


def test_small_spectral_radius_makes_the_gradient_vanish():
    assert rnn_jacobian_norms(32, 40, spectral_radius=0.5)[40] < 1e-8


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_gradient_norm_vs_lag_equals_the_autograd_jacobian_of_pytorchs_module(cell):
    state = random_state_dict(cell, 2, 6, spectral_radius=1.2, seed=5)
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](2, 6, dtype=D)
    module.load_state_dict(state)
    inputs = torch.randn(9, 2, generator=torch.Generator().manual_seed(6), dtype=D)

    def last_state(x):
        return module(x[:, None])[0][-1, 0]

    jac = torch.autograd.functional.jacobian(last_state, inputs)  # (H, T, I)
    expected = jac.pow(2).sum(dim=(0, 2)).sqrt().flip(0)
    measured = gradient_norm_vs_lag(cell, state_dict=state, inputs=inputs)
    assert torch.allclose(measured, expected, rtol=1e-10)


def test_gradient_norm_vs_lag_scales_every_gate_block_to_the_spectral_radius():
    state = random_state_dict("lstm", 1, 8, spectral_radius=0.7, seed=0)
    for block in cells.split_gates(state["weight_hh_l0"], "lstm").values():
        assert torch.linalg.eigvals(block).abs().max().item() == pytest.approx(0.7)


def test_gradient_norm_vs_lag_names_the_expected_input_shape():
    with pytest.raises(ValueError, match=r"\(T, 1\)"):
        gradient_norm_vs_lag("gru", hidden_size=4, inputs=torch.zeros(5, 3, dtype=D))


def _model_with_grads(seed: int, scale: float) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 2))
    (scale * model(torch.randn(10, 4)).pow(2).sum()).backward()
    return model


@pytest.mark.parametrize("scale", [1e-3, 1.0, 100.0])
def test_clip_global_norm_equals_torch_clip_grad_norm(scale):
    ours, theirs = _model_with_grads(0, scale), _model_with_grads(0, scale)
    total = clip_global_norm(ours.parameters(), 0.5)
    expected = torch.nn.utils.clip_grad_norm_(theirs.parameters(), 0.5)
    assert total.item() == pytest.approx(expected.item())
    for p, q in zip(ours.parameters(), theirs.parameters()):
        assert torch.allclose(p.grad, q.grad, rtol=1e-6, atol=0)


def _flat(model):
    return torch.cat([p.grad.flatten() for p in model.parameters()])


def test_global_clipping_keeps_the_direction_and_elementwise_clipping_changes_it():
    model = _model_with_grads(1, 100.0)
    before = _flat(model).clone()
    clip_global_norm(model.parameters(), 1.0)
    assert torch.nn.functional.cosine_similarity(before, _flat(model), dim=0) > 1 - 1e-6
    model = _model_with_grads(1, 100.0)
    clip_elementwise(model.parameters(), 0.01)
    assert _flat(model).abs().max() <= 0.01
    assert torch.nn.functional.cosine_similarity(before, _flat(model), dim=0) < 0.99
