"""The normal book build drops its execution cache exactly when the course library changed."""
from __future__ import annotations

import re
from pathlib import Path

from sitebuild import cache_key, kernel


def _build_dir_with_cache(tmp_path: Path, stamp: str | None) -> Path:
    (tmp_path / ".jupyter_cache").mkdir()
    if stamp is not None:
        (tmp_path / ".gated-library-hash").write_text(stamp)
    return tmp_path


def test_a_changed_library_clears_the_execution_cache(tmp_path: Path):
    build = _build_dir_with_cache(tmp_path, stamp="hash of an older gated/")
    cache_key.main(str(build))
    assert not (build / ".jupyter_cache").exists()
    assert (build / ".gated-library-hash").read_text() == cache_key.library_hash()


def test_an_unchanged_library_keeps_the_execution_cache(tmp_path: Path):
    build = _build_dir_with_cache(tmp_path, stamp=cache_key.library_hash())
    cache_key.main(str(build))
    assert (build / ".jupyter_cache").exists()


def test_the_library_hash_covers_every_module_of_gated():
    modules = {p.name for p in (Path(cache_key.ROOT) / "gated").rglob("*.py")}
    assert {"cells.py", "conventions.py", "training.py", "pointwise.py"} <= modules
    assert len(cache_key.library_hash()) == 64


def test_a_change_to_how_the_kernels_draw_figures_changes_the_library_hash(tmp_path: Path, monkeypatch):
    startup = tmp_path / "kernel_startup.py"
    startup.write_text("SVG_BUDGET = 1\n")
    monkeypatch.setattr(kernel, "INPUTS", (startup,))
    before = cache_key.library_hash()
    startup.write_text("SVG_BUDGET = 2\n")
    assert cache_key.library_hash() != before


# --- pieces of the Sphinx extension, without a build ------------------------------------------------

def test_widget_pictures_become_urls_and_each_picture_is_stored_once():
    import base64

    from sitebuild.widget_images import pictures_to_urls

    png = b"\x89PNG fake picture"
    image = {"model_name": "ImageModel", "state": {"format": "png", "width": "432"},
             "buffers": [{"path": ["value"], "encoding": "base64", "data": base64.b64encode(png).decode()}]}
    other = {"model_name": "StackModel", "state": {"selected_index": 0}}
    state = {"state": {"a": image, "b": {**image, "buffers": [dict(image["buffers"][0])], "state": dict(image["state"])},
                       "c": other}}
    stored = []
    replaced = pictures_to_urls(state, lambda data, ext: stored.append((data, ext)) or f"../_images/widgets/x.{ext}")
    assert replaced == 2 and stored == [(png, "png"), (png, "png")]
    for key in "ab":
        model = state["state"][key]
        assert model["state"]["format"] == "url" and model["state"]["width"] == "432"
        assert base64.b64decode(model["buffers"][0]["data"]) == b"../_images/widgets/x.png"
    assert state["state"]["c"] == other


def test_without_scripts_drops_only_the_named_scripts():
    from sitebuild.theme import without_scripts

    head = ('<script defer src="../_static/scripts/fontawesome.js?digest=1"></script>\n'
            '<link rel="preload" as="script" href="../_static/scripts/bootstrap.js" />\n'
            '<script src="../searchindex.js"></script><script src="../_static/doctools.js"></script>')
    kept = without_scripts(head, "_static/scripts/fontawesome.js", "searchindex.js")
    assert "fontawesome" not in kept and "searchindex" not in kept
    assert "bootstrap.js" in kept and "doctools.js" in kept


def test_the_install_cell_installs_the_course_and_myst_nb_only_where_imported():
    from sitebuild.notebook_links import install_cell

    repository = ("gated-course", "gated-recurrent-networks", "main")
    plain, with_glue = install_cell(repository), install_cell(repository, {"myst_nb", "torch", "gated"})
    compile(plain, "cell", "exec"), compile(with_glue, "cell", "exec")
    url = "gated @ git+https://github.com/gated-course/gated-recurrent-networks@main"
    assert url in plain and url in with_glue
    assert "myst-nb" not in plain and "'myst_nb': 'myst-nb'" in with_glue and "torch" not in with_glue


