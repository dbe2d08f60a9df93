"""The trusted side: read the sandbox's plain data back, look for forbidden names, call each Check.judge.

Nothing here imports or runs student code. Results arrive as JSON with arrays as ``.npy`` bytes
(``numpy.load(allow_pickle=False)``, no object arrays, size-capped); anything else becomes a
``ProbeError("bad-output", ...)``.
"""
from __future__ import annotations

import ast
import base64
import hashlib
import importlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder.notebook import grade_id
from autograder.spec import AssignmentSpec, Check, ProbeError, Result, Verdict

MAX_RESULT_ARRAY = 64 * 1024 * 1024

# Dynamic ways to reach a name without writing it; an answer that uses them cannot be checked for
# forbidden names, so it is treated as using them. (``getattr(`` on a forbidden name's module is
# one more, built from the names in forbidden_uses.)
OBFUSCATION = {
    "__import__": r"__import__", "importlib": r"(?<![\w.])importlib\b", "eval()": r"(?<![\w.])eval\s*\(",
    "exec()": r"(?<![\w.])exec\s*\(", "compile()": r"(?<![\w.])compile\s*\(", "sys.modules": r"sys\.modules",
    "__builtins__": r"__builtins__", "__subclasses__": r"__subclasses__", "__globals__": r"__globals__",
}


@dataclass
class CheckResult:
    grade_id: str
    points: float
    score: float
    feedback: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # ProbeError kinds seen


def _array(encoded: str) -> np.ndarray:
    raw = base64.b64decode(encoded.encode("ascii"), validate=True)
    if len(raw) > MAX_RESULT_ARRAY:
        raise ValueError(f"an array of {len(raw)} bytes, more than {MAX_RESULT_ARRAY}")
    array = np.load(io.BytesIO(raw), allow_pickle=False)
    if array.dtype.hasobject or array.dtype.kind not in "biufcUS":
        raise ValueError(f"dtype {array.dtype}")
    return array


def read_result(event: dict | None) -> Result:
    """A probe's result event from the sandbox as plain data, or a ProbeError."""
    if event is None:
        return ProbeError("missing", "no result: the notebook stopped before this test ran")
    try:
        if event.get("kind") == "error":
            kind = str(event.get("error_kind", "exception"))
            kind = kind if kind in ("exception", "timeout", "crash", "memory", "missing", "forbidden") else "exception"
            return ProbeError(kind, str(event.get("message", ""))[:500])
        values = {}
        for key, item in dict(event["values"]).items():
            if item["type"] == "json":
                value = item["value"]
                if not isinstance(value, (bool, int, float, str, type(None))):
                    raise ValueError(f"{key!r} is not a plain value")
                values[str(key)] = value
            elif item["type"] == "npy":
                values[str(key)] = _array(item["b64"])
            else:
                raise ValueError(f"{key!r} has an unknown type")
        return values
    except Exception as exc:  # noqa: BLE001 - whatever is wrong, it is the sandbox's data that is bad
        return ProbeError("bad-output", f"the result could not be read as plain data ({exc})"[:300])


def forbidden_uses(answers: dict[str, str], names: tuple[str, ...]) -> list[str]:
    """Forbidden names (and dynamic look-ups) found in the student's code, as ``"name in cell"``."""
    found = []
    for grade_id, source in answers.items():
        text = _code_only(source)
        patterns = {name: rf"(?<![A-Za-z0-9_]){re.escape(name)}(?![A-Za-z0-9_])" for name in names}
        if names:
            patterns.update(OBFUSCATION)
            roots = {n.split(".")[0] for n in names}
            if any(n.split(".")[0] in ("nn", "torch", "_VF", "F") for n in names):
                roots |= {"torch", "nn", "F", "_VF"}
            patterns["getattr()"] = rf"(?<![\w.])getattr\s*\(\s*({'|'.join(map(re.escape, sorted(roots)))})\b"
        for name, pattern in patterns.items():
            if re.search(pattern, text) or ("." in name and _imports_name(text, name)):
                found.append(f"{name} (in {grade_id})")
    return found


