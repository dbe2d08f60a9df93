"""Checks of the ``lstm`` assignment: the cell and the layer in ``nn.LSTM``'s layout (rows i, f, g, o)
and the forget-gate bias. The references are :func:`gated.cells.lstm_cell` and :func:`gated.cells.lstm`;
the known-wrong variants come from one parametric step, :func:`lstm_variant`, whose elementwise
part, :func:`lstm_combine`, the ``lstm_kernel`` checks share."""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import torch

from gated import cells
from gated.checks.engine import PARAMS, CheckDef, Variant, base_cases, received, to_numpy, visible_check
from gated.checks.problems import packed_params


def lstm_combine(pre, c, *, order="ifgo", tanh_c=True, g_act=torch.tanh, gate_act=torch.sigmoid,
                 out_act=torch.tanh, h_from_old_c=False) -> dict:
    """The LSTM's elementwise part with a chosen mistake; the defaults give nn.LSTM's.

    pre = x W_ih^T + b_ih + h W_hh^T + b_hh: (B, 4H), column blocks in the order ``order``; c: (B, H).
    """
    blocks = pre.chunk(4, dim=-1)
    gates = {name: blocks[order.index(name)] for name in "ifgo"}
    c_next = gate_act(gates["f"]) * c + gate_act(gates["i"]) * g_act(gates["g"])
    state = c if h_from_old_c else c_next
    h_next = gate_act(gates["o"]) * (out_act(state) if tanh_c else state)
    return {"h_next": h_next, "c_next": c_next}


def lstm_variant(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, *, transpose=False, **mistake) -> dict:
    """One LSTM step with a chosen mistake (those of :func:`lstm_combine`, or transposed W_hh
    blocks); the defaults give nn.LSTM's step."""
    wh = torch.cat([w.T for w in weight_hh.chunk(4)]) if transpose else weight_hh
    return lstm_combine(x @ weight_ih.T + bias_ih + h @ wh.T + bias_hh, c, **mistake)


def _cases(fn: str, args: str, outputs: str, layer: bool) -> Callable:
    def make(suite: str, seed: int) -> list[dict]:
        out = []
        for k, (case, g) in enumerate(base_cases(suite, seed)):
            b, t, i, h = case["batch"], case["seq_len"], case["input_size"], case["hidden_size"]
            case.update(packed_params(g, i, h, gates=4))
            case.update({"h": g.normal(0, 0.8, (b, h)), "c": g.normal(0, 1, (b, h)),
                         "_fn": fn, "_outputs": outputs, "_gates": "ifgo", "_args": args})
            if layer:
                batch_first, with_h0 = k % 2 == 1, k != 2
                x = g.normal(0, 1, (t, b, i))
                case.update({"x": x.transpose(1, 0, 2).copy() if batch_first else x,
                             "h0": case.pop("h"), "c0": case.pop("c"), "batch_first": batch_first,
                             "with_h0": with_h0, "kw_batch_first": batch_first})
                if not with_h0:
                    case["_args"] = args.removesuffix(",h0,c0")
            else:
                case["x"] = g.normal(0, 1, (b, i))
                case.pop("seq_len")
            out.append(case)
        return out

    return make


def _params(case) -> list[torch.Tensor]:
    return [received(case, p) for p in PARAMS]


def _cell_reference(case) -> dict:
    h_next, c_next = cells.lstm_cell(received(case, "x"), (received(case, "h"), received(case, "c")),
                                     *_params(case))
    return to_numpy({"h_next": h_next, "c_next": c_next})


def _step(case, **mistake) -> dict:
    return to_numpy(lstm_variant(received(case, "x"), received(case, "h"), received(case, "c"),
                                 *_params(case), **mistake))


#: The mistakes of one step (cell and layer).
STEP_MISTAKES = (("lstm_order_ifog", {"order": "ifog"}), ("lstm_no_tanh_c", {"tanh_c": False}),
                 ("lstm_g_sigmoid", {"g_act": torch.sigmoid}), ("transposed", {"transpose": True}))

LSTM_CELL = CheckDef(
    "test_lstm_cell", "call",
    _cases("lstm_cell", "x,h,c,weight_ih,weight_hh,bias_ih,bias_hh", "h_next,c_next", False), "lstm_cell",
    expected=_cell_reference,
    variants=tuple(Variant(key, functools.partial(_step, **kw)) for key, kw in STEP_MISTAKES))


