"""Checks of the ``bptt`` assignment: the tanh RNN's forward and backward passes, the Jacobian
product dh_T/dh_0, global-norm clipping. The reference step is :func:`gated.cells.rnn_cell`; the
reference gradients come from autograd and ``torch.nn.utils.clip_grad_norm_``."""
from __future__ import annotations

import math
from typing import Callable

import torch

from gated import cells
from gated.checks.engine import CheckDef, Variant, base_cases, received, to_numpy, visible_check


def _cases(fn: str, args: str, outputs: str) -> Callable:
    def make(suite: str, seed: int) -> list[dict]:
        out = []
        for case, g in base_cases(suite, seed):
            b, t, i, h = case["batch"], case["seq_len"], case["input_size"], case["hidden_size"]
            case.update({"x": g.normal(0, 1, (t, b, i)), "h0": g.normal(0, 0.5, (b, h)),
                         "W_ih": g.normal(0, 0.6, (h, i)),
                         "W_hh": g.normal(0, 1.1 / math.sqrt(h), (h, h)),
                         "b": g.normal(0, 0.3, h), "grad_hs": g.normal(0, 1, (t, b, h)),
                         "_fn": fn, "_args": args, "_outputs": outputs})
            out.append(case)
        return out

    return make


def _states(case, w_hh=None) -> list[torch.Tensor]:
    """h_0, h_1, ..., h_T of the tanh RNN (``w_hh`` replaces W_hh, for a variant or a leaf)."""
    def get(name):
        value = case[name]
        return value if isinstance(value, torch.Tensor) else received(case, name)

    w_ih, b = get("W_ih"), get("b")
    w_hh = received(case, "W_hh") if w_hh is None else w_hh
    states = [get("h0")]
    for x_t in get("x"):
        states.append(cells.rnn_cell(x_t, states[-1], w_ih, w_hh, b))
    return states


RNN_FORWARD = CheckDef(
    "test_rnn_forward", "call", _cases("rnn_forward", "x,h0,W_ih,W_hh,b", "hs"), "rnn_forward",
    expected=lambda c: to_numpy({"hs": torch.stack(_states(c)[1:])}),
    variants=(Variant("transposed", lambda c: to_numpy(
        {"hs": torch.stack(_states(c, received(c, "W_hh").T)[1:])})),))

GRADS = ("grad_W_ih", "grad_W_hh", "grad_b", "grad_h0")


def backward_expected(case, tanh_derivative=True, last_only=False, transpose=False) -> dict:
    """dL/dW_ih, dL/dW_hh, dL/db, dL/dh0 for L = sum(grad_hs * hs): by autograd (the reference),
    or by hand with a mistake."""
    if tanh_derivative and not last_only and not transpose:  # the reference: autograd
        leaves = {n: received(case, n).requires_grad_(True) for n in ("W_ih", "W_hh", "b", "h0")}
        states = _states({**case, **leaves}, leaves["W_hh"])
        loss = (torch.stack(states[1:]) * received(case, "grad_hs")).sum()
        return to_numpy(dict(zip(GRADS, torch.autograd.grad(loss, list(leaves.values())))))
    x, w_ih, w_hh = received(case, "x"), received(case, "W_ih"), received(case, "W_hh")
    states = _states(case)
    grad_hs = received(case, "grad_hs")
    if last_only:
        grad_hs = torch.cat([torch.zeros_like(grad_hs[:-1]), grad_hs[-1:]])
    g_ih, g_hh = torch.zeros_like(w_ih), torch.zeros_like(w_hh)
    g_b = torch.zeros(w_hh.shape[0], dtype=w_hh.dtype)
    carry = torch.zeros_like(states[0])
    for t in reversed(range(len(x))):
        d_h = grad_hs[t] + carry
        d_a = d_h * (1 - states[t + 1] ** 2) if tanh_derivative else d_h
        g_ih += d_a.T @ x[t]
        g_hh += d_a.T @ states[t]
        g_b += d_a.sum(0)
        carry = d_a @ w_hh
    if transpose:
        g_hh = g_hh.T
    return to_numpy(dict(zip(GRADS, (g_ih, g_hh, g_b, carry))))


