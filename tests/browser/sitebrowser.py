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
