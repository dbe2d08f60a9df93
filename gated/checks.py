"""Checks of the exercises: what a student's visible tests run and what the grader's judge decides.

One check per nbgrader test cell. Each has three parts, shared by the notebook and the grader so a
student sees the same named mistake the grader reports:

* **cases** (``cases(name, suite, seed)``): plain inputs (numpy arrays, numbers, strings), made here;
* **probe** (``probe_source(kind)``): the self-contained source of ``probe(ns, inputs)``, which calls
  the student's function on one case and returns plain data. The grader runs it in the sandbox;
  a visible test runs the same function here, on the student's function;
* **judge** (``judge(name, cases, results)``): compares the results with the reference cells of
  :mod:`gated.cells` and with the catalogue of known-wrong variants (:data:`MISTAKES`); it names
  the variant the student's output matches, or gives the largest difference and where it is.

A visible test is one line, ``check_gru_cell(gru_cell)``: it raises ``AssertionError`` with the
judge's feedback when the answer is wrong, so the cell fails under stock ``nbgrader autograde`` too.
Hidden tests call the same function with ``suite="hidden"`` and their own seed.
"""
from __future__ import annotations

import functools
import inspect
import math
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from autograder.spec import ProbeError, Verdict
from gated import cells

# ----------------------------------------------------------------------------------- catalogue

#: Every named mistake and the sentence the feedback gives for it.
MISTAKES: dict[str, str] = {
    "reset_before": "you applied the reset gate before the recurrent product, W_hn (r ⊙ h) + b_hn "
                    "(Cho et al. 2014 v3); with reset='after' (PyTorch) it multiplies the product: "
                    "r ⊙ (W_hn h + b_hn)",
    "reset_after": "you applied the reset gate after the recurrent product, r ⊙ (W_hn h + b_hn); "
                   "with reset='before' it multiplies the state first: W_hn (r ⊙ h) + b_hn",
    "update_swapped": "z and 1 − z are swapped: you wrote h' = z ⊙ n + (1 − z) ⊙ h; PyTorch (and "
                      "Cho et al.) keep the old state where z is near 1: h' = (1 − z) ⊙ n + z ⊙ h",
    "before_and_swapped": "you wrote the GRU of Chung et al. 2014: reset before the product and z, "
                          "1 − z swapped; PyTorch uses r ⊙ (W_hn h + b_hn) and h' = (1 − z) ⊙ n + z ⊙ h",
    "gate_order_zrn": "the gate rows are in the order z, r, n (Keras, ONNX); PyTorch packs them "
                      "r, z, n: rows [0:H] are the reset gate, [H:2H] the update gate, [2H:3H] the "
                      "candidate",
    "rows_of_z": "you took the update gate's rows [H:2H]; the reset gate's rows are [0:H] "
                 "(PyTorch packs r, z, n)",
    "rows_of_r": "you took the reset gate's rows [0:H]; the update gate's rows are [H:2H] "
                 "(PyTorch packs r, z, n)",
    "rows_of_n": "you took the candidate's rows [2H:3H]; a gate's rows are [0:H] (r) or [H:2H] (z)",
    "bhn_outside": "b_hn is outside the reset product: you wrote r ⊙ (W_hn h) + b_hn; in PyTorch's "
                   "GRU the reset gate multiplies the bias too: r ⊙ (W_hn h + b_hn)",
    "activations_swapped": "sigmoid and tanh are swapped: the gates r and z use the sigmoid σ, the "
                           "candidate n uses tanh",
    "tanh_gate": "you used tanh for a gate; gates use the sigmoid σ so that they lie in (0, 1)",
    "sigmoid_candidate": "you used the sigmoid for the candidate; the candidate uses tanh, in (−1, 1)",
    "transposed": "the weights are transposed: you multiplied by W where W^T is needed (PyTorch "
                  "stores weight_ih as (3H, I) and computes x @ W^T)",
    "no_reset": "the reset gate is missing from the candidate: n must contain r ⊙ (W_hn h + b_hn)",
    # layers
    "h0_ignored": "the initial state h0 was ignored: your layer started from zeros",
    "h_n_first": "h_n is the state after the first step; it must be the state after the last step",
    "batch_first_ignored": "batch_first=True was ignored: the input is (B, T, I) and the output must "
                           "be (B, T, H); transpose to time-major, run, and transpose back",
    # unpack / pack
    "unpack_transposed": "your blocks are transposed: W_ir must keep PyTorch's (H, I) layout, not (I, H)",
    # backward
    "grad_of_reset_before": "your gradients are those of the GRU with the reset gate before the "
                            "product, W_hn (r ⊙ h); differentiate n = tanh(.. + r ⊙ (W_hn h + b_hn))",
    "grad_of_update_swapped": "your gradients are those of h' = z ⊙ n + (1 − z) ⊙ h (z and 1 − z "
                              "swapped); PyTorch's new state is h' = (1 − z) ⊙ n + z ⊙ h",
    "grad_transposed": "your weight gradients are transposed: dL/dW has W's shape (3H, I) and equals "
                       "dA^T @ x for pre-activations A = x @ W^T",
    # gradient flow / bptt
    "frobenius_norm": "you gave the Frobenius norm; the question asks for the spectral norm "
                      "(largest singular value, torch.linalg.matrix_norm(J, ord=2))",
    "one_step_jacobian": "you gave the norm of one step's Jacobian dh_T/dh_(T-1), not of the product "
                         "dh_T/dh_0 over all T steps",
    "answers_swapped": "your two answers are swapped",
    "no_tanh_derivative": "the tanh derivative 1 − h_t² is missing from the backward step",
    "last_output_only": "only the gradient reaching the last state was used; every h_t receives "
                        "dL/dh_t from the loss as well as from h_(t+1)",
    "clip_always": "you rescaled the gradients although their norm is below max_norm; clip only "
                   "when the total norm exceeds max_norm",
    "clip_per_tensor": "you clipped each tensor by its own norm; global clipping scales every "
                       "tensor by the same factor max_norm / total_norm, total over all tensors",
    # lstm
    "lstm_order_ifog": "the gate rows are in the order i, f, o, g (CS231n); nn.LSTM packs i, f, g, o",
    "lstm_no_tanh_c": "h' = o ⊙ c' is missing the tanh: h' = o ⊙ tanh(c')",
    "lstm_g_sigmoid": "the cell input g uses the sigmoid; it uses tanh (i, f, o use σ)",
    "forget_both": "you set the forget bias in both bias_ih and bias_hh: PyTorch adds the two, so "
                   "the effective forget bias is twice the value; set one and zero the other",
    "forget_wrong_slice": "you changed the wrong slice: the forget gate's rows are [H:2H] "
                          "(nn.LSTM packs i, f, g, o)",
}

TOLERANCE = {"float32": (1e-4, 1e-5), "float64": (1e-7, 1e-9)}  # (rtol, atol)


# ------------------------------------------------------------------------------------ the probe
# The functions between here and "end of probe" are sent to the sandbox as source text (see
# probe_source): they import what they need themselves and use nothing else from this module.


def _probe_tensor(inputs, name):
    import numpy as np
    import torch

    dtype = getattr(torch, str(inputs.get("dtype", "float32")))
    value = torch.tensor(np.asarray(inputs[name]), dtype=dtype)
    if bool(inputs.get("noncontiguous", False)) and value.dim() >= 1:
        wide = torch.zeros(*value.shape[:-1], 2 * value.shape[-1], dtype=dtype)
        wide[..., ::2] = value
        value = wide[..., ::2]  # same values, stride 2 in the last dimension
    return value


def _probe_array(value, what):
    """A tensor (or number) as a float64 array; a string saying what came instead otherwise."""
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().to(torch.float64).numpy(), str(value.dtype).replace("torch.", "")
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return np.asarray(float(value)), "float64"
    return f"{what} is a {type(value).__name__}, expected a torch.Tensor", ""


def _probe_pack(value, names, result, prefix=""):
    """Store the outputs ``value`` (a tensor, nested tuple or dict) under ``names`` in ``result``."""
    flat = []

    def walk(item):
        if isinstance(item, (tuple, list)):
            for sub in item:
                walk(sub)
        else:
            flat.append(item)

    if isinstance(value, dict):
        missing = [n for n in names if n not in value]
        if missing:
            result["bad"] = f"the returned dict lacks the keys {', '.join(missing)}"
            return result
        flat = [value[n] for n in names]
    else:
        walk(value)
    if len(flat) != len(names):
        result["bad"] = (f"returned {len(flat)} value(s), expected {len(names)}: "
                         f"({', '.join(names)})")
        return result
    for name, item in zip(names, flat):
        array, dtype = _probe_array(item, name)
        if isinstance(array, str):
            result["bad"] = array
            return result
        result["out." + prefix + name] = array
        result["dtype." + prefix + name] = dtype
    return result


