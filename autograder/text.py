"""Student-controlled text on its way to a page or a terminal, made safe in one place.

Names, exception messages, repairs and answers all come from submissions. Before a terminal they
lose escape sequences and control characters (a message could clear the screen, retitle the
window or hide a line); before HTML they are escaped; before either they lose the bidirectional
overrides that make text read differently from what it is, and they are clipped to a length.
The feedback page (its template) and the CLI's summary and progress line use these.
"""
from __future__ import annotations

import html
import re

#: Terminal escape sequences: CSI (colours, cursor), OSC (titles, links), and two-character ones.
_ESCAPES = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
#: C0 and C1 controls but tab and newline, DEL, and the bidirectional marks and overrides.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clip(text: str, limit: int | None) -> str:
    """``text`` cut to ``limit`` characters, saying how many were left out."""
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters not shown)"


def printable(text: object, limit: int | None = None) -> str:
    """``text`` without escape sequences, control characters (tabs and newlines stay) and
    bidirectional overrides, clipped to ``limit`` characters."""
    return clip(_CONTROLS.sub("", _ESCAPES.sub("", str(text))), limit)


def terminal_line(text: object, limit: int | None = None) -> str:
    """``text`` as one printable line for a terminal (runs of whitespace, newlines included, become
    one space)."""
    return clip(" ".join(printable(text).split()), limit)


def html_text(text: object, limit: int | None = None) -> str:
    """``text`` printable and escaped for HTML (element content or a quoted attribute)."""
    return html.escape(printable(text, limit), quote=True)


__all__ = ["clip", "html_text", "printable", "terminal_line"]
