"""The runtime guards and the sandbox's view: what runs while a test's probes run is recorded
whatever Python route reached it, and the course's references cannot be imported where student
code runs.

The guards run in the runner (autograder/runner.py) exactly as in grading; these tests drive it
through an executor on a job made here, one check per route.
"""
from __future__ import annotations

import time

import nbformat
import numpy as np
import pytest

from autograder import executors, jobs, rules, sandbox
from autograder.sanitize import Sanitized
from autograder.spec import AssignmentSpec, Check, Rules, Verdict

PROBE = "def probe(ns, inputs):\n    value = ns[inputs['_fn']]()\n    return {'y': float(value)}\n"

RECURRENT_ROUTES = {
    "torch.gru_cell": "torch.gru_cell(x, h, *cell_params).sum()",
    "torch._VF": "torch._VF.gru_cell(x, h, *cell_params).sum()",
    "torch.ops.aten": "torch.ops.aten.gru_cell(x, h, *cell_params).sum()",
    "decompose()": "torch.ops.aten.gru_cell.default.decompose(x, h, *cell_params).sum()",
    "nn.GRUCell": "torch.nn.GRUCell(5, 4)(x, h).sum()",
    "nn.GRU": "torch.nn.GRU(5, 4)(x[None])[0].sum()",
    "nn.LSTM": "torch.nn.LSTM(5, 4)(x[None])[0].sum()",
    "nn.RNN": "torch.nn.RNN(5, 4)(x[None])[0].sum()",
    "a cell built before the test": "PREBUILT(x, h).sum()",
    "TorchScript": "torch.jit.script(torch.nn.GRUCell(5, 4))(x, h).sum()",
    "inference mode": "inference(lambda: torch.gru_cell(x, h, *cell_params)).sum()",
    "a tensor subclass": "torch.gru_cell(x.as_subclass(Sub), h, *cell_params).sum()",
    "caught and hidden": "caught(lambda: torch.nn.GRUCell(5, 4)(x, h))",
    "torch._decomp's Python GRU": "__import__('torch._decomp.decompositions', fromlist=['x']).gru_impl("
                                  "x[None], h[None], list(cell_params), True, 1, 0.0, False, False, False)[0].sum()",
    "torch.ao's quantizable LSTM": "__import__('torch.ao.nn.quantizable', fromlist=['x']).LSTM(5, 4)(x[None])[0].sum()",
    "torch.ao's dynamic GRU": "__import__('torch.ao.nn.quantized.dynamic', fromlist=['x']).GRU(5, 4)(x[None])[0].sum()",
}
AUTOGRAD_ROUTES = {
    "backward()": "backward_route()",
    "torch.autograd.grad": "torch.autograd.grad(f(W.clone().requires_grad_()), [], allow_unused=True) or 0"
                           " if False else torch.autograd.grad(f(leaf()), LEAF)[0].sum()",
    "autograd.functional.jacobian": "torch.autograd.functional.jacobian(f, W).sum()",
    "autograd.functional.vjp": "torch.autograd.functional.vjp(f, W)[1].sum()",
    "autograd.functional.jvp": "torch.autograd.functional.jvp(f, W, W)[1].sum()",
    "torch.func.grad": "torch.func.grad(f)(W).sum()",
    "torch.func.vjp": "torch.func.vjp(f, W)[1](torch.tensor(1.0))[0].sum()",
    "torch.func.jacrev": "torch.func.jacrev(f)(W).sum()",
    "torch.func.jacfwd": "torch.func.jacfwd(f)(W).sum()",
    "torch.func.jvp": "torch.func.jvp(f, (W,), (W,))[1].sum()",
    "torch.func.hessian": "torch.func.hessian(f)(W).sum()",
    "forward-mode dual numbers": "dual_route()",
    "a custom autograd.Function": "Twice.apply(leaf()).sum().backward() or 1.0",
    "gradcheck": "float(torch.autograd.gradcheck(lambda a: a * 2, (W.double().requires_grad_(),)))",
}
HELPERS = '''
import torch
x, h = torch.randn(3, 5), torch.randn(3, 4)
cell_params = tuple(p.detach() for p in torch.nn.GRUCell(5, 4).parameters())
PREBUILT = torch.nn.GRUCell(5, 4)
W = torch.randn(4, 4)
LEAF = []

class Sub(torch.Tensor):
    pass

def leaf():
    LEAF[:] = [W.clone().requires_grad_()]
    return LEAF[0]

def f(w):
    return (torch.ones(3, 4) @ w).tanh().sum()

def inference(fn):
    with torch.inference_mode():
        return fn()

def caught(fn):
    try:
        fn()
    except Exception:
        pass
    return 1.0

def backward_route():
    w = leaf()
    f(w).backward()
    return w.grad.sum()

def dual_route():
    import torch.autograd.forward_ad as fwAD
    with fwAD.dual_level():
        return fwAD.unpack_dual(f(fwAD.make_dual(W, torch.ones_like(W)))).tangent.sum()

class Twice(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2

def plain():
    return (x @ torch.randn(5, 4)).tanh().sigmoid().sum() + torch.linalg.matrix_norm(W, ord=2)
'''


def _ok(cases, results):
    return Verdict(1.0)


def _spec(routes: dict[str, str], guard: str | None) -> tuple[AssignmentSpec, str]:
    checks, lines = [], [HELPERS]
    for n, (name, expression) in enumerate(routes.items()):
        lines.append(f"def route_{n}():\n    return {expression}\n")
        checks.append(Check(f"test_{n}", 1.0, PROBE, lambda seed, n=n: [{"_fn": f"route_{n}"}], _ok,
                            rules=Rules(modules=(), guards=(guard,) if guard else ()), timeout_s=60.0))
    checks.append(Check("test_plain", 1.0, PROBE, lambda seed: [{"_fn": "plain"}], _ok,
                        rules=Rules(modules=(), guards=tuple(rules.GUARDS)), timeout_s=60.0))
    spec = AssignmentSpec(name="guards", notebook="guards.ipynb", checks=tuple(checks))
    return spec, "\n".join(lines)