def _layer_reference(case) -> dict:
    b, hs = int(case["batch"]), int(case["hidden_size"])
    state0 = ((received(case, "h0").reshape(1, b, hs), received(case, "c0").reshape(1, b, hs))
              if case["with_h0"] else None)
    state_dict = {f"{p}_l0": v for p, v in zip(PARAMS, _params(case))}
    output, (h_n, c_n) = cells.lstm(received(case, "x"), state_dict, state0, bool(case["batch_first"]))
    return to_numpy({"output": output, "h_n": h_n[0], "c_n": c_n[0]})


def _layer(case, zero_h0=False, first=False, ignore_bf=False, **mistake) -> dict | None:
    x = received(case, "x")
    bf = bool(case["batch_first"])
    b, hs = int(case["batch"]), int(case["hidden_size"])
    if case["with_h0"] and not zero_h0:
        h, c = received(case, "h0"), received(case, "c0")
    else:
        h, c = x.new_zeros(b, hs), x.new_zeros(b, hs)
    seq = x.transpose(0, 1) if bf and not ignore_bf else x
    if ignore_bf and seq.shape[1] != b:
        return None
    params = _params(case)
    outs, cs = [], []
    for x_t in seq:
        step = lstm_variant(x_t, h, c, *params, **mistake)
        h, c = step["h_next"], step["c_next"]
        outs.append(h)
        cs.append(c)
    output = torch.stack(outs)
    if bf and not ignore_bf:
        output = output.transpose(0, 1)
    k = 0 if first else -1
    return to_numpy({"output": output, "h_n": outs[k], "c_n": cs[k]})


LSTM_LAYER = CheckDef(
    "test_lstm_layer", "call",
    _cases("lstm_layer", "x,weight_ih,weight_hh,bias_ih,bias_hh,h0,c0", "output,h_n,c_n", True), "lstm_layer",
    expected=_layer_reference,
    variants=tuple(Variant(key, functools.partial(_layer, **kw)) for key, kw in (
        *STEP_MISTAKES, ("h0_ignored", {"zero_h0": True}), ("h_n_first", {"first": True}),
        ("batch_first_ignored", {"ignore_bf": True}))))


def _forget_cases(suite: str, seed: int) -> list[dict]:
    out = []
    for k, (case, g) in enumerate(base_cases(suite, seed)):
        i, h = case["input_size"], case["hidden_size"]
        case.pop("batch"), case.pop("seq_len")
        names = []
        for layer in range(2):
            params = packed_params(g, i if layer == 0 else h, h, gates=4)
            for p in PARAMS:
                case[f"{p}_l{layer}"] = params[p]
                names.append(f"{p}_l{layer}")
        # set_forget_bias receives a float32 nn.LSTM, contiguous as PyTorch makes it
        case.update({"num_layers": 2, "value": [1.0, 2.0, -0.5][k % 3], "_args": ",".join(names),
                     "dtype": "float32", "noncontiguous": False, "_gates": "ifgo"})
        out.append(case)
    return out


def _forget_expected(case, mode="right") -> dict:
    h = int(case["hidden_size"])
    value = float(case["value"])
    out = {}
    for name in str(case["_args"]).split(","):
        v = np.asarray(case[name]).astype(np.float32).astype(np.float64).copy()
        layer0 = name.endswith("_l0")
        if name.startswith("bias_ih") and (mode != "first_layer" or layer0):
            v[slice(0, h) if mode == "wrong_slice" else slice(h, 2 * h)] = value
        if name.startswith("bias_hh") and (mode != "first_layer" or layer0):
            if mode == "both":
                v[h:2 * h] = value
            elif mode == "wrong_slice":
                v[0:h] = 0.0
            else:
                v[h:2 * h] = 0.0
        out[name] = v
    return out


FORGET_BIAS = CheckDef(
    "test_forget_bias", "forget", _forget_cases, "set_forget_bias", expected=_forget_expected,
    variants=(Variant("forget_both", lambda c: _forget_expected(c, "both")),
              Variant("forget_wrong_slice", lambda c: _forget_expected(c, "wrong_slice")),
              Variant("forget_first_layer_only", lambda c: _forget_expected(c, "first_layer"))))

CHECKS = (LSTM_CELL, LSTM_LAYER, FORGET_BIAS)

check_lstm_cell = visible_check(LSTM_CELL, "lstm_cell")
check_lstm_layer = visible_check(LSTM_LAYER, "lstm_layer")
check_forget_bias = visible_check(FORGET_BIAS, "set_forget_bias")
