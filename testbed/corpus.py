"""The hostile and broken submissions of the `gru` assignment: ``python -m testbed.corpus`` writes
them to ``tests/files/submissions/`` (``make exercises`` runs it after a release).

Each notebook starts from the released `exercises/gru/gru.ipynb` and puts in answers (the
reference solution's, or none) and one attack. tests/test_grader_corpus.py holds the score each
must get and the feedback it must show. Cases that need the file system at grading time (a huge
file, odd student names, a zip) are made by the test's fixture instead.

Several attacks need the process itself (its files, its descriptors, signals): they reach ``os``
as ``torch.os`` (no import statement), which the grader's analysis sees and zeroes, so these cases
score 0 while the sandbox still has to contain what they do.
"""
from __future__ import annotations

import copy
import json
import random
import zlib

import nbformat
import numpy as np

from autograder.notebook import grade_id as gid
from testbed.submissions import ROOT, answers, read, submission

HERE = ROOT / "tests" / "files" / "submissions"
SOLUTION = answers("gru")


def notebook(filled: dict[str, str] | None = None, append: dict[str, str] | None = None):
    """The release with ``filled`` put in (others left as the stub) and code appended to cells."""
    return submission("gru", filled, append)


def replace_in(cell: str, old: str, new: str) -> dict[str, str]:
    """The solution's answers with ``old`` replaced by ``new`` in answer ``cell``."""
    return answers("gru", {cell: ((old, new),)})


STUBS = """
def reset_gate(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.zeros(x.shape[0], weight_hh.shape[1])

def update_gate(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.zeros(x.shape[0], weight_hh.shape[1])
"""

CASES: dict[str, object] = {}


def case(name):
    def register(fn):
        CASES[name] = fn
        return fn
    return register


# ------------------------------------------------------------------ patched comparisons / lies
@case("patched-allclose")
def _():
    return notebook({"answer_gates": """import numpy, numpy.testing, torch.testing
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
numpy.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
numpy.testing.assert_array_equal = lambda *a, **k: None
torch.testing.assert_close = lambda *a, **k: None
""" + STUBS})


@case("patched-unittest")
def _():
    return notebook({"answer_gates": """import unittest, builtins
unittest.TestCase.assertEqual = lambda *a, **k: None
unittest.TestCase.assertTrue = lambda *a, **k: None
unittest.TestCase.assertAlmostEqual = lambda *a, **k: None
builtins.AssertionError = type("Never", (Exception,), {})
""" + STUBS})


@case("lying-tensor")
def _():
    return notebook({"answer_gates": """class Liar(torch.Tensor):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def allclose(self, *a, **k): return True
    def __array__(self, *a, **k): raise RuntimeError("no")

def reset_gate(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return torch.zeros(x.shape[0], weight_hh.shape[1]).as_subclass(Liar)

update_gate = reset_gate
"""})


@case("lying-object")
def _():
    return notebook({"answer_gates": """class Anything:
    shape = property(lambda self: self)
    dtype = torch.float32
    def __eq__(self, other): return True
    def __getattr__(self, name): return lambda *a, **k: self
    def __float__(self): return 0.0
    def __bool__(self): return True

def reset_gate(*args, **kwargs):
    return Anything()

update_gate = candidate = new_state = gru_cell = reset_gate
"""})


@case("patched-builtins")
def _():
    return notebook({"answer_gates": """import builtins
builtins.isinstance = lambda *a: True
builtins.float = lambda *a: 0.0
builtins.bool = lambda *a: True
builtins.len = lambda *a: 0
""" + STUBS})


# ------------------------------------------------------------------ IPython hooks
@case("gru-assert-stripper")
def _():
    return notebook({"answer_gates": """ip = get_ipython()
def strip_asserts(lines):
    return [line for line in lines if not line.lstrip().startswith(("assert", "check_"))]
ip.input_transformers_cleanup.append(strip_asserts)
""" + STUBS})


@case("ast-transformer")
def _():
    return notebook({"answer_gates": """import ast
class NoAsserts(ast.NodeTransformer):
    def visit_Assert(self, node): return ast.Pass()
    def visit_Expr(self, node): return ast.Pass()
get_ipython().ast_transformers.append(NoAsserts())
""" + STUBS})