def _probe_call(ns, inputs):
    """Call ``ns[inputs['_fn']]`` on the tensors named in ``_args`` and the ``kw_*`` keywords."""
    import torch

    fn = ns.get(str(inputs["_fn"]))
    if fn is None or not callable(fn):
        return {"bad": f"the notebook defines no function {inputs['_fn']}"}
    names = [a for a in str(inputs["_args"]).split(",") if a]
    args = [_probe_tensor(inputs, a) for a in names]
    kwargs = {}
    for key, value in inputs.items():
        if key.startswith("kw_"):
            kwargs[key[3:]] = value.item() if hasattr(value, "item") else value
    before = [a.clone() for a in args]
    value = fn(*args, **kwargs)
    result = {"modified": ",".join(n for n, a, b in zip(names, args, before) if not torch.equal(a, b))}
    return _probe_pack(value, str(inputs["_outputs"]).split(","), result)


def _probe_module(ns, inputs):
    """Build ``ns[inputs['_fn']](I, H, batch_first=...)``, load the state_dict, run it."""
    import math
    import torch

    cls = ns.get(str(inputs["_fn"]))
    if cls is None:
        return {"bad": f"the notebook defines no class {inputs['_fn']}"}
    batch_first = bool(inputs["batch_first"])
    module = cls(int(inputs["input_size"]), int(inputs["hidden_size"]), batch_first=batch_first)
    params = sorted((n, tuple(p.shape)) for n, p in module.named_parameters())
    bound = max((float(p.detach().abs().max()) for p in module.parameters()), default=0.0)
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    module = module.to(getattr(torch, str(inputs.get("dtype", "float32"))))
    described = ";".join(f"{n}{list(s)}" for n, s in params)
    try:
        module.load_state_dict({n: _probe_tensor(inputs, n) for n in names})
    except Exception as error:
        return {"params": described, "modified": "",
                "bad": f"cannot load an nn.GRU state_dict: {type(error).__name__}: {error}"}
    x = _probe_tensor(inputs, "x")
    if bool(inputs["with_h0"]):
        value = module(x, _probe_tensor(inputs, "h0"))
    else:
        value = module(x)
    result = {"params": described,
              "init_ok": bool(bound <= 1 / math.sqrt(int(inputs["hidden_size"])) + 1e-6),
              "modified": ""}
    return _probe_pack(value, ["output", "h_n"], result)


def _probe_unpack(ns, inputs):
    """Unpack the four packed tensors, and pack the true blocks back."""
    unpack, pack = ns.get("unpack_gru_weights"), ns.get("pack_gru_weights")
    if unpack is None or pack is None:
        return {"bad": "the notebook must define unpack_gru_weights and pack_gru_weights"}
    packed = [_probe_tensor(inputs, n) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    blocks = str(inputs["_blocks"]).split(",")
    result = _probe_pack(unpack(*packed), blocks, {"modified": ""}, "unpack.")
    if "bad" in result:
        result["bad"] = "unpack_gru_weights: " + result["bad"]
        return result
    true_blocks = {b: _probe_tensor(inputs, "block." + b) for b in blocks}
    result = _probe_pack(pack(true_blocks), ["weight_ih", "weight_hh", "bias_ih", "bias_hh"],
                         result, "pack.")
    if "bad" in result:
        result["bad"] = "pack_gru_weights: " + result["bad"]
    return result


def _probe_values(ns, inputs):
    """The numbers the notebook stores in the variables named in ``_names``."""
    result = {}
    for name in str(inputs["_names"]).split(","):
        if name not in ns:
            return {"bad": f"the notebook does not set {name}"}
        array, _ = _probe_array(ns[name], name)
        if isinstance(array, str) or array.size != 1:
            return {"bad": f"{name} must be a single number, got {type(ns[name]).__name__}"}
        result["out." + name] = array.reshape(())
    return result


def _probe_clip(ns, inputs):
    """Call ``clip_by_global_norm(grads, max_norm)``; check that the inputs are left alone."""
    import torch

    fn = ns.get("clip_by_global_norm")
    if fn is None:
        return {"bad": "the notebook defines no function clip_by_global_norm"}
    names = [n for n in str(inputs["_args"]).split(",") if n]
    grads = [_probe_tensor(inputs, n) for n in names]
    before = [g.clone() for g in grads]
    clipped, total = fn(grads, float(inputs["max_norm"]))
    result = {"modified": ",".join(n for n, a, b in zip(names, grads, before) if not torch.equal(a, b))}
    return _probe_pack((*clipped, total), [*names, "total_norm"], result)


def _probe_forget(ns, inputs):
    """Build an nn.LSTM from the state_dict, call ``set_forget_bias(lstm, value)``, return it."""
    import torch

    fn = ns.get("set_forget_bias")
    if fn is None:
        return {"bad": "the notebook defines no function set_forget_bias"}
    lstm = torch.nn.LSTM(int(inputs["input_size"]), int(inputs["hidden_size"]),
                         num_layers=int(inputs["num_layers"]))
    names = [n for n in str(inputs["_args"]).split(",") if n]
    with torch.no_grad():
        for n in names:
            getattr(lstm, n).copy_(_probe_tensor(inputs, n))
    fn(lstm, float(inputs["value"]))
    return _probe_pack(tuple(getattr(lstm, n) for n in names), names, {"modified": ""})


# end of probe

_PROBE_HELPERS = (_probe_tensor, _probe_array, _probe_pack)
_PROBES: dict[str, Callable] = {
    "call": _probe_call, "module": _probe_module, "unpack": _probe_unpack,
    "values": _probe_values, "clip": _probe_clip, "forget": _probe_forget,
}


def probe_source(kind: str) -> str:
    """The source of ``probe(ns, inputs)`` for one kind of check, self-contained for the sandbox."""
    parts = [inspect.getsource(f) for f in (*_PROBE_HELPERS, _PROBES[kind])]
    return "\n\n".join(parts) + f"\n\nprobe = {_PROBES[kind].__name__}\n"


def run_probe(kind: str, ns: dict, case: dict) -> dict | ProbeError:
    """Run a probe here (the visible tests); an exception becomes a :class:`ProbeError`."""
    try:
        return _PROBES[kind](ns, case)
    except Exception as error:  # the student's exception, reported as the sandbox would
        frames = traceback.extract_tb(error.__traceback__)
        where = next((f"line {f.lineno} of {f.name}" for f in reversed(frames)
                      if f.filename != __file__), "")
        return ProbeError("exception", f"{type(error).__name__}: {error}" + (f" ({where})" if where
                                                                             else ""))


# ---------------------------------------------------------------------------------------- cases


def _rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


def _gru_params(rng, input_size: int, hidden_size: int, gates: int = 3) -> dict[str, np.ndarray]:
    """Weights large enough that every convention gives a visibly different answer."""
    gh = gates * hidden_size
    return {
        "weight_ih": rng.normal(0, 0.6, (gh, input_size)),
        "weight_hh": rng.normal(0, 0.6, (gh, hidden_size)),
        "bias_ih": rng.normal(0, 0.5, gh),
        "bias_hh": rng.normal(0, 0.5, gh),
    }


def describe(case: dict) -> str:
    """A short description of a case for feedback: shapes, dtype and layout."""
    parts = []
    for key, label in (("batch", "B"), ("seq_len", "T"), ("input_size", "I"), ("hidden_size", "H")):
        if key in case:
            parts.append(f"{label}={int(case[key])}")
    parts.append(str(case.get("dtype", "float32")))
    if case.get("noncontiguous"):
        parts.append("non-contiguous inputs")
    for key in ("batch_first", "with_h0"):
        if key in case:
            parts.append(f"{key}={bool(case[key])}")
    if "kw_reset" in case:
        parts.append(f"reset={case['kw_reset']!r}")
    return ", ".join(parts)


#: The shapes each suite uses: (batch, seq_len, input_size, hidden_size, dtype, noncontiguous).
SUITES: dict[str, list[tuple]] = {
    "visible": [(3, 4, 5, 4, "float32", False), (3, 3, 4, 4, "float64", False)],
    "hidden": [(1, 1, 6, 3, "float64", True), (4, 5, 2, 5, "float32", True),
               (2, 2, 3, 3, "float64", False)],
}


def _base_cases(suite: str, seed: int) -> list[dict]:
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {sorted(SUITES)}, got {suite!r}")
    out = []
    for index, (b, t, i, h, dtype, nc) in enumerate(SUITES[suite]):
        out.append({"batch": b, "seq_len": t, "input_size": i, "hidden_size": h, "dtype": dtype,
                    "noncontiguous": nc, "_rng": _rng(seed, index)})
    return out


# ----------------------------------------------------------------------- references and variants


def _t(case: dict, name: str) -> torch.Tensor:
    """An input as float64, rounded to the case's dtype first (what the student received)."""
    dtype = getattr(np, str(case.get("dtype", "float32")))
    return torch.from_numpy(np.asarray(case[name]).astype(dtype).astype(np.float64))


def gru_variant(x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, reset="after", update="keep_old",
                order="rzn", bhn="inside", activations="normal", transpose=False) -> dict:
    """One GRU step with a chosen mistake; returns r, z, n and h_next. Defaults give PyTorch's GRU.

    ``order``: the order the student believed the rows to be in; ``transpose``: the recurrent blocks
    used transposed (``"hh"``), or the input blocks too (``"all"``, for I == H only).
    """
    def blocks(w):
        phys = w.chunk(3, dim=0)
        return {g: phys[order.index(g)] for g in "rzn"}

    wi, wh = blocks(weight_ih), blocks(weight_hh)
    bi, bh = blocks(bias_ih), blocks(bias_hh)
    if transpose:
        wh = {g: w.T for g, w in wh.items()}
    if transpose == "all":
        wi = {g: w.T for g, w in wi.items()}
    gate, cand = (torch.tanh, torch.sigmoid) if activations == "swapped" else (torch.sigmoid, torch.tanh)
    r = gate(x @ wi["r"].T + bi["r"] + h @ wh["r"].T + bh["r"])
    z = gate(x @ wi["z"].T + bi["z"] + h @ wh["z"].T + bh["z"])
    if reset == "after":
        inner = r * (h @ wh["n"].T + bh["n"]) if bhn == "inside" else r * (h @ wh["n"].T) + bh["n"]
    elif reset == "none":
        inner = h @ wh["n"].T + bh["n"]
    else:
        inner = (r * h) @ wh["n"].T + bh["n"]
    n = cand(x @ wi["n"].T + bi["n"] + inner)
    h_next = (1 - z) * n + z * h if update == "keep_old" else z * n + (1 - z) * h
    return {"r": r, "z": z, "n": n, "h_next": h_next}


def _numpy(d: dict) -> dict:
    return {k: v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v) for k, v in d.items()}


