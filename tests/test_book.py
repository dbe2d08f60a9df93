"""The site builds strictly: every page executed, no warning, and a broken cell fails the build.

The probe books below go through sitebuild.build_book as the site does: its notebooks executed first,
several at a time, into the cache that the Jupyter Book run then reads (sitebuild/execute.py)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import BUILD_LOG, ROOT
from sitebuild import build_book, execute

pytestmark = pytest.mark.slow


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part["chapters"]:
            files.append(chapter["file"])
            files.extend(section["file"] for section in chapter.get("sections", []))
    return files


def test_every_toc_page_is_built_with_executed_outputs(site_html: Path):
    for page in toc_files():
        html = site_html / f"{page}.html"
        assert html.exists(), f"{page} was not built"
    # The conventions page's table is rendered by a cell: its output must be in the page.
    assert "PyTorch nn.GRU" in (site_html / "book" / "conventions.html").read_text()


def test_page_sources_are_not_published(site_html: Path):
    assert not (site_html / "_sources").exists()


HEADER = ("---\njupytext:\n  text_representation:\n    format_name: myst\n"
          "kernelspec:\n  name: python3\n  display_name: Python 3\n---\n")


def _tiny_book(tmp_path: Path, cell: str, tags: str = "") -> Path:
    """A book of two notebook pages, set up for execution as the site's _config.yml sets it up."""
    book = tmp_path / "book"
    book.mkdir()
    (book / "_config.yml").write_text(
        "title: probe\nexecute:\n  execute_notebooks: cache\n  allow_errors: false\n  timeout: 60\n"
        "sphinx:\n  config:\n    nb_execution_raise_on_error: true\n    nb_execution_show_tb: true\n"
    )
    (book / "_toc.yml").write_text("format: jb-book\nroot: page\nchapters:\n- file: other\n")
    tag_line = f":tags: [{tags}]\n" if tags else ""
    (book / "page.md").write_text(f"{HEADER}# Probe\n\n```{{code-cell}} ipython3\n{tag_line}{cell}\n```\n")
    (book / "other.md").write_text(f"{HEADER}# Other\n\n```{{code-cell}} ipython3\nprint(6 * 7)\n```\n")
    return book


def _strict_build(book: Path) -> tuple[bool, str]:
    """(built, the build's log) of a strict build of ``book`` through sitebuild.build_book."""
    log = book.parent / "build.log"
    try:
        build_book.build(strict=True, log=log, book=book, output=book.parent / "out")
        return True, log.read_text()
    except subprocess.CalledProcessError:
        return False, log.read_text()


def test_a_cell_that_raises_fails_the_strict_build_and_shows_the_cell(tmp_path: Path):
    built, log = _strict_build(_tiny_book(tmp_path, "value = 41\nraise RuntimeError('deliberately broken')"))
    assert not built
    assert "deliberately broken" in log and "value = 41" in log              # the error and the failing cell
    assert "page.md failed" in log                                            # found by the parallel run too


def test_a_cell_tagged_raises_exception_builds(tmp_path: Path):
    built, log = _strict_build(_tiny_book(tmp_path, "raise RuntimeError('expected')", tags="raises-exception"))
    assert built, log[-3000:]


def test_the_build_reads_every_notebook_from_the_parallel_run(tmp_path: Path):
    built, log = _strict_build(_tiny_book(tmp_path, "print('probe')"))
    assert built, log[-3000:]
    assert "executing 2 notebooks" in log
    assert log.count("Using cached notebook") == 2 and "Executing notebook using" not in log, log[-3000:]
    html = (tmp_path / "out" / "_build" / "html" / "other.html").read_text()
    assert "42" in html                                                       # the executed output is on the page


def test_the_normal_build_executes_only_what_its_cache_lacks(tmp_path: Path):
    """A second normal build that reads every page again (its html and doctrees gone, its cache kept)
    executes nothing: the parallel run finds every notebook cached, and so does Sphinx."""
    book = _tiny_book(tmp_path, "print('probe')")
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    build_book.build(strict=False, log=logs[0], book=book)
    shutil.rmtree(book / "_build" / "html")
    shutil.rmtree(book / "_build" / ".doctrees")
    build_book.build(strict=False, log=logs[1], book=book)
    first, second = (log.read_text() for log in logs)
    assert "executing 2 notebooks" in first and first.count("Using cached notebook") == 2, first[-3000:]
    assert "executing" not in second and second.count("Using cached notebook") == 2, second[-3000:]
    assert "Executing notebook using" not in first + second
    assert "42" in (book / "_build" / "html" / "other.html").read_text()


def test_the_strict_build_of_the_site_executed_each_notebook_once_in_the_parallel_run(site_html: Path):
    log = BUILD_LOG.read_text(errors="replace")
    notebooks = execute.notebook_sources(ROOT)
    assert f"executing {len(notebooks)} notebooks" in log
    assert log.count("Using cached notebook") == len(notebooks), "a notebook was executed by Sphinx itself"
    assert "Executing notebook using" not in log