def test_the_install_cell_runs_pip_for_what_is_missing_only(monkeypatch):
    import importlib.util
    import subprocess

    from sitebuild.notebook_links import install_cell

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append(command))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "myst_nb" else real(name))
    exec(install_cell(("o", "r", "main"), {"myst_nb"}), {})
    assert len(calls) == 1 and calls[0][-1:] == ["myst-nb"] and calls[0][1:4] == ["-m", "pip", "install"]


# --- formulas typeset at build time (MathJax in Node) -------------------------------------------

PAGE = """<!DOCTYPE html><html><head><title>t</title></head><body data-x="1"><p>Text with
<span class="math notranslate nohighlight">\\(h_t = \\tanh(W x_t)\\)</span>, a &lt; b, and</p>
<div class="math notranslate nohighlight" id="equation-e"><span class="eqno">(1)<a class="headerlink" href="#equation-e">#</a></span>\\[z = \\sigma(a) &lt; 1\\]</div>
<div class="math notranslate nohighlight amsmath">\\begin{align}a &amp;= b \\\\ c &amp;= d\\end{align}</div>
<pre>\\(not math\\)</pre></body></html>"""


def _typeset(text: str):
    from sitebuild import math_render, site_assets

    page = math_render.Page(Path("page.html"), math_render.raw_fragments(text))
    math_render.typeset([page], site_assets.install())
    return page, math_render.with_rendered_math(text, page)


def test_formulas_become_svg_with_one_font_cache_and_mathml_for_screen_readers():
    from sitebuild import math_render

    page, html = _typeset(PAGE)
    assert len(page.fragments) == 3 and not math_render.problems(page)
    assert "\\(" not in html.split("<pre>")[0] and "\\begin{align}" not in html      # no TeX left outside <pre>
    assert "<pre>\\(not math\\)</pre>" in html                                  # the rest is untouched
    assert html.count('<mjx-container class="MathJax" jax="SVG"') == 3
    assert html.count('display="true"') >= 2                                     # the two display formulas
    assert html.count("<mjx-assistive-mml") == 3 and "<mo>&lt;</mo>" in html       # MathML beside each one
    body = html.index("<body")
    assert html.index('id="MJX-SVG-global-cache"') > body                         # one glyph cache, in <body>
    assert html.count('id="MJX-SVG-global-cache"') == 1
    assert html.index("<style") < html.index("</head>")
    used = set(re.findall(r'xlink:href="#([^"]+)"', html))
    defined = set(re.findall(r'<path id="([^"]+)"', html))
    assert used and used <= defined                                              # every glyph is drawn
    assert '<span class="eqno">(1)<a class="headerlink" href="#equation-e">#</a></span>' in html


def test_a_tex_error_or_an_unknown_macro_is_reported_with_its_formula():
    from sitebuild import math_render

    text = PAGE.replace("\\tanh(W x_t)", "\\frac{1}").replace("\\sigma(a)", "\\sigmoid(a)")
    page, _ = _typeset(text)
    found = sorted(math_render.problems(page))
    assert len(found) == 2, found
    assert "h_t = \\frac{1}" in found[0] and "Missing argument" in found[0], found
    assert "\\sigmoid" in found[1] and "Undefined control sequence" in found[1], found


def test_a_math_element_that_holds_no_formula_is_reported():
    from sitebuild import math_render

    page, _ = _typeset(PAGE.replace("\\(h_t = \\tanh(W x_t)\\)", "h_t without delimiters"))
    assert [p for p in math_render.problems(page) if "0 formulas typeset" in p], math_render.problems(page)
