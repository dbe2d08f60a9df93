"""Helpers of the site tests: serve a folder on 127.0.0.1, drive Debian's chromium with Playwright.

No browser is ever downloaded: Playwright's client talks to /usr/bin/chromium (tools/system-deps.sh
installs it). Every request that would leave 127.0.0.1 is aborted and recorded.
"""
from __future__ import annotations

import functools
import html
import http.server
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


class SiteServer:
    """A static file server for one folder on 127.0.0.1, on a free port, in a background thread."""

    def __init__(self, folder: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "SiteServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class PageReport:
    """What went wrong while one page loaded."""
    url: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return ([f"console error: {m}" for m in self.console_errors]
                + [f"failed request: {m}" for m in self.failed_requests]
                + [f"request leaving 127.0.0.1: {m}" for m in self.outside_requests])


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname == "127.0.0.1"


def watch(page, report: PageReport) -> None:
    """Record console errors, page errors, failed requests and HTTP errors of a Playwright page."""
    page.on("console", lambda m: m.type == "error" and report.console_errors.append(
        f"{m.text} ({m.location.get('url', '')}:{m.location.get('lineNumber', '')})"))
    page.on("pageerror", lambda e: report.console_errors.append(f"uncaught: {e}"))
    page.on("requestfailed", lambda r: is_local(r.url) and report.failed_requests.append(
        f"{r.url} ({r.failure})"))
    page.on("response", lambda r: r.status >= 400 and report.failed_requests.append(
        f"{r.url} (HTTP {r.status})"))


def block_outside(context, outside: list[str]) -> None:
    """Abort every request that would leave 127.0.0.1, and record its URL."""
    def handle(route):
        url = route.request.url
        if is_local(url):
            route.continue_()
        else:
            outside.append(url)
            route.abort()
    context.route("**/*", handle)


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)


def offline_page(playwright, outside: list[str], **context_options):
    """(browser, page): a fresh chromium whose requests leaving 127.0.0.1 are aborted and recorded in
    ``outside``; close the browser when done."""
    browser = launch(playwright)
    context = browser.new_context(**context_options)
    block_outside(context, outside)
    return browser, context.new_page()


# --- static checks on the html text -------------------------------------------------------------

_HREF = re.compile(r'<(a|link)\b[^>]*?\bhref="([^"]*)"', re.IGNORECASE)
_SRC = re.compile(r'<(script|img|iframe|source|video|audio)\b[^>]*?\bsrc="([^"]*)"', re.IGNORECASE)
_ID = re.compile(r'\bid="([^"]+)"')


def links(text: str) -> list[tuple[str, str]]:
    """(tag, url) of every href and src in an html text, unescaped."""
    return [(tag.lower(), html.unescape(url)) for tag, url in _HREF.findall(text) + _SRC.findall(text)]


def ids(text: str) -> set[str]:
    return set(_ID.findall(text))


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def visible_text(text: str) -> str:
    """An html text as plain text with collapsed whitespace (highlighted code becomes one string)."""
    return squash(html.unescape(_TAG.sub("", text)))


def squash(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


# --- widgets in the browser ---------------------------------------------------------------------

# The text, images and input values shown inside `root`, outside `control`, as one string.
SHOWN_JS = """([root, control]) => {
  const parts = [];
  for (const el of root.querySelectorAll('*')) {
    if (control && control.contains(el)) continue;
    if (el.checkVisibility && !el.checkVisibility()) continue;
    if (el.tagName === 'IMG') parts.push('img:' + el.currentSrc);
    else if (el.tagName === 'INPUT' || el.tagName === 'SELECT' || el.tagName === 'TEXTAREA')
      parts.push('value:' + el.value);
    else if (el.children.length === 0 && el.textContent.trim()) parts.push('text:' + el.textContent.trim());
    else if (el.tagName === 'svg' || el.tagName === 'CANVAS') parts.push('graphic:' + el.outerHTML.length);
  }
  return parts.join('|');
}"""

# Controls a reader can move, and how to move each one.
CONTROLS = [
    (".widget-slider .noUi-handle, .widget-hslider .noUi-handle", "slider"),
    (".widget-dropdown select", "select"),
    (".widget-toggle-buttons button:not(.mod-active)", "toggle"),
    (".widget-radio-box input[type=radio]:not(:checked)", "radio"),
    (".widget-checkbox input[type=checkbox]", "checkbox"),
]


def move(page, handle, kind: str) -> None:
    """Change a control's value the way a reader would."""
    if kind == "slider":
        handle.focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
    elif kind == "select":
        options = handle.evaluate("s => Array.from(s.options).map(o => o.value)")
        current = handle.evaluate("s => s.value")
        others = [o for o in options if o != current]
        if others:
            handle.select_option(others[0])
    elif kind == "toggle":
        handle.click()
    else:
        handle.click()


# --- two screens, and what each page weighs --------------------------------------------------------

# The widths a reader brings: a laptop and a phone (a 2x screen that reports touch, as phones do).
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1366, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 2},
}


