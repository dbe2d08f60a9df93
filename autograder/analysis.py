"""What the answers use, found from their parsed code, whatever the spelling.

Each answer cell is parsed (Python normalises identifiers to NFKC as it parses, so ``ｎｎ`` is
``nn`` here exactly as it is when the code runs). Every import, alias (``import torch as t``,
``from torch import nn as q``, ``a = torch.nn``) and attribute chain rooted at a library is resolved
to the real object by walking the real modules here, in the trusted judge: ``getattr`` on library
objects, never on the student's. So ``torch.nn.modules.rnn.GRU``, ``nn.GRU`` and ``t.nn.GRU`` are one
object, and a rule names objects, not spellings.

What the code reaches is reported as :class:`Finding` s of five kinds:

* ``import``: a module an import statement names;
* ``module``: a module it walks into without an import (``torch.nn.modules``, ``torch.sys``);
* ``object``: a library object it reaches (``torch.nn.GRUCell``, the class itself);
* ``attribute``: an attribute name it uses on an object the analysis cannot know (``loss.backward``);
* ``hidden``: code that hides what it calls or changes what others see, which no rule can check:
  dynamic look-ups (``getattr`` with a computed name on a library, ``vars``, ``globals``, ``eval``,
  ``exec``, ``__import__``, ``open``...), private (``_x``) and dunder attributes (``torch._VF``,
  ``x.__class__``), frames and tracebacks, writes into a library's namespace (``torch.x = f``,
  ``setattr(nn, ...)``, ``np.typecodes[...] = f``), a module used as a value (``[torch][0]``), a name
  bound both to a module and to something else, star imports, and a library's mutable data.

:mod:`autograder.judge` applies a test's :class:`~autograder.spec.Rules` to these findings. Nothing
here runs student code: it parses it, and resolves names on the libraries the answers may import.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import numbers
import threading
import types
from dataclasses import dataclass, field
from typing import Any

#: Builtins that look names up, run text as code, or open the process's files: their use hides
#: what the code calls. (``getattr``/``setattr``/``delattr``/``hasattr`` are allowed in direct calls
#: on an object the analysis cannot know; see :class:`_Visitor`.)
HIDING_BUILTINS = {"eval", "exec", "compile", "globals", "locals", "vars", "__import__", "breakpoint",
                   "open", "input", "help", "getattr", "setattr", "delattr", "hasattr"}

#: Attributes that lead to frames, code and the interpreter's internals (or write files), whatever
#: object they are read from.
INTROSPECTION = {"gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "cr_origin",
                 "ag_frame", "ag_code", "ag_await", "f_back", "f_builtins", "f_code", "f_globals",
                 "f_locals", "f_trace", "tb_frame", "tb_next", "co_code", "co_consts", "co_names",
                 "tofile"}

#: The longest answer cell the analysis reads (an honest one is a few KiB; parsing costs memory and
#: time in the trusted grader, so a longer one is not checked, and breaks every rule).
MAX_SOURCE = 64 * 1024

#: The only dunders an answer may name: ``super().__init__()``, and names (plain strings).
DUNDERS = {"__init__", "__name__", "__qualname__", "__doc__"}

_SCALARS = (numbers.Number, str, bytes, bool, type(None), type(Ellipsis))


@dataclass(frozen=True)
class Finding:
    cell: str  # the answer's grade_id
    line: int
    kind: str  # "import" | "module" | "object" | "attribute" | "hidden"
    name: str  # dotted path of a module or object, an attribute name, or what hides the code
    obj: Any = field(default=None, compare=False, hash=False, repr=False)

    def where(self) -> str:
        return f"line {self.line} of {self.cell}"


@dataclass
class CellInfo:
    """One answer cell: the names it defines and uses (for dependencies), what it reaches."""

    defined: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class _Known:
    """A library object and its dotted path."""

    obj: Any
    path: str


class _Unknowable:
    """A binding whose value the analysis does not know (a parameter, a loop variable, a call's result)."""


UNKNOWN = _Unknowable()


# ------------------------------------------------------------------------------------------ source


def python_source(source: str) -> str:
    """The Python the runner executes for a cell: IPython syntax (magics, ``!cmd``) translated."""
    if not any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
        return source
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - the runner falls back to the text as it is, so do we
        return source


class Unreadable(ValueError):
    """Code the runner could run but the analysis cannot read: too long, or nested too deeply."""


# CPython 3.11 keeps the depth of the syntax tree it is building in state shared by every thread, so
# two threads parsing at once can fail with "SystemError: AST constructor recursion depth mismatch"
# (python/cpython#106905): the grader's worker threads parse one at a time.
_PARSING = threading.Lock()


def parse(source: str) -> ast.Module | None:
    """The cell's syntax tree (magics translated), or None when it does not compile (it cannot run);
    raises :class:`Unreadable` for code too long or too deeply nested to check."""
    if len(source) > MAX_SOURCE:
        raise Unreadable(f"an answer of {len(source) // 1024} KiB, longer than the {MAX_SOURCE // 1024} KiB the "
                         "grader checks")
    try:
        python = python_source(source)
        with _PARSING:
            return ast.parse(python)
    except (SyntaxError, ValueError):
        return None
    except (RecursionError, MemoryError):
        raise Unreadable("code nested too deeply to check") from None


def _magic_bodies(tree: ast.AST) -> list[tuple[str, int]]:
    """(code, line) the runner's stand-in for IPython executes from ``%time``, ``%%capture``..."""
    bodies = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("run_line_magic", "run_cell_magic")
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)):
            bodies.append((node.args[-1].value, node.lineno - 1))
    return bodies


