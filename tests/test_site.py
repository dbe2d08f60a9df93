"""The built website, read in a real browser (Debian's chromium through Playwright), offline.

Every page of the strict build is served on 127.0.0.1 and loaded once; the tests below then assert
on what that visit saw: no console error, no failed request, no request leaving 127.0.0.1, images
loaded, math typeset by MathJax, widgets rendered from their saved state, and a linked control
changing what is shown. Static tests check every internal link and anchor, and that no solution or
hidden test reached the site. Screenshots go to _build/test-artifacts/.

While developing: GATED_SITE_HTML=/path/to/html .venv/bin/pytest tests/test_site.py
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, unquote, urlsplit

import jupytext
import nbformat
import pytest
import yaml

from browser import sitebrowser as sb
from conftest import ROOT
from sitebuild import exercise_pages

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "_build" / "test-artifacts"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
SKIPPED_FOLDERS = ("_static", "_vendor", "_downloads", "_notebooks", "_images")


def site_pages(html_root: Path) -> list[Path]:
    """Every html page of the site, the theme's and vendored files left out."""
    return sorted(p for p in html_root.rglob("*.html")
                  if not p.relative_to(html_root).parts[0] in SKIPPED_FOLDERS)


@dataclass
class Visit:
    """What loading one page at one width in the browser showed."""
    page: str
    viewport: str = "desktop"
    problems: list[str] = field(default_factory=list)
    math_elements: int = 0
    math_typeset: int = 0
    math_errors: int = 0
    broken_images: list[str] = field(default_factory=list)
    widget_views: int = 0
    widgets_rendered: int = 0
    links_in_state: int = 0
    linked_change: str | None = None      # "control kind: before -> after" when a control changed the view
    transferred: int = 0                  # bytes received, cold cache, before any control was moved
    heaviest: list[str] = field(default_factory=list)   # the five largest transfers, "bytes path"
    fetched: list[str] = field(default_factory=list)    # the path of every transfer
    too_wide: list[str] = field(default_factory=list)    # elements outside the viewport and any scroll box
    page_width: int = 0
    controls: int = 0
    hidden_controls: list[str] = field(default_factory=list)
    icons: list[list] = field(default_factory=list)          # [font family, weight, code point]
    search_boxes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _wait_quietly(page, js: str, timeout: float) -> bool:
    try:
        page.wait_for_function(js, timeout=timeout)
        return True
    except Exception:  # noqa: BLE001 - a timeout is reported by the assertions, with the numbers
        return False


def _try_linked_controls(page) -> str | None:
    """Move each control on the page; return a description of the first that changed something else."""
    for selector, kind in sb.CONTROLS:
        for handle in page.query_selector_all(selector)[:4]:
            root = handle.evaluate_handle(
                "el => el.closest('.cell_output') || el.closest('.widget-subarea') || document.body")
            control = handle.evaluate_handle(
                "el => el.closest('.jupyter-widgets:not(.widget-box):not(.widget-subarea)') || el")
            before = page.evaluate(sb.SHOWN_JS, [root, control])
            try:
                sb.move(page, handle, kind)
            except Exception:  # noqa: BLE001 - a control that cannot be moved is simply skipped
                continue
            page.wait_for_timeout(300)
            after = page.evaluate(sb.SHOWN_JS, [root, control])
            changed = set(before.split("|")) ^ set(after.split("|"))
            # a number in a readout is not enough: a picture or a text must change
            shown = sorted(x for x in changed if not re.fullmatch(r"(text|value):[-+0-9.e ]*", x))
            if shown:
                return f"{kind}: " + "; ".join(x[:60] for x in shown[:4])
    return None