# --------------------------------------------------------------------------------------- judging


@dataclass(frozen=True)
class Variant:
    key: str  # a key of MISTAKES
    compute: Callable[[dict], dict | None]  # case -> {output name: array}, None if not applicable


def _close(a: np.ndarray, b: np.ndarray, dtype: str, loose: float = 1.0) -> bool:
    rtol, atol = TOLERANCE.get(dtype, TOLERANCE["float32"])
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol * loose, atol=atol * loose))


def _shape_hint(got: tuple, want: tuple) -> str:
    if len(got) == len(want) and sorted(got) == sorted(want):
        return " (the right sizes in the wrong order: a transpose or permute is missing or extra)"
    if tuple(s for s in got if s != 1) == tuple(s for s in want if s != 1):
        return " (an extra or missing dimension of size 1)"
    return ""


def _where(index: tuple, name: str, case: dict) -> str:
    """Where an element sits; rows of packed GRU/LSTM parameters are named by gate."""
    text = f"{name}[{', '.join(str(int(i)) for i in index)}]"
    hidden = int(case.get("hidden_size", 0))
    gates = case.get("_gates", "")
    if hidden and gates and index and ("weight" in name or "bias" in name) \
            and int(index[0]) < len(gates) * hidden:
        text += f" (rows of gate {gates[int(index[0]) // hidden]})"
    return text


def judge_outputs(cases: list[dict], results: list, expected: Callable[[dict], dict],
                  variants: tuple[Variant, ...] = (), what: str = "your function") -> Verdict:
    """Compare every case's outputs with ``expected(case)``; all cases right earns the points.

    When some case is wrong, name the first variant of the catalogue that matches every case it
    applies to (and at least one wrong case); else report the largest difference and where.
    """
    problems: list[str] = []
    wrong: list[int] = []
    worst = (0.0, "")
    for k, (case, result) in enumerate(zip(cases, results)):
        label = f"case {k + 1} ({describe(case)})"
        if isinstance(result, ProbeError):
            if result.message.startswith("NotImplementedError"):
                problems.append(f"{what} is not written yet: it still raises NotImplementedError")
            else:
                problems.append(f"{label}: {what} failed: {result.kind}: {result.message}")
            continue
        if "bad" in result:
            problems.append(f"{label}: {what} {result['bad']}")
            continue
        if result.get("modified"):
            problems.append(f"{label}: {what} modified its input(s) {result['modified']} in place; "
                            f"compute new tensors instead (no +=, no .copy_, no out=)")
        dtype = str(case.get("dtype", "float32"))
        for name, want in expected(case).items():
            got = np.asarray(result.get("out." + name))
            if got.shape != want.shape:
                problems.append(f"{label}: wrong shape of {name}: expected {tuple(want.shape)}, got "
                                f"{tuple(got.shape)}{_shape_hint(got.shape, want.shape)}")
                wrong.append(k)
                continue
            got_dtype = result.get("dtype." + name, dtype)
            if got_dtype not in ("", dtype) and dtype in ("float32", "float64"):
                problems.append(f"{label}: {name} is {got_dtype} for {dtype} inputs; keep the "
                                f"inputs' dtype (no torch.tensor(..., dtype=...) or .float())")
            if not _close(got, want, dtype):
                wrong.append(k)
                diff = np.abs(got - want)
                diff = np.where(np.isnan(diff), np.inf, diff)
                index = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
                size = float(diff[index]) if diff.ndim else float(diff)
                if size >= worst[0]:
                    worst = (size, f"the largest difference is {size:.3g} in {label}, at "
                                   f"{_where(index, name, case)}: expected {float(want[index]):.6g}, "
                                   f"got {float(got[index]):.6g}")
    if not problems and not wrong:
        return Verdict(1.0, (f"{what}: all {len(cases)} cases match the reference",))
    wrong = sorted(set(wrong))
    for variant in variants:
        matched = _matches(variant, cases, results, wrong)
        if matched:
            problems.insert(0, f"{what}: {MISTAKES[variant.key]}")
            return Verdict(0.0, tuple(_dedupe(problems)))
    if worst[1]:
        problems.append(f"{what} does not match the reference: {worst[1]}")
    return Verdict(0.0, tuple(_dedupe(problems)))


def _dedupe(lines: list[str]) -> list[str]:
    seen, out = set(), []
    for line in lines:
        if line not in seen:
            seen.add(line)
            out.append(line)
    return out


def _matches(variant: Variant, cases, results, wrong) -> bool:
    hits = 0
    for k, (case, result) in enumerate(zip(cases, results)):
        if isinstance(result, ProbeError) or "bad" in result:
            continue
        outs = variant.compute(case)
        if outs is None:
            continue
        dtype = str(case.get("dtype", "float32"))
        for name, want in outs.items():
            got = np.asarray(result.get("out." + name))
            if not _close(got, np.asarray(want), dtype, loose=10.0):
                return False
        hits += k in wrong
    return hits > 0


# ------------------------------------------------------------------------------- check registry


@dataclass(frozen=True)
class CheckDef:
    """One test cell: its probe kind, how to make its cases, the reference and the mistakes."""

    grade_id: str
    probe: str
    make_cases: Callable[[str, int], list[dict]]
    expected: Callable[[dict], dict]
    variants: tuple[Variant, ...]
    what: str
    judge_fn: Callable | None = None  # a custom judge (cases, results) -> Verdict

    def cases(self, suite: str, seed: int) -> list[dict]:
        return self.make_cases(suite, seed)

    def judge(self, cases: list[dict], results: list) -> Verdict:
        if self.judge_fn is not None:
            return self.judge_fn(cases, results)
        return judge_outputs(cases, results, self.expected, self.variants, self.what)


CHECKS: dict[str, CheckDef] = {}


def _register(check: CheckDef) -> CheckDef:
    CHECKS[check.grade_id] = check
    return check


def grader_cases(grade_id: str, seed: int) -> list[dict]:
    """The grader's cases: the visible suite (seed 0) and the hidden suite on ``seed``."""
    check = CHECKS[grade_id]
    return check.cases("visible", 0) + check.cases("hidden", seed)


