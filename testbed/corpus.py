"""The hostile and broken submissions of the `gru` assignment: ``python -m testbed.corpus`` writes
them to ``tests/files/submissions/`` (``make exercises`` runs it after a release).

Each notebook starts from the released `exercises/gru/gru.ipynb` and puts in answers (the
reference solution's, or none) and one attack. tests/test_grader_corpus.py holds the score each
must get and the feedback it must show. Cases that need the file system at grading time (a huge
file, odd student names, a zip) are made by the test's fixture instead.
"""
from __future__ import annotations

import copy
import json
import random

import nbformat

from autograder.notebook import grade_id as gid
from testbed.submissions import ROOT, answers, submission

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
    return notebook(SOLUTION, append={"answer_backward": "import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 2**20)\n    sys.stderr.write('y' * 2**16)"})


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
