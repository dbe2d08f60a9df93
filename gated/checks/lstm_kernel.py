"""Checks of the optional ``lstm_kernel`` assignment: the LSTM's fused pointwise step as a Triton kernel.

The student writes ``lstm_pointwise_kernel`` and the wrapper ``lstm_pointwise(gi, gh, c) -> (h', c')``
from the pre-activations ``gi = x W_ih^T + b_ih`` and ``gh = h W_hh^T + b_hh`` (columns i | f | g | o).
The reference is nn.LSTM's step through the tested cell :func:`gated.cells.lstm_cell`
(:func:`reference`); the known-wrong variants come from :func:`gated.checks.lstm.lstm_combine`, the
elementwise part the ``lstm`` checks use too. The probe (:func:`gated.checks.probes.kernel`) also says
whether the kernel is a Triton kernel, whether the wrapper launched it, and whether the outputs are
the same when its launches do nothing (then they were computed outside it).
"""
from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import torch

from gated import cells
from gated.checks.contract import ProbeError, Verdict
from gated.checks.engine import TOLERANCE, CheckDef, Variant, judge_outputs, received, rng, to_numpy
from gated.checks.lstm import lstm_combine
from gated.checks.mistakes import MISTAKES

FUNCTION, KERNEL = "lstm_pointwise", "lstm_pointwise_kernel"

#: (batch, hidden_size, dtype, non-contiguous inputs) of each suite's cases.
POINTWISE_SHAPES = {
    "visible": [(3, 5, "float32", False), (17, 33, "float32", True), (2, 6, "float64", False)],
    "hidden": [(1, 1, "float32", False), (20, 130, "float32", True), (1, 7, "float64", True),
               (5, 64, "float64", False)],
}
#: Saturation: float32 only, where the textbook forms overflow soonest (e^{2x} = inf for x > 44).
SATURATION_SHAPES = {
    "visible": [(3, 5, "float32", False), (9, 40, "float32", True)],
    "hidden": [(1, 1, "float32", False), (20, 130, "float32", True), (2, 64, "float32", False)],
}
#: The spread of the saturation cases' pre-activations.
LARGE = 60.0


def _cases(shapes: dict, large: bool) -> Callable:
    def make(suite: str, seed: int) -> list[dict]:
        if suite not in shapes:
            raise ValueError(f"suite must be one of {sorted(shapes)}, got {suite!r}")
        out = []
        for k, (b, h, dtype, noncontiguous) in enumerate(shapes[suite]):
            g = rng(seed, k)
            scale = LARGE if large else 1.0
            out.append({"batch": b, "hidden_size": h, "dtype": dtype, "noncontiguous": noncontiguous,
                        "gi": g.normal(0, scale, (b, 4 * h)), "gh": g.normal(0, scale, (b, 4 * h)),
                        "c": g.normal(0, 1.5, (b, h)), "_fn": FUNCTION, "_kernel": KERNEL,
                        "_args": "gi,gh,c", "_outputs": "h_next,c_next", "_gates": ""})
        return out

    return make