@case("custom-exc-handler")
def _():
    return notebook({"answer_gates": """def swallow(shell, etype, evalue, tb, tb_offset=None):
    return None
get_ipython().set_custom_exc((BaseException,), swallow)
""" + STUBS})


@case("showtraceback-replaced")
def _():
    return notebook({"answer_gates": """ip = get_ipython()
ip.showtraceback = lambda *a, **k: None
ip._showtraceback = lambda *a, **k: None
import sys
sys.excepthook = lambda *a: None
""" + STUBS})


@case("event-callback-blanks-cells")
def _():
    return notebook({"answer_gates": """def blank(info):
    info.raw_cell = ""
get_ipython().events.register("pre_run_cell", blank)
""" + STUBS})


@case("hooks-with-honest-answers")
def _():
    # every hook at once, on top of correct answers: the hooks must not cost (or earn) anything
    answers = dict(SOLUTION)
    answers["answer_gates"] = """import sys
sys.excepthook = lambda *a: None
try:
    get_ipython().ast_transformers.append(None)
except Exception:
    pass
""" + SOLUTION["answer_gates"]
    return notebook(answers)


# ------------------------------------------------------------------ notebook tampering
@case("test-cells-edited")
def _():
    nb = notebook()
    for cell in nb.cells:
        if (gid(cell) or "").startswith("test_"):
            cell.source = "pass  # nothing to see here"
    return nb


@case("test-cells-deleted")
def _():
    nb = notebook(SOLUTION)
    nb.cells = [c for c in nb.cells if not (gid(c) or "").startswith("test_")]
    return nb


@case("test-cells-duplicated")
def _():
    nb = notebook(SOLUTION)
    cells = []
    for c in nb.cells:
        cells.append(c)
        if (gid(c) or "").startswith("test_"):
            duplicate = copy.deepcopy(c)
            duplicate["id"] = c["id"] + "-copy"  # a fixed id: nbformat would draw a random one
            cells.append(duplicate)
    nb.cells = cells
    return nb


@case("skip-execution-tags")
def _():
    nb = notebook()
    for cell in nb.cells:
        if (gid(cell) or "").startswith("test_"):
            cell.metadata["tags"] = ["skip-execution", "raises-exception", "gated-instructor-skip-4f1c9e"]
    return nb


@case("points-changed")
def _():
    nb = notebook(SOLUTION)
    for cell in nb.cells:
        if (gid(cell) or "").startswith("test_"):
            cell.metadata["nbgrader"]["points"] = 100
    return nb


@case("test-cell-made-answer")
def _():
    # a test cell re-marked as an answer cell, its source replaced by a redefinition
    nb = notebook()
    for cell in nb.cells:
        if gid(cell) == "test_reset_gate":
            cell.metadata["nbgrader"]["solution"] = True
            cell.metadata["nbgrader"]["grade"] = False
            cell.source = STUBS
    return nb


@case("colab-stripped")
def _():
    nb = notebook(SOLUTION)
    for cell in nb.cells:
        cell.metadata = {"id": "x%08d" % random.Random(len(cell.source)).randrange(10**8)}
        if cell.cell_type == "code":
            cell.metadata["colab"] = {"base_uri": "https://localhost:8080/"}
    nb.metadata = {"colab": {"provenance": []}, "kernelspec": {"name": "python3", "display_name": "Python 3"}}
    return nb


@case("vscode-stripped")
def _():
    nb = notebook(SOLUTION)
    for cell in nb.cells:
        cell.metadata = {}
    nb.metadata = {"language_info": {"name": "python"}}
    return nb


@case("cells-reordered")
def _():
    nb = notebook(SOLUTION)
    nb.cells = list(reversed(nb.cells))
    return nb


@case("helper-cells-added")
def _():
    # honest: a student's own helper in a cell added after an answer, used by that answer
    answers = dict(SOLUTION)
    answers["answer_cell"] = answers["answer_cell"].replace("return (1 - z) * n + z * h", "return mix(z, n, h)")
    nb = notebook(answers)
    at = next(i for i, c in enumerate(nb.cells) if gid(c) == "answer_cell")
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell("def mix(z, n, h):\n    return (1 - z) * n + z * h",
                                                      id="helper-mix"))
    return nb