def run_check(grade_id: str, ns: dict, suite: str = "visible", seed: int = 0) -> Verdict:
    """Run one check here, on the functions in ``ns``: what a visible (or hidden) test does."""
    check = CHECKS[grade_id]
    cases = check.cases(suite, seed)
    results = [run_probe(check.probe, ns, case) for case in cases]
    return check.judge(cases, results)


def _assert(grade_id: str, ns: dict, suite: str, seed: int) -> None:
    verdict = run_check(grade_id, ns, suite, seed)
    if verdict.fraction < 1.0:
        raise AssertionError("\n" + "\n".join("- " + line for line in verdict.feedback))
    print("\n".join(verdict.feedback))


# =========================================================================================== GRU

GRU_BLOCKS = ("W_ir", "W_iz", "W_in", "W_hr", "W_hz", "W_hn",
              "b_ir", "b_iz", "b_in", "b_hr", "b_hz", "b_hn")
_PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _gru_step_cases(fn: str, args: str, outputs: str, extra: dict | None = None) -> Callable:
    def make(suite: str, seed: int) -> list[dict]:
        out = []
        for case in _base_cases(suite, seed):
            rng = case.pop("_rng")
            b, i, h = case["batch"], case["input_size"], case["hidden_size"]
            case.update(_gru_params(rng, i, h))
            case.update({"x": rng.normal(0, 1, (b, i)), "h": rng.normal(0, 0.8, (b, h)),
                         "_fn": fn, "_args": args, "_outputs": outputs, "_gates": "rzn"})
            if "r" in args.split(",") or "z" in args.split(","):
                case["r"] = rng.uniform(0.05, 0.95, (b, h))
                case["z"] = rng.uniform(0.05, 0.95, (b, h))
                case["n"] = rng.uniform(-0.95, 0.95, (b, h))
            case.pop("seq_len")
            case.update(extra or {})
            out.append(case)
        return out

    return make


def _step(case, **kw) -> dict:
    return gru_variant(_t(case, "x"), _t(case, "h"), *(_t(case, p) for p in _PARAMS), **kw)


def _gate_variant(gate: str, **kw) -> Callable:
    return lambda case: _numpy({gate: _step(case, **kw)[gate]})


def _square(case) -> bool:
    return int(case["input_size"]) == int(case["hidden_size"])


def _if_square(f: Callable) -> Callable:
    return lambda case: f(case) if _square(case) else None


def _rows(case, name: str, gate_index: int, act=torch.sigmoid) -> dict:
    h = int(case["hidden_size"])
    sl = slice(gate_index * h, (gate_index + 1) * h)
    x, hh = _t(case, "x"), _t(case, "h")
    wi, wh, bi, bh = (_t(case, p) for p in _PARAMS)
    return _numpy({name: act(x @ wi[sl].T + bi[sl] + hh @ wh[sl].T + bh[sl])})


_register(CheckDef(
    "test_reset_gate", "call",
    _gru_step_cases("reset_gate", "x,h,weight_ih,weight_hh,bias_ih,bias_hh", "r"),
    _gate_variant("r"),
    (Variant("rows_of_z", lambda c: _rows(c, "r", 1)),
     Variant("rows_of_n", lambda c: _rows(c, "r", 2)),
     Variant("tanh_gate", lambda c: _rows(c, "r", 0, torch.tanh)),
     Variant("transposed", _gate_variant("r", transpose="hh")),
     Variant("transposed", _if_square(_gate_variant("r", transpose="all")))),
    "reset_gate"))

_register(CheckDef(
    "test_update_gate", "call",
    _gru_step_cases("update_gate", "x,h,weight_ih,weight_hh,bias_ih,bias_hh", "z"),
    _gate_variant("z"),
    (Variant("rows_of_r", lambda c: _rows(c, "z", 0)),
     Variant("rows_of_n", lambda c: _rows(c, "z", 2)),
     Variant("tanh_gate", lambda c: _rows(c, "z", 1, torch.tanh)),
     Variant("transposed", _gate_variant("z", transpose="hh")),
     Variant("transposed", _if_square(_gate_variant("z", transpose="all")))),
    "update_gate"))


def _candidate(case, reset="after", bhn="inside", act=torch.tanh, transpose=False) -> dict:
    """n from the given r (an input of the candidate exercise)."""
    h = int(case["hidden_size"])
    x, hh, r = _t(case, "x"), _t(case, "h"), _t(case, "r")
    wi, wh, bi, bh = (_t(case, p)[2 * h:] for p in _PARAMS)
    if transpose:
        wh = wh.T
    if transpose == "all":
        wi = wi.T
    if reset == "after":
        inner = r * (hh @ wh.T + bh) if bhn == "inside" else r * (hh @ wh.T) + bh
    elif reset == "none":
        inner = hh @ wh.T + bh
    else:
        inner = (r * hh) @ wh.T + bh
    return _numpy({"n": act(x @ wi.T + bi + inner)})


_CAND_ARGS = "x,h,r,weight_ih,weight_hh,bias_ih,bias_hh"
_register(CheckDef(
    "test_candidate_after", "call",
    _gru_step_cases("candidate", _CAND_ARGS, "n", {"kw_reset": "after"}),
    lambda c: _candidate(c, "after"),
    (Variant("reset_before", lambda c: _candidate(c, "before")),
     Variant("bhn_outside", lambda c: _candidate(c, "after", "outside")),
     Variant("no_reset", lambda c: _candidate(c, "none")),
     Variant("sigmoid_candidate", lambda c: _candidate(c, "after", act=torch.sigmoid)),
     Variant("transposed", lambda c: _candidate(c, "after", transpose="hh")),
     Variant("transposed", _if_square(lambda c: _candidate(c, "after", transpose="all")))),
    "candidate(..., reset='after')"))

_register(CheckDef(
    "test_candidate_before", "call",
    _gru_step_cases("candidate", _CAND_ARGS, "n", {"kw_reset": "before"}),
    lambda c: _candidate(c, "before"),
    (Variant("reset_after", lambda c: _candidate(c, "after")),
     Variant("no_reset", lambda c: _candidate(c, "none")),
     Variant("sigmoid_candidate", lambda c: _candidate(c, "before", act=torch.sigmoid)),
     Variant("transposed", lambda c: _candidate(c, "before", transpose="hh")),
     Variant("transposed", _if_square(lambda c: _candidate(c, "before", transpose="all")))),
    "candidate(..., reset='before')"))


def _new_state(case, keep="old") -> dict:
    z, n, h = _t(case, "z"), _t(case, "n"), _t(case, "h")
    return _numpy({"h_next": (1 - z) * n + z * h if keep == "old" else z * n + (1 - z) * h})


_register(CheckDef(
    "test_new_state", "call",
    _gru_step_cases("new_state", "z,n,h", "h_next"),
    _new_state,
    (Variant("update_swapped", lambda c: _new_state(c, "new")),),
    "new_state"))

_CELL_VARIANTS = tuple(
    Variant(key, fn) for key, fn in (
        ("reset_before", lambda c: _numpy({"h_next": _step(c, reset="before")["h_next"]})),
        ("update_swapped", lambda c: _numpy({"h_next": _step(c, update="keep_new")["h_next"]})),
        ("before_and_swapped", lambda c: _numpy(
            {"h_next": _step(c, reset="before", update="keep_new")["h_next"]})),
        ("gate_order_zrn", lambda c: _numpy({"h_next": _step(c, order="zrn")["h_next"]})),
        ("bhn_outside", lambda c: _numpy({"h_next": _step(c, bhn="outside")["h_next"]})),
        ("activations_swapped", lambda c: _numpy(
            {"h_next": _step(c, activations="swapped")["h_next"]})),
        ("no_reset", lambda c: _numpy({"h_next": _step(c, reset="none")["h_next"]})),
        ("transposed", lambda c: _numpy({"h_next": _step(c, transpose="hh")["h_next"]})),
        ("transposed", _if_square(lambda c: _numpy({"h_next": _step(c, transpose="all")["h_next"]}))),
    ))

_register(CheckDef(
    "test_gru_cell", "call",
    _gru_step_cases("gru_cell", "x,h,weight_ih,weight_hh,bias_ih,bias_hh", "h_next"),
    lambda c: _numpy({"h_next": _step(c)["h_next"]}),
    _CELL_VARIANTS, "gru_cell"))


# layer -------------------------------------------------------------------------------------