class Transfers:
    """The bytes the browser received for one page: every finished request's headers and body, as sent."""

    def __init__(self, page) -> None:
        self.requests = []
        page.on("requestfinished", lambda request: self.requests.append(request))

    def by_url(self) -> dict[str, int]:
        """url -> bytes received (repeated requests added up); call before the page closes."""
        sizes: dict[str, int] = {}
        for request in self.requests:
            if urlsplit(request.url).scheme not in ("http", "https"):
                continue
            size = request.sizes()
            sizes[request.url] = sizes.get(request.url, 0) + size["responseBodySize"] + size["responseHeadersSize"]
        return sizes


# Elements that stick out of the viewport (left or right) and are not inside a box that scrolls
# sideways and itself fits: what a phone reader cannot see without scrolling the whole page.
OVERFLOW_JS = """() => {
  const vw = document.documentElement.clientWidth;
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
      + (el.classList.length ? '.' + Array.from(el.classList).slice(0, 3).join('.') : '');
  const inScrollBox = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (['auto', 'scroll'].includes(style.overflowX)) {
        const r = a.getBoundingClientRect();
        if (r.left >= -1 && r.right <= vw + 1) return true;
      }
    }
    return false;
  };
  // text for screen readers only: clipped to nothing, never seen (e.g. MathJax's hidden MathML)
  const screenReaderOnly = el => {
    for (let a = el; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.position === 'absolute' && (style.clip !== 'auto' || style.clipPath !== 'none')) return true;
    }
    return false;
  };
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true}) || screenReaderOnly(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;
    if ((r.right > vw + 1 || r.left < -1) && !inScrollBox(el)) {
      // report the outermost offender only
      const parent = el.parentElement && el.parentElement.getBoundingClientRect();
      if (parent && (parent.right > vw + 1 || parent.left < -1) && !inScrollBox(el.parentElement)
          && el.parentElement.checkVisibility()) continue;
      wide.push(`${name(el)} [${Math.round(r.left)}, ${Math.round(r.right)}]`);
    }
  }
  return {viewport: vw, page_width: document.documentElement.scrollWidth, wide: wide};
}"""

# Every control of every widget on the page: shown, with a size, inside the viewport, not clipped.
CONTROLS_JS = """() => {
  const vw = document.documentElement.clientWidth;
  const selector = ['.widget-slider', '.widget-hslider', '.widget-readout', '.widget-toggle-buttons button',
                    '.widget-dropdown select', '.widget-checkbox input', '.widget-radio-box input',
                    '.widget-button', '.widget-text input', '.widget-play'].join(', ');
  const name = el => el.tagName.toLowerCase() + '.' + Array.from(el.classList).slice(0, 2).join('.')
      + (el.textContent.trim() ? ' "' + el.textContent.trim().slice(0, 20) + '"' : '');
  const clipped = (el, r) => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.overflowX !== 'visible' || style.overflowY !== 'visible') {
        const box = a.getBoundingClientRect();
        if (r.left < box.left - 1 || r.right > box.right + 1) return true;
      }
    }
    return false;
  };
  const controls = Array.from(document.querySelectorAll('.widget-subarea')).flatMap(
      area => Array.from(area.querySelectorAll(selector)));
  const hidden = [];
  for (const el of controls) {
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;  // a closed tab, by design
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) hidden.push(name(el) + ' squeezed to nothing');
    else if (r.left < -1 || r.right > vw + 1) hidden.push(name(el) + ` at [${Math.round(r.left)}, ${Math.round(r.right)}]`);
    else if (clipped(el, r)) hidden.push(name(el) + ' cut off by its box');
    else {
      // on top where it is drawn: not covered by what comes after it (a picture, the next row)
      el.scrollIntoView({block: 'center', inline: 'nearest'});
      const box = el.getBoundingClientRect();
      const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
      if (hit && !el.contains(hit) && !hit.contains(el)) hidden.push(name(el) + ' covered by ' + hit.tagName.toLowerCase()
          + (hit.className && typeof hit.className === 'string' ? '.' + hit.className.split(' ')[0] : ''));
    }
  }
  return {controls: controls.length, hidden: hidden};
}"""

# The icons a page shows: [font family, weight, code point] of every visible ::before/::after whose
# content is a private-use character (how icon fonts draw) in a Font Awesome family.
ICONS_JS = """() => {
  const found = new Set();
  for (const el of document.body.querySelectorAll('*')) {
    if (!el.checkVisibility()) continue;
    for (const pseudo of ['::before', '::after']) {
      const style = getComputedStyle(el, pseudo);
      const content = style.content.replace(/^"|"$/g, '');
      if (content.length === 0 || content.length > 2 || !/awesome/i.test(style.fontFamily)) continue;
      const point = content.codePointAt(0);
      if (point >= 0xE000 && point <= 0xF8FF)
        found.add(JSON.stringify([style.fontFamily.split(',')[0].replace(/"/g, '').trim(), style.fontWeight, point]));
    }
  }
  return Array.from(found).map(s => JSON.parse(s));
}"""

# What a reader sees of search: the search fields and buttons shown on the page, dialogs aside.
SEARCH_BOXES_JS = """() => Array.from(document.querySelectorAll(
    '.search-button-field, button.search-button, form.bd-search, .bd-search input'))
  .filter(el => !el.closest('dialog') && el.checkVisibility() && el.getBoundingClientRect().width > 0)
  .filter((el, i, all) => !all.some(other => other !== el && other.contains(el)))
  .map(el => el.tagName.toLowerCase() + '.' + Array.from(el.classList).join('.'))"""