def visit(page, url: str, name: str, viewport: str) -> Visit:
    result = Visit(page=name, viewport=viewport)
    start = time.perf_counter()
    report = sb.PageReport(url)
    sb.watch(page, report)
    transfers = sb.Transfers(page)
    page.goto(url, wait_until="load")
    try:
        page.wait_for_load_state("networkidle", timeout=15000)
    except Exception:  # noqa: BLE001
        report.failed_requests.append("network did not go idle within 15 s")
    result.math_elements = page.locator("span.math, div.math").count()
    if result.math_elements:
        _wait_quietly(page, "() => window.MathJax && MathJax.startup && MathJax.startup.promise", 15000)
        page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise.then(() => true)")
        result.math_typeset = page.locator("span.math mjx-container, div.math mjx-container").count()
        result.math_errors = page.locator("mjx-merror").count()
    result.widget_views = page.locator(f'script[type="{WIDGET_VIEW}"]').count()
    if result.widget_views:
        _wait_quietly(page, f"""() => document.querySelectorAll('.widget-subarea > *').length
                                     >= {result.widget_views}""", 20000)
        result.widgets_rendered = page.locator(".widget-subarea > *").count()
    try:   # fonts and images that typesetting and widgets asked for
        page.wait_for_load_state("networkidle", timeout=10000)
    except Exception:  # noqa: BLE001
        report.failed_requests.append("network did not go idle after typesetting")
    sizes: dict[str, int] = {}
    for url, size in transfers.by_url().items():
        sizes[urlsplit(url).path] = sizes.get(urlsplit(url).path, 0) + size
    result.transferred = sum(sizes.values())
    result.heaviest = [f"{size} {path}" for path, size in sorted(sizes.items(), key=lambda kv: -kv[1])[:5]]
    result.fetched = sorted(sizes)
    layout = page.evaluate(sb.OVERFLOW_JS)
    result.too_wide, result.page_width = layout["wide"], layout["page_width"]
    controls = page.evaluate(sb.CONTROLS_JS)
    result.controls, result.hidden_controls = controls["controls"], controls["hidden"]
    result.icons = page.evaluate(sb.ICONS_JS)
    result.search_boxes = page.evaluate(sb.SEARCH_BOXES_JS)
    if result.widget_views:
        state = page.locator(f'script[type="{WIDGET_STATE}"]')
        if state.count():
            models = json.loads(state.first.text_content())["state"].values()
            result.links_in_state = sum(1 for m in models if m.get("model_name") in ("LinkModel", "DirectionalLinkModel"))
        if result.links_in_state:
            result.linked_change = _try_linked_controls(page)
    result.broken_images = page.evaluate(
        "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
    result.problems = report.problems()
    result.seconds = time.perf_counter() - start
    return result


def _screenshot_targets(pages: list[str]) -> dict[str, str]:
    """landing, one chapter (the GRU chapter if built) and one exercise page (the GRU assignment)."""
    chapters = [p for p in pages if p.startswith("book/") and "/exercises/" not in p
                and p not in ("book/getting_started.html", "book/bibliography.html", "book/intro.html")]
    exercises = [p for p in pages if p.startswith("book/exercises/") and not p.endswith("index.html")]
    pick = lambda options, best: best if best in options else (options[0] if options else None)  # noqa: E731
    targets = {"landing": "index.html",
               "chapter": pick(chapters, "book/gru.html"),
               "exercise": pick(exercises, "book/exercises/gru.html")}
    return {k: v for k, v in targets.items() if v}


def _playwright():
    """Playwright's Python client; the browser tests fail, not skip, without it."""
    try:
        import playwright.sync_api as api
    except ImportError:
        pytest.fail("the browser tests need Playwright's client: pip install -r requirements.txt "
                    "(playwright is pinned there); they drive /usr/bin/chromium, never a downloaded browser")
    return api


@pytest.fixture(scope="module")
def visits(site_html: Path) -> dict[str, Visit]:
    """Load every page at each width of sb.VIEWPORTS in chromium, each in a fresh browser context
    (a cold cache, so that what it transfers is what a first visit costs; outside requests blocked),
    and save screenshots of three pages at each width. Keys: "viewport:page"."""
    playwright_api = _playwright()
    if not Path(sb.CHROMIUM).exists():
        pytest.fail(f"{sb.CHROMIUM} is missing: run tools/system-deps.sh (Debian package chromium)")
    names = [p.relative_to(site_html).as_posix() for p in site_pages(site_html)]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, Visit] = {}
    with sb.SiteServer(site_html) as server, playwright_api.sync_playwright() as p:
        browser = sb.launch(p)
        for viewport, options in sb.VIEWPORTS.items():
            for name in names:
                context = browser.new_context(**options, service_workers="block")
                outside: list[str] = []
                sb.block_outside(context, outside)
                page = context.new_page()
                result = results[f"{viewport}:{name}"] = visit(page, server.url + name, name, viewport)
                result.problems += [f"request leaving 127.0.0.1: {u}" for u in outside]
                context.close()
            context = browser.new_context(**options, service_workers="block")
            sb.block_outside(context, [])
            for label, name in _screenshot_targets(names).items():
                page = context.new_page()
                page.goto(server.url + name, wait_until="networkidle")
                page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.wait_for_timeout(500)
                page.screenshot(path=str(ARTIFACTS / f"{label}-{viewport}.png"), full_page=False)
                widget = page.locator(".cell_output .widget-subarea")
                if label == "chapter" and widget.count():      # the chapter's first widget, whole
                    widget.first.scroll_into_view_if_needed()
                    page.wait_for_timeout(500)
                    widget.first.screenshot(path=str(ARTIFACTS / f"widget-{viewport}.png"))
                page.close()
            context.close()
        browser.close()
    (ARTIFACTS / "site-visits.json").write_text(
        json.dumps({key: visit.__dict__ for key, visit in results.items()}, indent=1))
    return results


def test_every_page_loads_without_console_errors_or_failed_requests(visits):
    bad = {name: v.problems for name, v in visits.items() if v.problems}
    assert not bad, json.dumps(bad, indent=1)


def test_every_image_loads(visits):
    bad = {name: v.broken_images for name, v in visits.items() if v.broken_images}
    assert not bad, json.dumps(bad, indent=1)


def test_mathjax_typesets_every_formula_from_the_site_itself(visits):
    pages_with_math = {n: v for n, v in visits.items() if v.math_elements}
    assert pages_with_math, "no page of the site has math: the intro and conventions pages should"
    bad = {n: f"{v.math_typeset} of {v.math_elements} typeset, {v.math_errors} MathJax errors"
           for n, v in pages_with_math.items() if v.math_typeset < v.math_elements or v.math_errors}
    assert not bad, json.dumps(bad, indent=1)


