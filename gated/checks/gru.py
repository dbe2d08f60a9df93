"""Checks of the ``gru`` assignment: gates, candidate, new state, cell, layer, weight layout, a
drop-in ``nn.GRU``, the backward pass of one step, gradient flow.

The references are :mod:`gated.cells` (``gru_cell``, ``gru``), which the library's tests check
against ``nn.GRU``. Every known-wrong variant comes from one parametric step, :func:`gru_variant`,
whose nonlinear part :func:`combine` is shared with the kernel assignment.
"""
from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np
import torch

from gated import cells
from gated.checks.contract import ProbeError, Verdict
from gated.checks.engine import (PARAMS, CheckDef, Variant, base_cases, describe, judge_outputs, received, rng,
                                 to_numpy, visible_check)
from gated.checks.mistakes import MISTAKES
from gated.checks.problems import FLOW_HIDDEN, FLOW_SEED, flow_arrays, packed_params

# ------------------------------------------------------------------------- the parametric step


def combine(a_r, a_z, a_in, recurrent_n: Callable, h, *, update="keep_old", activations="normal",
            raw: str = "", given: dict | None = None) -> dict:
    """The GRU's pointwise part from its pre-activations; returns r, z, n and h_next.

    ``a_r``, ``a_z``: the gates' pre-activations; ``a_in``: the candidate's input side;
    ``recurrent_n(r)``: the candidate's recurrent side (where the reset gate goes); ``raw``: the
    gates ("r", "z") used without their sigmoid; ``given``: r, z or n taken as given instead of
    computed (exercises that hand them over).
    """
    given = given or {}
    gate, cand = (torch.tanh, torch.sigmoid) if activations == "swapped" else (torch.sigmoid, torch.tanh)
    r = given["r"] if "r" in given else a_r if "r" in raw else gate(a_r)
    z = given["z"] if "z" in given else a_z if "z" in raw else gate(a_z)
    n = given["n"] if "n" in given else cand(a_in + recurrent_n(r))
    h_next = (1 - z) * n + z * h if update == "keep_old" else z * n + (1 - z) * h
    return {"r": r, "z": z, "n": n, "h_next": h_next}


def gru_variant(x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, reset="after", update="keep_old",
                order="rzn", bhn="inside", activations="normal", transpose=False, no_bias_hh: str = "",
                raw: str = "", given: dict | None = None) -> dict:
    """One GRU step with chosen mistakes; returns r, z, n and h_next. Defaults give PyTorch's GRU.

    ``reset``: "after", "before" or "none" (no reset gate); ``bhn``: b_hn "inside" or "outside" the
    reset product; ``order``: the order the student believed the rows to be in; ``transpose``: the
    recurrent blocks used transposed ("hh"), or the input blocks too ("all", for I == H only);
    ``no_bias_hh``: the gates ("r", "z", "n") whose recurrent bias b_h* was left out; ``raw``: the
    gates used without their sigmoid.
    """
    def blocks(w):
        phys = w.chunk(3, dim=0)
        return {g: phys[order.index(g)] for g in "rzn"}

    wi, wh = blocks(weight_ih), blocks(weight_hh)
    bi, bh = blocks(bias_ih), blocks(bias_hh)
    bh = {g: torch.zeros_like(b) if g in no_bias_hh else b for g, b in bh.items()}
    if transpose:
        wh = {g: w.T for g, w in wh.items()}
    if transpose == "all":
        wi = {g: w.T for g, w in wi.items()}

    def recurrent_n(r):
        if reset == "before":
            return (r * h) @ wh["n"].T + bh["n"]
        product = h @ wh["n"].T
        if reset == "none":
            return product + bh["n"]
        return r * (product + bh["n"]) if bhn == "inside" else r * product + bh["n"]

    side = {g: x @ wi[g].T + bi[g] for g in "rzn"}
    return combine(side["r"] + h @ wh["r"].T + bh["r"], side["z"] + h @ wh["z"].T + bh["z"], side["n"],
                   recurrent_n, h, update=update, activations=activations, raw=raw, given=given)


# ----------------------------------------------------------------------------------- one step

STEP_ARGS = "x,h,weight_ih,weight_hh,bias_ih,bias_hh"
GRU_BLOCKS = ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn",
              "b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn")


