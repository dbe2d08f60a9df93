"""The exercise checks: references pass, every planted mistake is named (visible tests and judge).

The planted mistakes (:mod:`testbed.mistakes`) are text edits of the solutions' answer
cells; each lists the test cells it must fail and the message each must give. The same submission
is checked twice: by the student's visible checks (``gated.checks``) and through the grader's
``Check.probe`` source and ``Check.judge`` (``autograder.assignments``), on the grader's cases.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from autograder.assignments import SPECS
from autograder.spec import ProbeError
from gated import cells, checks
from testbed import submissions as subs
from testbed.mistakes import planted_mistakes

MISTAKES = planted_mistakes()
GRADER_SEED = 31


@functools.lru_cache(maxsize=None)
def _namespace(assignment: str, mistake: str | None = None, folder: str = "solutions") -> dict:
    edits = None
    if mistake:
        planted = next(m for m in MISTAKES if m.name == mistake)
        edits = planted.all_edits()
    return subs.answer_namespace(assignment, edits, folder)


def _probe_fn(source: str):
    """The probe as the sandbox gets it: exec'd from its source in an empty namespace."""
    ns: dict = {}
    exec(compile(source, "<probe>", "exec"), ns)
    return ns["probe"]


def grade_through_judge(assignment: str, ns: dict) -> dict[str, tuple[float, tuple[str, ...]]]:
    """Each test cell's (fraction, feedback) through Check.probe and Check.judge."""
    out = {}
    for check in SPECS[assignment].checks:
        probe = _probe_fn(check.probe)
        cases = check.cases(GRADER_SEED)
        results = []
        for case in cases:
            try:
                results.append(probe(ns, case))
            except Exception as error:
                results.append(ProbeError("exception", f"{type(error).__name__}: {error}"))
        verdict = check.judge(cases, results)
        out[check.grade_id] = (verdict.fraction, verdict.feedback)
    return out


def grade_visible(assignment: str, ns: dict) -> dict[str, tuple[float, tuple[str, ...]]]:
    out = {}
    for check in SPECS[assignment].checks:
        verdict = checks.run_check(check.grade_id, ns)
        out[check.grade_id] = (verdict.fraction, verdict.feedback)
    return out


# ---------------------------------------------------------------------------------- references


@pytest.mark.parametrize("assignment", sorted(SPECS))
def test_reference_answers_pass_visible_and_hidden_checks(assignment):
    ns = _namespace(assignment)
    failed = {}
    for check in SPECS[assignment].checks:
        for suite in ("visible", "hidden"):
            verdict = checks.run_check(check.grade_id, ns, suite, seed=7)
            if verdict.fraction < 1:
                failed[(check.grade_id, suite)] = verdict.feedback
    assert not failed


@pytest.mark.parametrize("assignment", sorted(SPECS))
def test_reference_answers_earn_full_points_through_the_judge(assignment):
    grades = grade_through_judge(assignment, _namespace(assignment))
    assert {gid: g for gid, g in grades.items() if g[0] < 1} == {}


@pytest.mark.parametrize("assignment", sorted(SPECS))
def test_stubs_score_zero_and_say_not_written(assignment):
    grades = grade_through_judge(assignment, _namespace(assignment, folder="exercises"))
    assert all(fraction == 0 for fraction, _ in grades.values()), grades


# ----------------------------------------------------------------------------- planted mistakes


def _unexpected(grades, mistake) -> dict:
    """Test cells whose outcome or message differs from what the planted mistake lists."""
    wrong = {}
    for gid, (fraction, feedback) in grades.items():
        want = mistake.failing.get(gid)
        if want is None and fraction < 1:
            wrong[gid] = ("should pass", feedback)
        elif want is not None and (fraction > 0 or want not in " ".join(feedback)):
            wrong[gid] = (f"should fail with {want!r}", feedback)
    return wrong


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the planted naive tanh overflows, as meant
@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
def test_visible_checks_name_the_planted_mistake(mistake):
    grades = grade_visible(mistake.assignment, _namespace(mistake.assignment, mistake.name))
    assert _unexpected(grades, mistake) == {}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the planted naive tanh overflows, as meant
@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
def test_judge_names_the_planted_mistake_and_keeps_other_points(mistake):
    grades = grade_through_judge(mistake.assignment, _namespace(mistake.assignment, mistake.name))
    assert _unexpected(grades, mistake) == {}