def _code_only(source: str) -> str:
    """The code without comments, docstrings and magics; other strings stay (``getattr(nn, "GRU")``)."""
    import io as _io
    import tokenize

    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    text = "\n".join(lines)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    drop: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            drop.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    lines = text.splitlines()
    try:
        for tok in tokenize.generate_tokens(_io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                row, col = tok.start
                lines[row - 1] = lines[row - 1][:col]
    except (tokenize.TokenError, IndentationError):
        return text
    return "\n".join("" if n + 1 in drop else line for n, line in enumerate(lines))


def _imports_name(text: str, name: str) -> bool:
    module, _, short = name.rpartition(".")
    return bool(re.search(rf"from\s+[\w.]*{re.escape(module)}\s+import\s+[^\n]*\b{re.escape(short)}\b", text))


def judge_check(check: Check, cases: list, results: list[Result], forbidden: list[str]) -> CheckResult:
    """Points and feedback for one grade cell; never raises."""
    errors = sorted({r.kind for r in results if isinstance(r, ProbeError)})
    if forbidden:
        return CheckResult(check.grade_id, check.points, 0.0,
                           [f"0 points: your answer uses {', '.join(forbidden)}, which this exercise does not allow "
                            "(write the computation yourself)"], ["forbidden"])
    try:
        verdict = check.judge(cases, results)
        if not isinstance(verdict, Verdict):
            raise TypeError(f"judge returned {type(verdict).__name__}")
    except Exception as exc:  # noqa: BLE001 - a bug in a judge must not stop the class's grading
        return CheckResult(check.grade_id, check.points, 0.0,
                           [f"the grader's judge failed ({type(exc).__name__}: {exc}); tell your instructor"],
                           errors + ["judge-error"])
    feedback = list(verdict.feedback)
    for r in results:
        if isinstance(r, ProbeError) and r.kind in ("timeout", "crash", "memory", "bad-output", "missing"):
            line = f"{r.kind}: {r.message}"
            if not any(r.message in known for known in feedback):
                feedback.append(line)
    return CheckResult(check.grade_id, check.points, round(check.points * verdict.fraction, 6), feedback, errors)


# ---------------------------------------------------------------------- the regrade fingerprint

#: The grader's own modules whose code decides a score: which answers are taken, how they run, how
#: forbidden names are found and points given.
SCORING_MODULES = ("autograder.notebook", "autograder.sanitize", "autograder.runner", "autograder.jobs",
                   "autograder.judge")


def scoring_files(spec: AssignmentSpec) -> list[tuple[str, Path]]:
    """(name, file) of every source file whose code decides a score of ``spec``: the spec's judge
    modules (a package counts with all its modules) and the grader's own :data:`SCORING_MODULES`."""
    files = []
    for name in (*spec.judge_modules, *SCORING_MODULES):
        path = Path(importlib.import_module(name).__file__)
        if path.name == "__init__.py":
            files += [(f"{name}/{p.relative_to(path.parent).as_posix()}", p) for p in sorted(path.parent.rglob("*.py"))]
        else:
            files.append((name, path))
    return files


def spec_fingerprint(spec: AssignmentSpec, instructor_notebook: bytes = b"") -> str:
    """A digest of everything that decides a score: grade ids, points, probes, forbidden names,
    timeouts, the set-up, the instructor's notebook and the judging code. A submission graded under
    another fingerprint is graded again."""
    digest = hashlib.sha256()
    digest.update(repr([(c.grade_id, c.points, c.probe, c.forbidden, c.timeout_s) for c in spec.checks]).encode())
    for part in (spec.setup.encode(), instructor_notebook):
        digest.update(hashlib.sha256(part).digest())
    for name, path in scoring_files(spec):
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def _names(source: str) -> tuple[set[str], set[str]]:
    """(top-level names a cell defines, names it reads anywhere)."""
    try:
        tree = ast.parse(_code_only(source))
    except SyntaxError:
        words = set(re.findall(r"[A-Za-z_]\w*", source))
        return set(), words
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                defined.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return defined, used


def forbidden_per_check(spec: AssignmentSpec, notebook, answers: dict[str, str]) -> dict[str, list[str]]:
    """For each check, the forbidden names used by the answers it depends on.

    A test depends on the answer cell just above it, on the cell that last defines any name that
    cell defines (a later redefinition is what the probe calls), and on every answer cell defining
    a name those use, transitively. So a forbidden shortcut in ``gru_cell`` zeroes the tests of
    ``gru_cell`` and of everything built on it, and no others.
    """
    order = [grade_id(c) for c in notebook.cells]
    answer_order = [g for g in order if g in answers]
    info = {g: _names(answers[g]) for g in answer_order}
    definer: dict[str, str] = {}
    for g in answer_order:
        for name in info[g][0]:
            definer[name] = g
    result: dict[str, list[str]] = {}
    for check in spec.checks:
        if not check.forbidden:
            result[check.grade_id] = []
            continue
        own = None
        if check.grade_id in order:
            for g in order[: order.index(check.grade_id)]:
                if g in answers:
                    own = g
        if own is None:
            closure = set(answer_order)
        else:
            closure = {own} | {definer[n] for n in info[own][0] if n in definer}
            queue = list(closure)
            while queue:
                cell = queue.pop()
                for name in info[cell][1]:
                    d = definer.get(name)
                    if d and d not in closure:
                        closure.add(d)
                        queue.append(d)
        result[check.grade_id] = forbidden_uses({g: answers[g] for g in answer_order if g in closure},
                                                check.forbidden)
    return result
