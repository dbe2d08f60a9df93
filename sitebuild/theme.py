"""The site's look and load: what every page transfers, how it fits a phone, and how search answers.

Part of the Sphinx extension (sitebuild.sphinx_ext):
- `static/site.css`, after the theme's CSS: figures, tables, display equations and widgets fit a
  390 px screen (a wide one scrolls inside its own box, never the page); one search box.
- `templates/layout.html`: the theme's layout without Font Awesome's 1.5 MB script, and with the
  search index only on the search page.
- `static/search.js`, on the search page: results whose page title holds the query come first, and
  each result shows a snippet of the page's own text (not its title bar and table of contents).
- sphinx-thebe's files are left out (the site has no Thebe button), and sphinx-design's tabs
  script where a page has no tabs. The inline script it adds twice
  (a SyntaxError on every page) is dropped with the other repeated scripts.
- Widget labels typeset with MathJax 2's `MathJax.Hub.Queue`, which MathJax 3 lacks: a shim.
- An inline formula wider than its column becomes a box that scrolls sideways (a phone).
"""
from __future__ import annotations

import re
from pathlib import Path

from sphinx.application import Sphinx

HERE = Path(__file__).resolve().parent

# Widget labels are typeset through MathJax 2's MathJax.Hub.Queue, which MathJax 3 lacks.
MATHJAX_HUB_SHIM = """
(function () {
  function shim() {
    if (window.MathJax && window.MathJax.typesetPromise && !window.MathJax.Hub) {
      window.MathJax.Hub = {Queue: function (job) {
        var el = job && job[2];
        window.MathJax.startup.promise.then(function () { return window.MathJax.typesetPromise(el ? [el] : undefined); });
      }};
    }
  }
  document.addEventListener("DOMContentLoaded", shim);
  window.addEventListener("load", shim);
})();
"""


# A formula in the text that is wider than its column (on a phone) becomes a box of its own that
# scrolls sideways, like display formulas (site.css). Only those: an inline box shifts the baseline.
WIDE_FORMULAS = """
(function () {
  function box() {
    document.querySelectorAll("span.math > mjx-container").forEach(function (formula) {
      formula.classList.remove("site-wide-formula");
      var column = formula.closest("p, li, dd, td, th, div") || document.body;
      if (formula.getBoundingClientRect().width > column.clientWidth) formula.classList.add("site-wide-formula");
    });
  }
  window.addEventListener("load", function () {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) MathJax.startup.promise.then(box);
  });
  window.addEventListener("resize", box);
})();
"""


def without_scripts(html: str, *sources: str) -> str:
    """``html`` without the <script> elements whose src ends with one of ``sources`` (a query may follow)."""
    for source in sources:
        html = re.sub(rf'\s*<script\b[^>]*\bsrc="[^"]*{re.escape(source)}(\?[^"]*)?"[^>]*>\s*</script>', "", html)
    return html


def add_paths(app: Sphinx, config) -> None:
    config.html_static_path = [*config.html_static_path, str(HERE / "static")]
    config.templates_path = [*config.templates_path, str(HERE / "templates")]


def add_assets(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    app.builder.templates.environment.filters["without_scripts"] = without_scripts
    app.add_css_file("site.css", priority=900)            # after the theme's and the extensions' CSS
    app.add_js_file(None, body=MATHJAX_HUB_SHIM, priority=200)
    app.add_js_file(None, body=WIDE_FORMULAS, priority=200)


def _source(asset) -> str:
    return str(getattr(asset, "filename", asset) or "")


def adjust_page_assets(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Drop repeated scripts and Thebe's files; add the search page's ranking and snippets."""
    scripts = context.get("script_files") or []
    seen, kept = set(), []
    for script in scripts:
        key = (_source(script), getattr(script, "attributes", {}).get("body", ""))
        if key in seen or "thebe" in key[0] or "THEBE_JS_URL" in key[1]:
            continue
        if key[0].endswith("design-tabs.js") and "sd-tab-set" not in context.get("body", ""):
            continue                    # sphinx-design's tabs script, on pages without tabs
        seen.add(key)
        kept.append(script)
    scripts[:] = kept                   # in place: app.add_js_file below appends to this list
    css_files = context.get("css_files") or []
    css_files[:] = [css for css in css_files if "thebe" not in _source(css)]
    if pagename == "search":
        app.add_js_file("search.js")    # the template loads searchtools.js after these: it reads our Scorer


def setup(app: Sphinx) -> None:
    app.connect("config-inited", add_paths)
    app.connect("builder-inited", add_assets)
    app.connect("html-page-context", adjust_page_assets, priority=900)
