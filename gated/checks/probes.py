"""The probes: the code that runs INSIDE the sandbox, beside the student's answers.

A probe ``probe(ns, inputs) -> dict`` calls the student's function (found in the notebook's
namespace ``ns``) on one case and returns plain data: numpy arrays, numbers, strings and bools.
This module is self-contained (numpy and torch, nothing of the course library): the grader sends
its source text into the sandbox (:func:`probe_source`), and the visible tests call the same
functions here, so the student and the grader see the same results. Nothing here can compute a
right answer; the references stay with the judges outside.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch


def tensor(inputs, name):
    """The input ``name`` as a tensor of the case's dtype, laid out non-contiguously when asked."""
    dtype = getattr(torch, str(inputs.get("dtype", "float32")))
    value = torch.tensor(np.asarray(inputs[name]), dtype=dtype)
    if bool(inputs.get("noncontiguous", False)) and value.dim() >= 1:
        wide = torch.zeros(*value.shape[:-1], 2 * value.shape[-1], dtype=dtype)
        wide[..., ::2] = value
        value = wide[..., ::2]  # same values, stride 2 in the last dimension
    return value


def as_array(value, what):
    """A tensor (or number) as a float64 array and its dtype; a string saying what came instead otherwise."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().to(torch.float64).numpy(), str(value.dtype).replace("torch.", "")
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return np.asarray(float(value)), "float64"
    return f"{what} is a {type(value).__name__}, expected a torch.Tensor", ""


def pack(value, names, result, prefix=""):
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
        array, dtype = as_array(item, name)
        if isinstance(array, str):
            result["bad"] = array
            return result
        result["out." + prefix + name] = array
        result["dtype." + prefix + name] = dtype
    return result


def call(ns, inputs, keep=None):
    """Call ``ns[inputs['_fn']]`` on the tensors named in ``_args`` and the ``kw_*`` keywords
    (``keep``, a list, receives the returned value so that its tensors stay alive)."""
    fn = ns.get(str(inputs["_fn"]))
    if fn is None or not callable(fn):
        return {"bad": f"the notebook defines no function {inputs['_fn']}"}
    names = [a for a in str(inputs["_args"]).split(",") if a]
    args = [tensor(inputs, a) for a in names]
    kwargs = {}
    for key, value in inputs.items():
        if key.startswith("kw_"):
            kwargs[key[3:]] = value.item() if hasattr(value, "item") else value
    before = [a.clone() for a in args]
    value = fn(*args, **kwargs)
    if keep is not None:
        keep.append(value)
    result = {"modified": ",".join(n for n, a, b in zip(names, args, before) if not torch.equal(a, b))}
    return pack(value, str(inputs["_outputs"]).split(","), result)


def module(ns, inputs):
    """Build ``ns[inputs['_fn']](I, H, batch_first=...)``, load the state_dict, run it."""
    cls = ns.get(str(inputs["_fn"]))
    if cls is None:
        return {"bad": f"the notebook defines no class {inputs['_fn']}"}
    batch_first = bool(inputs["batch_first"])
    built = cls(int(inputs["input_size"]), int(inputs["hidden_size"]), batch_first=batch_first)
    params = sorted((n, tuple(p.shape)) for n, p in built.named_parameters())
    bound = max((float(p.detach().abs().max()) for p in built.parameters()), default=0.0)
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    built = built.to(getattr(torch, str(inputs.get("dtype", "float32"))))
    described = ";".join(f"{n}{list(s)}" for n, s in params)
    try:
        built.load_state_dict({n: tensor(inputs, n) for n in names})
    except Exception as error:
        return {"params": described, "modified": "",
                "bad": f"cannot load an nn.GRU state_dict: {type(error).__name__}: {error}"}
    x = tensor(inputs, "x")
    value = built(x, tensor(inputs, "h0")) if bool(inputs["with_h0"]) else built(x)
    result = {"params": described,
              "init_ok": bool(bound <= 1 / math.sqrt(int(inputs["hidden_size"])) + 1e-6),
              "modified": ""}
    return pack(value, ["output", "h_n"], result)


def unpack(ns, inputs):
    """Unpack the four packed tensors, and pack the true blocks back."""
    unpack_fn, pack_fn = ns.get("unpack_gru_weights"), ns.get("pack_gru_weights")
    if unpack_fn is None or pack_fn is None:
        return {"bad": "the notebook must define unpack_gru_weights and pack_gru_weights"}
    packed = [tensor(inputs, n) for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    blocks = str(inputs["_blocks"]).split(",")
    result = pack(unpack_fn(*packed), blocks, {"modified": ""}, "unpack.")
    if "bad" in result:
        result["bad"] = "unpack_gru_weights: " + result["bad"]
        return result
    true_blocks = {b: tensor(inputs, "block." + b) for b in blocks}
    result = pack(pack_fn(true_blocks), ["weight_ih", "weight_hh", "bias_ih", "bias_hh"], result, "pack.")
    if "bad" in result:
        result["bad"] = "pack_gru_weights: " + result["bad"]
    return result


def problem(ns, inputs):
    """Call ``ns[inputs['_fn']]`` on one dict of the tensors named in ``_problem`` (a whole problem)."""
    fn = ns.get(str(inputs["_fn"]))
    if fn is None or not callable(fn):
        return {"bad": f"the notebook defines no function {inputs['_fn']}"}
    given = {name: tensor(inputs, name) for name in str(inputs["_problem"]).split(",")}
    return pack(fn(given), str(inputs["_outputs"]).split(","), {"modified": ""})


def clip(ns, inputs):
    """Call ``clip_by_global_norm(grads, max_norm)``; check that the inputs are left alone."""
    fn = ns.get("clip_by_global_norm")
    if fn is None:
        return {"bad": "the notebook defines no function clip_by_global_norm"}
    names = [n for n in str(inputs["_args"]).split(",") if n]
    grads = [tensor(inputs, n) for n in names]
    before = [g.clone() for g in grads]
    clipped, total = fn(grads, float(inputs["max_norm"]))
    result = {"modified": ",".join(n for n, a, b in zip(names, grads, before) if not torch.equal(a, b))}
    return pack((*clipped, total), [*names, "total_norm"], result)


def forget(ns, inputs):
    """Build an nn.LSTM from the state_dict, call ``set_forget_bias(lstm, value)``, return it."""
    fn = ns.get("set_forget_bias")
    if fn is None:
        return {"bad": "the notebook defines no function set_forget_bias"}
    lstm = torch.nn.LSTM(int(inputs["input_size"]), int(inputs["hidden_size"]),
                         num_layers=int(inputs["num_layers"]))
    names = [n for n in str(inputs["_args"]).split(",") if n]
    with torch.no_grad():
        for n in names:
            getattr(lstm, n).copy_(tensor(inputs, n))
    fn(lstm, float(inputs["value"]))
    return pack(tuple(getattr(lstm, n) for n in names), names, {"modified": ""})


def _replace_run(kernel_fn, run):
    """Make ``kernel_fn[grid](...)`` call ``run`` (Triton's launch goes through ``self.run``);
    return the function that undoes it, or None where the object takes no new attribute."""
    own = getattr(kernel_fn, "__dict__", {})
    had, saved = "run" in own, own.get("run")
    try:
        kernel_fn.run = run
    except (AttributeError, TypeError):
        return None

    def restore():
        if had:
            kernel_fn.run = saved
        else:
            del kernel_fn.run
    return restore


def kernel(ns, inputs):
    """The generic call of the wrapper, checking that the Triton kernel ``ns[inputs['_kernel']]``
    does the work: ``triton`` (it is a Triton kernel), ``launches`` (how often the call launched it;
    -1 where that cannot be counted) and ``same_without_kernel`` (a second call, with its launches
    made to do nothing, returned the same outputs: they were computed outside the kernel)."""
    found = ns.get(str(inputs["_kernel"]))
    if found is None or "KernelInterface" not in [c.__name__ for c in type(found).__mro__]:
        return {"triton": False, "modified": ""}
    launches = []
    real = found.run

    def counted(*args, **kwargs):
        launches.append(1)
        return real(*args, **kwargs)

    kept = []  # the first call's outputs stay alive: the second cannot be handed their memory
    restore = _replace_run(found, counted)
    try:
        result = call(ns, inputs, kept)
    finally:
        if restore is not None:
            restore()
    result["triton"] = True
    result["launches"] = len(launches) if restore is not None else -1
    result["same_without_kernel"] = False
    restore = _replace_run(found, lambda *args, **kwargs: None) if launches and "bad" not in result \
        else None
    if restore is not None:
        try:
            again = call(ns, inputs)
            result["same_without_kernel"] = "bad" not in again and all(
                np.array_equal(again.get(k), v) for k, v in result.items() if k.startswith("out."))
        except Exception:  # noqa: BLE001 - a wrapper that fails without its kernel depends on it
            pass
        finally:
            restore()
    del kept
    return result


#: The kinds of probe a check can name.
PROBES = {"call": call, "module": module, "unpack": unpack, "problem": problem, "clip": clip,
          "forget": forget, "kernel": kernel}


def probe_source(kind: str) -> str:
    """The source the sandbox runs for one kind of check: this module, with ``probe`` bound to it."""
    if kind not in PROBES:
        raise KeyError(f"no probe of kind {kind!r}; known: {', '.join(sorted(PROBES))}")
    return Path(__file__).read_text() + f"\n\nprobe = PROBES[{kind!r}]\n"