def test_every_catalogued_mistake_is_planted_somewhere():
    messages = " ".join(" ".join(m.failing.values()) for m in MISTAKES)
    unplanted = {key for key, text in checks.MISTAKES.items() if text not in messages}
    # named from plain results in the tests below, or a variant kept for submissions not planted here
    assert unplanted <= {"rows_of_n", "answers_swapped"}


# ------------------------------------------------------------------------ the judge on raw data


def test_judge_names_the_gru_of_chung_et_al_from_plain_results():
    check = SPECS["gru"].check("test_gru_cell")
    cases = check.cases(3)
    results = [{"out.h_next": checks.gru._step(c, reset="before", update="keep_new")["h_next"].numpy(),
                "dtype.h_next": str(c["dtype"]), "modified": ""} for c in cases]
    verdict = check.judge(cases, results)
    assert verdict.fraction == 0 and checks.MISTAKES["before_and_swapped"] in verdict.feedback[0]


def test_judge_reports_the_largest_difference_and_where_when_no_variant_matches():
    check = SPECS["gru"].check("test_gru_cell")
    cases = check.cases(3)
    results = []
    for c in cases:
        out = checks.gru._step(c)["h_next"].numpy().copy()
        out[0, 1] += 0.5
        results.append({"out.h_next": out, "dtype.h_next": str(c["dtype"]), "modified": ""})
    verdict = check.judge(cases, results)
    assert "largest difference is 0.5" in verdict.feedback[-1] and "h_next[0, 1]" in verdict.feedback[-1]


def test_judge_zeroes_a_cell_whose_probe_timed_out():
    check = SPECS["gru"].check("test_gru_layer")
    cases = check.cases(3)
    verdict = check.judge(cases, [ProbeError("timeout", "30 s") for _ in cases])
    assert verdict.fraction == 0 and "timeout: 30 s" in verdict.feedback[0]


def _kernel_results(cases, **flags) -> list[dict]:
    """Right outputs from the reference, as the kernel probe reports them, with ``flags``."""
    results = []
    for c in cases:
        right = checks.lstm_kernel.expected(c)
        results.append({**{f"out.{k}": v for k, v in right.items()},
                        **{f"dtype.{k}": str(c["dtype"]) for k in right}, "modified": "", "triton": True,
                        "launches": 1, "same_without_kernel": False, **flags})
    return results


@pytest.mark.parametrize("flags,key", [({"triton": False}, "not_triton"),
                                       ({"launches": 0}, "kernel_not_launched"),
                                       ({"same_without_kernel": True}, "computed_outside_kernel")])
def test_kernel_judge_refuses_right_outputs_that_no_launched_triton_kernel_wrote(flags, key):
    check = SPECS["lstm_kernel"].check("test_lstm_pointwise")
    cases = check.cases(3)
    verdict = check.judge(cases, _kernel_results(cases, **flags))
    assert verdict.fraction == 0 and checks.MISTAKES[key] in verdict.feedback[0]


def test_kernel_judge_gives_the_points_to_right_outputs_of_a_launched_kernel():
    check = SPECS["lstm_kernel"].check("test_lstm_pointwise")
    cases = check.cases(3)
    assert check.judge(cases, _kernel_results(cases)).fraction == 1


def test_kernel_judge_takes_one_case_same_without_the_kernel_for_chance():
    """Uninitialised outputs may hold old values in one case; a wrapper that computes outside
    the kernel gives the same outputs in every case."""
    check = SPECS["lstm_kernel"].check("test_lstm_pointwise")
    cases = check.cases(3)
    results = _kernel_results(cases)
    results[0]["same_without_kernel"] = True
    assert check.judge(cases, results).fraction == 1


def test_kernel_probe_sees_a_wrapper_that_computes_without_its_kernel():
    import triton

    @triton.jit
    def lstm_pointwise_kernel(x_ptr):
        pass

    def lstm_pointwise(gi, gh, c):
        lstm_pointwise_kernel[(1,)](c)
        i, f, g, o = (gi + gh).chunk(4, dim=1)
        c_next = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c_next.tanh(), c_next

    case = checks.CHECKS["test_lstm_pointwise"].cases("visible", 0)[0]
    ns = {"lstm_pointwise": lstm_pointwise, "lstm_pointwise_kernel": lstm_pointwise_kernel}
    result = _probe_fn(checks.probe_source("kernel"))(ns, case)
    assert (result["triton"], result["launches"], result["same_without_kernel"]) == (True, 1, True)
    assert "run" not in vars(lstm_pointwise_kernel)  # the probe put the launch back as it was