def test_widgets_render_from_their_saved_state(visits):
    bad = {n: f"{v.widgets_rendered} of {v.widget_views} widget views rendered"
           for n, v in visits.items() if v.widgets_rendered < v.widget_views}
    assert not bad, json.dumps(bad, indent=1)


def test_a_linked_control_changes_what_the_page_shows(visits):
    linked = {n: v for n, v in visits.items() if v.links_in_state}
    if not linked:
        pytest.fail("no page of the site has a jslinked widget (the gradient explorer of the RNN "
                    "gradients chapter should); pages with widgets: "
                    + ", ".join(n for n, v in visits.items() if v.widget_views))
    for viewport in sb.VIEWPORTS:
        changed = {n: v.linked_change for n, v in linked.items() if v.viewport == viewport and v.linked_change}
        assert changed, f"at the {viewport} width, moving the controls changed nothing shown on: " + ", ".join(
            n for n, v in linked.items() if v.viewport == viewport)


def test_screenshots_of_landing_chapter_and_exercise_are_saved(visits):
    saved = {p.name for p in ARTIFACTS.glob("*.png")}
    pages = {v.page for v in visits.values()}
    for viewport in sb.VIEWPORTS:
        assert {f"landing-{viewport}.png", f"chapter-{viewport}.png"} <= saved, sorted(saved)
        if any(n.startswith("book/exercises/") and not n.endswith("index.html") for n in pages):
            assert f"exercise-{viewport}.png" in saved, sorted(saved)


# --- phones: nothing wider than the screen, every control in reach ---------------------------------

def test_no_element_is_wider_than_the_screen_outside_a_scroll_box(visits):
    bad = {key: v.too_wide[:8] + ([f"... {len(v.too_wide) - 8} more"] if len(v.too_wide) > 8 else [])
           for key, v in visits.items() if v.too_wide or v.page_width > sb.VIEWPORTS[v.viewport]["viewport"]["width"]}
    assert not bad, json.dumps(bad, indent=1)


def test_every_widget_control_is_visible_at_both_widths(visits):
    with_widgets = {key: v for key, v in visits.items() if v.widget_views}
    assert any(v.controls for v in with_widgets.values()), "no widget control found on any page"
    bad = {key: v.hidden_controls for key, v in with_widgets.items() if v.hidden_controls}
    assert not bad, json.dumps(bad, indent=1)


def test_the_overflow_check_finds_a_wide_element(site_html: Path, tmp_path: Path):
    """The layout checks above can fail: a wide table outside a scroll box, a slider pushed off the
    screen and a readout under a picture are found at the phone's width."""
    playwright_api = _playwright()
    probe = tmp_path / "probe.html"
    probe.write_text('<!doctype html><meta name="viewport" content="width=device-width, initial-scale=1">'
                     '<body><table style="width:700px"><tr><td>wide</td></tr></table>'
                     '<div style="overflow-x:auto"><table style="width:700px"><tr><td>boxed</td></tr></table></div>'
                     '<div class="widget-subarea"><div class="widget-slider" style="margin-left:420px;'
                     'width:40px;height:10px"></div><div class="widget-readout" style="width:40px;height:20px">1</div>'
                     '<img style="display:block;width:100px;height:40px;margin-top:-30px;position:relative"></div></body>')
    with sb.SiteServer(tmp_path) as server, playwright_api.sync_playwright() as p:
        browser = sb.launch(p)
        context = browser.new_context(**sb.VIEWPORTS["phone"])
        page = context.new_page()
        page.goto(server.url + "probe.html")
        layout, controls = page.evaluate(sb.OVERFLOW_JS), page.evaluate(sb.CONTROLS_JS)
        browser.close()
    assert sum(w.startswith("table") for w in layout["wide"]) == 1, layout     # the boxed one passes
    assert layout["page_width"] > 390, layout
    assert len(controls["hidden"]) == 2 and "at [" in controls["hidden"][0], controls   # off the screen
    assert "covered by img" in controls["hidden"][1], controls                             # under a picture


def test_one_search_box_on_every_page_at_both_widths(visits):
    bad = {key: v.search_boxes for key, v in visits.items()
           if not v.page.endswith("search.html") and len(v.search_boxes) != 1}
    assert not bad, json.dumps(bad, indent=1)


def _font_faces(site_html: Path) -> dict[tuple[str, str], Path]:
    """(family, weight) -> font file, from the @font-face rules of the site's own stylesheets."""
    faces = {}
    for css in (site_html / "_static").rglob("*.css"):
        for rule in re.findall(r"@font-face\s*\{([^}]*)\}", css.read_text()):
            family = re.search(r"font-family:\s*([^;]+)", rule).group(1).strip().strip('"').replace("\\", "")
            weight = (re.search(r"font-weight:\s*(\d+)", rule) or re.search("()", "")).group(1) or "400"
            url = re.search(r"url\(([^)]+)\)", rule).group(1).strip("'\"")
            faces[family, weight] = (css.parent / url).resolve()
    return faces


