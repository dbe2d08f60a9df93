"""What an answer uses, whatever the spelling: the judge's static analysis (autograder.analysis) and the
course's rules (autograder.rules) on the `gru` and `bptt` assignments.

Each route to a forbidden object must break the rule of the tests that depend on the cell, every
route that hides what code calls must break every test's rule, and honest code breaks none.
"""
from __future__ import annotations

import re
import sys

import pytest
import torch

from autograder import analysis, rules
from autograder.assignments import SPECS
from autograder.judge import rule_breaks
from testbed import submissions as subs

GRU = SPECS["gru"]
RELEASE = subs.read("gru", "exercises")
SOLUTION = subs.answers("gru")
CELL = '''def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset="after"):
{body}
'''


def breaks_with(cells: dict[str, str], spec=GRU, release=RELEASE, solution=SOLUTION):
    answers = dict(solution)
    answers.update(cells)
    return rule_breaks(spec, release, answers)


def gru_cell_using(body: str, head: str = "") -> dict:
    """The breaks of a solution whose gru_cell is ``body`` (after ``head`` at the top of the cell)."""
    new_state = SOLUTION["answer_cell"].split("def gru_cell")[0]
    return breaks_with({"answer_cell": new_state + head + CELL.format(body=body)})


# ---------------------------------------------------------------- one object, any spelling

FORBIDDEN_ROUTES = {
    "torch.nn.GRUCell": "    return torch.nn.GRUCell(3, 4)(x, h)",
    "nn.GRUCell": "    return nn.GRUCell(3, 4)(x, h)",
    "full-width nn": "    return ｎｎ.GRUCell(3, 4)(x, h)",
    "import as": "    import torch as t\n    return t.nn.GRUCell(3, 4)(x, h)",
    "from import as": "    from torch import nn as q\n    return q.GRUCell(3, 4)(x, h)",
    "alias": "    a = torch.nn\n    return a.GRUCell(3, 4)(x, h)",
    "alias of an alias": "    a = torch\n    b = a.nn\n    return b.GRUCell(3, 4)(x, h)",
    "from import": "    from torch.nn import GRUCell\n    return GRUCell(3, 4)(x, h)",
    "import spread over lines": "    from torch.nn import (\n        GRUCell as Cell,\n    )\n    return Cell(3, 4)(x, h)",
    "getattr with a literal": '    return getattr(torch.nn, "GRUCell")(3, 4)(x, h)',
    "the functional op": "    return torch.gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh)",
    "RNNBase in GRU mode": '    return nn.RNNBase("GRU", 3, 4)(x[None])[0][0]',
    "a class pattern": "    match x:\n        case nn.GRU():\n            pass\n    return h",
    "a time magic": "    return h\n%time c = nn.GRUCell(3, 4)",
    "an annotation default": "    def inner(cell=nn.GRUCell):\n        return cell\n    return h",
}


@pytest.mark.parametrize("route", sorted(FORBIDDEN_ROUTES))
def test_a_forbidden_object_breaks_the_tests_that_depend_on_it_by_any_route(route):
    breaks = gru_cell_using(FORBIDDEN_ROUTES[route])
    assert breaks["test_gru_cell"].used, breaks["test_gru_cell"]
    assert "test_gru_cell" not in [g for g, b in breaks.items() if b.hidden]
    # the gates do not depend on gru_cell: they keep their points
    assert not breaks["test_reset_gate"] and not breaks["test_unpack_pack"]


def test_the_use_is_named_with_its_line():
    used = gru_cell_using("    x = x\n    return ｎｎ.GRUCell(3, 4)(x, h)")["test_gru_cell"].used
    assert used == ["torch.nn.GRUCell (line 8 of answer_cell)"]  # the object's own name, whatever the spelling


IMPORT_ROUTES = {
    "the course library": "    from gated.cells import gru_cell as reference\n"
                          "    return reference(x, h, weight_ih, weight_hh, bias_ih, bias_hh)",
    "a private module of rnn": "    import torch.nn.modules.rnn as r\n    return r.GRUCell(3, 4)(x, h)",
    "os, for the channel": '    import os\n    os.write(3, b"{}")\n    return h',
}


@pytest.mark.parametrize("route", sorted(IMPORT_ROUTES))
def test_an_import_outside_every_allowlist_breaks_every_test(route):
    """Such a module is a door to the process (its files, its memory, the grader's channel)."""
    breaks = gru_cell_using(IMPORT_ROUTES[route])
    assert all(any(h.startswith("import ") for h in b.hidden) for b in breaks.values()), breaks["test_reset_gate"]