# ---------------------------------------------------------------------------------- resolution


class Libraries:
    """Resolves dotted names on the real libraries, importing only modules from ``importable``."""

    def __init__(self, importable: set[str]) -> None:
        self.importable = importable

    def module(self, name: str) -> _Known | None:
        if name not in self.importable:
            return None
        try:
            return _Known(importlib.import_module(name), name)
        except Exception:  # noqa: BLE001 - an allowed module that does not import here
            return None

    def step(self, base: _Known, attr: str) -> tuple[_Known | None, str | None]:
        """(the attribute ``attr`` of ``base``, or None; the dotted name of a submodule not imported)."""
        path = f"{base.path}.{attr}"
        if isinstance(base.obj, types.ModuleType):
            namespace = vars(base.obj)
            if attr in namespace:
                value = namespace[attr]
            else:
                full = f"{base.obj.__name__}.{attr}"
                found = self.module(full)
                if found is not None:
                    return found, None
                try:
                    is_module = importlib.util.find_spec(full) is not None
                except (ImportError, ValueError, AttributeError):
                    is_module = False
                return None, (full if is_module else None)
        else:
            try:
                value = getattr(base.obj, attr)
            except Exception:  # noqa: BLE001 - no such attribute: the code would fail when it runs
                return None, None
        if isinstance(value, types.ModuleType):
            return _Known(value, value.__name__), None
        return _Known(value, path), None


def is_library_data(obj: Any) -> bool:
    """A library object that is mutable data (a dict, a list, an instance of a foreign class): a
    namespace by another name, so not for answers to read or change. Modules, classes, functions,
    numbers and strings, and values of the libraries' own types (dtypes, devices, finfo) are fine."""
    if isinstance(obj, (types.ModuleType, type)) or callable(obj) or isinstance(obj, _SCALARS):
        return False
    if isinstance(obj, (tuple, frozenset)):
        return any(is_library_data(item) for item in obj)
    if isinstance(obj, (dict, list, set, bytearray)):
        return True
    return (type(obj).__module__ or "").split(".")[0] not in ("torch", "numpy", "typing", "triton")


# -------------------------------------------------------------------------------------- bindings


