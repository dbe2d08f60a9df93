"""The engine of the checks: cases, the comparison with a reference, named variants, feedback.

A :class:`CheckDef` is one nbgrader test cell: the kind of probe that runs the student's code
(:mod:`gated.checks.probes`), how its cases are made, and either a reference and the catalogue of
known-wrong variants (judged by :func:`judge_outputs`) or a judge of its own.
"""
from __future__ import annotations

import textwrap
import traceback
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from gated.checks import probes
from gated.checks.contract import ProbeError, Result, Verdict
from gated.checks.mistakes import MISTAKES

TOLERANCE = {"float32": (1e-4, 1e-5), "float64": (1e-7, 1e-9)}  # (rtol, atol)

# ---------------------------------------------------------------------------------------- cases

#: The shapes each suite uses: (batch, seq_len, input_size, hidden_size, dtype, noncontiguous).
SUITES: dict[str, list[tuple]] = {
    "visible": [(3, 4, 5, 4, "float32", False), (3, 3, 4, 4, "float64", False)],
    "hidden": [(1, 1, 6, 3, "float64", True), (4, 5, 2, 5, "float32", True),
               (2, 2, 3, 3, "float64", False)],
}


def rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, index])


PARAMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def base_cases(suite: str, seed: int) -> list[tuple[dict, np.random.Generator]]:
    """One (case, generator) per shape of the suite: the case holds the shapes, dtype and layout."""
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {sorted(SUITES)}, got {suite!r}")
    return [({"batch": b, "seq_len": t, "input_size": i, "hidden_size": h, "dtype": dtype,
              "noncontiguous": nc}, rng(seed, index))
            for index, (b, t, i, h, dtype, nc) in enumerate(SUITES[suite])]


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


def received(case: dict, name: str) -> torch.Tensor:
    """An input as float64, rounded to the case's dtype first (what the student received)."""
    dtype = getattr(np, str(case.get("dtype", "float32")))
    return torch.from_numpy(np.asarray(case[name]).astype(dtype).astype(np.float64))


def to_numpy(outputs: dict) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
            for k, v in outputs.items()}


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


def judge_outputs(cases: list[dict], results: list[Result], expected: Callable[[dict], dict],
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
        if _matches(variant, cases, results, wrong):
            problems.insert(0, f"{what}: {MISTAKES[variant.key]}")
            return Verdict(0.0, tuple(dict.fromkeys(problems)))
    if worst[1]:
        problems.append(f"{what} does not match the reference: {worst[1]}")
    return Verdict(0.0, tuple(dict.fromkeys(problems)))


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


# -------------------------------------------------------------------------------- one check


@dataclass(frozen=True)
class CheckDef:
    """One test cell: its probe kind, how to make its cases, and how its results are judged.

    Give ``expected`` (the reference, case -> outputs) with its ``variants``, or ``judge_fn``
    (cases, results) -> Verdict for a check that needs a judge of its own.
    """

    grade_id: str
    probe: str  # a key of probes.PROBES
    make_cases: Callable[[str, int], list[dict]]  # (suite, seed) -> cases
    what: str  # how the feedback names the student's code
    expected: Callable[[dict], dict] | None = None
    variants: tuple[Variant, ...] = ()
    judge_fn: Callable[[list[dict], list[Result]], Verdict] | None = None

    def __post_init__(self) -> None:
        if (self.expected is None) == (self.judge_fn is None):
            raise ValueError(f"{self.grade_id}: give either expected (and variants) or judge_fn")
        if self.probe not in probes.PROBES:
            raise ValueError(f"{self.grade_id}: no probe of kind {self.probe!r}")

    def cases(self, suite: str, seed: int) -> list[dict]:
        return self.make_cases(suite, seed)

    def grader_cases(self, seed: int) -> list[dict]:
        """The grader's cases: the visible suite (seed 0) and the hidden suite on ``seed``."""
        return self.cases("visible", 0) + self.cases("hidden", seed)

    def judge(self, cases: list[dict], results: list[Result]) -> Verdict:
        if self.judge_fn is not None:
            return self.judge_fn(cases, results)
        return judge_outputs(cases, results, self.expected, self.variants, self.what)

    def run(self, ns: dict, suite: str = "visible", seed: int = 0) -> Verdict:
        """Run the check here, on the functions in ``ns``: what a visible (or hidden) test does."""
        cases = self.cases(suite, seed)
        return self.judge(cases, [run_probe(self.probe, ns, case) for case in cases])

    def assert_passes(self, ns: dict, suite: str = "visible", seed: int = 0) -> None:
        """Raise :class:`CheckFailed` with the feedback unless every case passes; print it otherwise."""
        verdict = self.run(ns, suite, seed)
        if verdict.fraction < 1.0:
            raise CheckFailed(verdict.feedback)
        print("\n".join(verdict.feedback))


#: ``nbgrader validate`` indents an error by 4 columns and cuts its lines at 87 (``Validator.width``
#: 90 less "..."); the message is wrapped to fit inside.
MESSAGE_WIDTH = 80


class CheckFailed(AssertionError):
    """A failing visible test: the message is the judge's feedback, the named mistake first.

    Every line is wrapped to :data:`MESSAGE_WIDTH` so ``nbgrader validate`` shows it whole, and
    IPython (JupyterLab, and the kernel ``nbgrader validate`` runs) prints only the message: an
    exception with ``_render_traceback_`` replaces the traceback, so the frames of the checks
    never push the message below the fold.
    """

    def __init__(self, feedback: tuple[str, ...] | list[str]) -> None:
        self.lines: list[str] = []
        for k, line in enumerate(feedback):
            self.lines += textwrap.wrap(line, MESSAGE_WIDTH, initial_indent="" if k == 0 else "- ",
                                        subsequent_indent="  ", break_on_hyphens=False)
        super().__init__("\n".join(self.lines))

    def _render_traceback_(self) -> list[str]:
        return self.lines


def run_probe(kind: str, ns: dict, case: dict) -> Result:
    """Run a probe here (the visible tests); an exception becomes a :class:`ProbeError`."""
    try:
        return probes.PROBES[kind](ns, case)
    except Exception as error:  # the student's exception, reported as the sandbox would
        frames = traceback.extract_tb(error.__traceback__)
        where = next((f"line {f.lineno} of {f.name}" for f in reversed(frames)
                      if f.filename != probes.__file__), "")
        return ProbeError("exception", f"{type(error).__name__}: {error}" + (f" ({where})" if where
                                                                             else ""))


def visible_check(check: CheckDef, name: str) -> Callable:
    """The notebook's one-line test of the function called ``name``: ``check_<test>(fn)``."""
    def run(fn: Callable, suite: str = "visible", seed: int = 0) -> None:
        check.assert_passes({name: fn}, suite, seed)

    run.__name__ = "check_" + check.grade_id.removeprefix("test_")
    run.__doc__ = (f"Run the cases of {check.grade_id} (suite 'visible' or 'hidden') on ``{name}``; "
                   "raise CheckFailed (an AssertionError) naming the mistake.")
    return run