def reference(gi: torch.Tensor, gh: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.LSTM's elementwise step from the pre-activations, through :func:`gated.cells.lstm_cell`:
    with x = [gi | gh] and W_ih = [I | I], x W_ih^T = gi + gh exactly; W_hh = 0 and h = 0."""
    batch, hidden = c.shape
    eye = torch.eye(4 * hidden, dtype=gi.dtype)
    return cells.lstm_cell(torch.cat([gi, gh], dim=1), (c.new_zeros(batch, hidden), c),
                           torch.cat([eye, eye], dim=1), gi.new_zeros(4 * hidden, hidden))


def _read_as_contiguous(value: torch.Tensor) -> torch.Tensor:
    """What a kernel that ignores the column stride reads from the probe's non-contiguous layout
    (:func:`gated.checks.probes.tensor`: the values at every other element of a row twice as wide)."""
    wide = value.new_zeros(*value.shape[:-1], 2 * value.shape[-1])
    wide[..., ::2] = value
    return wide[..., :value.shape[-1]]


def _inputs(case: dict, strides_ignored: bool = False) -> list[torch.Tensor]:
    values = [received(case, name) for name in ("gi", "gh", "c")]
    if strides_ignored and case.get("noncontiguous"):
        values = [_read_as_contiguous(v) for v in values]
    return values


def expected(case: dict, strides_ignored: bool = False) -> dict:
    h_next, c_next = reference(*_inputs(case, strides_ignored))
    return to_numpy({"h_next": h_next, "c_next": c_next})


def _variant(case: dict, **mistake) -> dict:
    gi, gh, c = _inputs(case)
    return to_numpy(lstm_combine(gi + gh, c, **mistake))


def _outputs_swapped(case: dict) -> dict:
    right = expected(case)
    return {"h_next": right["c_next"], "c_next": right["h_next"]}


VARIANTS = (
    Variant("lstm_order_ifog", functools.partial(_variant, order="ifog")),
    Variant("lstm_order_iofg", functools.partial(_variant, order="iofg")),
    Variant("lstm_h_from_old_c", functools.partial(_variant, h_from_old_c=True)),
    Variant("lstm_no_tanh_c", functools.partial(_variant, tanh_c=False)),
    Variant("lstm_activations_swapped", functools.partial(_variant, gate_act=torch.tanh, g_act=torch.sigmoid,
                                                          out_act=torch.sigmoid)),
    Variant("lstm_g_sigmoid", functools.partial(_variant, g_act=torch.sigmoid)),
    Variant("lstm_outputs_swapped", _outputs_swapped),
    Variant("strides_ignored", functools.partial(expected, strides_ignored=True)),
)


def _kernel_problem(results: list) -> str | None:
    """The named mistake when the work is not done by a launched Triton kernel, else None.

    Outside the kernel only when every case says so: a second call whose uninitialised outputs
    happened to hold the first call's values in one case is then no verdict."""
    ran = [r for r in results if not isinstance(r, ProbeError) and "bad" not in r]
    if any(not r.get("triton", False) for r in ran):
        return "not_triton"
    if any(r.get("launches") == 0 for r in ran):
        return "kernel_not_launched"
    if ran and all(r.get("same_without_kernel") for r in ran):
        return "computed_outside_kernel"
    return None


def _outputs(result) -> list[np.ndarray]:
    if isinstance(result, ProbeError) or "bad" in result:
        return []
    return [np.asarray(v) for k, v in result.items() if k.startswith("out.")]


def _float32_inside(cases: list[dict], results: list) -> bool:
    """Every case within float32's tolerance of the reference, a float64 case only there."""
    rtol, atol = TOLERANCE["float32"]
    only_float32 = False
    for case, result in zip(cases, results):
        if isinstance(result, ProbeError) or "bad" in result:
            return False
        for name, want in expected(case).items():
            got = np.asarray(result.get("out." + name))
            if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
                return False
            if case["dtype"] == "float64":
                rtol64, atol64 = TOLERANCE["float64"]
                only_float32 |= not np.allclose(got, want, rtol=rtol64, atol=atol64)
    return only_float32


def _judge(what: str) -> Callable:
    def judge(cases, results) -> Verdict:
        problem = _kernel_problem(results)
        if problem:
            return Verdict(0.0, (f"{what}: {MISTAKES[problem]}",))
        verdict = judge_outputs(cases, results, expected, VARIANTS, what)
        if verdict.fraction == 1.0:
            return verdict
        if any(not np.all(np.isfinite(out)) for r in results for out in _outputs(r)):
            return Verdict(0.0, (f"{what}: {MISTAKES['nan_overflow']}", *verdict.feedback))
        if _float32_inside(cases, results):
            return Verdict(0.0, (f"{what}: {MISTAKES['float32_inside']}", *verdict.feedback))
        return verdict

    return judge


LSTM_POINTWISE = CheckDef("test_lstm_pointwise", "kernel", _cases(POINTWISE_SHAPES, large=False), FUNCTION,
                          judge_fn=_judge(FUNCTION))
LSTM_SATURATION = CheckDef("test_lstm_saturation", "kernel", _cases(SATURATION_SHAPES, large=True),
                           f"{FUNCTION} (large pre-activations)",
                           judge_fn=_judge(f"{FUNCTION} (large pre-activations)"))

CHECKS = (LSTM_POINTWISE, LSTM_SATURATION)


def check_lstm_pointwise(fn: Callable, kernel: Callable, suite: str = "visible", seed: int = 0) -> None:
    """Check lstm_pointwise (which must launch the Triton kernel ``kernel``) against nn.LSTM's step."""
    LSTM_POINTWISE.assert_passes({FUNCTION: fn, KERNEL: kernel}, suite, seed)


def check_lstm_saturation(fn: Callable, kernel: Callable, suite: str = "visible", seed: int = 0) -> None:
    """The same with pre-activations past where e^{2x} overflows: no NaN, no inf."""
    LSTM_SATURATION.assert_passes({FUNCTION: fn, KERNEL: kernel}, suite, seed)