def test_every_icon_shown_has_its_glyph_in_the_sites_font(site_html: Path, visits):
    """The icon fonts are cut to the icons in use (sitebuild/trim.py): none may be missing."""
    from fontTools.ttLib import TTFont

    faces = _font_faces(site_html)
    cmaps: dict[Path, set[int]] = {}
    missing, shown = set(), 0
    for key, v in visits.items():
        for family, weight, point in v.icons:
            font = faces.get((family, str(weight)))
            if font is None:
                continue            # a font of the widget manager's own (Font Awesome 5), not cut
            shown += 1
            if font not in cmaps:
                cmaps[font] = set(TTFont(font).getBestCmap()) if font.exists() else set()
            if point not in cmaps[font]:
                missing.add(f"{v.page}: U+{point:04X} of {family} {weight} ({font.name})")
    assert shown, "no icon found on any page: the check is broken"
    assert not missing, sorted(missing)


def _content_pages(site_html: Path) -> list[Path]:
    """The site's pages, without Jupyter Book's index.html (a bare redirect to the landing page)."""
    return [p for p in site_pages(site_html) if 'http-equiv="Refresh"' not in p.read_text()[:300]]


def test_every_page_has_a_favicon(site_html: Path):
    bad = []
    for page in _content_pages(site_html):
        icons = re.findall(r'<link rel="icon" href="([^"]+)"', page.read_text())
        if not icons or not (page.parent / icons[0]).resolve().exists():
            bad.append(f"{page.relative_to(site_html)}: {icons}")
    assert not bad, bad


