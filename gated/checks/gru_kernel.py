"""Checks of the optional ``gru_kernel`` assignment: the GRU's fused pointwise step as a Triton kernel.

The reference and the variants are the GRU's pointwise part, :func:`gated.checks.gru.combine`, fed
the pre-activations ``gi`` and ``gh`` of the case (a test checks it against :mod:`gated.cells`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from gated.checks.contract import Verdict
from gated.checks.engine import CheckDef, Variant, judge_outputs, received, rng, to_numpy
from gated.checks.gru import combine
from gated.checks.mistakes import MISTAKES


def pointwise_variant(gi, gh, h, *, order="rzn", reset="after", update="keep_old",
                      activations="normal") -> dict:
    """h' from gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh, (B, 3H) each, with chosen mistakes."""
    ci, ch = gi.chunk(3, dim=-1), gh.chunk(3, dim=-1)
    i = {g: ci[order.index(g)] for g in "rzn"}
    j = {g: ch[order.index(g)] for g in "rzn"}

    def recurrent_n(r):
        return r * j["n"] if reset == "after" else j["n"]

    return combine(i["r"] + j["r"], i["z"] + j["z"], i["n"], recurrent_n, h, update=update,
                   activations=activations)


def _cases(scale: float) -> Callable:
    shapes = {"visible": [(3, 5), (17, 33)], "hidden": [(1, 1), (20, 130), (2, 64)]}

    def make(suite: str, seed: int) -> list[dict]:
        out = []
        for k, (b, h) in enumerate(shapes[suite]):
            g = rng(seed, k)
            out.append({"batch": b, "hidden_size": h, "dtype": "float32",
                        "noncontiguous": suite == "hidden" and k == 1,
                        "gi": g.normal(0, scale, (b, 3 * h)), "gh": g.normal(0, scale, (b, 3 * h)),
                        "h": g.uniform(-1, 1, (b, h)), "_fn": "gru_pointwise", "_args": "gi,gh,h",
                        "_outputs": "h_next", "_gates": ""})
        return out

    return make


def expected(case, **mistake) -> dict:
    step = pointwise_variant(received(case, "gi"), received(case, "gh"), received(case, "h"), **mistake)
    return to_numpy({"h_next": step["h_next"]})


VARIANTS = (
    Variant("update_swapped", lambda c: expected(c, update="keep_new")),
    Variant("gate_order_zrn", lambda c: expected(c, order="zrn")),
    Variant("activations_swapped", lambda c: expected(c, activations="swapped")),
    Variant("no_reset", lambda c: expected(c, reset="none")),
)


def _judge(what: str) -> Callable:
    def judge(cases, results) -> Verdict:
        for result in results:
            if isinstance(result, dict) and "bad" not in result and not result.get("triton", False):
                return Verdict(0.0, (f"{what}: {MISTAKES['not_triton']}",))
        verdict = judge_outputs(cases, results, expected, VARIANTS, what)
        if verdict.fraction < 1.0:
            for result in results:
                got = result.get("out.h_next") if isinstance(result, dict) else None
                if got is not None and not np.all(np.isfinite(np.asarray(got))):
                    return Verdict(0.0, (f"{what}: {MISTAKES['nan_overflow']}", *verdict.feedback))
        return verdict

    return judge


POINTWISE_KERNEL = CheckDef("test_pointwise_kernel", "kernel", _cases(1.0), "gru_pointwise",
                            judge_fn=_judge("gru_pointwise"))
KERNEL_SATURATION = CheckDef("test_kernel_saturation", "kernel", _cases(60.0),
                             "gru_pointwise (large pre-activations)",
                             judge_fn=_judge("gru_pointwise (large pre-activations)"))

CHECKS = (POINTWISE_KERNEL, KERNEL_SATURATION)


def check_pointwise_kernel(fn: Callable, kernel: Callable, suite: str = "visible", seed: int = 0) -> None:
    """Check gru_pointwise (which must launch the Triton kernel ``kernel``) against PyTorch."""
    POINTWISE_KERNEL.assert_passes({"gru_pointwise": fn, "gru_pointwise_kernel": kernel}, suite, seed)


def check_kernel_saturation(fn: Callable, kernel: Callable, suite: str = "visible", seed: int = 0) -> None:
    """The same with pre-activations of size about 60: no overflow, no NaN."""
    KERNEL_SATURATION.assert_passes({"gru_pointwise": fn, "gru_pointwise_kernel": kernel}, suite, seed)