def _run(spec: AssignmentSpec, source: str, tmp_path, executor=None) -> jobs.RunResult:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade_id": "answer", "solution": True, "grade": False, "locked": False}
    nb = nbformat.v4.new_notebook(cells=[cell])
    clean = Sanitized(nb, {"answer": source})
    executor = executor or executors.Unsafe(sandbox.Limits(cell_s=60.0))
    job, cases = jobs.build_job(clean, spec, lambda gid: 0, executor.limits)
    executor.start(spec.sandbox_setup, 1, tmp_path)
    try:
        with executor.slot() as slot:
            return jobs.run_submission(slot, job, cases, clean, executor.limits)
    finally:
        executor.close()


@pytest.fixture(scope="module")
def recurrent(tmp_path_factory):
    spec, source = _spec(RECURRENT_ROUTES, "recurrent")
    return _run(spec, source, tmp_path_factory.mktemp("recurrent")), list(RECURRENT_ROUTES)


@pytest.fixture(scope="module")
def autograd(tmp_path_factory):
    spec, source = _spec(AUTOGRAD_ROUTES, "autograd")
    return _run(spec, source, tmp_path_factory.mktemp("autograd")), list(AUTOGRAD_ROUTES)


@pytest.mark.slow
@pytest.mark.parametrize("route", sorted(RECURRENT_ROUTES))
def test_the_recurrent_guard_sees_pytorchs_recurrent_kernels_by_any_route(recurrent, route):
    ran, names = recurrent
    gid = f"test_{names.index(route)}"
    assert any("PyTorch's own recurrent kernels" in seen for seen in ran.guarded[gid]), (ran.guarded[gid],
                                                                                          ran.results[gid])


@pytest.mark.slow
@pytest.mark.parametrize("route", sorted(AUTOGRAD_ROUTES))
def test_the_autograd_guard_sees_every_gradient(autograd, route):
    ran, names = autograd
    gid = f"test_{names.index(route)}"
    assert any(seen.startswith("autograd") for seen in ran.guarded[gid]), (ran.guarded[gid], ran.results[gid])


@pytest.mark.slow
def test_plain_tensor_code_trips_no_guard(recurrent, autograd):
    for ran, _ in (recurrent, autograd):
        assert ran.guarded["test_plain"] == [] and isinstance(ran.results["test_plain"][0], dict)


@pytest.mark.slow
def test_the_guards_are_disarmed_outside_their_test(tmp_path):
    """A cell that runs nn.GRU before any test, and a test without guards, see PyTorch unchanged."""
    spec, source = _spec({"nn.GRU": "torch.nn.GRU(5, 4)(x[None])[0].sum()"}, None)
    source += "\nAT_CELL_TIME = torch.nn.GRU(5, 4)(x[None])[0].sum()\n"
    ran = _run(spec, source, tmp_path)
    assert ran.guarded["test_0"] == [] and isinstance(ran.results["test_0"][0], dict), ran.results["test_0"]
    assert ran.failures == []


def _runner():
    """The runner as a module (it opens its channel only when run as a program)."""
    import importlib.util

    loader = importlib.util.spec_from_file_location("grader_runner", sandbox.RUNNER)
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


def test_preparing_and_arming_the_guards_costs_milliseconds():
    runner = _runner()
    started = time.perf_counter()
    guard = runner.Guard(rules.guards_of(rules.NO_AUTOGRAD))
    prepared = time.perf_counter()
    for _ in range(10):
        guard.arm()
        guard.disarm()
    armed = (time.perf_counter() - prepared) / 10
    assert len(guard.ops) > 40 and len(guard.codes) == 3
    assert prepared - started < 2.0 and armed < 0.1, (prepared - started, armed)


def test_a_computed_name_cannot_reach_a_private_attribute():
    safe = _runner().student_builtins()

    class Name(str):
        def startswith(self, prefix, *a):
            return False

    for name in ("__class__", Name("__class__"), "_x"):
        with pytest.raises(AttributeError, match="private"):
            safe["getattr"](object(), name)
    assert safe["getattr"](3, "real") == 3 and safe["hasattr"](3, "imag")


# ---------------------------------------------------------------- what the sandbox can import

REFERENCES = ("gated", "gated.cells", "gated.checks", "gated.kernels", "autograder", "autograder.assignments",
              "testbed", "authoring")


@pytest.mark.slow
def test_the_course_library_cannot_be_imported_in_the_sandbox(tmp_path):
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        pytest.skip(f"the sandbox cannot run here: {exc}")
    from testbed.submissions import ROOT

    probe = "def probe(ns, inputs):\n    return {'y': ns['FOUND']}\n"
    check = Check("test_view", 1.0, probe, lambda seed: [{}], _ok, timeout_s=60.0)
    spec = AssignmentSpec(name="view", notebook="view.ipynb", checks=(check,))
    source = (f"import os\nFOUND = []\nfor name in {REFERENCES!r}:\n    try:\n        __import__(name)\n"
              "        FOUND.append(name)\n    except ImportError:\n        pass\n"
              f"FOUND += [p for p in ({str(ROOT / 'solutions')!r}, {str(ROOT / 'gated')!r}) if os.path.exists(p)]\n"
              "FOUND = ','.join(FOUND)\n")
    ran = _run(spec, source, tmp_path, executors.WarmSandbox(sandbox.Limits(cell_s=60.0)))
    assert ran.results["test_view"][0] == {"y": ""}, ran
