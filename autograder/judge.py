"""The trusted side: apply each test's rules to what the answers use, and call each Check.judge.

Nothing here imports or runs student code. What comes back from the sandbox has been read and
validated by :mod:`autograder.channel` (plain data or a ProbeError per case, and what the runtime
guards saw); what the answers use comes from :mod:`autograder.analysis` (the parsed code, resolved
to the real library objects).
"""
from __future__ import annotations

import hashlib
import importlib
import types
from dataclasses import dataclass, field
from pathlib import Path

from autograder import analysis, rules as course_rules
from autograder.notebook import grade_id
from autograder.spec import AssignmentSpec, Check, ProbeError, Result, Rules, Verdict

#: At most this many uses are named in one feedback line (the rest are counted).
NAMED_USES = 4


@dataclass
class CheckResult:
    grade_id: str
    points: float
    score: float
    feedback: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # ProbeError kinds seen


@dataclass
class Breaks:
    """What the answers behind one test do against its rules, each as "what (line N of cell)"."""

    hidden: list[str] = field(default_factory=list)  # code that hides what it calls: breaks every rule
    used: list[str] = field(default_factory=list)  # what this test's rules forbid

    def __bool__(self) -> bool:
        return bool(self.hidden or self.used)


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:NAMED_USES])
    return shown + (f" and {len(items) - NAMED_USES} more" if len(items) > NAMED_USES else "")


def judge_check(check: Check, cases: list, results: list[Result], breaks: Breaks | None = None,
                guarded: list[str] | None = None) -> CheckResult:
    """Points and feedback for one grade cell; never raises. ``breaks``: what the answers do against
    the check's rules; ``guarded``: what the runtime guards saw run while its probes ran."""
    errors = sorted({r.kind for r in results if isinstance(r, ProbeError)})
    if breaks and breaks.hidden:
        return CheckResult(check.grade_id, check.points, 0.0,
                           [f"0 points: your answers use {_listed(breaks.hidden)}, which hide what the code calls "
                            "or change what other code sees; the grader cannot check such answers, so every test "
                            "that limits what an answer may use scores 0"], errors + ["forbidden"])
    if breaks and breaks.used:
        return CheckResult(check.grade_id, check.points, 0.0,
                           [f"0 points: your answer uses {_listed(breaks.used)}, which this test does not allow "
                            "(write the computation yourself)"], errors + ["forbidden"])
    if guarded:
        return CheckResult(check.grade_id, check.points, 0.0,
                           [f"0 points: while this test ran, your code ran {_listed(guarded)}, which this test "
                            "does not allow (write the computation yourself)"], errors + ["forbidden"])
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


# ---------------------------------------------------------------------------- rules and answers