# ------------------------------------------------------------------ the file system
WALK = r'''import os
def visible_files():
    """Every file this process can see, outside the system and Python folders."""
    found = []
    for top, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(top, d) not in ("/usr", "/proc", "/sys", "/dev")
                   and d not in ("site-packages", ".pyenv", "__pycache__")]
        found += [os.path.join(top, f) for f in files]
    return found
'''


@case("read-instructor-files")
def _():
    return notebook(append={"answer_gates": WALK + r'''
GUESSES = ["/work/main/solutions/gru/gru.ipynb", "/work/main/grading/gradebook.db", "/root/.ssh/id_rsa",
           "/etc/shadow", "/proc/1/environ", "/work/main/autograder/assignments/gru.py"]
seen = visible_files()
for path in seen + GUESSES:
    try:
        with open(path, "rb") as fh:
            data = fh.read(50_000_000)
    except OSError:
        continue
    secrets = [("BEGIN " + word).encode() for word in ("SOLUTION", "HIDDEN TESTS")] + [b"SQLite" + b" format"]
    if path in GUESSES or any(secret in data for secret in secrets):
        print("LEAK:", path)
print("files visible:", len(seen))
'''})


@case("write-everywhere")
def _():
    return notebook(append={"answer_gates": WALK + r'''
import time
TARGETS = ["/work/main/solutions/gru/gru.ipynb", "/work/main/grading/gradebook.db", "/work/main/README.md",
           "/work/main/autograder/spec.py", "/work/main/gated/checks.py", "/work/main/.venv/bin/python",
           "/grader/runner.py", "/job/job.json", "/work/main/exercises/gru/gru.ipynb"]
def vandal():
    wrote = []
    for path in TARGETS + [p for p in visible_files() if not p.startswith(("/tmp", "/work/submission", "/out"))]:
        try:
            with open(path, "r+b") as fh:
                fh.write(b"pwned")
            wrote.append(path)
        except OSError:
            pass
    return wrote
print("WROTE:", vandal())
if os.fork() == 0:                    # a process left running after the notebook ends
    os.setsid()
    for _ in range(100):
        vandal()
        time.sleep(0.2)
    os._exit(0)
print("vandal left running")
'''})


# ------------------------------------------------------------------ the process
@case("kernel-exit")
def _():
    return notebook(SOLUTION, append={"answer_unpack": "import os\nos._exit(0)"})


@case("kernel-signal")
def _():
    return notebook(replace_in("answer_unpack", "blocks = {}",
                               "import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)\n    blocks = {}"))


@case("segfault")
def _():
    return notebook(replace_in("answer_backward", "H = weight_hh.shape[1]\n    from_input",
                               "import ctypes\n    ctypes.string_at(0)\n    H = weight_hh.shape[1]\n    from_input"))


@case("endless-loop")
def _():
    return notebook(SOLUTION, append={"answer_backward": "while True:\n    pass"})


@case("endless-loop-uninterruptible")
def _():
    return notebook(SOLUTION, append={"answer_backward": "import signal\nfor s in (signal.SIGALRM, signal.SIGINT, signal.SIGTERM):\n    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass"})


@case("endless-loop-in-function")
def _():
    return notebook(replace_in("answer_unpack", "blocks = {}", "while True:\n        pass\n    blocks = {}"))


@case("memory-hog")
def _():
    return notebook(SOLUTION, append={"answer_backward": "hog = bytearray(12 * 2**30)\nhog2 = torch.empty(3 * 2**30)"})


@case("fork-storm")
def _():
    return notebook(SOLUTION, append={"answer_backward": r'''import os, time
children = 0
try:
    for _ in range(100000):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as exc:
    print("fork stopped after", children, exc)
'''})


@case("output-flood")
def _():
    return notebook(SOLUTION, append={"answer_backward": "for _ in range(200):\n    print('x' * 2**20)"})


