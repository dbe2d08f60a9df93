"""What one hostile submission costs the grader: ``python -m testbed.bounds [scenario ...]``.

Each scenario grades an honest submission and one hostile one together, in a fresh grader process
(the warm sandbox, one worker), and reports that process's own peak memory (``VmHWM``: the
sandboxes are other processes), its own CPU time, the wall time and the largest feedback page; the
baseline grades the honest submission alone. The targets (issue 12): at most 512 MiB of memory above
the baseline, feedback of at most 1 MiB, a few seconds of the grader's own time. The hostile
notebooks are made here (the largest are too big to commit): the largest notebook the grader takes,
one of many tagged cells, and the corpus's attacks on the result channel and the output.
"""
from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from autograder.notebook import grade_id
from autograder.sanitize import MAX_NOTEBOOK_BYTES
from testbed.submissions import ROOT

CORPUS = ROOT / "tests" / "files" / "submissions"

CHILD = """
import json, resource, sys, time
from pathlib import Path
from autograder import pipeline
from autograder.assignments import SPECS
started = time.monotonic()
summary = pipeline.grade(SPECS["gru"], Path(sys.argv[1]), pipeline.Course(Path(sys.argv[2])), Path(sys.argv[3]),
                         workers=1)
usage = resource.getrusage(resource.RUSAGE_SELF)
# VmHWM: this process's own peak (ru_maxrss would carry over the parent's from before exec)
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
pages = list(Path(sys.argv[3], "feedback").rglob("*.html"))
print(json.dumps({"rss_mib": peak / 1024, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "wall_s": time.monotonic() - started, "feedback_bytes": max(p.stat().st_size for p in pages),
                  "scores": {o.student: o.score for o in summary.outcomes}}))
"""


def _honest() -> nbformat.NotebookNode:
    return nbformat.read(str(CORPUS / "honest-solution.ipynb"), as_version=4)


def largest_notebook() -> bytes:
    """Just under the size limit, nearly all of it one answer cell (the grader reads, rebuilds and
    writes it back, and must not parse it)."""
    nb = _honest()
    cell = next(c for c in nb.cells if grade_id(c) == "answer_unpack")
    base = len(nbformat.writes(nb).encode())
    cell.source += "\n" + "# " + "x" * (MAX_NOTEBOOK_BYTES - base - 4096)
    return nbformat.writes(nb).encode()


def many_cells() -> bytes:
    """Tens of thousands of tagged cells (each one a repair to report), under the size limit."""
    nb = _honest()
    filler = nbformat.v4.new_code_cell("pass", metadata={"tags": ["t"]})
    count = (MAX_NOTEBOOK_BYTES - len(nbformat.writes(nb).encode())) // 120
    for n in range(count):
        cell = copy.deepcopy(filler)
        cell["id"] = f"f{n}"
        cell.metadata["tags"] = [f"tag{n}"]
        nb.cells.append(cell)
    return nbformat.writes(nb).encode()


def result_flood() -> bytes:
    """Inside a probe, results for every case at the line limit (4 MiB of base64 each), until the
    attempt's limit on the channel cuts it off."""
    nb = _honest()
    cell = next(c for c in nb.cells if grade_id(c) == "answer_gates")
    cell.source += '''

def _flood():
    import base64, io, json
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(2**17 - 16), allow_pickle=False)
    array = {"type": "npy", "b64": base64.b64encode(buffer.getvalue()).decode()}
    line = json.dumps({"ev": "result", "g": "test_reset_gate", "k": 0, "kind": "ok",
                       "values": {f"out.{n}": array for n in range(2)}}).encode() + b"\\n"
    for _ in range(100):
        torch.os.write(3, line)

_real_reset_gate = reset_gate
def reset_gate(*args):
    _flood()
    return _real_reset_gate(*args)
'''
    return nbformat.writes(nb).encode()


def _corpus(name: str):
    return lambda: (CORPUS / f"{name}.ipynb").read_bytes()


SCENARIOS = {
    "largest-notebook": largest_notebook,
    "many-tagged-cells": many_cells,
    "channel-result-flood": result_flood,
    "channel-endless-line": _corpus("channel-endless-line"),
    "output-flood": _corpus("output-flood"),
    "huge-exception-message": _corpus("huge-exception-message"),
}


def measure(hostile: bytes | None, folder: Path) -> dict:
    """Grade the honest submission (and ``hostile``) in a fresh grader process; its costs."""
    subs = folder / "submitted"
    (subs / "honest" / "gru").mkdir(parents=True)
    (subs / "honest" / "gru" / "gru.ipynb").write_bytes((CORPUS / "honest-solution.ipynb").read_bytes())
    if hostile is not None:
        (subs / "hostile" / "gru").mkdir(parents=True)
        (subs / "hostile" / "gru" / "gru.ipynb").write_bytes(hostile)
    run = subprocess.run([sys.executable, "-c", CHILD, str(subs), str(ROOT), str(folder / "grading")],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    if run.returncode:
        raise RuntimeError(f"grading failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def report(names: list[str]) -> dict[str, dict]:
    """The baseline and each scenario, with the differences to the baseline."""
    with tempfile.TemporaryDirectory(prefix="bounds-") as tmp:
        baseline = measure(None, Path(tmp) / "baseline")
        out = {"baseline": baseline}
        for name in names:
            got = measure(SCENARIOS[name](), Path(tmp) / name)
            got["rss_over_mib"] = got["rss_mib"] - baseline["rss_mib"]
            got["cpu_over_s"] = got["cpu_s"] - baseline["cpu_s"]
            out[name] = got
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testbed.bounds", description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"default: all of {', '.join(SCENARIOS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    results = report(args.scenarios or list(SCENARIOS))
    print(f"{'scenario':<24} {'peak RSS':>10} {'over':>8} {'CPU':>7} {'over':>7} {'wall':>7} {'feedback':>10}")
    for name, r in results.items():
        print(f"{name:<24} {r['rss_mib']:8.0f} MiB {r.get('rss_over_mib', 0):+6.0f}   {r['cpu_s']:5.1f} s "
              f"{r.get('cpu_over_s', 0):+5.1f} {r['wall_s']:5.1f} s {r['feedback_bytes'] / 1024:7.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
