"""Every chapter downloadable as a notebook, launchable in Colab and Binder, honest about kernels.

Part of the Sphinx extension (sitebuild.sphinx_ext). Jupyter Book 1 gets these things wrong
for a book written in MyST Markdown with `html_copy_source: false`; this module fixes them:

- **Downloads.** The theme's ".md" button points into `_sources/`, which we do not publish (it would
  hold every page's source, hidden cells included), and there is no ".ipynb" button. After the build
  we write `_notebooks/<page>.ipynb` for every notebook page (jupytext, from the `.md`, no outputs, a
  first cell, `install_cell`, that installs the course library and what the notebook imports where
  they are missing: Colab, any fresh Jupyter; tests/test_colab.py runs every one in an environment
  with only torch) and point the download button at it. An exercise page's ".ipynb" is the released
  notebook `exercises/<a>/<a>.ipynb` itself.
- **Colab.** The theme's Colab button opens `book/<page>.md` on GitHub, which Colab cannot read. The
  notebooks above are also pushed by the Pages workflow to the branch `gated_notebooks_branch`
  ("notebooks"), so the Colab button opens `.../blob/notebooks/book/<page>.ipynb`. Exercise pages
  point Colab at the committed `exercises/<a>/<a>.ipynb` on the main branch.
- **Binder.** The theme's Binder button opens `book/<page>.md` in JupyterLab, which binder/postBuild
  sets to open Markdown files as notebooks (Jupytext). Exercise pages get a Binder and a Colab button
  of their own, pointing at the released notebook.
- **Sources and assets**: before Sphinx reads anything, the exercise pages are written from
  `exercises/` (sitebuild/exercise_pages.py) and MathJax and the widget manager are vendored
  (sitebuild/site_assets.py), so every build of the book has them.
- **A note** at the top of pages with live widgets or GPU code: on the site the widgets show their
  saved state (linked controls still work), computing anything new needs a running kernel; the
  Triton kernels need a GPU runtime to run compiled.
"""
from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx

from sitebuild import exercise_pages, site_assets

NOTEBOOK_DIR = "_notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
GPU_CODE = re.compile(r"\bgated\.kernels\b|\bfrom gated import kernels\b|\btriton\.jit\b")   # Triton kernels run


def _is_notebook_page(app: Sphinx, docname: str) -> bool:
    return "kernelspec" in app.env.metadata.get(docname, {})


def _exercise_name(docname: str) -> str | None:
    match = re.fullmatch(r"book/exercises/([A-Za-z0-9_]+)", docname)
    return match.group(1) if match and match.group(1) != "index" else None


def _github(url: str, branch: str) -> tuple[str, str, str] | None:
    match = re.search(r"github\.com/([^/]+)/([^/#?]+)", url or "")
    return (match.group(1), match.group(2).removesuffix(".git"), branch or "main") if match else None


def _repository(app: Sphinx) -> tuple[str, str, str] | None:
    """(org, repo, branch) of the GitHub repository in _config.yml, or None."""
    options = app.config.html_theme_options or {}
    return _github(options.get("repository_url", ""), options.get("repository_branch", "main"))


def configured_repository(config: Path) -> tuple[str, str, str]:
    """(org, repo, branch) of ``_config.yml``'s ``repository``, read without Sphinx (for the exercise
    notebooks, whose first cell installs the course from it as the chapters' does)."""
    import yaml

    settings = (yaml.safe_load(config.read_text()) or {}).get("repository") or {}
    found = _github(settings.get("url", ""), settings.get("branch", "main"))
    if found is None:
        raise ValueError(f"{config}: repository.url must be a GitHub repository (the notebooks install the course from it)")
    return found


def _colab_url(app: Sphinx, path_in_branch: str, branch: str) -> str | None:
    repo = _repository(app)
    if repo is None:
        return None
    org, name, _ = repo
    return f"https://colab.research.google.com/github/{org}/{name}/blob/{branch}/{path_in_branch}"