def _step_cases(fn: str, args: str, outputs: str, extra: dict | None = None) -> Callable:
    def make(suite: str, seed: int) -> list[dict]:
        out = []
        for case, g in base_cases(suite, seed):
            b, i, h = case["batch"], case["input_size"], case["hidden_size"]
            case.update(packed_params(g, i, h))
            case.update({"x": g.normal(0, 1, (b, i)), "h": g.normal(0, 0.8, (b, h)),
                         "_fn": fn, "_args": args, "_outputs": outputs, "_gates": "rzn"})
            if "r" in args.split(",") or "z" in args.split(","):
                case["r"] = g.uniform(0.05, 0.95, (b, h))
                case["z"] = g.uniform(0.05, 0.95, (b, h))
                case["n"] = g.uniform(-0.95, 0.95, (b, h))
            case.pop("seq_len")
            case.update(extra or {})
            out.append(case)
        return out

    return make


def _packed(case) -> list[torch.Tensor]:
    """The case's four packed parameters (a module's cases name them weight_ih_l0, ...)."""
    return [received(case, p if p in case else p + "_l0") for p in PARAMS]


def _step(case, **mistake) -> dict:
    return gru_variant(received(case, "x"), received(case, "h"), *_packed(case), **mistake)


def _output(name: str, given: tuple[str, ...] = (), **mistake) -> Callable[[dict], dict | None]:
    """case -> {name: that output of the step with ``mistake``}; ``given``: inputs taken from the case."""
    def compute(case):
        if mistake.get("transpose") == "all" and int(case["input_size"]) != int(case["hidden_size"]):
            return None
        return to_numpy({name: _step(case, given={g: received(case, g) for g in given}, **mistake)[name]})

    return compute


def _variants(name: str, given: tuple[str, ...], mistakes) -> tuple[Variant, ...]:
    return tuple(Variant(key, _output(name, given, **kw)) for key, kw in mistakes)


def _transposed(**kw) -> tuple:
    return (("transposed", {**kw, "transpose": "hh"}), ("transposed", {**kw, "transpose": "all"}))


#: The conventions a whole step can get wrong (cell, layer, module).
STEP_MISTAKES = (("reset_before", {"reset": "before"}), ("update_swapped", {"update": "keep_new"}),
                 ("before_and_swapped", {"reset": "before", "update": "keep_new"}),
                 ("gate_order_zrn", {"order": "zrn"}), ("bhn_outside", {"bhn": "outside"}),
                 ("activations_swapped", {"activations": "swapped"}),
                 ("no_recurrent_bias", {"no_bias_hh": "rzn"}), ("no_bias_hr", {"no_bias_hh": "r"}),
                 ("reset_no_sigmoid", {"raw": "r"}), ("update_no_sigmoid", {"raw": "z"}))

RESET_GATE = CheckDef(
    "test_reset_gate", "call", _step_cases("reset_gate", STEP_ARGS, "r"), "reset_gate",
    expected=_output("r"),
    variants=_variants("r", (), (("rows_of_z", {"order": "zrn"}), ("rows_of_n", {"order": "nzr"}),
                                 ("tanh_gate", {"activations": "swapped"}), ("no_bias_hr", {"no_bias_hh": "r"}),
                                 ("reset_no_sigmoid", {"raw": "r"}), *_transposed())))

UPDATE_GATE = CheckDef(
    "test_update_gate", "call", _step_cases("update_gate", STEP_ARGS, "z"), "update_gate",
    expected=_output("z"),
    variants=_variants("z", (), (("rows_of_r", {"order": "zrn"}), ("rows_of_n", {"order": "rnz"}),
                                 ("tanh_gate", {"activations": "swapped"}), ("no_bias_hz", {"no_bias_hh": "z"}),
                                 ("update_no_sigmoid", {"raw": "z"}), *_transposed())))

CANDIDATE_ARGS = "x,h,r,weight_ih,weight_hh,bias_ih,bias_hh"