def test_gradient_flow_judge_names_swapped_answers():
    check = SPECS["gru"].check("test_gradient_flow")
    cases = check.cases(5)
    results = []
    for case in cases:
        want = checks.gru.flow_values(case)
        results.append({"out.norm": want["norm_keep"], "out.norm_keep": want["norm"], "modified": ""})
    verdict = check.judge(cases, results)
    assert checks.MISTAKES["answers_swapped"] in verdict.feedback[0]


def test_gradient_flow_problems_differ_per_seed_and_are_public_only_for_the_visible_suite():
    flow = checks.CHECKS["test_gradient_flow"]
    visible = flow.cases("visible", 0)[0]
    public = checks.gradient_flow_problem()
    assert np.array_equal(visible["x"], public["x"].numpy())
    one, other = flow.cases("hidden", 1), flow.cases("hidden", 2)
    assert not np.array_equal(one[0]["x"], other[0]["x"]) and not np.array_equal(one[0]["x"], visible["x"])


def test_backward_by_hand_without_mistakes_equals_autograd():
    for case in checks.CHECKS["test_gru_backward"].cases("hidden", 3):
        by_hand, by_autograd = checks.gru.backward_by_hand(case), checks.gru._backward(case)
        for name, value in by_autograd.items():
            np.testing.assert_allclose(by_hand[name], value, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------- probe and specs


@pytest.mark.parametrize("kind", sorted(checks.probes.PROBES))
def test_probe_source_runs_alone_in_an_empty_namespace(kind):
    source = checks.probe_source(kind)
    assert callable(_probe_fn(source))


def test_probe_copies_report_an_in_place_update():
    def cell(x, h, *params, reset="after"):
        h += 1.0
        return h

    case = checks.CHECKS["test_gru_cell"].cases("visible", 0)[0]
    result = _probe_fn(checks.probe_source("call"))({"gru_cell": cell}, case)
    assert result["modified"] == "h"


def test_hidden_suite_covers_batch_one_length_one_float64_and_noncontiguous():
    b, t, i, h, dtype, noncontiguous = checks.SUITES["hidden"][0]
    assert (b, t, dtype, noncontiguous) == (1, 1, "float64", True) and i != h


@pytest.mark.parametrize("assignment", sorted(SPECS))
def test_solution_answers_break_no_rule(assignment):
    from autograder.judge import rule_breaks  # the grader's own analysis

    spec = SPECS[assignment]
    breaks = rule_breaks(spec, subs.read(assignment, "exercises"), subs.answers(assignment))
    assert {gid: b for gid, b in breaks.items() if b} == {}


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m.name for m in MISTAKES])
def test_planted_mistakes_break_no_rule(mistake):
    from autograder.judge import rule_breaks

    spec = SPECS[mistake.assignment]
    answers = subs.answers(mistake.assignment, mistake.all_edits())
    breaks = rule_breaks(spec, subs.read(mistake.assignment, "exercises"), answers)
    assert {gid: b for gid, b in breaks.items() if b} == {}


# ---------------------------------------------------------------------- the variants themselves


def _gru_inputs(seed=0, i=3, h=4, b=2):
    g = torch.Generator().manual_seed(seed)
    module = torch.nn.GRU(i, h).double()
    x = torch.randn(b, i, generator=g, dtype=torch.float64)
    h0 = torch.randn(b, h, generator=g, dtype=torch.float64)
    return module, x, h0


def test_gru_variant_defaults_equal_nn_gru():
    module, x, h0 = _gru_inputs()
    want = module(x[None], h0[None])[1][0]
    got = checks.gru.gru_variant(x, h0, module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0,
                             module.bias_hh_l0)["h_next"]
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("reset,update", [("before", "keep_old"), ("after", "keep_new"),
                                          ("before", "keep_new")])
def test_gru_variant_conventions_equal_the_reference_cell(reset, update):
    module, x, h0 = _gru_inputs(1)
    params = (module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0, module.bias_hh_l0)
    got = checks.gru.gru_variant(x, h0, *params, reset=reset, update=update)["h_next"]
    torch.testing.assert_close(got, cells.gru_cell(x, h0, *params, reset=reset, update=update))