def _layer_cases(fn: str, args: str, outputs: str, probe_extra: Callable | None = None) -> Callable:
    def make(suite: str, seed: int) -> list[dict]:
        out = []
        for k, case in enumerate(_base_cases(suite, seed)):
            rng = case.pop("_rng")
            b, t, i, h = case["batch"], case["seq_len"], case["input_size"], case["hidden_size"]
            batch_first = k % 2 == 1
            case.update(_gru_params(rng, i, h))
            x = rng.normal(0, 1, (t, b, i))
            with_h0 = k != 2
            case.update({"x": x.transpose(1, 0, 2).copy() if batch_first else x,
                         "h0": rng.normal(0, 0.8, (b, h)), "batch_first": batch_first,
                         "with_h0": with_h0, "_fn": fn, "_outputs": outputs,
                         "_args": args if with_h0 else args.removesuffix(",h0"),
                         "_gates": "rzn", "kw_batch_first": batch_first})
            if probe_extra:
                probe_extra(case)
            out.append(case)
        return out

    return make


def _layer(case, step: Callable, h0_shape=None, zero_h0=False, first=False, ignore_bf=False) -> dict:
    x = _t(case, "x")
    bf = bool(case["batch_first"])
    b, h = int(case["batch"]), int(case["hidden_size"])
    state = _t(case, "h0").reshape(b, h) if case["with_h0"] and not zero_h0 else x.new_zeros(b, h)
    seq = x.transpose(0, 1) if bf and not ignore_bf else x
    if ignore_bf and seq.shape[1] != b:
        return None
    outs = []
    for x_t in seq:
        state = step(x_t, state)
        outs.append(state)
    output = torch.stack(outs)
    if bf and not ignore_bf:
        output = output.transpose(0, 1)
    h_n = outs[0] if first else outs[-1]
    shape = (1, b, h) if h0_shape else (b, h)
    return _numpy({"output": output, "h_n": h_n.reshape(shape)})


def _gru_stepper(case, **kw) -> Callable:
    params = [_t(case, p) for p in _PARAMS]
    return lambda x_t, state: gru_variant(x_t, state, *params, **kw)["h_next"]


def _layer_variants(h0_shape: bool) -> tuple[Variant, ...]:
    def lv(key, **kw):
        layer_kw = {k: kw.pop(k) for k in ("zero_h0", "first", "ignore_bf") if k in kw}
        return Variant(key, lambda c: _layer(c, _gru_stepper(c, **kw), h0_shape, **layer_kw))

    return (lv("reset_before", reset="before"), lv("update_swapped", update="keep_new"),
            lv("before_and_swapped", reset="before", update="keep_new"),
            lv("gate_order_zrn", order="zrn"), lv("bhn_outside", bhn="outside"),
            lv("activations_swapped", activations="swapped"), lv("h0_ignored", zero_h0=True),
            lv("h_n_first", first=True), lv("batch_first_ignored", ignore_bf=True))


def _h0_first_dim(case: dict) -> None:
    case["h0"] = case["h0"][None]  # (1, B, H), as nn.GRU takes it


_register(CheckDef(
    "test_gru_layer", "call",
    _layer_cases("gru_layer", "x,weight_ih,weight_hh,bias_ih,bias_hh,h0", "output,h_n"),
    lambda c: _layer(c, _gru_stepper(c)),
    _layer_variants(False), "gru_layer"))


def _module_cases(suite: str, seed: int) -> list[dict]:
    cases = _layer_cases("MyGRU", "", "output,h_n", _h0_first_dim)(suite, seed)
    for case in cases:
        for p in _PARAMS:
            case[p + "_l0"] = case.pop(p)
        case["_gates"] = "rzn"
    return cases


def _module_params(case) -> None:
    for p in _PARAMS:
        case[p] = case[p + "_l0"]


def _module_expected(case, **kw):
    case = dict(case)
    _module_params(case)
    layer_kw = {k: kw.pop(k) for k in ("zero_h0", "first", "ignore_bf") if k in kw}
    return _layer(case, _gru_stepper(case, **kw), h0_shape=True, **layer_kw)


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
    variants = tuple(Variant(v.key, _module_variant(v.key)) for v in _layer_variants(True))
    return judge_outputs(cases, results, _module_expected, variants, "MyGRU")


def _module_variant(key: str) -> Callable:
    kw = {"reset_before": {"reset": "before"}, "update_swapped": {"update": "keep_new"},
          "before_and_swapped": {"reset": "before", "update": "keep_new"},
          "gate_order_zrn": {"order": "zrn"}, "bhn_outside": {"bhn": "outside"},
          "activations_swapped": {"activations": "swapped"}, "h0_ignored": {"zero_h0": True},
          "h_n_first": {"first": True}, "batch_first_ignored": {"ignore_bf": True}}[key]
    return lambda c: _module_expected(c, **dict(kw))


_register(CheckDef("test_gru_module", "module", _module_cases, _module_expected, (), "MyGRU",
                   judge_fn=_judge_module))


# unpack / pack ------------------------------------------------------------------------------


def _unpack_cases(suite: str, seed: int) -> list[dict]:
    out = []
    for case in _base_cases(suite, seed):
        rng = case.pop("_rng")
        case.pop("seq_len"), case.pop("batch")
        case.update(_gru_params(rng, case["input_size"], case["hidden_size"]))
        blocks = _unpack_ref(case)
        case.update({"block." + k: v for k, v in blocks.items()})
        case["_blocks"] = ",".join(GRU_BLOCKS)
        out.append(case)
    return out


def _unpack_ref(case, order="rzn", transpose=False) -> dict:
    out = {}
    for p, tag in zip(_PARAMS, ("W_i", "W_h", "b_i", "b_h")):
        chunks = np.split(np.asarray(case[p]), 3, axis=0)
        for g, chunk in zip(order, chunks):
            out[tag + g] = chunk.T if transpose and chunk.ndim == 2 else chunk
    return out


def _unpack_expected(case, order="rzn", transpose=False) -> dict:
    dtype = getattr(np, str(case["dtype"]))
    rounded = {p: np.asarray(case[p]).astype(dtype).astype(np.float64) for p in _PARAMS}
    blocks = _unpack_ref({**case, **rounded}, order, transpose)
    out = {"unpack." + k: v for k, v in blocks.items()}
    if order == "rzn" and not transpose:
        out.update({"pack." + p: rounded[p] for p in _PARAMS})
    return out


def _pack_variant(case) -> dict:
    """pack_gru_weights stacking the blocks z, r, n."""
    out = _unpack_expected(case)
    h = int(case["hidden_size"])
    for p in _PARAMS:
        v = out["pack." + p]
        out["pack." + p] = np.concatenate([v[h:2 * h], v[:h], v[2 * h:]])
    return out


_register(CheckDef(
    "test_unpack_pack", "unpack", _unpack_cases, _unpack_expected,
    (Variant("gate_order_zrn", lambda c: {k: v for k, v in _unpack_expected(c, "zrn").items()
                                          if k.startswith("unpack.")}),
     Variant("gate_order_zrn", lambda c: {k: v for k, v in _pack_variant(c).items()
                                          if k.startswith("pack.")}),
     Variant("unpack_transposed", lambda c: {k: v for k, v in _unpack_expected(c, transpose=True)
                                             .items() if k.startswith("unpack.W")})),
    "unpack_gru_weights / pack_gru_weights"))


# backward -----------------------------------------------------------------------------------

_GRADS = ("grad_x", "grad_h", "grad_weight_ih", "grad_weight_hh", "grad_bias_ih", "grad_bias_hh")


def _backward_cases(suite: str, seed: int) -> list[dict]:
    cases = _gru_step_cases("gru_cell_backward", "grad_h_next,x,h,weight_ih,weight_hh,bias_ih,bias_hh",
                            ",".join(_GRADS))(suite, seed)
    for k, case in enumerate(cases):
        case["grad_h_next"] = _rng(seed, 100 + k).normal(0, 1, (case["batch"], case["hidden_size"]))
    return cases


def _backward_expected(case, **kw) -> dict:
    inputs = [_t(case, n).requires_grad_(True) for n in ("x", "h", *_PARAMS)]
    h_next = gru_variant(*inputs, **kw)["h_next"]
    grads = torch.autograd.grad(h_next, inputs, _t(case, "grad_h_next"))
    return _numpy(dict(zip(_GRADS, grads)))


def _backward_transposed(case) -> dict | None:
    out = _backward_expected(case)
    return {"grad_weight_hh": np.concatenate([b.T for b in np.split(out["grad_weight_hh"], 3)])}