CANDIDATE_AFTER = CheckDef(
    "test_candidate_after", "call", _step_cases("candidate", CANDIDATE_ARGS, "n", {"kw_reset": "after"}),
    "candidate(..., reset='after')",
    expected=_output("n", ("r",)),
    variants=_variants("n", ("r",), (("reset_before", {"reset": "before"}), ("bhn_outside", {"bhn": "outside"}),
                                     ("no_reset", {"reset": "none"}), ("no_bias_hn", {"no_bias_hh": "n"}),
                                     ("sigmoid_candidate", {"activations": "swapped"}), *_transposed())))

CANDIDATE_BEFORE = CheckDef(
    "test_candidate_before", "call", _step_cases("candidate", CANDIDATE_ARGS, "n", {"kw_reset": "before"}),
    "candidate(..., reset='before')",
    expected=_output("n", ("r",), reset="before"),
    variants=_variants("n", ("r",), (("reset_after", {"reset": "after"}), ("no_reset", {"reset": "none"}),
                                     ("sigmoid_candidate", {"reset": "before", "activations": "swapped"}),
                                     *_transposed(reset="before"))))

NEW_STATE = CheckDef(
    "test_new_state", "call", _step_cases("new_state", "z,n,h", "h_next"), "new_state",
    expected=_output("h_next", ("z", "n")),
    variants=_variants("h_next", ("z", "n"), (("update_swapped", {"update": "keep_new"}),)))


def _cell_reference(case) -> dict:
    return to_numpy({"h_next": cells.gru_cell(received(case, "x"), received(case, "h"), *_packed(case))})


GRU_CELL = CheckDef(
    "test_gru_cell", "call", _step_cases("gru_cell", STEP_ARGS, "h_next"), "gru_cell",
    expected=_cell_reference,
    variants=_variants("h_next", (), (*STEP_MISTAKES, ("no_reset", {"reset": "none"}), *_transposed())))


# ----------------------------------------------------------------------------- layer and module


def _layer_cases(fn: str, args: str, module: bool = False) -> Callable:
    def make(suite: str, seed: int) -> list[dict]:
        out = []
        for k, (case, g) in enumerate(base_cases(suite, seed)):
            b, t, i, h = case["batch"], case["seq_len"], case["input_size"], case["hidden_size"]
            batch_first, with_h0 = k % 2 == 1, k != 2
            params = packed_params(g, i, h)
            case.update({f"{p}_l0": v for p, v in params.items()} if module else params)
            x = g.normal(0, 1, (t, b, i))
            h0 = g.normal(0, 0.8, (b, h))
            case.update({"x": x.transpose(1, 0, 2).copy() if batch_first else x,
                         "h0": h0[None] if module else h0,  # (1, B, H), as nn.GRU takes it
                         "batch_first": batch_first, "with_h0": with_h0, "_fn": fn,
                         "_outputs": "output,h_n", "_args": args if with_h0 else args.removesuffix(",h0"),
                         "_gates": "rzn", "kw_batch_first": batch_first})
            out.append(case)
        return out

    return make


def _initial_state(case) -> torch.Tensor | None:
    b, h = int(case["batch"]), int(case["hidden_size"])
    return received(case, "h0").reshape(1, b, h) if case["with_h0"] else None


def _layer_reference(case, h0_shape: bool = False) -> dict:
    """nn.GRU's (output, h_n) from gated.cells.gru; h_n (B, H), or (1, B, H) with ``h0_shape``."""
    state_dict = {f"{p}_l0": v for p, v in zip(PARAMS, _packed(case))}
    output, h_n = cells.gru(received(case, "x"), state_dict, _initial_state(case),
                            batch_first=bool(case["batch_first"]))
    return to_numpy({"output": output, "h_n": h_n if h0_shape else h_n[0]})


def _layer(case, h0_shape=False, zero_h0=False, first=False, ignore_bf=False, **mistake) -> dict | None:
    """A layer built on the step with ``mistake``, or with a mistake of the layer itself."""
    x = received(case, "x")
    bf = bool(case["batch_first"])
    b, h = int(case["batch"]), int(case["hidden_size"])
    h0 = _initial_state(case)
    state = h0[0] if h0 is not None and not zero_h0 else x.new_zeros(b, h)
    seq = x.transpose(0, 1) if bf and not ignore_bf else x
    if ignore_bf and seq.shape[1] != b:
        return None
    params = _packed(case)
    outs = []
    for x_t in seq:
        state = gru_variant(x_t, state, *params, **mistake)["h_next"]
        outs.append(state)
    output = torch.stack(outs)
    if bf and not ignore_bf:
        output = output.transpose(0, 1)
    h_n = outs[0] if first else outs[-1]
    return to_numpy({"output": output, "h_n": h_n.reshape((1, b, h) if h0_shape else (b, h))})