class _Forbidden:
    """A rule's forbidden names resolved to the real objects (identity) and modules (by name)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self.objects: dict[int, str] = {}
        self.keep: list[object] = []  # keeps the ids valid
        self.modules: list[str] = []
        for name in names:
            obj = analysis.resolve(name)
            if isinstance(obj, types.ModuleType):
                self.modules.append(obj.__name__)
            else:
                self.objects[id(obj)] = name
                self.keep.append(obj)

    def names(self, finding: analysis.Finding) -> str | None:
        if finding.kind in ("import", "module"):
            return finding.name if any(finding.name == m or finding.name.startswith(m + ".")
                                       for m in self.modules) else None
        if finding.kind != "object":
            return None
        if id(finding.obj) in self.objects:
            return finding.name
        defined_in = getattr(finding.obj, "__module__", None)
        if isinstance(defined_in, str) and any(defined_in == m or defined_in.startswith(m + ".")
                                               for m in self.modules):
            return finding.name
        return None


_RESOLVED: dict[tuple[str, ...], _Forbidden] = {}


def _forbidden(names: tuple[str, ...]) -> _Forbidden:
    if names not in _RESOLVED:
        _RESOLVED[names] = _Forbidden(names)
    return _RESOLVED[names]


def allowed_modules(spec: AssignmentSpec) -> set[str]:
    """Every module some test of ``spec`` lets its answers use: the only ones the analysis imports."""
    return {m for check in spec.checks if check.rules for m in check.rules.modules}


def _hidden(finding: analysis.Finding, everywhere: set[str]) -> str | None:
    """What a finding hides, when it breaks every rule of the assignment; None otherwise."""
    if finding.kind == "hidden":
        return finding.name
    if finding.kind in ("import", "module") and finding.name not in everywhere:
        return f"{'import' if finding.kind == 'import' else 'the module'} {finding.name}"
    if finding.kind == "object" and _forbidden(course_rules.HIDING).names(finding):
        return finding.name
    return None


def _used(finding: analysis.Finding, rules: Rules) -> str | None:
    """What a finding uses against ``rules`` (and not against every rule), or None."""
    if finding.kind == "import":
        return None if finding.name in rules.modules else f"import {finding.name}"
    if finding.kind == "module":
        return None if finding.name in rules.modules else f"the module {finding.name}"
    if finding.kind == "attribute":
        return f".{finding.name}" if finding.name in rules.attributes else None
    return _forbidden(rules.forbidden).names(finding)


def rule_breaks(spec: AssignmentSpec, notebook, answers: dict[str, str]) -> dict[str, Breaks]:
    """For each check, what the answers it depends on do against its rules.

    Code that hides what it calls (see :mod:`autograder.analysis`) breaks every check that has
    rules, wherever it is. A forbidden use breaks the checks that depend on its cell: a test depends
    on the answer cell just above it, on the cell that last defines any name that cell defines (a
    later redefinition is what the probe calls), and on every answer cell defining a name those use,
    transitively. So a forbidden shortcut in ``gru_cell`` zeroes the tests of ``gru_cell`` and of
    everything built on it, and no others. (What one test of an assignment allows and another
    forbids is watched at run time by the stricter test's guards, :mod:`autograder.rules`.)
    """
    order = [grade_id(c) for c in notebook.cells]
    answer_order = [g for g in order if g in answers]
    everywhere = allowed_modules(spec)
    info = analysis.analyse({g: answers[g] for g in answer_order}, spec.sandbox_setup, everywhere)
    hidden = _first_of_each([(what, f) for g in answer_order for f in info[g].findings
                             if (what := _hidden(f, everywhere))])
    definer: dict[str, str] = {}
    for g in answer_order:
        for name in info[g].defined:
            definer[name] = g
    result: dict[str, Breaks] = {}
    for check in spec.checks:
        if check.rules is None:
            result[check.grade_id] = Breaks()
            continue
        own = None
        if check.grade_id in order:
            for g in order[: order.index(check.grade_id)]:
                if g in answers:
                    own = g
        if own is None:
            closure = set(answer_order)
        else:
            closure = {own} | {definer[n] for n in info[own].defined if n in definer}
            queue = list(closure)
            while queue:
                cell = queue.pop()
                for name in info[cell].used:
                    d = definer.get(name)
                    if d and d not in closure:
                        closure.add(d)
                        queue.append(d)
        used = _first_of_each([(what, f) for g in answer_order if g in closure for f in info[g].findings
                               if not _hidden(f, everywhere) and (what := _used(f, check.rules))])
        result[check.grade_id] = Breaks(hidden, used)
    return result


def _first_of_each(found: list[tuple[str, analysis.Finding]]) -> list[str]:
    """Each thing once, with where it first appears: "what (line N of cell)"."""
    first: dict[str, analysis.Finding] = {}
    for what, finding in found:
        first.setdefault(what, finding)
    return [f"{what} ({finding.where()})" for what, finding in first.items()]


# ---------------------------------------------------------------------- the regrade fingerprint

#: The grader's own modules whose code decides a score: which answers are taken, how they run, what
#: the answers may use and how it is found, how results are read and points given.
SCORING_MODULES = ("autograder.notebook", "autograder.sanitize", "autograder.runner", "autograder.jobs",
                   "autograder.channel", "autograder.analysis", "autograder.rules", "autograder.judge")


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


def spec_fingerprint(spec: AssignmentSpec, instructor_notebook: bytes = b"", cases_key: str = "") -> str:
    """A digest of everything that decides a score: grade ids, points, probes, rules, timeouts, the
    set-ups, the instructor's notebook, the judging code and ``cases_key`` (which stands for the
    workspace's hidden-case secret, see :mod:`autograder.secret`). A submission graded under another
    fingerprint is graded again."""
    digest = hashlib.sha256()
    digest.update(repr([(c.grade_id, c.points, c.probe, c.rules, c.timeout_s) for c in spec.checks]).encode())
    for part in (spec.setup.encode(), spec.sandbox_setup.encode(), instructor_notebook, cases_key.encode()):
        digest.update(hashlib.sha256(part).digest())
    for name, path in scoring_files(spec):
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]
