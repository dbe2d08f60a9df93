"""The optional kernel exercise gives nothing away: no line of the ``lstm_kernel`` solution is in the
built site, the course library ``gated/``, the chapters or the released notebooks, and the library
defines none of the functions it asks for; the GPU chapter still prints the GRU kernel it teaches.

The exercise asks for the LSTM's fused pointwise step because the GPU chapter prints the GRU's in
full (``gated/kernels/pointwise.py``, Kernel 1). A solution line counts when it is distinctive, by
the rule of ``tests/test_site.py``'s ``secret_lines`` (at least 28 characters without spaces, or
naming ``hidden``; not a comment), but here without that test's allowance for public files: a line
of this solution is a leak wherever it appears.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT

from browser import sitebrowser as sb  # squash, visible_text, as the site tests use them

ASSIGNMENT = "lstm_kernel"
SOLUTION = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
RELEASE = ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
BLOCKS = (("### BEGIN SOLUTION", "### END SOLUTION"), ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
#: What the site and the library ship, besides the built html: the course library, the chapters'
#: sources (the site's pages and notebook downloads are made from them) and the released notebooks.
SHIPPED = ("gated", "book", "exercises", "binder")
TEXT_SUFFIXES = (".py", ".md", ".ipynb", ".txt", ".yml", ".yaml", ".cfg", ".toml", ".json", "")


def distinctive(line: str) -> bool:
    """The rule of tests/test_site.py's secret_lines: long enough not to be boilerplate."""
    return (len(line.replace(" ", "")) >= 28 or "hidden" in line) and not line.startswith("#")


def solution_lines(notebook: Path = SOLUTION) -> set[str]:
    """The distinctive lines of the solution blocks and hidden tests of ``notebook``, squashed."""
    lines = set()
    for cell in nbformat.read(notebook, as_version=4).cells:
        for begin, end in BLOCKS:
            for block in re.findall(rf"{re.escape(begin)}(.*?){re.escape(end)}", cell.source, flags=re.S):
                lines |= {sb.squash(line) for line in block.splitlines() if distinctive(sb.squash(line))}
    return lines


def answer_names(notebook: Path = SOLUTION) -> set[str]:
    """The functions the answer cells define (the kernel, the wrapper, the helpers)."""
    names = set()
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            tree = ast.parse(cell.source)
            names |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    return names


def _text(path: Path) -> str:
    """A file as the text a reader gets: notebooks by their cells, html also as visible text."""
    raw = path.read_text(errors="replace")
    if path.suffix == ".ipynb":
        try:
            raw += "\n" + "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        except Exception:  # noqa: BLE001 - the raw text is still searched
            pass
    text = sb.squash(raw)
    return text + " " + sb.visible_text(raw) if path.suffix == ".html" else text


def leaks(files: list[Path], lines: set[str], root: Path) -> list[str]:
    """``file: line`` for each solution line found in one of ``files``."""
    found = []
    for path in files:
        text = _text(path)
        found += [f"{path.relative_to(root)}: {line}" for line in sorted(lines) if line in text]
    return found


def _shipped_files() -> list[Path]:
    files = []
    for folder in SHIPPED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts \
                    and ".ipynb_checkpoints" not in path.parts:
                files.append(path)
    return files


# ------------------------------------------------------------------- without the site (fast)


def test_the_solution_has_distinctive_lines_and_answer_functions():
    """The tests below are not vacuous: the rule picks the solution's lines and functions."""
    assert len(solution_lines()) >= 15 and answer_names() == {
        "stable_sigmoid", "stable_tanh", "lstm_pointwise_kernel", "lstm_pointwise"}


def test_no_solution_line_in_the_library_the_chapters_or_the_release():
    assert leaks(_shipped_files(), solution_lines(), ROOT) == []


def test_the_library_defines_none_of_the_answer_functions():
    names = answer_names()
    defined = []
    for path in sorted((ROOT / "gated").rglob("*.py")):
        tree = ast.parse(path.read_text())
        defined += [f"{path.relative_to(ROOT)}: {node.name}" for node in ast.walk(tree)
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names]
    assert defined == []


def test_the_release_holds_the_stubs_not_the_answers():
    stubs = [c.source for c in nbformat.read(RELEASE, as_version=4).cells
             if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    defined = {n.name for s in stubs for n in ast.walk(ast.parse(s)) if isinstance(n, ast.FunctionDef)}
    assert (defined, "".join(stubs).count("raise NotImplementedError()")) == (answer_names(), len(defined))


def test_the_leak_check_finds_a_planted_solution_line(tmp_path: Path):
    """A page or a library file holding a solution line is caught, split by markup or not."""
    line = sorted(solution_lines())[0]
    (tmp_path / "page.html").write_text(f"<pre><span>{line[:10]}</span>{line[10:]}</pre>")
    (tmp_path / "module.py").write_text(f"def f():\n    {line}\n")
    assert len(leaks(sorted(tmp_path.iterdir()), {line}, tmp_path)) == 2


def _gru_kernel_lines() -> list[str]:
    """The lines of gated/kernels/pointwise.py's gru_pointwise_kernel, from ``def`` to its end."""
    path = ROOT / "gated" / "kernels" / "pointwise.py"
    source = path.read_text()
    node = next(n for n in ast.parse(source).body
                if isinstance(n, ast.FunctionDef) and n.name == "gru_pointwise_kernel")
    lines = source.splitlines()[node.lineno - 1:node.end_lineno]
    return [sb.squash(line) for line in lines if line.strip()]


def test_the_gpu_chapter_still_includes_the_gru_pointwise_kernel():
    chapter = (ROOT / "book" / "gpu.md").read_text()
    assert re.search(r"```\{literalinclude\} \.\./gated/kernels/pointwise\.py\n:language: python\n"
                     r":pyobject: gru_pointwise_kernel\n```", chapter)


# ----------------------------------------------------------------------------- the built site


@pytest.mark.slow
def test_no_solution_line_reaches_the_built_site(site_html: Path):
    files = [p for p in sorted(site_html.rglob("*")) if p.is_file()
             and p.suffix in (".html", ".js", ".txt", ".json", ".md", ".py", ".ipynb", ".xml")
             and p.relative_to(site_html).parts[0] not in ("_vendor", "_images")]
    assert files and leaks(files, solution_lines(), site_html) == []


@pytest.mark.slow
def test_the_exercise_page_shows_the_stubs(site_html: Path):
    page = site_html / "book" / "exercises" / f"{ASSIGNMENT}.html"
    text = sb.visible_text(page.read_text())
    assert all(f"def {name}(" in text for name in answer_names()) \
        and text.count("raise NotImplementedError()") >= len(answer_names())


@pytest.mark.slow
def test_the_gpu_chapter_still_prints_the_gru_pointwise_kernel(site_html: Path):
    text = sb.visible_text((site_html / "book" / "gpu.html").read_text())
    missing = [line for line in _gru_kernel_lines() if line not in text]
    assert len(_gru_kernel_lines()) > 10 and missing == []