def _layer_variants(h0_shape: bool) -> tuple[Variant, ...]:
    mistakes = (*STEP_MISTAKES, ("h0_ignored", {"zero_h0": True}), ("h_n_first", {"first": True}),
                ("batch_first_ignored", {"ignore_bf": True}))
    return tuple(Variant(key, functools.partial(_layer, h0_shape=h0_shape, **kw)) for key, kw in mistakes)


GRU_LAYER = CheckDef(
    "test_gru_layer", "call", _layer_cases("gru_layer", "x,weight_ih,weight_hh,bias_ih,bias_hh,h0"),
    "gru_layer", expected=_layer_reference, variants=_layer_variants(False))

_MODULE_VARIANTS = _layer_variants(True)


def _judge_module(cases, results) -> Verdict:
    for case, result in zip(cases, results):
        if isinstance(result, ProbeError) or "params" not in result:
            continue
        i, h = int(case["input_size"]), int(case["hidden_size"])
        names = f"bias_hh_l0[{3 * h}];bias_ih_l0[{3 * h}];weight_hh_l0[{3 * h}, {h}];" \
                f"weight_ih_l0[{3 * h}, {i}]"
        if result.get("params") != names:
            return Verdict(0.0, (f"MyGRU({i}, {h}) must have exactly the parameters of nn.GRU({i}, "
                                 f"{h}): {names.replace(';', ', ')}; yours: "
                                 f"{result.get('params', '').replace(';', ', ') or 'none'}",))
        if "bad" not in result and not result.get("init_ok", False):
            return Verdict(0.0, (f"MyGRU({i}, {h}) must initialise every parameter from "
                                 f"U(−1/√H, 1/√H), as nn.GRU does (reset_parameters)",))
    return judge_outputs(cases, results, functools.partial(_layer_reference, h0_shape=True),
                         _MODULE_VARIANTS, "MyGRU")


GRU_MODULE = CheckDef("test_gru_module", "module", _layer_cases("MyGRU", "", module=True), "MyGRU",
                      judge_fn=_judge_module)


# ------------------------------------------------------------------------------ unpack / pack


def _unpack_cases(suite: str, seed: int) -> list[dict]:
    out = []
    for case, g in base_cases(suite, seed):
        case.pop("seq_len"), case.pop("batch")
        case.update(packed_params(g, case["input_size"], case["hidden_size"]))
        case.update({"block." + k: v for k, v in _blocks(case).items()})
        case["_blocks"] = ",".join(GRU_BLOCKS)
        out.append(case)
    return out


def _blocks(case, order="rzn", transpose=False) -> dict:
    out = {}
    for p, tag in zip(PARAMS, ("W_i", "W_h", "b_i", "b_h")):
        for g, chunk in zip(order, np.split(np.asarray(case[p]), 3, axis=0)):
            out[tag + g] = chunk.T if transpose and chunk.ndim == 2 else chunk
    return out


def _unpack_expected(case, order="rzn", transpose=False) -> dict:
    dtype = getattr(np, str(case["dtype"]))
    rounded = {p: np.asarray(case[p]).astype(dtype).astype(np.float64) for p in PARAMS}
    out = {"unpack." + k: v for k, v in _blocks({**case, **rounded}, order, transpose).items()}
    if order == "rzn" and not transpose:
        out.update({"pack." + p: rounded[p] for p in PARAMS})
    return out


def _packed_zrn(case) -> dict:
    """pack_gru_weights stacking the blocks z, r, n."""
    h = int(case["hidden_size"])
    out = {}
    for p in PARAMS:
        v = _unpack_expected(case)["pack." + p]
        out["pack." + p] = np.concatenate([v[h:2 * h], v[:h], v[2 * h:]])
    return out