def test_an_import_another_test_allows_breaks_only_the_stricter_test():
    backward = SOLUTION["answer_backward"].replace("    H = weight_hh.shape[1]\n    from_input",
                                                   "    import torch.autograd\n    H = weight_hh.shape[1]\n    from_input", 1)
    breaks = breaks_with({"answer_backward": backward})
    assert breaks["test_gru_backward"].used == ["import torch.autograd (line 3 of answer_backward)"]
    assert not breaks["test_gru_cell"]


# ---------------------------------------------------------------- code that hides what it calls

HIDING_ROUTES = {
    "getattr with a computed name": '    return getattr(torch.nn, "GRU" + "Cell")(3, 4)(x, h)',
    "vars": '    return vars(torch.nn)["GRUCell"](3, 4)(x, h)',
    "__dict__": '    return torch.nn.__dict__["GRUCell"](3, 4)(x, h)',
    "globals": '    return globals()["nn"].GRUCell(3, 4)(x, h)',
    "locals": "    return locals()",
    "eval": '    return eval("nn.GRUCell")(3, 4)(x, h)',
    "exec": '    exec("y = 1")\n    return h',
    "compile": '    return compile("1", "x", "eval")',
    "__import__": '    return __import__("torch").nn.GRUCell(3, 4)(x, h)',
    "torch._VF": "    return torch._VF.gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh)",
    "torch.ops": "    return torch.ops.aten.gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh)",
    "torch._decomp": "    from torch._decomp import decompositions\n    return h",
    "a dunder": "    return h.__class__",
    "a frame": "    return (i for i in ()).gi_frame.f_back.f_globals",
    "a module as a value": "    mods = [torch.nn]\n    return mods[0].GRUCell(3, 4)(x, h)",
    "a module as a default": "    def inner(m=torch):\n        return m\n    return h",
    "a module rebound": "    return h\nnn = 3",
    "a write into a library": "    torch.shortcut = h\n    return h",
    "setattr on a library": '    setattr(torch, "shortcut", h)\n    return h',
    "a library's data": '    np.typecodes["x"] = 1\n    return h',
    "a star import": "    return h\nfrom torch.nn import *",
    "a computed magic": '    get_ipython().run_line_magic("time", "c = " + "nn.GRUCell")\n    return h',
    "a class pattern's dunder": "    match h:\n        case object(__class__=c):\n            pass\n    return h",
    "open": '    open("/proc/self/fd/3", "w").write("{}")\n    return h',
    "torch.compile": "    return torch.compile(lambda v: v)(h)",
    "torch.load": '    return torch.load("x", weights_only=False)',
    "a module by attribute": "    return torch.sys.modules",
    "a submodule by from-import": "    from torch.nn import modules\n    return modules.rnn.GRUCell(3, 4)(x, h)",
}


@pytest.mark.parametrize("route", sorted(HIDING_ROUTES))
def test_code_that_hides_what_it_calls_breaks_every_test(route):
    breaks = gru_cell_using(HIDING_ROUTES[route])
    assert all(b.hidden for b in breaks.values()), {g: b for g, b in breaks.items() if not b.hidden}


# ---------------------------------------------------------------- installed under another name

def test_defined_in_one_cell_and_used_in_another_breaks_the_user():
    flow = SOLUTION["answer_gradient_flow"] + "\nhelper = nn.GRUCell\n"
    breaks = breaks_with({"answer_gradient_flow": flow,
                          "answer_cell": SOLUTION["answer_cell"].replace(
                              "return new_state(z, n, h)", "return helper(3, 4)(x, h)")})
    assert breaks["test_gru_cell"].used and breaks["test_gradient_flow"].used


def test_a_global_set_inside_a_function_is_a_definition():
    flow = SOLUTION["answer_gradient_flow"] + "\ndef install():\n    global helper\n    helper = nn.GRUCell\n"
    breaks = breaks_with({"answer_gradient_flow": flow,
                          "answer_cell": SOLUTION["answer_cell"].replace(
                              "return new_state(z, n, h)", "return helper(3, 4)(x, h)")})
    assert breaks["test_gru_cell"].used


def test_installed_through_a_namespace_breaks_every_test():
    flow = SOLUTION["answer_gradient_flow"] + '\nglobals()["helper"] = nn.GRUCell\n'
    breaks = breaks_with({"answer_gradient_flow": flow})
    assert all(b.hidden for b in breaks.values())


# ---------------------------------------------------------------- autograd, for the backward pass

@pytest.mark.parametrize("route", ["loss.backward()", "torch.autograd.grad(loss, [x])",
                                   "torch.func.grad(lambda v: v.sum())(x)",
                                   "torch.autograd.functional.jacobian(lambda v: v, x)",
                                   "x.requires_grad_()", "torch.Tensor.backward(loss)"])