@case("network-access")
def _():
    # with a network the answer would be wrong (answer_norm overwritten); without one it stays right
    return notebook(SOLUTION, append={"answer_gradient_flow": r'''import socket, urllib.request
for attempt in (lambda: socket.create_connection(("1.1.1.1", 53), timeout=3),
                lambda: urllib.request.urlopen("http://example.com", timeout=3)):
    try:
        attempt()
        answer_norm = 12345.0
        print("NETWORK: reachable")
    except OSError as exc:
        print("no network:", type(exc).__name__)
'''})


# ------------------------------------------------------------------ forbidden shortcuts
def _gru_cell_from_torch(make_cell: str) -> dict[str, str]:
    """The solution's answers with a gru_cell that copies the weights into a cell ``make_cell`` builds."""
    filled = dict(SOLUTION)
    filled["answer_cell"] = SOLUTION["answer_cell"].split("def gru_cell")[0] + \
        'def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset="after"):\n' + make_cell + \
        """    with torch.no_grad():
        cell.weight_ih.copy_(weight_ih); cell.weight_hh.copy_(weight_hh)
        cell.bias_ih.copy_(bias_ih); cell.bias_hh.copy_(bias_hh)
    return cell(x, h)
"""
    return filled


@case("uses-nn-grucell")
def _():
    return notebook(_gru_cell_from_torch("    cell = torch.nn.GRUCell(x.shape[1], h.shape[1]).to(x.dtype)\n"))


@case("uses-nn-grucell-obfuscated")
def _():
    return notebook(_gru_cell_from_torch('    Cell = getattr(torch.nn, "GRU" + "Cell")\n'
                                         "    cell = Cell(x.shape[1], h.shape[1]).to(x.dtype)\n"))


@case("uses-fullwidth-alias")
def _():
    # Python normalises identifiers to NFKC: ｎｎ is nn
    return notebook(_gru_cell_from_torch("    cell = ｎｎ.GRUCell(x.shape[1], h.shape[1]).to(x.dtype)\n"))


@case("uses-module-alias-chain")
def _():
    return notebook(_gru_cell_from_torch("    import torch as t\n    rnn = t.nn\n"
                                         "    cell = rnn.GRUCell(x.shape[1], h.shape[1]).to(x.dtype)\n"))


@case("uses-aten-op-namespace")
def _():
    filled = dict(SOLUTION)
    filled["answer_cell"] = SOLUTION["answer_cell"].replace(
        "    r = reset_gate(x, h, weight_ih, weight_hh, bias_ih, bias_hh)",
        "    return torch.ops.aten.gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh)\n"
        "    r = reset_gate(x, h, weight_ih, weight_hh, bias_ih, bias_hh)")
    return notebook(filled)


@case("uses-pytorch-decomposition")
def _():
    # torch._decomp computes a GRU from primitive ops: no recurrent kernel runs, but it is private
    filled = dict(SOLUTION)
    filled["answer_cell"] = SOLUTION["answer_cell"].replace(
        "    r = reset_gate(x, h, weight_ih, weight_hh, bias_ih, bias_hh)",
        "    from torch._decomp.decompositions import gru_impl\n"
        "    return gru_impl(x[None], h[None], [weight_ih, weight_hh, bias_ih, bias_hh], True, 1, 0.0, False, False,"
        " False)[1][0]\n"
        "    r = reset_gate(x, h, weight_ih, weight_hh, bias_ih, bias_hh)")
    return notebook(filled)


@case("installed-from-the-gradient-flow-cell")
def _():
    # defined in a cell whose own test is gradient flow, used by gru_cell under another name
    filled = _gru_cell_from_torch("    cell = cell_impl(x.shape[1], h.shape[1]).to(x.dtype)\n")
    filled["answer_gradient_flow"] = SOLUTION["answer_gradient_flow"] + "\n\ncell_impl = nn.GRUCell\n"
    return notebook(filled)


@case("installed-through-the-namespace")
def _():
    filled = dict(SOLUTION)
    filled["answer_gradient_flow"] = SOLUTION["answer_gradient_flow"] + (
        "\n\nglobals()['gru_cell'] = lambda x, h, *p, reset='after': nn.GRUCell(x.shape[1], h.shape[1])(x, h)\n")
    return notebook(filled)