def _bound_names(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    """Every (name, binding node) in a tree, in every scope."""
    out: list[tuple[str, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.append((node.id, node))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.append((node.name, node))
        elif isinstance(node, ast.arg):
            out.append((node.arg, node))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    out.append(((alias.asname or alias.name).split(".")[0], node))
        elif isinstance(node, ast.ExceptHandler) and node.name:
            out.append((node.name, node))
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            out.append((node.name, node))
        elif isinstance(node, ast.MatchMapping) and node.rest:
            out.append((node.rest, node))
    return out


def _top_level_defined(tree: ast.Module) -> set[str]:
    """Names a cell binds in the notebook's namespace: top-level bindings and ``global`` names."""
    defined: set[str] = set()
    scoped = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp, ast.SetComp,
              ast.DictComp, ast.GeneratorExp)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(child.name)
                for sub in ast.walk(child):
                    if isinstance(sub, ast.Global):
                        defined.update(sub.names)
                continue
            if isinstance(child, scoped):
                continue
            if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
                defined.add(child.id)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                defined.update((a.asname or a.name).split(".")[0] for a in child.names if a.name != "*")
            elif isinstance(child, ast.ExceptHandler) and child.name:
                defined.add(child.name)
            elif isinstance(child, (ast.MatchAs, ast.MatchStar)) and child.name:
                defined.add(child.name)
            elif isinstance(child, ast.NamedExpr) and isinstance(child.target, ast.Name):
                defined.add(child.target.id)
            visit(child)

    visit(tree)
    return defined


class _Bindings:
    """Flow-insensitive: what each name may hold, over every scope of every cell (and the set-up)."""

    def __init__(self, libraries: Libraries) -> None:
        self.libraries = libraries
        self.values: dict[str, list[Any]] = {}  # name -> one entry per binding (_Known, or UNKNOWN)
        self.pending: list[tuple[str, ast.expr]] = []  # simple aliases x = <chain>, resolved later

    def add(self, name: str, value: Any) -> None:
        self.values.setdefault(name, []).append(value)

    def add_tree(self, tree: ast.AST) -> None:
        for name, node in _bound_names(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = (alias.asname or alias.name).split(".")[0]
                    if bound == name:
                        module = alias.name if alias.asname else alias.name.split(".")[0]
                        self.add(name, self.libraries.module(module) or UNKNOWN)
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        self.add(name, self._from_import(node, alias.name) or UNKNOWN)
            elif isinstance(node, ast.Name):
                self.add(name, UNKNOWN)  # replaced below for a simple alias
            else:
                self.add(name, UNKNOWN)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                    and isinstance(node.value, (ast.Name, ast.Attribute))):
                self.pending.append((node.targets[0].id, node.value))

    def _from_import(self, node: ast.ImportFrom, name: str) -> _Known | None:
        if node.level or not node.module:
            return None
        base = self.libraries.module(node.module)
        if base is None:
            return None
        value, _ = self.libraries.step(base, name)
        return value

    def settle(self) -> None:
        """Resolve the simple aliases (``a = torch.nn``), aliases of aliases included."""
        for _ in range(4):
            changed = False
            for name, value_node in self.pending:
                try:
                    known = self.chain(value_node)
                except RecursionError:  # a chain too long to follow: its cell is reported unreadable
                    continue
                entries = self.values.get(name, [])
                if known is not None and UNKNOWN in entries:
                    entries[entries.index(UNKNOWN)] = known
                    changed = True
            if not changed:
                return

    def lookup(self, name: str) -> tuple[_Known | None, bool]:
        """(what ``name`` holds when every binding agrees on one library object, else None;
        whether a module is among its bindings while the bindings disagree)."""
        entries = self.values.get(name)
        if not entries:
            return None, False
        known = [e for e in entries if isinstance(e, _Known)]
        if known and len(known) == len(entries) and all(e.obj is known[0].obj for e in known):
            return known[0], False
        return None, any(isinstance(e.obj, types.ModuleType) for e in known)

    def chain(self, node: ast.expr) -> _Known | None:
        if isinstance(node, ast.Name):
            return self.lookup(node.id)[0]
        if isinstance(node, ast.Attribute) and not node.attr.startswith("_"):
            base = self.chain(node.value)
            if base is not None:
                return self.libraries.step(base, node.attr)[0]
        return None


# --------------------------------------------------------------------------------------- visiting


class _Visitor:
    """Walks one cell and records what it reaches."""

    def __init__(self, cell: str, bindings: _Bindings, findings: list[Finding], line_offset: int = 0) -> None:
        self.cell, self.bindings, self.findings, self.offset = cell, bindings, findings, line_offset
        self.libraries = bindings.libraries
        self.selves: list[str] = []  # the first parameter of each enclosing method

    def add(self, node: ast.AST, kind: str, name: str, obj: Any = None) -> None:
        self.findings.append(Finding(self.cell, getattr(node, "lineno", 0) + self.offset, kind, name, obj))

    def hidden(self, node: ast.AST, why: str) -> None:
        self.add(node, "hidden", why)

    # -- the walk ----------------------------------------------------------------------------
    def visit(self, node: ast.AST, value_ok: bool = False) -> _Known | None:
        """Visit ``node``; return the library object it evaluates to, when known. ``value_ok``:
        a module may stand here (the base of an attribute, or the value of a simple alias)."""
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is not None:
            return method(node, value_ok)
        for child in ast.iter_child_nodes(node):
            self.visit(child)
        return None

    def visit_Import(self, node: ast.Import, _=False) -> None:
        for alias in node.names:
            self._module_finding(node, alias.name)
        return None

    def visit_ImportFrom(self, node: ast.ImportFrom, _=False) -> None:
        if node.level:
            self.hidden(node, "a relative import")
            return None
        self._module_finding(node, node.module or "")
        base = self.libraries.module(node.module or "")  # None when not importable: the import fails
        for alias in node.names:
            if alias.name == "*":
                self.hidden(node, f"from {node.module} import *")
                continue
            if alias.name.startswith("_"):
                self.hidden(node, f"the private name {node.module}.{alias.name}")
                continue
            if base is not None:
                value, submodule = self.libraries.step(base, alias.name)
                if submodule:
                    self.add(node, "module", submodule)
                elif value is not None:
                    self._object(node, value)
        return None

    def _module_finding(self, node: ast.AST, name: str) -> None:
        parts = name.split(".")
        if any(p.startswith("_") for p in parts):
            self.hidden(node, f"the private module {name}")
            return
        for i in range(1, len(parts) + 1):
            self.add(node, "import", ".".join(parts[:i]))

    def _object(self, node: ast.AST, known: _Known) -> None:
        if isinstance(known.obj, types.ModuleType):
            self.add(node, "module", known.obj.__name__)
        else:
            self.add(node, "object", known.path, known.obj)
            if is_library_data(known.obj):
                self.hidden(node, f"{known.path}, a {type(known.obj).__name__} of the library")

    def visit_Name(self, node: ast.Name, value_ok: bool = False) -> _Known | None:
        if isinstance(node.ctx, ast.Load):
            if node.id.startswith("__") and node.id != "__name__":
                self.hidden(node, f"the name {node.id}")
                return None
            known, ambiguous = self.bindings.lookup(node.id)
            if ambiguous:
                self.hidden(node, f"the name {node.id} is bound to a module and also to something else")
            if known is None and node.id not in self.bindings.values and node.id in HIDING_BUILTINS:
                self.hidden(node, f"{node.id}()")
            if known is not None and isinstance(known.obj, types.ModuleType) and not value_ok:
                self.hidden(node, f"the module {known.path} used as a value")
            return known
        return None

    def visit_Attribute(self, node: ast.Attribute, value_ok: bool = False) -> _Known | None:
        return self._attribute(node, node.value, node.attr, node.ctx, value_ok)

    def _attribute(self, node: ast.AST, base_node: ast.expr, attr: str, ctx: ast.expr_context,
                   value_ok: bool = False) -> _Known | None:
        base = self.visit(base_node, value_ok=True)
        store = isinstance(ctx, (ast.Store, ast.Del))
        on_self = isinstance(base_node, ast.Name) and base_node.id in self.selves
        if attr in INTROSPECTION:
            self.hidden(node, f".{attr}")
            return None
        if attr.startswith("__") and attr.endswith("__"):
            if attr not in DUNDERS or store:
                self.hidden(node, f"the attribute {attr}")
                return None
        elif attr.startswith("_") and (base is not None or not on_self):
            self.hidden(node, f"the private attribute .{attr}")
            return None
        if base is None:
            self.add(node, "attribute", attr)
            return None
        if store:
            self.hidden(node, f"a write into {base.path} ({base.path}.{attr} = ...)")
            return None
        value, submodule = self.libraries.step(base, attr)
        if submodule:
            self.add(node, "module", submodule)
            return None
        if value is None:
            return None
        self._object(node, value)
        if isinstance(value.obj, types.ModuleType) and not value_ok:
            self.hidden(node, f"the module {value.path} used as a value")
        return value

    def visit_Subscript(self, node: ast.Subscript, _=False) -> None:
        base = self.visit(node.value)
        self.visit(node.slice)
        if base is not None and isinstance(node.ctx, (ast.Store, ast.Del)):
            self.hidden(node, f"a write into {base.path} ({base.path}[...] = ...)")
        return None

    def visit_Call(self, node: ast.Call, _=False) -> _Known | None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in ("getattr", "hasattr", "setattr", "delattr") \
                and func.id not in self.bindings.values:
            return self._dynamic_attribute(node, func.id)
        if isinstance(func, ast.Attribute) and func.attr in ("run_line_magic", "run_cell_magic") and not all(
                isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
            self.hidden(node, f"{func.attr}() on computed text (code run from a string)")
        self.visit(func)
        for arg in node.args:
            self.visit(arg)
        for keyword in node.keywords:
            if keyword.arg and keyword.arg.startswith("__"):
                self.hidden(node, f"the keyword {keyword.arg}")
            self.visit(keyword.value)
        return None

    def _dynamic_attribute(self, node: ast.Call, name: str) -> None:
        if len(node.args) < 2 or node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            self.hidden(node, f"{name}() called in an unusual way")
            for arg in node.args:
                self.visit(arg)
            return None
        target, attr = node.args[0], node.args[1]
        for extra in node.args[2:]:
            self.visit(extra)
        ctx = ast.Store() if name in ("setattr", "delattr") else ast.Load()
        if isinstance(attr, ast.Constant) and isinstance(attr.value, str):
            # getattr(x, "name") is x.name, with the name as written (Python does not normalise strings)
            self._attribute(node, target, attr.value, ctx)
            return None
        base = self.visit(target, value_ok=True)
        self.visit(attr)
        if base is not None:
            self.hidden(node, f"{name}() with a computed name on {base.path}")
        return None

    def visit_Assign(self, node: ast.Assign, _=False) -> None:
        alias = len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and \
            isinstance(node.value, (ast.Name, ast.Attribute))
        self.visit(node.value, value_ok=alias)
        for target in node.targets:
            self.visit(target)
        return None

    def _function(self, node, _=False, in_class: bool = False) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self.visit(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        positional = node.args.posonlyargs + node.args.args
        self.selves.append(positional[0].arg if in_class and positional else "")
        try:
            for statement in node.body:
                self.visit(statement)
        finally:
            self.selves.pop()
        return None

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef, _=False) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        for base in node.bases:
            self.visit(base)
        for keyword in node.keywords:
            self.visit(keyword.value)
        for statement in node.body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._function(statement, in_class=True)
            else:
                self.visit(statement)
        return None

    def visit_MatchClass(self, node: ast.MatchClass, _=False) -> None:
        self.visit(node.cls)
        for attr in node.kwd_attrs:  # ``case C(attr=...)`` reads the attribute by name
            if attr.startswith("_") or attr in INTROSPECTION:
                self.hidden(node, f"the attribute {attr} in a class pattern")
        for pattern in (*node.patterns, *node.kwd_patterns):
            self.visit(pattern)
        return None

    def visit_Global(self, node, _=False) -> None:
        return None

    visit_Nonlocal = visit_Global


# ------------------------------------------------------------------------------------------- API


def analyse(answers: dict[str, str], setup: str, importable: set[str]) -> dict[str, CellInfo]:
    """What each answer cell defines, uses and reaches.

    ``setup`` is the trusted source the sandbox runs first (its imports give ``torch``, ``nn``...);
    ``importable``: the modules the assignment's answers may import, the only ones imported here.
    """
    libraries = Libraries(set(importable))
    bindings = _Bindings(libraries)
    setup_tree = parse(setup)
    if setup_tree is not None:
        bindings.add_tree(setup_tree)
    trees: dict[str, list[tuple[ast.Module, int]]] = {}
    unreadable: dict[str, str] = {}
    for cell, source in answers.items():
        parts: list[tuple[ast.Module, int]] = []
        try:
            tree = parse(source)
            if tree is not None:
                parts.append((tree, 0))
                for body, line in _magic_bodies(tree):
                    inner = parse(body)
                    if inner is not None:
                        parts.append((inner, line))
        except Unreadable as why:
            unreadable[cell], parts = str(why), []
        trees[cell] = parts
        for part, _ in parts:
            bindings.add_tree(part)
    bindings.settle()
    info: dict[str, CellInfo] = {}
    for cell, parts in trees.items():
        result = CellInfo()
        try:
            for tree, offset in parts:
                result.defined |= _top_level_defined(tree)
                result.used |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
                _Visitor(cell, bindings, result.findings, offset).visit(tree)
        except RecursionError:
            unreadable[cell] = "code nested too deeply to check"
        if cell in unreadable:
            result.findings.append(Finding(cell, 1, "hidden", unreadable[cell]))
        info[cell] = result
    return info


def resolve(dotted: str) -> Any:
    """The library object a trusted dotted name (a rule's ``forbidden`` entry) names; raises
    LookupError when there is none."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                raise LookupError(f"{dotted}: {'.'.join(parts[:i])} has no attribute {attr}") from None
        return obj
    raise LookupError(f"{dotted}: no such module")


__all__ = ["CellInfo", "Finding", "HIDING_BUILTINS", "MAX_SOURCE", "Unreadable", "analyse", "is_library_data", "parse", "python_source",
           "resolve"]
