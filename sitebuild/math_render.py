"""The site's formulas typeset when the site is built, so that a page loads no MathJax at all.

Sphinx writes each formula as TeX for MathJax to typeset in the reader's browser (`\\(...\\)` in a
`<span class="math">`, `\\[...\\]` or an amsmath environment in a `<div class="math">`): about 800 KB
of JavaScript and fonts on every page with math. Here, when all pages are written (build-finished),
MathJax 3 itself, run in Node (`mathjax-full` from package.json, `sitebuild/math_render.cjs`),
typesets every page's formulas once, into SVG with one font cache per page and the assistive MathML
that screen readers read. The math elements keep their place and classes; only the TeX inside them
becomes the rendered formula, as MathJax does it in a browser. Those elements are the only place a
page's TeX is typeset: myst-nb marks each page's content `mathjax_ignore` and MathJax processes only
the `math` class inside it.

A formula MathJax cannot typeset (a TeX error, an unknown macro) is a warning naming the page and the
formula, so the strict build fails on it. Sphinx's own math renderer is replaced by one that writes
the same TeX elements (the visitors of sphinx.ext.mathjax, and myst-parser's for amsmath blocks, as
the `mathjax` renderer has them under MyST) without adding MathJax's script to the page:
`html_math_renderer: prerendered` in _config.yml.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from myst_parser.sphinx_ext.mathjax import html_visit_displaymath
from sphinx.application import Sphinx
from sphinx.ext import mathjax
from sphinx.util import logging

from sitebuild import site_assets

logger = logging.getLogger(__name__)

RENDERER = "prerendered"
SCRIPT = Path(__file__).resolve().parent / "math_render.cjs"
# The math elements Sphinx writes (sphinx.ext.mathjax's visitors; an amsmath block myst-parser's, with
# the class amsmath too): a <span> holds only text; a <div> holds no other div (an equation number is
# a <span> in it).
MATH_ELEMENT = re.compile(r'(<(span|div) class="math notranslate nohighlight[^"]*"[^>]*>)(.*?)(</\2>)', re.S)
BODY_START = re.compile(r"<body\b[^>]*>")
RENDERED = "<mjx-container"


@dataclass
class Page:
    """One html page's formulas, as Sphinx wrote them and as MathJax typeset them."""
    path: Path
    fragments: list[str]
    rendered: list[str] = field(default_factory=list)
    defs: str = ""
    css: str = ""
    errors: list[dict] = field(default_factory=list)


def raw_fragments(text: str) -> list[str]:
    """The inner html of each math element of a page (TeX, html-escaped)."""
    return [m.group(3) for m in MATH_ELEMENT.finditer(text)]


def typeset(pages: list[Page], node_modules: Path) -> None:
    """Fill in each page's rendered fragments, font cache, style sheet and TeX errors (one Node run)."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is missing: the site's formulas are typeset with MathJax in Node "
                           "(Debian: apt-get install npm, or run tools/system-deps.sh)")
    request = json.dumps({"pages": [page.fragments for page in pages]})
    result = subprocess.run([node, str(SCRIPT)], input=request, capture_output=True, text=True, check=False,
                            env={**os.environ, "NODE_PATH": str(node_modules)})
    if result.returncode != 0:
        raise RuntimeError(f"typesetting the formulas failed (node exit {result.returncode}):\n{result.stderr[-3000:]}")
    for page, answer in zip(pages, json.loads(result.stdout)["pages"], strict=True):
        page.rendered, page.defs, page.css, page.errors = (answer["fragments"], answer["defs"], answer["css"],
                                                         answer["errors"])


def with_rendered_math(text: str, page: Page) -> str:
    """The page's html with each math element's TeX replaced by its formula, the page's font cache at
    the start of <body> and MathJax's style sheet in <head>."""
    rendered = iter(page.rendered)
    text = MATH_ELEMENT.sub(lambda m: m.group(1) + next(rendered) + m.group(4), text)
    if page.defs:
        body = BODY_START.search(text)
        text = text[:body.end()] + page.defs + text[body.end():]
    return text.replace("</head>", page.css + "</head>", 1)


def problems(page: Page) -> list[str]:
    """What went wrong typesetting a page: TeX errors, and math elements that hold no single formula."""
    found = [f"TeX error in `{error['tex']}`: {error['message']}" for error in page.errors]
    for raw, html in zip(page.fragments, page.rendered, strict=True):
        if html.count(RENDERED) != 1:
            found.append(f"{html.count(RENDERED)} formulas typeset from the math element `{raw[:120]}`")
    return found


def render_site(app: Sphinx, exception: Exception | None) -> None:
    """build-finished: typeset the formulas of every page written by this build."""
    if exception is not None or app.builder.format != "html":
        return
    pages: dict[str, Page] = {}
    for docname in sorted(app.env.found_docs):
        path = Path(app.outdir) / app.builder.get_target_uri(docname)
        if not path.is_file():
            continue
        fragments = raw_fragments(path.read_text(encoding="utf-8"))
        # a page that an incremental build did not write again has its formulas already
        if fragments and not any(f.lstrip().startswith(RENDERED) for f in fragments):
            pages[docname] = Page(path, fragments)
    if not pages:
        return
    typeset(list(pages.values()), site_assets.install())
    for docname, page in pages.items():
        for problem in problems(page):
            logger.warning(problem, location=docname, type="math", subtype="prerender")
        page.path.write_text(with_rendered_math(page.path.read_text(encoding="utf-8"), page), encoding="utf-8")
    logger.info(f"typeset the formulas of {len(pages)} pages "
                f"({sum(len(p.fragments) for p in pages.values())} math elements)")


def setup(app: Sphinx) -> None:
    app.setup_extension("sphinx.ext.mathjax")        # its config values (delimiters) and visitors
    app.add_html_math_renderer(RENDERER, (mathjax.html_visit_math, None), (html_visit_displaymath, None))
    app.connect("build-finished", render_site, priority=800)      # before sitebuild.trim (900) reads the pages