_register(CheckDef(
    "test_gru_backward", "call", _backward_cases, _backward_expected,
    (Variant("grad_of_reset_before", lambda c: _backward_expected(c, reset="before")),
     Variant("grad_of_update_swapped", lambda c: _backward_expected(c, update="keep_new")),
     Variant("bhn_outside", lambda c: _backward_expected(c, bhn="outside")),
     Variant("grad_transposed", _backward_transposed)),
    "gru_cell_backward"))


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

    rng = _rng(seed, 7)
    params = _gru_params(rng, 3, 2)
    inputs = [torch.tensor(rng.normal(0, 1, (2, 3))), torch.tensor(rng.normal(0, 0.8, (2, 2)))]
    inputs += [torch.tensor(params[p]) for p in _PARAMS]
    inputs = [t.requires_grad_(True) for t in inputs]
    return torch.autograd.gradcheck(Step.apply, inputs, eps=1e-6, atol=1e-5)


# gradient flow ------------------------------------------------------------------------------


def gradient_flow_problem() -> dict[str, torch.Tensor]:
    """The GRU of the gradient-flow question: float64, I=3, H=6, T=25, batch 1.

    Returns ``x`` (T, 1, I), ``h0`` (1, H) and the four packed parameters.
    """
    rng = np.random.default_rng(2024)
    params = _gru_params(rng, 3, 6)
    out = {p: torch.tensor(v) for p, v in params.items()}
    out["x"] = torch.tensor(rng.normal(0, 1, (25, 1, 3)))
    out["h0"] = torch.tensor(rng.normal(0, 0.5, (1, 6)))
    return out


def _flow_jacobian(bias_z: float | None, reset: str = "after", one_step: bool = False) -> torch.Tensor:
    """dh_T/dh_0 of the gradient-flow GRU, (H, H); ``bias_z`` sets b_iz (and zeroes b_hz)."""
    p = gradient_flow_problem()
    if bias_z is not None:
        p["bias_ih"][6:12] = bias_z
        p["bias_hh"][6:12] = 0.0
    params = [p[name] for name in _PARAMS]

    def step(x_t, h):
        return gru_variant(x_t, h, *params, reset=reset)["h_next"]

    def run(h0, xs):
        h = h0
        for x_t in xs:
            h = step(x_t, h)
        return h[0]

    if one_step:
        with torch.no_grad():
            h_before = p["h0"] if len(p["x"]) == 1 else step(p["x"][0], p["h0"])
            for x_t in p["x"][1:-1]:
                h_before = step(x_t, h_before)
        return torch.autograd.functional.jacobian(lambda s: run(s, p["x"][-1:]), h_before)[:, 0, :]
    return torch.autograd.functional.jacobian(lambda s: run(s, p["x"]), p["h0"])[:, 0, :]


FLOW_ANSWERS = ("answer_norm", "answer_norm_keep")


@functools.lru_cache(maxsize=None)
def _flow_values(ord=2, reset="after", one_step=False, swap=False) -> dict:
    a = torch.linalg.matrix_norm(_flow_jacobian(None, reset, one_step), ord=ord)
    b = torch.linalg.matrix_norm(_flow_jacobian(3.0, reset, one_step), ord=ord)
    if swap:
        a, b = b, a
    return {"answer_norm": np.asarray(float(a)), "answer_norm_keep": np.asarray(float(b))}


def _flow_cases(suite: str, seed: int) -> list[dict]:
    return [{"_names": ",".join(FLOW_ANSWERS), "dtype": "float64", "_tol": "value"}]


def _judge_flow(cases, results) -> Verdict:
    result = results[0]
    if isinstance(result, ProbeError):
        return Verdict(0.0, (f"the gradient-flow answers could not be read: {result.message}",))
    if "bad" in result:
        return Verdict(0.0, (result["bad"],))
    want = _flow_values()
    got = {k: float(result["out." + k]) for k in FLOW_ANSWERS}

    def close(values):
        return all(math.isclose(got[k], float(values[k]), rel_tol=1e-3, abs_tol=1e-6) for k in got)

    if close(want):
        return Verdict(1.0, ("gradient flow: both norms are right",))
    for key, kw in (("answers_swapped", {"swap": True}), ("frobenius_norm", {"ord": "fro"}),
                    ("reset_before", {"reset": "before"}), ("one_step_jacobian", {"one_step": True})):
        if close(_flow_values(**kw)):
            return Verdict(0.0, (f"gradient flow: {MISTAKES[key]}",))
    lines = []
    for k in FLOW_ANSWERS:
        if not math.isclose(got[k], float(want[k]), rel_tol=1e-3, abs_tol=1e-6):
            lines.append(f"gradient flow: {k} = {got[k]:.6g} is off by more than 0.1 % "
                         f"(relative difference {abs(got[k] - float(want[k])) / abs(float(want[k])):.3g})")
    return Verdict(0.0, tuple(lines))


_register(CheckDef("test_gradient_flow", "values", _flow_cases, lambda c: {}, (), "gradient flow",
                   judge_fn=_judge_flow))


# -------------------------------------------------------------------------- visible test helpers


def _check_fn(grade_id: str, name: str) -> Callable:
    def check(fn: Callable, suite: str = "visible", seed: int = 0) -> None:
        _assert(grade_id, {name: fn}, suite, seed)

    check.__name__ = "check_" + grade_id.removeprefix("test_")
    check.__doc__ = (f"Run the cases of {grade_id} (suite 'visible' or 'hidden') on ``{name}``; "
                     "raise AssertionError naming the mistake.")
    return check


check_reset_gate = _check_fn("test_reset_gate", "reset_gate")
check_update_gate = _check_fn("test_update_gate", "update_gate")
check_candidate_after = _check_fn("test_candidate_after", "candidate")
check_candidate_before = _check_fn("test_candidate_before", "candidate")
check_new_state = _check_fn("test_new_state", "new_state")
check_gru_cell = _check_fn("test_gru_cell", "gru_cell")
check_gru_layer = _check_fn("test_gru_layer", "gru_layer")
check_gru_module = _check_fn("test_gru_module", "MyGRU")


def check_gru_backward(backward: Callable, suite: str = "visible", seed: int = 0) -> None:
    """Compare each gradient with autograd (naming the wrong one), then run gradcheck in float64."""
    _assert("test_gru_backward", {"gru_cell_backward": backward}, suite, seed)
    if not gru_gradcheck(backward, seed):
        raise AssertionError("gradcheck failed")
    print("torch.autograd.gradcheck passes in float64 with your backward")


def check_unpack_pack(unpack: Callable, pack: Callable, suite: str = "visible", seed: int = 0) -> None:
    """Check unpack_gru_weights and pack_gru_weights (and that they are inverse)."""
    _assert("test_unpack_pack", {"unpack_gru_weights": unpack, "pack_gru_weights": pack}, suite, seed)


def check_gradient_flow(answers: dict[str, float]) -> None:
    """Check the two gradient-flow answers, given as ``{"answer_norm": .., "answer_norm_keep": ..}``."""
    _assert("test_gradient_flow", dict(answers), "visible", 0)


# ========================================================================================== BPTT


def _bptt_cases(fn: str, args: str, outputs: str) -> Callable:
    def make(suite: str, seed: int) -> list[dict]:
        out = []
        for case in _base_cases(suite, seed):
            rng = case.pop("_rng")
            b, t, i, h = case["batch"], case["seq_len"], case["input_size"], case["hidden_size"]
            case.update({"x": rng.normal(0, 1, (t, b, i)), "h0": rng.normal(0, 0.5, (b, h)),
                         "W_xh": rng.normal(0, 0.6, (h, i)),
                         "W_hh": rng.normal(0, 1.1 / math.sqrt(h), (h, h)),
                         "b": rng.normal(0, 0.3, h), "grad_hs": rng.normal(0, 1, (t, b, h)),
                         "_fn": fn, "_args": args, "_outputs": outputs})
            out.append(case)
        return out

    return make


def _rnn_states(case, w_hh=None) -> list[torch.Tensor]:
    def get(name):
        value = case[name]
        return value if isinstance(value, torch.Tensor) else _t(case, name)

    x, h = get("x"), get("h0")
    w_xh, b = get("W_xh"), get("b")
    w_hh = _t(case, "W_hh") if w_hh is None else w_hh
    states = [h]
    for x_t in x:
        states.append(torch.tanh(x_t @ w_xh.T + states[-1] @ w_hh.T + b))
    return states