UNPACK_PACK = CheckDef(
    "test_unpack_pack", "unpack", _unpack_cases, "unpack_gru_weights / pack_gru_weights",
    expected=_unpack_expected,
    variants=(Variant("gate_order_zrn", lambda c: {k: v for k, v in _unpack_expected(c, "zrn").items()
                                                   if k.startswith("unpack.")}),
              Variant("gate_order_zrn", _packed_zrn),
              Variant("unpack_transposed", lambda c: {k: v for k, v in _unpack_expected(c, transpose=True)
                                                      .items() if k.startswith("unpack.W")})))


# ----------------------------------------------------------------------------------- backward

GRADS = ("grad_x", "grad_h", "grad_weight_ih", "grad_weight_hh", "grad_bias_ih", "grad_bias_hh")


def _backward_cases(suite: str, seed: int) -> list[dict]:
    cases = _step_cases("gru_cell_backward", "grad_h_next," + STEP_ARGS, ",".join(GRADS))(suite, seed)
    for k, case in enumerate(cases):
        case["grad_h_next"] = rng(seed, 100 + k).normal(0, 1, (case["batch"], case["hidden_size"]))
    return cases


def _backward(case, **mistake) -> dict:
    """Autograd's gradients of the reference step (gated.cells), or of the step with ``mistake``."""
    inputs = [received(case, n).requires_grad_(True) for n in ("x", "h", *PARAMS)]
    h_next = gru_variant(*inputs, **mistake)["h_next"] if mistake else cells.gru_cell(*inputs)
    return to_numpy(dict(zip(GRADS, torch.autograd.grad(h_next, inputs, received(case, "grad_h_next")))))


def _backward_transposed(case) -> dict:
    return {"grad_weight_hh": np.concatenate([b.T for b in np.split(_backward(case)["grad_weight_hh"], 3)])}


def backward_by_hand(case, no_r_in_recurrent=False, no_direct_path=False) -> dict:
    """The step's gradients by the chain rule (the exercise's guide), with one of the mistakes a
    backward pass written by hand can make; without one it equals autograd's (a test checks)."""
    x, h, g = received(case, "x"), received(case, "h"), received(case, "grad_h_next")
    weight_ih, weight_hh, bias_ih, bias_hh = _packed(case)
    size = weight_hh.shape[1]
    from_input, from_state = x @ weight_ih.T + bias_ih, h @ weight_hh.T + bias_hh
    r = torch.sigmoid(from_input[:, :size] + from_state[:, :size])
    z = torch.sigmoid(from_input[:, size:2 * size] + from_state[:, size:2 * size])
    m = from_state[:, 2 * size:]
    n = torch.tanh(from_input[:, 2 * size:] + r * m)
    grad_a_n = g * (1 - z) * (1 - n ** 2)
    grad_a_z = g * (h - n) * z * (1 - z)
    grad_a_r = grad_a_n * m * r * (1 - r)
    grad_input = torch.cat([grad_a_r, grad_a_z, grad_a_n], dim=1)
    grad_state = torch.cat([grad_a_r, grad_a_z, grad_a_n if no_r_in_recurrent else grad_a_n * r], dim=1)
    grad_h = grad_state @ weight_hh + (0 if no_direct_path else g * z)
    return to_numpy(dict(zip(GRADS, (grad_input @ weight_ih, grad_h, grad_input.T @ x, grad_state.T @ h,
                                     grad_input.sum(0), grad_state.sum(0)))))


GRU_BACKWARD = CheckDef(
    "test_gru_backward", "call", _backward_cases, "gru_cell_backward", expected=_backward,
    variants=(Variant("grad_of_reset_before", functools.partial(_backward, reset="before")),
              Variant("grad_of_update_swapped", functools.partial(_backward, update="keep_new")),
              Variant("bhn_outside", functools.partial(_backward, bhn="outside")),
              Variant("backward_no_r", functools.partial(backward_by_hand, no_r_in_recurrent=True)),
              Variant("backward_no_direct_path", functools.partial(backward_by_hand, no_direct_path=True)),
              Variant("grad_transposed", _backward_transposed)))


