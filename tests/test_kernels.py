"""The Triton kernels of gated.kernels against nn.GRU (and minGRU's PyTorch reference), in float32.

On a machine without CUDA they run under Triton's interpreter; the sizes are odd (H = 5, 33; B = 3, 19;
T = 7) so that every mask is exercised, and small so that the file takes seconds.
"""
from __future__ import annotations

import pytest
import torch

import gated
from kernel_checks import DEVICE, _true_float32_on_cuda, relative_error  # noqa: F401 (autouse fixture)
from gated import cells
from gated.kernels import mingru, persistent, pointwise, stepwise

F32 = torch.float32
RTOL = 1e-5  # relative error allowed against PyTorch in float32


def _gru(input_size: int, hidden: int, layers: int = 1, bias: bool = True, seed: int = 0,
         batch_first: bool = False) -> torch.nn.GRU:
    torch.manual_seed(seed)
    return torch.nn.GRU(input_size, hidden, num_layers=layers, bias=bias,
                        batch_first=batch_first).to(DEVICE)


def _data(steps: int, batch: int, input_size: int, hidden: int, layers: int, seed: int = 1,
          batch_first: bool = False):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, steps, input_size) if batch_first else (steps, batch, input_size)
    x, h0 = torch.randn(shape, generator=g), torch.randn(layers, batch, hidden, generator=g)
    return x.to(DEVICE), h0.to(DEVICE)


# ------------------------------------------------------------------------------- pointwise step


@pytest.mark.parametrize("batch, hidden", [(3, 5), (3, 33), (1, 1), (19, 70)])
def test_pointwise_step_matches_gru_cell(batch, hidden):
    gru = _gru(4, hidden)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(batch, 4, generator=g).to(DEVICE)
    h = torch.randn(batch, hidden, generator=g).to(DEVICE)
    w_ih, w_hh, b_ih, b_hh = cells.layer_params(gru.state_dict(), 0)
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    want = torch.nn.GRUCell(4, hidden).to(DEVICE)
    want.load_state_dict({k[:-3]: v for k, v in gru.state_dict().items()})
    with torch.no_grad():
        assert relative_error(pointwise.gru_pointwise(gi, gh, h), want(x, h)) < RTOL


def test_pointwise_tanh_is_finite_and_saturates_at_large_preactivations():
    hidden = 4
    gi = torch.tensor([[0.0, 0.0, 0.0, 0.0] * 2 + [1e4, -1e4, 50.0, -50.0]], device=DEVICE)
    gh = torch.zeros(1, 3 * hidden, device=DEVICE)
    h = torch.zeros(1, hidden, device=DEVICE)
    # r = z = ½ and h = 0: h' = ½ tanh(gi_n)
    got = pointwise.gru_pointwise(gi, gh, h)
    assert torch.isfinite(got).all()
    assert torch.allclose(got.cpu(), torch.tensor([[0.5, -0.5, 0.5, -0.5]]))


def test_pointwise_rejects_gate_block_of_wrong_width():
    with pytest.raises(ValueError, match=r"expected gh of shape \(B, 3H\) = \(2, 9\)"):
        pointwise.gru_pointwise(torch.zeros(2, 9), torch.zeros(2, 8), torch.zeros(2, 3))


# ------------------------------------------------------------------------------------- layers

LAYER_CASES = [
    # (T, B, I, H, layers, bias, batch_first)
    (7, 3, 4, 5, 1, True, False),
    (7, 3, 2, 33, 2, True, True),
    (1, 19, 3, 17, 1, False, False),
]
LAYERS = {"stepwise": stepwise.gru_stepwise, "persistent": persistent.gru_persistent}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("steps, batch, inputs, hidden, layers, bias, batch_first", LAYER_CASES)
def test_layer_matches_nn_gru(name, steps, batch, inputs, hidden, layers, bias, batch_first):
    gru = _gru(inputs, hidden, layers, bias, batch_first=batch_first)
    x, h0 = _data(steps, batch, inputs, hidden, layers, batch_first=batch_first)
    with torch.no_grad():
        want_out, want_h = gru(x, h0)
        got_out, got_h = LAYERS[name](x, gru.state_dict(), h0, batch_first=batch_first)
    assert got_out.shape == want_out.shape and got_h.shape == want_h.shape
    assert relative_error(got_out, want_out) < RTOL
    assert relative_error(got_h, want_h) < RTOL


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_without_h0_starts_from_zeros(name):
    gru = _gru(3, 6)
    x, _ = _data(4, 2, 3, 6, 1)
    with torch.no_grad():
        assert relative_error(LAYERS[name](x, gru.state_dict())[0], gru(x)[0]) < RTOL