_register(CheckDef(
    "test_rnn_forward", "call", _bptt_cases("rnn_forward", "x,h0,W_xh,W_hh,b", "hs"),
    lambda c: _numpy({"hs": torch.stack(_rnn_states(c)[1:])}),
    (Variant("transposed", lambda c: _numpy({"hs": torch.stack(_rnn_states(c, _t(c, "W_hh").T)[1:])})),),
    "rnn_forward"))

_BPTT_GRADS = ("grad_W_xh", "grad_W_hh", "grad_b", "grad_h0")


def _bptt_expected(case, tanh_derivative=True, last_only=False, transpose=False) -> dict:
    """dL/dW_xh, dL/dW_hh, dL/db, dL/dh0 for L = sum(grad_hs * hs), by hand (and by variant)."""
    if tanh_derivative and not last_only and not transpose:  # the reference: autograd
        leaves = {n: _t(case, n).requires_grad_(True) for n in ("W_xh", "W_hh", "b", "h0")}
        states = _rnn_states({**case, **{n: v for n, v in leaves.items()}}, leaves["W_hh"])
        loss = (torch.stack(states[1:]) * _t(case, "grad_hs")).sum()
        grads = torch.autograd.grad(loss, list(leaves.values()))
        return _numpy(dict(zip(_BPTT_GRADS, grads)))
    x, w_xh, w_hh = _t(case, "x"), _t(case, "W_xh"), _t(case, "W_hh")
    states = _rnn_states(case)
    grad_hs = _t(case, "grad_hs")
    if last_only:
        grad_hs = torch.cat([torch.zeros_like(grad_hs[:-1]), grad_hs[-1:]])
    g_xh, g_hh, g_b = torch.zeros_like(w_xh), torch.zeros_like(w_hh), torch.zeros(w_hh.shape[0],
                                                                                   dtype=w_hh.dtype)
    carry = torch.zeros_like(states[0])
    for t in reversed(range(len(x))):
        d_h = grad_hs[t] + carry
        d_a = d_h * (1 - states[t + 1] ** 2) if tanh_derivative else d_h
        g_xh += d_a.T @ x[t]
        g_hh += d_a.T @ states[t]
        g_b += d_a.sum(0)
        carry = d_a @ w_hh
    if transpose:
        g_hh = g_hh.T
    return _numpy(dict(zip(_BPTT_GRADS, (g_xh, g_hh, g_b, carry))))


_register(CheckDef(
    "test_rnn_backward", "call",
    _bptt_cases("rnn_backward", "grad_hs,x,h0,W_xh,W_hh,b", ",".join(_BPTT_GRADS)),
    _bptt_expected,
    (Variant("no_tanh_derivative", lambda c: _bptt_expected(c, tanh_derivative=False)),
     Variant("last_output_only", lambda c: _bptt_expected(c, last_only=True)),
     Variant("grad_transposed", lambda c: {"grad_W_hh": _bptt_expected(c, transpose=True)["grad_W_hh"]})),
    "rnn_backward"))


def _jacobian_expected(case, one_step=False, transpose=False, tanh_derivative=True) -> dict:
    """dh_T/dh_0 for each batch element, (B, H, H): the product of diag(1 - h_t^2) W_hh."""
    states = _rnn_states(case)
    w_hh = _t(case, "W_hh")
    steps = range(len(states) - 1, 0, -1)
    if one_step:
        steps = [len(states) - 1]
    b, h = states[0].shape
    jac = torch.eye(h, dtype=w_hh.dtype).expand(b, h, h)
    for t in steps:
        d = (1 - states[t] ** 2) if tanh_derivative else torch.ones_like(states[t])
        jac = jac @ (d[:, :, None] * w_hh)
    if transpose:
        jac = jac.transpose(1, 2)
    return _numpy({"jacobian": jac})


_register(CheckDef(
    "test_jacobian_product", "call",
    _bptt_cases("hidden_jacobian", "x,h0,W_xh,W_hh,b", "jacobian"),
    _jacobian_expected,
    (Variant("one_step_jacobian", lambda c: _jacobian_expected(c, one_step=True)),
     Variant("transposed", lambda c: _jacobian_expected(c, transpose=True)),
     Variant("no_tanh_derivative", lambda c: _jacobian_expected(c, tanh_derivative=False))),
    "hidden_jacobian"))


def _clip_cases(suite: str, seed: int) -> list[dict]:
    out = []
    for k, case in enumerate(_base_cases(suite, seed)):
        rng = case.pop("_rng")
        i, h = case["input_size"], case["hidden_size"]
        case.pop("batch"), case.pop("seq_len")
        grads = {"g0": rng.normal(0, 1, (h, i)), "g1": rng.normal(0, 1, (h, h)),
                 "g2": rng.normal(0, 1, h)}
        total = math.sqrt(sum(float((g ** 2).sum()) for g in grads.values()))
        case.update(grads)
        case.update({"max_norm": total * (0.4 if k % 2 == 0 else 2.5), "_args": "g0,g1,g2"})
        out.append(case)
    return out


def _clip_expected(case, always=False, per_tensor=False) -> dict:
    grads = [_t(case, n).clone() for n in ("g0", "g1", "g2")]
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
    return _numpy({"g0": grads[0], "g1": grads[1], "g2": grads[2], "total_norm": total})


_register(CheckDef(
    "test_clip", "clip", _clip_cases, _clip_expected,
    (Variant("clip_always", lambda c: _clip_expected(c, always=True)),
     Variant("clip_per_tensor", lambda c: _clip_expected(c, per_tensor=True))),
    "clip_by_global_norm"))

check_rnn_forward = _check_fn("test_rnn_forward", "rnn_forward")
check_rnn_backward = _check_fn("test_rnn_backward", "rnn_backward")
check_jacobian_product = _check_fn("test_jacobian_product", "hidden_jacobian")
check_clip = _check_fn("test_clip", "clip_by_global_norm")


# ========================================================================================== LSTM


def lstm_variant(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, *, order="ifgo", tanh_c=True,
                 g_act=torch.tanh, transpose=False) -> dict:
    """One LSTM step with a chosen mistake; the defaults give nn.LSTM's step."""
    wh = weight_hh
    if transpose:
        wh = torch.cat([w.T for w in weight_hh.chunk(4)])
    pre = x @ weight_ih.T + bias_ih + h @ wh.T + bias_hh
    phys = pre.chunk(4, dim=-1)
    gates = {name: phys[order.index(name)] for name in "ifgo"}
    c_next = torch.sigmoid(gates["f"]) * c + torch.sigmoid(gates["i"]) * g_act(gates["g"])
    h_next = torch.sigmoid(gates["o"]) * (torch.tanh(c_next) if tanh_c else c_next)
    return {"h_next": h_next, "c_next": c_next}


def _lstm_cases(fn: str, args: str, outputs: str, layer: bool) -> Callable:
    def make(suite: str, seed: int) -> list[dict]:
        out = []
        for k, case in enumerate(_base_cases(suite, seed)):
            rng = case.pop("_rng")
            b, t, i, h = case["batch"], case["seq_len"], case["input_size"], case["hidden_size"]
            case.update(_gru_params(rng, i, h, gates=4))
            case.update({"h": rng.normal(0, 0.8, (b, h)), "c": rng.normal(0, 1, (b, h)),
                         "_fn": fn, "_outputs": outputs, "_gates": "ifgo", "_args": args})
            if layer:
                batch_first, with_h0 = k % 2 == 1, k != 2
                x = rng.normal(0, 1, (t, b, i))
                case.update({"x": x.transpose(1, 0, 2).copy() if batch_first else x,
                             "h0": case.pop("h"), "c0": case.pop("c"), "batch_first": batch_first,
                             "with_h0": with_h0, "kw_batch_first": batch_first})
                if not with_h0:
                    case["_args"] = args.removesuffix(",h0,c0")
            else:
                case["x"] = rng.normal(0, 1, (b, i))
                case.pop("seq_len")
            out.append(case)
        return out

    return make


def _lstm_step(case, **kw) -> dict:
    return _numpy(lstm_variant(_t(case, "x"), _t(case, "h"), _t(case, "c"),
                               *(_t(case, p) for p in _PARAMS), **kw))


_LSTM_STEP_VARIANTS = (("lstm_order_ifog", {"order": "ifog"}), ("lstm_no_tanh_c", {"tanh_c": False}),
                       ("lstm_g_sigmoid", {"g_act": torch.sigmoid}), ("transposed", {"transpose": True}))