RNN_BACKWARD = CheckDef(
    "test_rnn_backward", "call", _cases("rnn_backward", "grad_hs,x,h0,W_ih,W_hh,b", ",".join(GRADS)),
    "rnn_backward", expected=backward_expected,
    variants=(Variant("no_tanh_derivative", lambda c: backward_expected(c, tanh_derivative=False)),
              Variant("last_output_only", lambda c: backward_expected(c, last_only=True)),
              Variant("grad_transposed",
                      lambda c: {"grad_W_hh": backward_expected(c, transpose=True)["grad_W_hh"]})))


def jacobian_expected(case, one_step=False, transpose=False, tanh_derivative=True) -> dict:
    """dh_T/dh_0 for each batch element, (B, H, H): the product of diag(1 - h_t^2) W_hh."""
    states = _states(case)
    w_hh = received(case, "W_hh")
    steps = [len(states) - 1] if one_step else range(len(states) - 1, 0, -1)
    b, h = states[0].shape
    jac = torch.eye(h, dtype=w_hh.dtype).expand(b, h, h)
    for t in steps:
        d = (1 - states[t] ** 2) if tanh_derivative else torch.ones_like(states[t])
        jac = jac @ (d[:, :, None] * w_hh)
    if transpose:
        jac = jac.transpose(1, 2)
    return to_numpy({"jacobian": jac})


JACOBIAN_PRODUCT = CheckDef(
    "test_jacobian_product", "call", _cases("hidden_jacobian", "x,h0,W_ih,W_hh,b", "jacobian"),
    "hidden_jacobian", expected=jacobian_expected,
    variants=(Variant("one_step_jacobian", lambda c: jacobian_expected(c, one_step=True)),
              Variant("transposed", lambda c: jacobian_expected(c, transpose=True)),
              Variant("no_tanh_derivative", lambda c: jacobian_expected(c, tanh_derivative=False))))


def _clip_cases(suite: str, seed: int) -> list[dict]:
    out = []
    for k, (case, g) in enumerate(base_cases(suite, seed)):
        i, h = case["input_size"], case["hidden_size"]
        case.pop("batch"), case.pop("seq_len")
        grads = {"g0": g.normal(0, 1, (h, i)), "g1": g.normal(0, 1, (h, h)), "g2": g.normal(0, 1, h)}
        total = math.sqrt(sum(float((v ** 2).sum()) for v in grads.values()))
        case.update(grads)
        case.update({"max_norm": total * (0.4 if k % 2 == 0 else 2.5), "_args": "g0,g1,g2"})
        out.append(case)
    return out


def _clip_expected(case, always=False, per_tensor=False) -> dict:
    grads = [received(case, n).clone() for n in ("g0", "g1", "g2")]
    max_norm = float(case["max_norm"])
    total = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if per_tensor:
        grads = [g * min(1.0, max_norm / float(torch.linalg.vector_norm(g))) for g in grads]
    elif always:
        grads = [g * max_norm / total for g in grads]
    else:  # the reference: torch.nn.utils.clip_grad_norm_ on copies
        params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
        for param, g in zip(params, grads):
            param.grad = g.clone()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm)
        grads = [param.grad for param in params]
    return to_numpy({"g0": grads[0], "g1": grads[1], "g2": grads[2], "total_norm": total})


CLIP = CheckDef(
    "test_clip", "clip", _clip_cases, "clip_by_global_norm", expected=_clip_expected,
    variants=(Variant("clip_always", lambda c: _clip_expected(c, always=True)),
              Variant("clip_per_tensor", lambda c: _clip_expected(c, per_tensor=True))))

CHECKS = (RNN_FORWARD, RNN_BACKWARD, JACOBIAN_PRODUCT, CLIP)

check_rnn_forward = visible_check(RNN_FORWARD, "rnn_forward")
check_rnn_backward = visible_check(RNN_BACKWARD, "rnn_backward")
check_jacobian_product = visible_check(JACOBIAN_PRODUCT, "hidden_jacobian")
check_clip = visible_check(CLIP, "clip_by_global_norm")
