"""The site builds strictly: every page executed, no warning, and a broken cell fails the build."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from sitebuild import build_book

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


def _tiny_book(tmp_path: Path, cell: str, tags: str = "") -> Path:
    book = tmp_path / "book"
    book.mkdir()
    (book / "_config.yml").write_text(
        "title: probe\nexecute:\n  execute_notebooks: force\n  allow_errors: false\n"
        "sphinx:\n  config:\n    nb_execution_raise_on_error: true\n"
    )
    (book / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    header = "---\njupytext:\n  text_representation:\n    format_name: myst\nkernelspec:\n  name: python3\n  display_name: Python 3\n---\n"
    tag_line = f":tags: [{tags}]\n" if tags else ""
    (book / "page.md").write_text(f"{header}# Probe\n\n```{{code-cell}} ipython3\n{tag_line}{cell}\n```\n")
    return book


def _strict_build(book: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [build_book.jupyter_book(), "build", str(book), "-W", "-n", "--keep-going", "--all"],
        capture_output=True, text=True, timeout=300,
    )


def test_a_cell_that_raises_fails_the_strict_build(tmp_path: Path):
    result = _strict_build(_tiny_book(tmp_path, "raise RuntimeError('deliberately broken')"))
    assert result.returncode != 0
    assert "deliberately broken" in result.stdout + result.stderr


def test_a_cell_tagged_raises_exception_builds(tmp_path: Path):
    result = _strict_build(_tiny_book(tmp_path, "raise RuntimeError('expected')", tags="raises-exception"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