_register(CheckDef(
    "test_lstm_cell", "call",
    _lstm_cases("lstm_cell", "x,h,c,weight_ih,weight_hh,bias_ih,bias_hh", "h_next,c_next", False),
    _lstm_step,
    tuple(Variant(key, (lambda kw: lambda c: _lstm_step(c, **kw))(kw)) for key, kw in _LSTM_STEP_VARIANTS),
    "lstm_cell"))


def _lstm_layer(case, zero_h0=False, first=False, ignore_bf=False, **kw) -> dict | None:
    x = _t(case, "x")
    bf = bool(case["batch_first"])
    b, hs = int(case["batch"]), int(case["hidden_size"])
    if case["with_h0"] and not zero_h0:
        h, c = _t(case, "h0"), _t(case, "c0")
    else:
        h, c = x.new_zeros(b, hs), x.new_zeros(b, hs)
    seq = x.transpose(0, 1) if bf and not ignore_bf else x
    if ignore_bf and seq.shape[1] != b:
        return None
    params = [_t(case, p) for p in _PARAMS]
    outs, cs = [], []
    for x_t in seq:
        step = lstm_variant(x_t, h, c, *params, **kw)
        h, c = step["h_next"], step["c_next"]
        outs.append(h)
        cs.append(c)
    output = torch.stack(outs)
    if bf and not ignore_bf:
        output = output.transpose(0, 1)
    k = 0 if first else -1
    return _numpy({"output": output, "h_n": outs[k], "c_n": cs[k]})


_register(CheckDef(
    "test_lstm_layer", "call",
    _lstm_cases("lstm_layer", "x,weight_ih,weight_hh,bias_ih,bias_hh,h0,c0", "output,h_n,c_n", True),
    _lstm_layer,
    tuple(Variant(key, (lambda kw: lambda c: _lstm_layer(c, **kw))(kw)) for key, kw in (
        *_LSTM_STEP_VARIANTS, ("h0_ignored", {"zero_h0": True}), ("h_n_first", {"first": True}),
        ("batch_first_ignored", {"ignore_bf": True}))),
    "lstm_layer"))


def _forget_cases(suite: str, seed: int) -> list[dict]:
    out = []
    for k, case in enumerate(_base_cases(suite, seed)):
        rng = case.pop("_rng")
        i, h = case["input_size"], case["hidden_size"]
        case.pop("batch"), case.pop("seq_len")
        names = []
        for layer in range(2):
            params = _gru_params(rng, i if layer == 0 else h, h, gates=4)
            for p in _PARAMS:
                case[f"{p}_l{layer}"] = params[p]
                names.append(f"{p}_l{layer}")
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
            v[{"wrong_slice": slice(0, h)}.get(mode, slice(h, 2 * h))] = value
        if name.startswith("bias_hh") and (mode != "first_layer" or layer0):
            if mode == "both":
                v[h:2 * h] = value
            elif mode == "wrong_slice":
                v[0:h] = 0.0
            else:
                v[h:2 * h] = 0.0
        out[name] = v
    return out


MISTAKES["forget_first_layer_only"] = ("only the first layer's forget bias was set; set it in every "
                                       "layer (bias_ih_l0, bias_ih_l1, ...)")

_register(CheckDef(
    "test_forget_bias", "forget", _forget_cases, _forget_expected,
    (Variant("forget_both", lambda c: _forget_expected(c, "both")),
     Variant("forget_wrong_slice", lambda c: _forget_expected(c, "wrong_slice")),
     Variant("forget_first_layer_only", lambda c: _forget_expected(c, "first_layer"))),
    "set_forget_bias"))

check_lstm_cell = _check_fn("test_lstm_cell", "lstm_cell")
check_lstm_layer = _check_fn("test_lstm_layer", "lstm_layer")
check_forget_bias = _check_fn("test_forget_bias", "set_forget_bias")


# ==================================================================================== GRU kernel


def _probe_kernel(ns, inputs):
    """The generic call, plus whether ``gru_pointwise_kernel`` is a Triton kernel."""
    kernel = ns.get("gru_pointwise_kernel")
    kinds = [c.__name__ for c in type(kernel).__mro__] if kernel is not None else []
    result = _probe_call(ns, inputs)
    result["triton"] = "KernelInterface" in kinds
    return result


_PROBES["kernel"] = _probe_kernel
_PROBE_HELPERS = (*_PROBE_HELPERS, _probe_call)

MISTAKES["nan_overflow"] = ("your output has NaN or inf where the pre-activations are large: "
                            "(e^{2x} − 1)/(e^{2x} + 1) overflows; build tanh from e^{−2|x|} "
                            "and put the sign back")
MISTAKES["not_triton"] = ("gru_pointwise_kernel is not a Triton kernel: decorate it with "
                          "@triton.jit and launch it from gru_pointwise")


def _kernel_cases(scale: float) -> Callable:
    shapes = {"visible": [(3, 5), (17, 33)], "hidden": [(1, 1), (20, 130), (2, 64)]}

    def make(suite: str, seed: int) -> list[dict]:
        out = []
        for k, (b, h) in enumerate(shapes[suite]):
            rng = _rng(seed, k)
            out.append({"batch": b, "hidden_size": h, "dtype": "float32",
                        "noncontiguous": suite == "hidden" and k == 1,
                        "gi": rng.normal(0, scale, (b, 3 * h)), "gh": rng.normal(0, scale, (b, 3 * h)),
                        "h": rng.uniform(-1, 1, (b, h)), "_fn": "gru_pointwise", "_args": "gi,gh,h",
                        "_outputs": "h_next", "_gates": ""})
        return out

    return make


def _pointwise(case, update="keep_old", order="rzn", activations="normal", reset=True) -> dict:
    gi, gh, h = _t(case, "gi"), _t(case, "gh"), _t(case, "h")
    pi, ph = gi.chunk(3, dim=-1), gh.chunk(3, dim=-1)
    i = {g: pi[order.index(g)] for g in "rzn"}
    j = {g: ph[order.index(g)] for g in "rzn"}
    gate, cand = (torch.tanh, torch.sigmoid) if activations == "swapped" else (torch.sigmoid, torch.tanh)
    r, z = gate(i["r"] + j["r"]), gate(i["z"] + j["z"])
    n = cand(i["n"] + (r * j["n"] if reset else j["n"]))
    return _numpy({"h_next": (1 - z) * n + z * h if update == "keep_old" else z * n + (1 - z) * h})


_KERNEL_VARIANTS = (
    Variant("update_swapped", lambda c: _pointwise(c, update="keep_new")),
    Variant("gate_order_zrn", lambda c: _pointwise(c, order="zrn")),
    Variant("activations_swapped", lambda c: _pointwise(c, activations="swapped")),
    Variant("no_reset", lambda c: _pointwise(c, reset=False)),
)


def _judge_kernel(what: str) -> Callable:
    def judge(cases, results) -> Verdict:
        for result in results:
            if isinstance(result, dict) and "bad" not in result and not result.get("triton", False):
                return Verdict(0.0, (f"{what}: {MISTAKES['not_triton']}",))
        verdict = judge_outputs(cases, results, _pointwise, _KERNEL_VARIANTS, what)
        if verdict.fraction < 1.0:
            for result in results:
                got = result.get("out.h_next") if isinstance(result, dict) else None
                if got is not None and not np.all(np.isfinite(np.asarray(got))):
                    return Verdict(0.0, (f"{what}: {MISTAKES['nan_overflow']}", *verdict.feedback))
        return verdict

    return judge


_register(CheckDef("test_pointwise_kernel", "kernel", _kernel_cases(1.0), _pointwise, _KERNEL_VARIANTS,
                   "gru_pointwise", judge_fn=_judge_kernel("gru_pointwise")))
_register(CheckDef("test_kernel_saturation", "kernel", _kernel_cases(60.0), _pointwise,
                   _KERNEL_VARIANTS, "gru_pointwise (large pre-activations)",
                   judge_fn=_judge_kernel("gru_pointwise (large pre-activations)")))


def check_pointwise_kernel(fn: Callable, kernel: Callable, suite: str = "visible", seed: int = 0) -> None:
    """Check gru_pointwise (which must launch the Triton kernel ``kernel``) against PyTorch."""
    _assert("test_pointwise_kernel", {"gru_pointwise": fn, "gru_pointwise_kernel": kernel}, suite, seed)


def check_kernel_saturation(fn: Callable, kernel: Callable, suite: str = "visible", seed: int = 0) -> None:
    """The same with pre-activations of size about 60: no overflow, no NaN."""
    _assert("test_kernel_saturation", {"gru_pointwise": fn, "gru_pointwise_kernel": kernel}, suite, seed)