def gru_gradcheck(backward: Callable, seed: int = 0) -> bool:
    """``torch.autograd.gradcheck`` of a GRU step whose backward is the student's, in float64."""

    class Step(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, h, wi, wh, bi, bh):
            ctx.save_for_backward(x, h, wi, wh, bi, bh)
            return cells.gru_cell(x, h, wi, wh, bi, bh)

        @staticmethod
        def backward(ctx, grad):
            return tuple(backward(grad, *ctx.saved_tensors))

    g = rng(seed, 7)
    params = packed_params(g, 3, 2)
    inputs = [torch.tensor(g.normal(0, 1, (2, 3))), torch.tensor(g.normal(0, 0.8, (2, 2)))]
    inputs += [torch.tensor(params[p]) for p in PARAMS]
    inputs = [t.requires_grad_(True) for t in inputs]
    return torch.autograd.gradcheck(Step.apply, inputs, eps=1e-6, atol=1e-5)


# ------------------------------------------------------------------------------ gradient flow

FLOW_NAMES = ("x", "h0", *PARAMS)


def _flow_problem(case) -> dict[str, torch.Tensor]:
    return {name: received(case, name) for name in FLOW_NAMES}


def _flow_jacobian(problem: dict, bias_z: float | None, reset: str = "after", one_step: bool = False,
                   both: bool = False) -> torch.Tensor:
    """dh_T/dh_0, (H, H), of a gradient-flow problem (the reference cell, gated.cells); ``bias_z``
    sets b_iz and zeroes b_hz (or sets it too, with ``both``)."""
    p = {name: value.clone() for name, value in problem.items()}
    size = FLOW_HIDDEN
    if bias_z is not None:
        p["bias_ih"][size:2 * size] = bias_z
        p["bias_hh"][size:2 * size] = bias_z if both else 0.0
    params = [p[name] for name in PARAMS]

    def step(x_t, h):
        return cells.gru_cell(x_t, h, *params, reset=reset)

    def run(h0, xs):
        h = h0
        for x_t in xs:
            h = step(x_t, h)
        return h[0]

    if one_step:
        with torch.no_grad():
            h_before = p["h0"]
            for x_t in p["x"][:-1]:
                h_before = step(x_t, h_before)
        return torch.autograd.functional.jacobian(lambda s: run(s, p["x"][-1:]), h_before, vectorize=True)[:, 0, :]
    return torch.autograd.functional.jacobian(lambda s: run(s, p["x"]), p["h0"], vectorize=True)[:, 0, :]


def flow_values(case, ord=2, reset="after", one_step=False, swap=False, both=False,
                jacobians: dict | None = None) -> dict:
    """The two gradient-flow norms of a case: right (the defaults) or with one mistake.
    ``jacobians``: a dict kept over the calls on one case, so that a mistake that changes only the
    norm or the order of the answers reuses the Jacobians already computed (the same tensors)."""
    problem = _flow_problem(case)

    def jacobian(bias_z, both_):
        key = (bias_z, reset, one_step, both_)
        if jacobians is None:
            return _flow_jacobian(problem, bias_z, reset, one_step, both_)
        if key not in jacobians:
            jacobians[key] = _flow_jacobian(problem, bias_z, reset, one_step, both_)
        return jacobians[key]

    a = torch.linalg.matrix_norm(jacobian(None, False), ord=ord)
    b = torch.linalg.matrix_norm(jacobian(3.0, both), ord=ord)
    if swap:
        a, b = b, a
    return {"norm": float(a), "norm_keep": float(b)}


FLOW_ANSWERS = ("norm", "norm_keep")
#: The mistakes the gradient-flow judge recognises, in the order it tries them.
FLOW_MISTAKES = (("answers_swapped", {"swap": True}), ("frobenius_norm", {"ord": "fro"}),
                 ("reset_before", {"reset": "before"}), ("one_step_jacobian", {"one_step": True}),
                 ("flow_bias_both", {"both": True}))


def _flow_cases(suite: str, seed: int) -> list[dict]:
    """The public problem for the visible suite; for the hidden one, two problems of the seed (the
    grader's is secret, so nobody can compute them in advance), of two lengths."""
    if suite == "visible":
        problems = [flow_arrays(FLOW_SEED)]
    else:
        problems = [flow_arrays([seed, 11], steps=25), flow_arrays([seed, 12], steps=12)]
    return [{**arrays, "dtype": "float64", "seq_len": len(arrays["x"]), "_fn": "gradient_flow_norms",
             "_problem": ",".join(FLOW_NAMES), "_outputs": ",".join(FLOW_ANSWERS)} for arrays in problems]