SMUGGLING_CELL = """def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset="after", install=None, _kept={}):
    if install is not None:
        _kept["cell"] = install
        return None
    cell = _kept["cell"](x.shape[1], h.shape[1]).to(x.dtype)
    with torch.no_grad():
        cell.weight_ih.copy_(weight_ih); cell.weight_hh.copy_(weight_hh)
        cell.bias_ih.copy_(bias_ih); cell.bias_hh.copy_(bias_hh)
    return cell(x, h)
"""


@case("smuggled-recurrent-kernel")
def _():
    # past the analysis: nn.GRUCell is named only in the unpacking cell, which hands it to gru_cell
    # through a default argument; the recurrent guard sees aten::gru_cell run in gru_cell's tests
    filled = dict(SOLUTION)
    filled["answer_cell"] = SOLUTION["answer_cell"].split("def gru_cell")[0] + SMUGGLING_CELL
    filled["answer_unpack"] = SOLUTION["answer_unpack"] + \
        "\n\ngru_cell(None, None, None, None, None, None, install=nn.GRUCell)\n"
    return notebook(filled)


SMUGGLING_BACKWARD = """def gru_cell_backward(grad_h_next, x, h, weight_ih, weight_hh, bias_ih, bias_hh, install=None, _kept={}):
    if install is not None:
        _kept["grad"] = install
        return None
    tensors = (x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    leaves = [torch.zeros_like(t, requires_grad=True) for t in tensors]
    h_next = gru_cell(*[leaf + t for leaf, t in zip(leaves, tensors)])
    return tuple(_kept["grad"](h_next, leaves, grad_h_next))
"""


@case("smuggled-autograd")
def _():
    # past the analysis: the backward cell names no autograd; the gradient-flow cell (which may use
    # it) hands torch.autograd.grad over; the autograd guard sees the backward engine run
    filled = dict(SOLUTION)
    filled["answer_backward"] = SMUGGLING_BACKWARD
    filled["answer_gradient_flow"] = SOLUTION["answer_gradient_flow"] + \
        "\n\ngru_cell_backward(None, None, None, None, None, None, None, install=torch.autograd.grad)\n"
    return notebook(filled)


@case("backward-by-torch-func")
def _():
    filled = dict(SOLUTION)
    filled["answer_backward"] = SMUGGLING_BACKWARD.replace("install=None, _kept={}):", "):").replace(
        """    if install is not None:
        _kept["grad"] = install
        return None
""", "").replace('_kept["grad"](h_next, leaves, grad_h_next)', "torch.autograd.grad(h_next, leaves, grad_h_next)")
    return notebook(filled)


# ------------------------------------------------------------------ hidden cases nobody can predict
def _old_seed_cases(name: str, grade_id: str) -> list[dict]:
    """The cases a student named ``name`` got before the secret: from a checksum of public names."""
    from autograder.assignments import SPECS

    return SPECS["gru"].check(grade_id).cases(zlib.crc32(f"gru/{name}".encode()))


@case("precomputed-old-seed-cases")
def _():
    # answers computed at home for the cases the old checksum seed gave this student
    from gated.checks import gru as gru_checks

    table = {}
    for case in _old_seed_cases("precomputed-old-seed-cases", "test_gru_cell"):
        key = round(float(np.asarray(case["x"]).astype(case["dtype"]).sum()), 4)
        table[key] = np.round(gru_checks._cell_reference(case)["h_next"], 8).tolist()
    filled = dict(SOLUTION)
    filled["answer_cell"] = SOLUTION["answer_cell"].split("def gru_cell")[0] + f"""TABLE = {table!r}


def gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset="after"):
    key = round(float(x.sum()), 4)
    if key in TABLE:
        return torch.tensor(TABLE[key], dtype=x.dtype)
    return torch.zeros_like(h)
"""
    return notebook(filled)


@case("gradient-flow-constants")
def _():
    # the two norms of the public problem, typed in: right for everyone's visible problem only
    from gated.checks import CHECKS, gru as gru_checks

    values = gru_checks.flow_values(CHECKS["test_gradient_flow"].cases("visible", 0)[0])
    filled = dict(SOLUTION)
    filled["answer_gradient_flow"] = (f"def gradient_flow_norms(problem):\n"
                                      f"    return {values['norm']!r}, {values['norm_keep']!r}\n")
    return notebook(filled)