def test_persistent_refuses_hidden_size_that_does_not_fit_one_sm():
    gru = _gru(2, persistent.MAX_HIDDEN + 1)
    x, _ = _data(2, 1, 2, persistent.MAX_HIDDEN + 1, 1)
    with pytest.raises(ValueError, match=f"hidden_size ≤ {persistent.MAX_HIDDEN}, got 129"):
        persistent.gru_persistent(x, gru.state_dict())


def test_layer_rejects_h0_of_wrong_shape():
    gru = _gru(3, 5)
    x, _ = _data(4, 2, 3, 5, 1)
    with pytest.raises(ValueError, match=r"expected h0 of shape \(L, B, H\) = \(1, 2, 5\), got \(2, 5\)"):
        stepwise.gru_stepwise(x, gru.state_dict(), torch.zeros(2, 5, device=DEVICE))


# ------------------------------------------------------------------------------------- minGRU


def _mingru_weights(inputs: int, hidden: int, seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    weight, bias = torch.randn(2 * hidden, inputs, generator=g), torch.randn(2 * hidden, generator=g)
    return weight.to(DEVICE), bias.to(DEVICE)


@pytest.mark.parametrize("steps, batch, hidden, block_t", [(7, 3, 5, 64), (7, 3, 5, 2), (9, 2, 33, 4)])
def test_mingru_scan_equals_sequential_and_reference(steps, batch, hidden, block_t):
    weight, bias = _mingru_weights(4, hidden)
    x, h0 = _data(steps, batch, 4, hidden, 1)
    want_out, want_h = mingru.mingru_reference(x, weight, bias, h0[0])
    seq_out, seq_h = mingru.mingru_sequential(x, weight, bias, h0[0])
    scan_out, scan_h = mingru.mingru_scan(x, weight, bias, h0[0], block_t=block_t)
    assert relative_error(seq_out, want_out) < RTOL and relative_error(seq_h, want_h) < RTOL
    assert relative_error(scan_out, want_out) < RTOL and relative_error(scan_h, want_h) < RTOL


@pytest.mark.parametrize("steps", [1, 7, 100])
def test_mingru_torch_scan_equals_reference(steps):
    weight, bias = _mingru_weights(4, 5)
    x, h0 = _data(steps, 3, 4, 5, 1)
    want_out, _ = mingru.mingru_reference(x, weight, bias, h0[0])
    assert relative_error(mingru.mingru_scan_torch(x, weight, bias, h0[0])[0], want_out) < RTOL


def test_mingru_reference_recurrence_is_the_stated_update():
    """h_t = (1 − σ(W_z x + b_z)) h_{t−1} + σ(W_z x + b_z)(W_h x + b_h), checked for one step."""
    weight, bias = _mingru_weights(3, 4)
    x, h0 = _data(1, 2, 3, 4, 1)
    z = torch.sigmoid(x[0] @ weight[:4].T + bias[:4])
    cand = x[0] @ weight[4:].T + bias[4:]
    out, _ = mingru.mingru_reference(x, weight, bias, h0[0])
    assert torch.allclose(out[0], (1 - z) * h0[0] + z * cand)


def test_mingru_rejects_weight_with_odd_rows():
    x, _ = _data(2, 1, 3, 2, 1)
    with pytest.raises(ValueError, match=r"weight \(2H, I\)"):
        mingru.mingru_scan(x, torch.zeros(5, 3, device=DEVICE))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback")
def test_kernels_run_under_the_interpreter_without_cuda():
    assert gated.device.kernel_backend() == "interpreter"


@pytest.mark.skipif(DEVICE != "cuda", reason="bfloat16 tl.dot is wrong under the interpreter; GPU only")
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_in_bfloat16_stays_close_to_nn_gru_in_float32(name):
    gru = _gru(64, 128)
    x, h0 = _data(32, 16, 64, 128, 1)
    with torch.no_grad():
        want, _ = gru(x, h0)
        state = {k: v.bfloat16() for k, v in gru.state_dict().items()}
        got, _ = LAYERS[name](x.bfloat16(), state, h0.bfloat16())
    assert relative_error(got.float(), want) < 3e-2