def test_the_footer_says_what_the_project_is_and_links_its_repository(site_html: Path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repository = config["repository"]["url"]
    for page in _content_pages(site_html):
        footer = page.read_text().split('<footer class="bd-footer-content', 1)[-1]
        assert f'href="{repository}"' in footer, page.name
        assert "The authors of the gated course" not in footer, page.name


def test_the_landing_page_links_getting_started(site_html: Path):
    text = (site_html / "book" / "intro.html").read_text()
    article = text[text.index("<article"):text.index("</article>")]
    assert 'href="getting_started.html"' in article
    assert "README" not in sb.visible_text(article)


def _widget_states(site_html: Path) -> dict[str, dict]:
    states = {}
    for page in site_pages(site_html):
        match = re.search(rf'<script type="{re.escape(WIDGET_STATE)}">(.*?)</script>', page.read_text(), re.S)
        if match:
            states[page.relative_to(site_html).as_posix()] = json.loads(match.group(1))["state"]
    return states


CHOICE_MODELS = ("SelectionSliderModel", "SelectionRangeSliderModel", "ToggleButtonsModel", "DropdownModel",
                 "RadioButtonsModel", "SelectModel", "SelectMultipleModel")


def test_no_widget_control_offers_a_single_choice(site_html: Path):
    """A control with one value does nothing: it should not be there."""
    states = _widget_states(site_html)
    assert states, "no page with widgets"
    single = [f"{page}: {m['model_name']} {m['state'].get('description', '')!r}"
              for page, state in states.items() for m in state.values()
              if m["model_name"] in CHOICE_MODELS and len(m["state"].get("_options_labels", [])) < 2]
    assert not single, single


def test_the_gru_chapters_explorer_opens_on_the_gru(site_html: Path):
    state = _widget_states(site_html).get("book/gru.html")
    assert state, "the GRU chapter has no widget"
    cells = [m["state"] for m in state.values()
             if m["model_name"] == "ToggleButtonsModel" and m["state"].get("description") == "cell"]
    assert cells and all(c["_options_labels"][c["index"]] == "gru" for c in cells), cells


def test_widget_pictures_are_files_the_browser_fetches_when_shown(site_html: Path, visits):
    states = _widget_states(site_html)
    inline = [page for page, state in states.items() for m in state.values()
              if m["model_name"] == "ImageModel" and m["state"].get("format") != "url"]
    assert not inline, f"pictures still inline in the widget state: {sorted(set(inline))}"
    pictures = {page: sum(m["model_name"] == "ImageModel" for m in state.values()) for page, state in states.items()}
    for key, v in visits.items():
        if pictures.get(v.page, 0) > 1:
            fetched = sum("/_images/widgets/" in h for h in v.fetched)
            assert 1 <= fetched < pictures[v.page], (key, fetched, pictures[v.page])


def test_chapter_figures_are_vector_or_twice_their_size_on_the_page(site_html: Path):
    """Sharp on a 2x screen and when zoomed (sitebuild/kernel_startup.py draws them)."""
    import struct

    blurry = []
    for page in chapter_pages():
        for tag in re.findall(r"<img\b[^>]*>", (site_html / page).read_text()):
            src = re.search(r'src="([^"]+)"', tag).group(1)
            if "_images/" not in src or src.endswith(".svg"):
                continue
            width = re.search(r"width:\s*(\d+)px", tag)
            pixels = struct.unpack(">I", ((site_html / page).parent / src).resolve().read_bytes()[16:20])[0]
            if not width or pixels < 2 * int(width.group(1)):
                blurry.append(f"{page}: {src} ({pixels} px shown at {width.group(1) if width else pixels} px)")
    assert not blurry, blurry


# --- weight: what a first visit transfers ----------------------------------------------------------

MB = 1e6
MEDIAN_CHAPTER_BUDGET, HEAVIEST_PAGE_BUDGET, SITE_BUDGET = 1.5 * MB, 4 * MB, 15 * MB


def chapter_pages() -> list[str]:
    """The numbered chapters of _toc.yml, as html paths."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [f"{chapter['file']}.html" for part in toc.get("parts", []) if part.get("numbered")
            for chapter in part["chapters"]]


def _weights(visits, viewport: str = "desktop") -> dict[str, int]:
    return {v.page: v.transferred for v in visits.values() if v.viewport == viewport}


def test_median_chapter_page_transfers_at_most_1_5_mb(visits):
    weights = _weights(visits)
    chapters = {page: weights[page] for page in chapter_pages() if page in weights}
    assert len(chapters) == len(chapter_pages()), (sorted(chapters), chapter_pages())
    median = statistics.median(chapters.values())
    assert median <= MEDIAN_CHAPTER_BUDGET, f"median {median / MB:.2f} MB: " + json.dumps(chapters, indent=1)


def test_heaviest_page_transfers_at_most_4_mb_at_either_width(visits):
    heavy = {key: f"{v.transferred / MB:.2f} MB: " + "; ".join(v.heaviest)
             for key, v in visits.items() if v.transferred > HEAVIEST_PAGE_BUDGET}
    assert all(v.transferred > 0 for v in visits.values()), "a page transferred nothing: the count is broken"
    assert not heavy, json.dumps(heavy, indent=1)


def test_the_whole_site_is_at_most_15_mb(site_html: Path, visits):
    """What the Pages artifact holds (every file), and so at most what a reader can ever transfer."""
    files = [p for p in site_html.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    biggest = sorted(files, key=lambda p: -p.stat().st_size)[:8]
    assert total <= SITE_BUDGET, f"{total / MB:.1f} MB; largest: " + ", ".join(
        f"{p.relative_to(site_html)} {p.stat().st_size / MB:.2f}" for p in biggest)


def _search(site_html: Path, queries: list[str]) -> dict[str, list[dict]]:
    """Each query typed into the site's search page, offline: query -> [{href, title, snippet}]."""
    playwright_api = _playwright()
    found = {}
    with sb.SiteServer(site_html) as server, playwright_api.sync_playwright() as p:
        browser = sb.launch(p)
        context = browser.new_context()
        outside: list[str] = []
        sb.block_outside(context, outside)
        for query in queries:
            page = context.new_page()
            report = sb.PageReport("search")
            sb.watch(page, report)
            page.goto(server.url + "search.html?q=" + quote_plus(query))
            page.wait_for_selector("#search-results ul li", timeout=20000)
            page.wait_for_function("""() => Array.from(document.querySelectorAll('#search-results ul li'))
                                        .slice(0, 3).every(li => li.querySelector('p.context'))""", timeout=20000)
            found[query] = page.evaluate("""() => Array.from(document.querySelectorAll('#search-results ul li'))
                .map(li => ({href: li.querySelector('a').getAttribute('href'), title: li.querySelector('a').textContent,
                             snippet: (li.querySelector('p.context') || {}).textContent || ''}))""")
            assert not report.problems(), report.problems()
            page.close()
        browser.close()
    assert not outside, outside
    return found


def _chapter_titles(site_html: Path) -> dict[str, str]:
    """html page -> its title without the chapter number, for every numbered chapter."""
    titles = {}
    for page in chapter_pages():
        text = (site_html / page).read_text()
        title = html.unescape(re.search(r"<title>(.*?)(?: &#8212;| —|</title>)", text).group(1))
        titles[page] = re.sub(r"^\d+\.\s*", "", title).strip()
    return titles


def test_search_ranks_the_page_whose_title_matches_first(site_html: Path):
    titles = _chapter_titles(site_html)
    results = _search(site_html, list(titles.values()))
    wrong = {query: [r["href"] for r in results[query][:3]] for page, query in titles.items()
             if not results[query] or urlsplit(results[query][0]["href"]).path.rsplit("/", 1)[-1] != page.rsplit("/", 1)[-1]
             or urlsplit(results[query][0]["href"]).fragment}
    assert not wrong, wrong


def test_search_results_show_a_snippet_of_the_pages_text(site_html: Path):
    results = _search(site_html, ["reset gate", "forget gate bias"])
    for query, found in results.items():
        assert found, query
        for result in found[:5]:
            snippet = result["snippet"]
            assert len(snippet.split()) >= 15, (query, result)          # a sentence or two, not a title
            assert "Contents" not in snippet[:60], (query, result)      # not the title bar and its table of contents
        assert any(word in found[0]["snippet"].lower() for word in query.split()), (query, found[0])


# --- static checks: links, offline assets, downloads, leaks ---------------------------------------

def _is_internal(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith(("#", "javascript:"))


def test_every_internal_link_and_anchor_resolves(site_html: Path):
    texts: dict[Path, str] = {}
    broken = []
    for page in site_pages(site_html):
        text = page.read_text(errors="replace")
        for tag, url in sb.links(text):
            if not url or url.startswith("mailto:"):
                continue
            if url.startswith("#"):
                target, fragment = page, url[1:]
            elif _is_internal(url):
                parts = urlsplit(url)
                target = (page.parent / unquote(parts.path)).resolve()
                fragment = parts.fragment
                if target.is_dir():
                    target = target / "index.html"
                if not target.exists():
                    broken.append(f"{page.relative_to(site_html)}: {url} (no such file)")
                    continue
            else:
                continue
            if fragment and target.suffix == ".html":
                if target not in texts:
                    texts[target] = target.read_text(errors="replace")
                if unquote(fragment) not in sb.ids(texts[target]):
                    broken.append(f"{page.relative_to(site_html)}: {url} (no id {fragment!r})")
    assert not broken, "\n".join(sorted(set(broken)))


def test_no_page_loads_a_script_stylesheet_or_image_from_outside(site_html: Path):
    outside = []
    for page in site_pages(site_html):
        text = page.read_text(errors="replace")
        for tag, url in sb.links(text):
            if tag != "a" and urlsplit(url).scheme in ("http", "https") or url.startswith("//"):
                if tag != "a":
                    outside.append(f"{page.relative_to(site_html)}: <{tag}> {url}")
        for url in re.findall(r"data-jupyter-widgets-cdn=\"(https?:[^\"]*)\"", text):
            outside.append(f"{page.relative_to(site_html)}: widget CDN {url}")
    assert not outside, "\n".join(outside)


def _notebook_pages(site_html: Path) -> list[str]:
    return [p.relative_to(site_html).with_suffix("").as_posix() for p in site_pages(site_html)
            if 'download-notebook-button' in p.read_text(errors="replace")]


def test_every_notebook_page_offers_a_notebook_without_outputs(site_html: Path):
    pages = _notebook_pages(site_html)
    assert pages, "no page offers a notebook download"
    problems = []
    for page in pages:
        path = site_html / "_notebooks" / f"{page}.ipynb"
        if not path.exists():
            problems.append(f"{page}: {path.relative_to(site_html)} missing")
            continue
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        if any(c.get("outputs") for c in nb.cells if c.cell_type == "code"):
            problems.append(f"{page}: the downloaded notebook holds outputs")
    assert not problems, "\n".join(problems)


def test_pages_with_widgets_say_that_computing_needs_a_kernel(site_html: Path):
    missing = [p.relative_to(site_html).as_posix() for p in site_pages(site_html)
               if WIDGET_VIEW in (t := p.read_text(errors="replace")) and "needs a running kernel" not in t]
    assert not missing, missing


def test_colab_buttons_open_notebooks_not_markdown(site_html: Path):
    colab = []
    for page in site_pages(site_html):
        colab += re.findall(r'href="(https://colab\.research\.google\.com/[^"]*)"', page.read_text(errors="replace"))
    assert colab, "no Colab button on the site"
    assert all(url.endswith(".ipynb") for url in colab), [u for u in colab if not u.endswith(".ipynb")]


def test_exercise_pages_link_the_released_notebook_unexecuted(site_html: Path):
    released = sorted((ROOT / "exercises").glob("*/*.ipynb"))
    released = [p for p in released if p.stem == p.parent.name]
    assert released, "no released notebook in exercises/"
    for notebook in released:
        page = site_html / "book" / "exercises" / f"{notebook.stem}.html"
        assert page.exists(), f"no exercise page for {notebook.relative_to(ROOT)}"
        text = page.read_text()
        assert "NotImplementedError" in text, f"{page.name} does not show the stubs"
        downloads = [site_html / "book" / "exercises" / url for _, url in sb.links(text)
                     if url.endswith(f"/{notebook.name}") and "_downloads" in url]
        assert downloads and downloads[0].resolve().read_bytes() == notebook.read_bytes(), \
            f"{page.name} has no download link to the released {notebook.name}"


def _marked_blocks(text: str, begin: str, end: str) -> list[str]:
    return re.findall(rf"{re.escape(begin)}(.*?){re.escape(end)}", text, flags=re.S)


def secret_lines() -> dict[str, str]:
    """Lines of solutions and hidden tests that the site has no other reason to show: line -> where."""
    # Public on purpose: the chapters and the released notebooks.
    published = list((ROOT / "book").rglob("*.md")) + list((ROOT / "exercises").rglob("*.ipynb"))
    public = " ".join(sb.squash(p.read_text(errors="replace")) for p in published)
    public += " ".join(sb.squash("\n".join(c.source for c in nbformat.read(p, as_version=4).cells))
                       for p in (ROOT / "exercises").rglob("*.ipynb"))
    secrets = {}
    for notebook in sorted((ROOT / "solutions").rglob("*.ipynb")):
        if ".ipynb_checkpoints" in notebook.parts:
            continue
        nb = nbformat.read(notebook, as_version=4)
        for cell in nb.cells:
            blocks = (_marked_blocks(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
                      + _marked_blocks(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
            for block in blocks:
                for line in block.splitlines():
                    line = sb.squash(line)
                    distinctive = len(line.replace(" ", "")) >= 28 or "hidden" in line   # not `return h`
                    if distinctive and not line.startswith("#") and line not in public:
                        secrets[line] = notebook.relative_to(ROOT).as_posix()
    return secrets


def _site_texts(site_html: Path):
    for path in site_html.rglob("*"):
        if not path.is_file() or path.relative_to(site_html).parts[0] in ("_vendor", "_images"):
            continue
        if path.suffix in (".html", ".js", ".txt", ".json", ".md", ".py", ".ipynb", ".css", ".xml"):
            raw = path.read_text(errors="replace")
            if path.suffix == ".ipynb":
                try:
                    raw += "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
                except Exception:  # noqa: BLE001 - the raw text is still searched
                    pass
            yield path, sb.squash(raw) + " " + (sb.visible_text(raw) if path.suffix == ".html" else "")


def test_no_solution_or_hidden_test_reaches_the_site(site_html: Path):
    secrets = secret_lines()
    assert (ROOT / "solutions").exists()
    # nbgrader's markers may be explained on a page for instructors, never shown in what students get
    markers = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    student_facing = ("_downloads/", "_notebooks/", "book/exercises/")
    leaks = []
    for path, text in _site_texts(site_html):
        where = path.relative_to(site_html).as_posix()
        if where.startswith(student_facing):
            leaks += [f"{where}: marker {m!r}" for m in markers if m in text]
        leaks += [f"{where}: line of {source}: {line}" for line, source in secrets.items() if line in text]
    assert not leaks, "\n".join(leaks[:40])


def test_the_leak_check_finds_a_planted_solution_line(site_html: Path, tmp_path: Path):
    """The leak test above can fail: a page holding a solution line is caught."""
    secrets = secret_lines()
    if not secrets:
        pytest.skip("no solution notebook in solutions/ yet")
    line = next(iter(secrets))
    planted = tmp_path / "html"
    (planted / "book").mkdir(parents=True)
    (planted / "book" / "x.html").write_text(f"<pre><span>{line[:10]}</span>{line[10:]}</pre>")
    found = [p for p, text in _site_texts(planted) if line in text]
    assert found


# --- the student's first hour ---------------------------------------------------------------------

WIDGET_PROBE = "import ipywidgets as w\nw.IntSlider(value=3, max=9, description='lag')"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab as the getting-started page starts it (127.0.0.1, a token), over a copy of
    exercises/gru/ and a one-cell notebook holding a widget."""
    from browser.student import JupyterLab

    source = ROOT / "exercises" / "gru"
    if not (source / "gru.ipynb").exists():
        pytest.fail("exercises/gru/gru.ipynb is missing: the getting-started page opens it")
    root = tmp_path_factory.mktemp("student")
    shutil.copytree(source, root / "gru")
    probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(WIDGET_PROBE)])
    probe.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(probe, root / "widget_probe.ipynb")
    with JupyterLab(root, ARTIFACTS / "jupyterlab.log") as server:
        yield server


def test_a_new_student_runs_the_first_gru_cells_in_a_jupyterlab_kernel(lab):
    """Getting started, steps 2 and 3: the GRU notebook's first cells in a real kernel, through the
    Jupyter server's API; the first visible test says what is missing; a widget opens its comm."""
    from browser.student import WIDGET_VIEW as VIEW, run_cells

    assert b"JupyterLab" in lab.get("/lab"), "the JupyterLab page did not load"
    extensions = {e["name"] for e in lab.get("/lab/api/extensions")}
    assert "jupyter-widgets-jupyterlab-manager" in extensions, sorted(extensions)
    cells = lab.get("/api/contents/gru/gru.ipynb")["content"]["cells"]
    code = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells if c["cell_type"] == "code"]
    kernel = lab.start_session("gru/gru.ipynb")
    setup, answer, first_test = run_cells(lab, kernel, code[:3], timeout=90)
    widget, = run_cells(lab, kernel, [WIDGET_PROBE])
    assert setup.status == "ok", setup.error
    assert answer.status == "ok", answer.error
    assert first_test.status == "error" and "not written yet" in first_test.error, first_test.error
    assert VIEW in widget.mime_types and "jupyter.widget" in widget.comm_targets, widget


def test_jupyterlab_in_chromium_shows_the_gru_notebook_and_renders_a_widget(lab):
    """The same JupyterLab in the browser: the GRU notebook opens, and a widget cell run from the
    notebook's UI renders a slider (the widget manager extension works). Saves jupyterlab.png."""
    playwright_api = _playwright()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as p:
        outside: list[str] = []
        browser, page = sb.offline_page(p, outside, viewport={"width": 1280, "height": 900})
        page.goto(f"{lab.url}/lab/tree/gru/gru.ipynb?token={lab.token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60000)
        page.wait_for_function("() => document.querySelectorAll('.jp-Notebook .jp-CodeCell').length > 3",
                               timeout=30000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / "jupyterlab.png"))
        page.goto(f"{lab.url}/lab/tree/widget_probe.ipynb?reset&token={lab.token}")
        editor = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputArea-editor")
        editor.first.wait_for(timeout=60000)
        slider = None
        for _ in range(3):      # the first Shift+Enter can come before the kernel is ready
            page.wait_for_timeout(3000)
            editor.first.click()
            page.keyboard.press("Shift+Enter")
            try:
                slider = page.wait_for_selector(".jp-OutputArea .widget-slider", timeout=20000)
                break
            except playwright_api.TimeoutError:
                continue
        assert slider is not None, "running the widget cell in JupyterLab showed no slider"
        assert slider.is_visible()
        browser.close()
    assert not outside, outside


# --- Binder: what repo2docker reads, and what the launch button opens ------------------------------

def _requirement_lines(path: Path) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines() if line.split("#", 1)[0].strip()]


def _pins(path: Path) -> list[str]:
    """The requirement lines of ``path`` and of the files it includes with ``-r``, in order."""
    lines = []
    for line in _requirement_lines(path):
        lines.extend(_pins(path.parent / line.split(None, 1)[1]) if line.startswith("-r ") else [line])
    return lines


def test_binder_installs_the_course_pins_with_the_cpu_build_of_torch():
    """repo2docker reads binder/ only (a binder/ folder hides the root requirements.txt): its
    requirements.txt must bring the root pins, with torch's CPU build from PyTorch's own index."""
    binder = ROOT / "binder"
    lines = _requirement_lines(binder / "requirements.txt")
    included = [line.split(None, 1)[1] for line in lines if line.startswith("-r ")]
    assert [(binder / f).resolve() for f in included] == [ROOT / "requirements.txt"], included
    torch = next(line for line in _pins(ROOT / "requirements.txt") if line.startswith("torch=="))
    assert f"{torch}+cpu" in lines, lines
    assert any(line.startswith("--extra-index-url ") and line.rstrip("/").endswith("/whl/cpu") for line in lines)
    runtime = (binder / "runtime.txt").read_text().strip()
    pyproject = (ROOT / "pyproject.toml").read_text()
    minimum = re.search(r'requires-python\s*=\s*">=3\.(\d+)"', pyproject).group(1)
    assert re.fullmatch(r"python-3\.\d+", runtime) and int(runtime.split(".")[1]) >= int(minimum), runtime
    assert os.access(binder / "postBuild", os.X_OK)


def test_binder_launch_opens_a_chapter_as_a_notebook(site_html: Path, tmp_path: Path):
    """The chapter's Binder button opens book/<page>.md: JupyterLab, set up by binder/postBuild,
    shows it as a notebook (Jupytext), not as a text file. Saves binder-chapter.png."""
    from browser.student import JupyterLab

    button = re.search(r'href="(https://mybinder\.org/v2/gh/[^"]+)"', (site_html / "book" / "gru.html").read_text())
    assert button, "no Binder button on the GRU chapter"
    urlpath = parse_qs(urlsplit(html.unescape(button.group(1))).query)["urlpath"][0]
    assert urlpath == "lab/tree/book/gru.md", urlpath
    # binder/postBuild as repo2docker runs it, with pip recorded rather than run, and JupyterLab's
    # settings in a folder of this test instead of the image's home
    shims, config, log = tmp_path / "bin", tmp_path / "jupyter-config", tmp_path / "pip.log"
    shims.mkdir()
    (shims / "pip").write_text('#!/bin/sh\necho "$@" >> "$PIP_LOG"\n')
    (shims / "pip").chmod(0o755)
    env = {**os.environ, "PATH": f"{shims}:{Path(sys.executable).parent}:{os.environ['PATH']}",
           "JUPYTER_CONFIG_DIR": str(config), "PIP_LOG": str(log)}
    subprocess.run([str(ROOT / "binder" / "postBuild")], cwd=ROOT, env=env, check=True)
    assert log.read_text().split() == ["install", "--no-deps", "-e", "."]
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "book", repo / "book", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    playwright_api = _playwright()
    with JupyterLab(repo, ARTIFACTS / "binder-jupyterlab.log", env={"JUPYTER_CONFIG_DIR": str(config)}) as lab, \
            playwright_api.sync_playwright() as p:
        outside: list[str] = []
        browser, page = sb.offline_page(p, outside, viewport={"width": 1280, "height": 900})
        page.goto(f"{lab.url}/{urlpath}?token={lab.token}")
        shown = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell"
        page.wait_for_selector(shown, timeout=90000)
        page.wait_for_timeout(1000)
        # JupyterLab draws only the cells near the view: the first code cell is there, as code
        first_code = page.locator(f"{shown} .jp-InputArea-editor").first.inner_text()
        text_editors = page.locator(".jp-FileEditor:not(.lm-mod-hidden)").count()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "binder-chapter.png"))
        browser.close()
    source = next(c.source for c in jupytext.read(ROOT / "book" / "gru.md").cells if c.cell_type == "code")
    assert text_editors == 0, "the chapter opened as a text file"
    assert sb.squash(source) == sb.squash(first_code), (first_code[:300], source[:300])
    assert not outside, outside


# --- the page generator, without a build ----------------------------------------------------------

def test_exercise_page_shows_cells_unexecuted_with_points_and_a_fence_longer_than_any_backticks(tmp_path: Path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Assignment `toy`: a probe\n\nWhat it covers."),
        nbformat.v4.new_code_cell("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
                                  metadata={"nbgrader": {"solution": True, "grade": False, "grade_id": "a"}}),
        nbformat.v4.new_code_cell('doc = """```python\\nf(1)\\n```"""\nassert f(1) == 1',
                                  metadata={"nbgrader": {"grade": True, "solution": False, "grade_id": "t",
                                                         "points": 2.5}}),
        nbformat.v4.new_markdown_cell("# A second title"),
    ])
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="an output that must not show")]
    (tmp_path / "exercises" / "toy").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "exercises" / "toy" / "toy.ipynb")
    page, = exercise_pages.write_pages(tmp_path / "exercises", tmp_path / "book" / "exercises")
    text = page.read_text()
    assert text.count("\n# ") == 1 and "## A second title" in text            # one title per page
    assert "2.5 points" in text and "Test cell `t` (2.5 points)" in text
    assert "````python\ndoc = " in text                                        # the fence outgrows ```
    assert "raise NotImplementedError()" in text and "an output that must not show" not in text