# ------------------------------------------------------------------ what comes back must be bounded
@case("channel-endless-line")
def _():
    return notebook(SOLUTION, append={"answer_gates": "torch.os.write(3, b'{' * (64 * 2**20))"})


@case("channel-forged-results")
def _():
    # at cell time, a plausible window and result for every case of every test, before the real ones
    forged = []
    for check in ("test_reset_gate", "test_gru_cell", "test_gradient_flow"):
        for k in range(5):
            forged += [{"ev": "probe", "g": check, "k": k, "status": "start"},
                       {"ev": "result", "g": check, "k": k, "kind": "ok", "values": {"modified": {"type": "json",
                                                                                            "value": ""}}},
                       {"ev": "probe", "g": check, "k": k, "status": "ok"}]
    lines = "".join(json.dumps(event) + "\n" for event in forged)
    return notebook(SOLUTION, append={"answer_gates": f"torch.os.write(3, {lines!r}.encode())"})


@case("huge-exception-message")
def _():
    return notebook(replace_in("answer_gates", "H = weight_hh.shape[1]\n    rows = slice(0, H)",
                               "raise ValueError('<script>alert(1)</script>\\x1b]0;owned\\x07\\u202e' * 500000)\n"
                               "    H = weight_hh.shape[1]\n    rows = slice(0, H)"))


@case("huge-result-array")
def _():
    return notebook(replace_in("answer_unpack", "    blocks = {}\n", "    return {key: torch.zeros(4000, 4000) for key in "
                               "('W_ir', 'W_iz', 'W_in', 'W_hr', 'W_hz', 'W_hn', 'b_ir', 'b_iz', 'b_in', 'b_hr', "
                               "'b_hz', 'b_hn')}\n    blocks = {}\n"))


@case("escape-sequences-in-messages")
def _():
    return notebook(replace_in("answer_gates", "H = weight_hh.shape[1]\n    rows = slice(0, H)",
                               "raise ValueError('\\x1b[2J\\x1b]0;owned\\x07<b>bold</b>\\u202egnp.exe')\n"
                               "    H = weight_hh.shape[1]\n    rows = slice(0, H)"))


# ------------------------------------------------------------------ bad input inside a class
@case("another-assignments-notebook")
def _():
    # the lstm assignment's notebook, answered, submitted under gru
    return submission("lstm", answers("lstm"))


# ------------------------------------------------------------------ honest references
@case("honest-solution")
def _():
    return notebook(SOLUTION)


@case("honest-empty")
def _():
    return notebook()


@case("honest-reset-before")
def _():
    # a named mistake: the reset gate applied before the recurrent product in the 'after' branch
    return notebook(replace_in("answer_candidate",
                               "return torch.tanh(from_input + r * (h @ weight_hh[rows].T + bias_hh[rows]))",
                               "return torch.tanh(from_input + (r * h) @ weight_hh[rows].T + bias_hh[rows])"))


# ------------------------------------------------------------------ broken files
RAW: dict[str, bytes] = {}


def raw_cases() -> dict[str, bytes]:
    good = nbformat.writes(notebook(SOLUTION)).encode()
    return {
        "empty-file": b"",
        "truncated": good[: len(good) // 2],
        "not-a-notebook": b"def reset_gate(*a):\n    return 0\n",
        "json-not-notebook": json.dumps({"hello": "world"}).encode(),
        "binary-garbage": bytes(range(256)) * 64,
    }


def corpus() -> dict[str, bytes]:
    """Every submission of the corpus: file name -> bytes."""
    files = {f"{name}.ipynb": nbformat.writes(make()).encode() + b"\n" for name, make in CASES.items()}
    files.update({f"{name}.ipynb": data for name, data in raw_cases().items()})
    return files


def main() -> None:
    files = corpus()
    for name, data in files.items():
        (HERE / name).write_bytes(data)
    print(f"wrote {len(files)} submissions to {HERE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