def _judge_flow(cases, results) -> Verdict:
    def close(got, values):
        return all(math.isclose(got[k], values[k], rel_tol=1e-3, abs_tol=1e-6) for k in FLOW_ANSWERS)

    lines, named = [], []
    first_right = None
    for k, (case, result) in enumerate(zip(cases, results)):
        label = f"problem {k + 1} ({describe(case)})"
        if isinstance(result, ProbeError):
            if result.message.startswith("NotImplementedError"):
                return Verdict(0.0, ("gradient_flow_norms is not written yet: it still raises NotImplementedError",))
            lines.append(f"{label}: gradient_flow_norms failed: {result.kind}: {result.message}")
            continue
        if "bad" in result:
            lines.append(f"{label}: gradient_flow_norms {result['bad']}")
            continue
        got = {key: float(np.asarray(result["out." + key]).reshape(-1)[0]) for key in FLOW_ANSWERS}
        jacobians: dict = {}
        want = flow_values(case, jacobians=jacobians)
        if close(got, want):
            first_right = first_right or got
            continue
        key = next((key for key, kw in FLOW_MISTAKES if close(got, flow_values(case, **kw, jacobians=jacobians))),
                   None)
        if key:
            named.append(f"gradient flow: {MISTAKES[key]}")
        for name in FLOW_ANSWERS:
            if not math.isclose(got[name], want[name], rel_tol=1e-3, abs_tol=1e-6):
                lines.append(f"{label}: {name} = {got[name]:.6g} is off by more than 0.1 % "
                             f"(relative difference {abs(got[name] - want[name]) / abs(want[name]):.3g})")
    if not lines and not named:
        return Verdict(1.0, (f"gradient flow: both norms are right on all {len(cases)} problem(s); on the "
                             f"first, ||dh_T/dh_0||_2 = {first_right['norm']:.4g}, and "
                             f"{first_right['norm_keep']:.4g} with z pushed towards 1",))
    return Verdict(0.0, tuple(dict.fromkeys(named + lines)))


GRADIENT_FLOW = CheckDef("test_gradient_flow", "problem", _flow_cases, "gradient_flow_norms", judge_fn=_judge_flow)

CHECKS = (RESET_GATE, UPDATE_GATE, CANDIDATE_AFTER, CANDIDATE_BEFORE, NEW_STATE, GRU_CELL, GRU_LAYER,
          UNPACK_PACK, GRU_MODULE, GRU_BACKWARD, GRADIENT_FLOW)

# --------------------------------------------------------------------- what the notebook calls

check_reset_gate = visible_check(RESET_GATE, "reset_gate")
check_update_gate = visible_check(UPDATE_GATE, "update_gate")
check_candidate_after = visible_check(CANDIDATE_AFTER, "candidate")
check_candidate_before = visible_check(CANDIDATE_BEFORE, "candidate")
check_new_state = visible_check(NEW_STATE, "new_state")
check_gru_cell = visible_check(GRU_CELL, "gru_cell")
check_gru_layer = visible_check(GRU_LAYER, "gru_layer")
check_gru_module = visible_check(GRU_MODULE, "MyGRU")


def check_gru_backward(backward: Callable, suite: str = "visible", seed: int = 0) -> None:
    """Compare each gradient with autograd (naming the wrong one), then run gradcheck in float64."""
    GRU_BACKWARD.assert_passes({"gru_cell_backward": backward}, suite, seed)
    if not gru_gradcheck(backward, seed):
        raise AssertionError("gradcheck failed")
    print("torch.autograd.gradcheck passes in float64 with your backward")


def check_unpack_pack(unpack: Callable, pack: Callable, suite: str = "visible", seed: int = 0) -> None:
    """Check unpack_gru_weights and pack_gru_weights (and that they are inverse)."""
    UNPACK_PACK.assert_passes({"unpack_gru_weights": unpack, "pack_gru_weights": pack}, suite, seed)


check_gradient_flow = visible_check(GRADIENT_FLOW, "gradient_flow_norms")
