"""Every notebook the site links to runs top to bottom where there is only PyTorch and its first cell.

That is what Colab (or any fresh Jupyter) gives a reader: a Python with torch, a kernel, and the
notebook. Here: a fresh virtual environment with torch (the CPU wheel, `pip install torch==2.13.0`)
and ipykernel (the kernel that runs the notebook: Colab has one; it brings IPython, not numpy or
matplotlib), nothing else. Each notebook then runs from an empty working folder, as on Colab. Its
first cell installs the course from GitHub; here that one source is redirected to a copy of this
checkout (its tracked and untracked-but-not-ignored files, as a clone would hold them). Versions
are held to requirements.txt's pins (a pip constraint, which installs nothing by itself), so that
the check is reproducible and runs from pip's cache.

Notebooks whose first cells are identical share one environment (a first cell decides what is
installed, and no other cell installs anything: checked below), each group a fresh copy of the
torch-only environment. The exercise notebooks run with their answer cells filled in from
solutions/ (released as they are, they stop at the first `raise NotImplementedError()`).

Times per notebook go to _build/test-artifacts/colab-times.json.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from conftest import ROOT
from sitebuild import notebook_links

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "_build" / "test-artifacts"
TORCH = "torch==2.13.0"
CELL_TIMEOUT = 900
COURSE_URL = re.compile(r"git\+https://github\.com/[^'\"\s]+")


class MissingInstallCell(Exception):
    """The notebook's first code cell installs nothing, and a module is missing."""


def chapter_sources() -> list[Path]:
    """The pages of _toc.yml that are notebooks (a kernelspec in their front matter)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    return [ROOT / f"{f}.md" for f in files
            if (ROOT / f"{f}.md").exists() and "kernelspec" in jupytext.read(ROOT / f"{f}.md").metadata]


def exercise_notebooks() -> list[Path]:
    return sorted(p for p in (ROOT / "exercises").glob("*/*.ipynb") if p.stem == p.parent.name)


def chapter_notebook(site_html: Path, source: Path) -> nbformat.NotebookNode:
    """The notebook the site generated for a chapter (sitebuild.notebook_links writes it)."""
    return nbformat.read(site_html / "_notebooks" / source.relative_to(ROOT).with_suffix(".ipynb"), as_version=4)


def filled_exercise(released: Path) -> nbformat.NotebookNode:
    """The released notebook with every answer cell replaced by the solution's cell of the same id."""
    nb = nbformat.read(released, as_version=4)
    solution = nbformat.read(ROOT / "solutions" / released.parent.name / released.name, as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        grading = cell.metadata.get("nbgrader", {})
        if grading.get("solution"):
            cell.source = answers[grading["grade_id"]]
    return nb


def first_code_cell(nb) -> str:
    return next((c.source for c in nb.cells if c.cell_type == "code"), "")


CASES = ([pytest.param(("chapter", p), id=p.relative_to(ROOT).as_posix()) for p in chapter_sources()]
         + [pytest.param(("exercise", p), id=p.relative_to(ROOT).as_posix()) for p in exercise_notebooks()])


@pytest.fixture(scope="module")
def torch_only(tmp_path_factory) -> Path:
    """A virtual environment with torch (CPU wheel) and ipykernel, nothing else; returns its folder."""
    base = tmp_path_factory.mktemp("colab") / "torch-only"
    subprocess.run([sys.executable, "-m", "venv", str(base)], check=True)
    pip = [str(base / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, "ipykernel", "-c", str(ROOT / "requirements.txt")], check=True)
    return base


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory) -> Path:
    """This checkout as a clone would hold it: tracked files and untracked files git does not ignore."""
    target = tmp_path_factory.mktemp("course") / "gated-recurrent-networks"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    return target


@pytest.fixture(scope="module")
def environments(torch_only, tmp_path_factory):
    """One fresh copy of the torch-only environment per distinct first cell (hard links: instant)."""
    made: dict[str, Path] = {}

    def for_first_cell(cell: str) -> Path:
        if cell not in made:
            copy = tmp_path_factory.mktemp("env") / "venv"
            subprocess.run(["cp", "-al", str(torch_only), str(copy)], check=True)
            made[cell] = copy
        return made[cell]
    return for_first_cell


@pytest.fixture(scope="module")
def times():
    results: dict[str, float] = {}
    yield results
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "colab-times.json").write_text(json.dumps(results, indent=1))


def run_fresh(nb, venv: Path, course: Path, workdir: Path) -> None:
    """Execute ``nb`` top to bottom in a kernel of ``venv``, its install source redirected to ``course``."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    setup = next(c for c in nb.cells if c.cell_type == "code")
    setup.source = COURSE_URL.sub(f"file://{course}", setup.source)
    specs = workdir.parent / f"{workdir.name}-kernels"
    (specs / "fresh").mkdir(parents=True, exist_ok=True)
    (specs / "fresh" / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fresh", "language": "python",
        "env": {"PIP_CONSTRAINT": str(course / "requirements.txt"), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                "IPYTHONDIR": str(workdir.parent / f"{workdir.name}-ipython")}}))
    manager = KernelManager(kernel_name="fresh", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(specs)]))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER", "IPYTHON"))}
    env["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    workdir.mkdir(parents=True, exist_ok=True)
    client = NotebookClient(nb, km=manager, timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(workdir)}})
    installs = "pip" in setup.source and "install" in setup.source
    try:
        client.execute(env=env)
    except CellExecutionError as error:
        if error.ename == "ModuleNotFoundError" and not installs:
            raise MissingInstallCell(f"no install cell, and then: {error.evalue}") from None
        raise


@pytest.mark.parametrize("case", CASES)
def test_the_notebook_runs_with_only_torch_and_its_first_cell(case, site_html, environments, course_copy,
                                                             times, tmp_path):
    kind, source = case
    nb = chapter_notebook(site_html, source) if kind == "chapter" else filled_exercise(source)
    venv = environments(first_code_cell(nb))
    start = time.perf_counter()
    try:
        run_fresh(nb, venv, course_copy, tmp_path / "content")
    finally:
        times[source.relative_to(ROOT).as_posix()] = round(time.perf_counter() - start, 1)


def test_the_check_covers_every_notebook_the_site_links_to(site_html: Path):
    linked = {p.relative_to(site_html / "_notebooks").with_suffix("").as_posix()
              for p in (site_html / "_notebooks").rglob("*.ipynb")}
    covered = {p.relative_to(ROOT).with_suffix("").as_posix() for p in chapter_sources()}
    covered |= {f"book/exercises/{p.stem}" for p in exercise_notebooks()}
    assert linked == covered, (sorted(linked - covered), sorted(covered - linked))


def test_only_the_first_code_cell_of_a_generated_notebook_installs_anything(site_html: Path):
    """So that notebooks with the same first cell can share an environment (see the module's text)."""
    installing = re.compile(r"\bpip\b.*\binstall\b|%pip|!pip|conda install")
    offenders = []
    for path in sorted((site_html / "_notebooks").rglob("*.ipynb")):
        code = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        offenders += [f"{path.name}: cell {i}" for i, source in enumerate(code[1:], 2) if installing.search(source)]
    assert not offenders, offenders


def test_a_chapter_that_imports_myst_nb_installs_it_in_its_first_cell(site_html: Path):
    for source in chapter_sources():
        nb = chapter_notebook(site_html, source)
        imports = notebook_links.imported_modules(nb)
        first = first_code_cell(nb)
        assert "'gated'" in first and "git+https://github.com/" in first, source.name
        assert ("'myst-nb'" in first) == ("myst_nb" in imports), source.name