def fix_header_buttons(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Point the download and Colab buttons at notebooks that exist; drop links into _sources/."""
    buttons = context.get("header_buttons")
    if not buttons:
        return
    pathto = context["pathto"]
    exercise = _exercise_name(pagename)
    has_notebook = _is_notebook_page(app, pagename) or exercise is not None
    repo = _repository(app)
    for group in buttons:
        if group.get("label") == "download-buttons":
            kept = [b for b in group["buttons"]
                    if b.get("label") not in ("download-source-button", "download-notebook-button")]
            if has_notebook:
                kept.insert(0, {"type": "link", "url": pathto(f"{NOTEBOOK_DIR}/{pagename}.ipynb", 1),
                                "text": ".ipynb", "icon": "fas fa-code", "tooltip": "Download notebook file",
                                "label": "download-notebook-button"})
            group["buttons"] = kept
        if group.get("label") == "launch-buttons":
            for button in group["buttons"]:
                if button.get("text") == "Colab":
                    url = _colab_url(app, f"{pagename}.ipynb", app.config.gated_notebooks_branch)
                    if url:
                        button["url"] = url
    if exercise and repo and not any(g.get("label") == "launch-buttons" for g in buttons):
        org, name, branch = repo
        path = f"exercises/{exercise}/{exercise}.ipynb"
        binder = (app.config.html_theme_options.get("launch_buttons", {}) or {}).get("binderhub_url", "")
        launch = []
        if binder:
            launch.append({"type": "link", "text": "Binder", "tooltip": "Launch on Binder",
                           "icon": "_static/images/logo_binder.svg",
                           "url": f"{binder.rstrip('/')}/v2/gh/{org}/{name}/{branch}?urlpath=lab/tree/{path}"})
        launch.append({"type": "link", "text": "Colab", "tooltip": "Launch on Colab",
                       "icon": "_static/images/logo_colab.png", "url": _colab_url(app, path, branch)})
        buttons.append({"type": "group", "tooltip": "Launch interactive content", "icon": "fas fa-rocket",
                        "buttons": launch, "label": "launch-buttons"})


def _note(text: str) -> nodes.Node:
    note = nodes.note(classes=["site-build-note"])   # the search page leaves it out of snippets
    note += nodes.paragraph(text=text)
    return note


def add_kernel_note(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """A note under the title of pages whose widgets or GPU cells need a live kernel or a GPU."""
    if not _is_notebook_page(app, docname):
        return
    has_widgets = any(WIDGET_VIEW in node.astext() for node in doctree.findall(nodes.raw))
    source = Path(app.env.doc2path(docname)).read_text(encoding="utf-8", errors="replace")
    has_gpu = bool(GPU_CODE.search(source))
    if not (has_widgets or has_gpu):
        return
    sentences = []
    if has_widgets:
        sentences.append("The widgets on this page show the state saved when the site was built; linked "
                         "controls work here, but computing anything new needs a running kernel: download "
                         "the notebook (the download button above) or launch it in Binder or Colab.")
    if has_gpu:
        sentences.append("Its GPU cells run compiled only with a CUDA GPU (on Colab: Runtime, Change runtime "
                         "type, a GPU); without one the Triton kernels run in Triton's interpreter on the CPU, "
                         "slowly, and the timings printed here say which device produced them.")
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        return
    title = next(iter(section.findall(nodes.title)), None)
    position = section.index(title) + 1 if title is not None and title.parent is section else 0
    section.insert(position, _note(" ".join(sentences)))


# Modules a chapter may import that the course library does not bring, and the package of each.
# myst_nb: the chapters `glue` numbers into their text for the book; in a notebook, glue() only
# displays (or, with display=False, records) a value, so installing the book's one package is simpler
# and truer than editing the chapter's code in the generated notebook.
EXTRA_PACKAGES = {"myst_nb": "myst-nb"}


def course_requirement(repository: tuple[str, str, str]) -> str:
    """The pip requirement of the course library (gated and its dependencies) from GitHub."""
    org, name, branch = repository
    return f"gated @ git+https://github.com/{org}/{name}@{branch}"


def install_cell(repository: tuple[str, str, str], imports: set[str] = frozenset()) -> str:
    """The first code cell of a generated notebook: on Colab, or in any Jupyter without the course,
    install the course library and the packages in ``imports`` (module names of EXTRA_PACKAGES);
    where they are installed already it does nothing. The exercise notebooks need the same cell
    (with no extra imports)."""
    needed = {"gated": course_requirement(repository)}
    needed.update({module: EXTRA_PACKAGES[module] for module in sorted(imports & EXTRA_PACKAGES.keys())})
    lines = ",\n".join(f"    {module!r}: {package!r}" for module, package in needed.items())
    return (
        "# Colab, or a Jupyter without the course: install the course library (gated) and what this notebook\n"
        "# imports. Where they are installed already (the course's Getting started page) this does nothing.\n"
        "import importlib.util, subprocess, sys\n"
        f"needed = {{\n{lines},\n}}\n"
        "missing = [package for module, package in needed.items() if importlib.util.find_spec(module) is None]\n"
        "if missing:\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"-q\", *missing], check=True)\n"
        "    importlib.invalidate_caches()\n"
    )


def imported_modules(notebook) -> set[str]:
    """Top-level module names the notebook's code cells import."""
    found = set()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            found.update(re.findall(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", cell.source, flags=re.M))
    return found


def write_notebooks(app: Sphinx, exception: Exception | None) -> None:
    """Write _notebooks/<page>.ipynb for every notebook page and every exercise page."""
    if exception is not None or app.builder.format != "html":
        return
    import jupytext
    import nbformat

    outdir = Path(app.outdir) / NOTEBOOK_DIR
    root = Path(app.srcdir)
    for docname in sorted(app.env.found_docs):
        target = outdir / f"{docname}.ipynb"
        exercise = _exercise_name(docname)
        if exercise:
            released = root / "exercises" / exercise / f"{exercise}.ipynb"
            if released.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(released.read_bytes())
            continue
        if not _is_notebook_page(app, docname):
            continue
        source = Path(app.env.doc2path(docname))
        if source.suffix != ".md":
            continue
        notebook = jupytext.read(source)
        notebook.metadata.pop("jupytext", None)
        title = next((i for i, c in enumerate(notebook.cells) if c.cell_type == "markdown"), -1)
        repository = _repository(app)
        if repository is None:
            raise ValueError("_config.yml: repository.url must be a GitHub repository (the notebooks install the course from it)")
        cell = install_cell(repository, imported_modules(notebook))
        notebook.cells.insert(title + 1, nbformat.v4.new_code_cell(cell, metadata={"tags": ["colab-setup"]}))
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbformat.v4.upgrade(notebook) if notebook.nbformat < 4 else notebook, target)


def prepare_sources(app: Sphinx, config) -> None:
    """Before Sphinx reads anything: the exercise pages from exercises/, the vendored JavaScript.

    Done here so that every build of the book (make book, make strict-book, a jupyter-book command
    typed by hand) has them; both steps skip work that is already done.
    """
    exercise_pages.write_pages()
    site_assets.build()


def setup(app: Sphinx) -> None:
    app.add_config_value("gated_notebooks_branch", "notebooks", "html")
    app.connect("config-inited", prepare_sources, priority=100)
    app.connect("html-page-context", fix_header_buttons, priority=600)   # after the theme's (501)
    app.connect("doctree-resolved", add_kernel_note)
    app.connect("build-finished", write_notebooks)
