"""The trusted side: read the sandbox's plain data back, look for forbidden names, call each Check.judge.

Nothing here imports or runs student code. Results are read as JSON (size-capped) and ``.npy``
files (``numpy.load(allow_pickle=False)``, no object arrays, no symlinks, no names outside the
output folder); anything else becomes a ``ProbeError("bad-output", ...)``.
"""
from __future__ import annotations

import ast
import io
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autograder.spec import AssignmentSpec, Check, ProbeError, Result, Verdict

MAX_RESULT_JSON = 1024 * 1024
MAX_RESULT_ARRAY = 64 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9_.-]+\.npy$")

# Dynamic ways to reach a name without writing it; an answer that uses them cannot be checked for
# forbidden names, so it is treated as using them.
OBFUSCATION = {
    "__import__": r"__import__", "importlib": r"(?<![\w.])importlib\b", "eval()": r"(?<![\w.])eval\s*\(",
    "exec()": r"(?<![\w.])exec\s*\(", "compile()": r"(?<![\w.])compile\s*\(", "sys.modules": r"sys\.modules",
    "__builtins__": r"__builtins__", "__subclasses__": r"__subclasses__", "__globals__": r"__globals__",
    "getattr()": r"(?<![\w.])getattr\s*\(\s*(torch|nn|F|gated|_VF)\b",
}


@dataclass
class CheckResult:
    grade_id: str
    points: float
    score: float
    feedback: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # ProbeError kinds seen


def _read_regular(path: Path, limit: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{info.st_size} bytes, more than {limit}")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(limit + 1)
    finally:
        os.close(fd)


def read_result(out_dir: Path, grade_id: str, k: int) -> Result:
    """The probe's result for case ``k`` of ``grade_id`` as plain data, or a ProbeError."""
    path = out_dir / f"{grade_id}.{k}.json"
    if not path.exists() and not path.is_symlink():
        return ProbeError("missing", "no result: the notebook stopped before this test ran")
    try:
        doc = json.loads(_read_regular(path, MAX_RESULT_JSON))
        if doc.get("kind") == "error":
            kind = str(doc.get("error_kind", "exception"))
            kind = kind if kind in ("exception", "timeout", "crash", "memory", "missing", "forbidden") else "exception"
            return ProbeError(kind, str(doc.get("message", ""))[:500])
        values = {}
        for key, item in dict(doc["values"]).items():
            if item["type"] == "json":
                value = item["value"]
                if not isinstance(value, (bool, int, float, str, type(None))):
                    raise ValueError(f"{key!r} is not a plain value")
                values[str(key)] = value
            elif item["type"] == "npy" and _NAME.match(str(item["file"])):
                raw = _read_regular(out_dir / item["file"], MAX_RESULT_ARRAY)
                array = np.load(io.BytesIO(raw), allow_pickle=False)
                if array.dtype.hasobject or array.dtype.kind not in "biufcUS":
                    raise ValueError(f"{key!r} has dtype {array.dtype}")
                values[str(key)] = array
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
        for name, pattern in patterns.items():
            if re.search(pattern, text) or ("." in name and _imports_name(text, name)):
                found.append(f"{name} (in {grade_id})")
    return found


def _code_only(source: str) -> str:
    """The source without comments (strings stay: ``getattr(torch.nn, 'GRU')`` must still be seen)."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            continue
        lines.append(re.sub(r"#.*$", "", line) if "#" in line and "'" not in line and '"' not in line else line)
    text = "\n".join(lines)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    names = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Name, ast.Attribute, ast.Constant, ast.alias, ast.ImportFrom)):
            names.append(ast.unparse(node) if not isinstance(node, (ast.alias, ast.ImportFrom)) else "")
        if isinstance(node, ast.ImportFrom) and node.module:
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return text + "\n" + "\n".join(n for n in names if n)


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


def spec_fingerprint(spec: AssignmentSpec) -> str:
    import hashlib

    text = repr([(c.grade_id, c.points, c.probe, c.forbidden, c.timeout_s) for c in spec.checks]) + spec.setup
    return hashlib.sha256(text.encode()).hexdigest()[:16]