def test_autograd_breaks_the_backward_test_only(route):
    backward = SOLUTION["answer_backward"].replace("    H = weight_hh.shape[1]\n    from_input",
                                                   f"    loss = x.sum()\n    {route}\n    H = weight_hh.shape[1]\n"
                                                   "    from_input", 1)
    breaks = breaks_with({"answer_backward": backward})
    assert breaks["test_gru_backward"].used and not breaks["test_gru_backward"].hidden
    assert not breaks["test_gru_cell"] and not breaks["test_gradient_flow"]


def test_the_gradient_flow_cell_may_use_autograd():
    assert "torch.autograd.functional.jacobian" in SOLUTION["answer_gradient_flow"]
    assert not breaks_with({})["test_gradient_flow"]


# ---------------------------------------------------------------- honest code

HONEST = '''class Helper(nn.Module):
    def __init__(self, size):
        super().__init__()
        self._size = size
        self.weight = nn.Parameter(torch.empty(size, size))
        nn.init.uniform_(self.weight, -1 / math.sqrt(size), 1 / math.sqrt(size))
        for name in ("a", "b"):
            setattr(self, name, torch.zeros(size))

    def forward(self, x):
        with torch.no_grad():
            scale = getattr(self, "a").sum() + self._size
        return torch.tanh(x @ self.weight.T) * torch.sigmoid(scale) + np.float64(0.5) * math.pi


def fetch(module, name):
    return getattr(module, name)
'''


def test_honest_code_breaks_no_rule():
    breaks = breaks_with({"answer_cell": SOLUTION["answer_cell"] + "\n\n" + HONEST})
    assert {g: b for g, b in breaks.items() if b} == {}


def test_the_analysis_imports_only_allowed_modules():
    before = set(sys.modules)
    gru_cell_using("    return h", head="import this\nimport antigravity\nimport torch.utils.bottleneck\n")
    assert {"this", "antigravity", "torch.utils.bottleneck"} & (set(sys.modules) - before) == set()


# ---------------------------------------------------------------- the rules themselves

def test_every_recurrent_name_of_torch_is_forbidden():
    forbidden = {id(analysis.resolve(name)) for name in rules.RECURRENT
                 if not isinstance(analysis.resolve(name), type(torch))}
    names = [f"{where.__name__}.{n}" for where in (torch, torch.nn, torch.nn.functional)
             for n in dir(where) if re.search(r"gru|lstm|rnn", n, re.I) and not n.startswith("_")]
    missing = [n for n in names if id(analysis.resolve(n)) not in forbidden
               and getattr(analysis.resolve(n), "__module__", "") != "torch.nn.modules.rnn"]
    assert names and missing == []


@pytest.mark.parametrize("assignment", sorted(SPECS))
def test_rules_differ_only_in_what_a_guard_watches(assignment):
    """What one test of an assignment allows and another forbids is watched at run time by the
    stricter test's guards, so it cannot be defined in one cell and used for the other."""
    watched = {"recurrent": set(rules.RECURRENT), "autograd": set(rules.AUTOGRAD) | set(rules.AUTOGRAD_MODULES)
               | {f".{a}" for a in rules.AUTOGRAD_ATTRIBUTES}}
    checks = [c for c in SPECS[assignment].checks if c.rules]
    for strict in checks:
        for other in checks:
            extra = (set(strict.rules.forbidden) - set(other.rules.forbidden)) \
                | (set(other.rules.modules) - set(strict.rules.modules)) \
                | {f".{a}" for a in set(strict.rules.attributes) - set(other.rules.attributes)}
            covered = set().union(*(watched[g] for g in strict.rules.guards)) if strict.rules.guards else set()
            assert extra <= covered, (strict.grade_id, other.grade_id, extra - covered)


def test_every_forbidden_name_of_the_rules_resolves():
    for name in {*rules.RECURRENT, *rules.AUTOGRAD, *rules.HIDING,
                 *(n for spec in SPECS.values() for c in spec.checks if c.rules for n in c.rules.forbidden)}:
        analysis.resolve(name)


@pytest.mark.parametrize("source, why", [("x = 1\n" * 20_000, "longer than the 64 KiB"),
                                         ("x = " + "+".join(["1"] * 3000), "nested too deeply"),
                                         ("x = torch" + ".nn" * 15_000, "nested too deeply")])
def test_an_answer_too_long_or_too_deep_to_read_breaks_every_test_quickly(source, why):
    import time

    started = time.perf_counter()
    breaks = breaks_with({"answer_unpack": source})
    assert all(any(why in h for h in b.hidden) for b in breaks.values())
    assert time.perf_counter() - started < 5