def test_lstm_variant_defaults_equal_nn_lstm():
    module = torch.nn.LSTM(3, 4).double()
    x, h, c = torch.randn(2, 3).double(), torch.randn(2, 4).double(), torch.randn(2, 4).double()
    _, (h_n, c_n) = module(x[None], (h[None], c[None]))
    got = checks.lstm.lstm_variant(x, h, c, module.weight_ih_l0, module.weight_hh_l0, module.bias_ih_l0,
                              module.bias_hh_l0)
    torch.testing.assert_close((got["h_next"], got["c_next"]), (h_n[0], c_n[0]))


def test_jacobian_reference_equals_autograd():
    case = checks.CHECKS["test_jacobian_product"].cases("visible", 0)[1]
    want = checks.bptt.jacobian_expected(case)["jacobian"]

    def last_state(h0):
        return checks.bptt._states({**case, "h0": h0})[-1]

    jac = torch.autograd.functional.jacobian(last_state, checks.engine.received(case, "h0"))  # (B, H, B, H)
    batch = jac.shape[0]
    per_example = torch.stack([jac[k, :, k, :] for k in range(batch)]).numpy()
    np.testing.assert_allclose(want, per_example, rtol=1e-10, atol=1e-12)


def test_bptt_by_hand_variant_without_mistakes_equals_autograd_reference():
    case = checks.CHECKS["test_rnn_backward"].cases("visible", 0)[0]
    by_autograd = checks.bptt.backward_expected(case)
    by_hand = checks.bptt.backward_expected(case, transpose=True)  # the by-hand path, W_hh transposed back
    by_hand["grad_W_hh"] = by_hand["grad_W_hh"].T
    for name, value in by_autograd.items():
        np.testing.assert_allclose(by_hand[name], value, rtol=1e-10, atol=1e-12)


def _lstm_step_inputs(seed=2, i=3, h=5, b=4):
    """An nn.LSTMCell in float64, its inputs, and the pre-activations gi, gh it computes."""
    g = torch.Generator().manual_seed(seed)
    module = torch.nn.LSTMCell(i, h).double()
    x, h0, c0 = (torch.randn(b, n, generator=g, dtype=torch.float64) for n in (i, h, h))
    gi = x @ module.weight_ih.T + module.bias_ih
    gh = h0 @ module.weight_hh.T + module.bias_hh
    return module, (x, h0, c0), (gi, gh)


def test_lstm_kernel_reference_equals_nn_lstm_cell():
    module, (x, h0, c0), (gi, gh) = _lstm_step_inputs()
    with torch.no_grad():
        want = module(x, (h0, c0))
    torch.testing.assert_close(checks.lstm_kernel.reference(gi, gh, c0), want)


def test_lstm_combine_defaults_equal_the_kernel_reference():
    _, (_, _, c0), (gi, gh) = _lstm_step_inputs(3)
    got = checks.lstm.lstm_combine(gi + gh, c0)
    torch.testing.assert_close((got["h_next"], got["c_next"]), checks.lstm_kernel.reference(gi, gh, c0))


def test_lstm_kernel_variants_differ_from_the_reference_and_from_each_other():
    case = checks.CHECKS["test_lstm_pointwise"].cases("visible", 0)[1]  # non-contiguous, awkward H
    outputs = {"reference": checks.lstm_kernel.expected(case)}
    outputs |= {v.key: v.compute(case) for v in checks.lstm_kernel.VARIANTS}
    flat = {k: np.concatenate([o["h_next"].ravel(), o["c_next"].ravel()]) for k, o in outputs.items()}
    close = [(a, b) for a in flat for b in flat if a < b and np.allclose(flat[a], flat[b], rtol=1e-3, atol=1e-4)]
    assert close == []


def test_strides_ignored_variant_reads_what_a_unit_column_stride_kernel_reads():
    case = checks.CHECKS["test_lstm_pointwise"].cases("visible", 0)[1]
    assert case["noncontiguous"]
    c = checks.probes.tensor(case, "c")  # the probe's layout: a view of every other element
    storage = c.as_strided((c.shape[0], c.shape[1]), (c.stride(0), 1))  # columns read side by side
    want = checks.engine.received(case, "c")
    np.testing.assert_array_equal(checks.lstm_kernel._read_as_contiguous(want).numpy(),
                                  storage.to(torch.float64).numpy())


def test_probes_import_nothing_but_numpy_torch_and_the_standard_library():
    import ast
    import sys

    tree = ast.parse(open(checks.probes.__file__).read())
    roots = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}
    roots |= {node.module.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module}
    assert roots - set(sys.stdlib_module_names) == {"numpy", "torch"}
