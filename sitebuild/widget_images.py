"""Widget pictures as files the browser fetches when it shows them, not as text inside every page.

A saved ipywidgets `Image` holds its picture in the page's widget state, base64-encoded: a grid of
precomputed plots switched by `jslink`-ed controls (gated.explorer) put 60 of them, 2 MB, into one
page. Here, while the page is written, each picture goes once into `_images/widgets/<hash>.<ext>` and
the widget's state keeps its URL instead (ipywidgets' own `format="url"`). The static widgets keep
working as before: a `Stack` shows only its selected child, so a picture is fetched when a control
selects it, and the `jslink`s never see the difference. Every page's Image widgets get this, whichever
chapter made them.
"""
from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Callable

from sphinx.application import Sphinx

STATE_KEY = "ipywidgets_state"     # myst-nb's key for the page's widget-state script
FOLDER = "_images/widgets"
EXTENSIONS = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "gif": "gif", "svg+xml": "svg", "webp": "webp"}


def pictures_to_urls(state: dict, store: Callable[[bytes, str], str]) -> int:
    """Replace, in a saved widget state, every Image's inline picture by the URL ``store(data, ext)``
    returns; return how many were replaced. ``state`` is the widget-state JSON (``{"state": {...}}``)."""
    replaced = 0
    for model in state.get("state", {}).values():
        fields = model.get("state", {})
        if model.get("model_name") != "ImageModel" or fields.get("format") not in EXTENSIONS:
            continue
        buffers = [b for b in model.get("buffers", []) if b.get("path") == ["value"]]
        if len(buffers) != 1 or buffers[0].get("encoding") != "base64":
            continue
        url = store(base64.b64decode(buffers[0]["data"]), EXTENSIONS[fields["format"]])
        buffers[0]["data"] = base64.b64encode(url.encode()).decode()   # ipywidgets reads a URL from value
        fields["format"] = "url"
        replaced += 1
    return replaced


def write_widget_pictures(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Before myst-nb adds the page's widget state to the page (html-page-context, priority 500)."""
    from myst_nb.core.render import sanitize_script_content
    from myst_nb.sphinx_ import NbMetadataCollector

    if app.builder.format != "html" or not hasattr(app.env, "nb_metadata"):
        return
    scripts = NbMetadataCollector.get_js_files(app.env, pagename)
    if STATE_KEY not in scripts:
        return
    uri, attributes = scripts[STATE_KEY]
    state = json.loads(attributes["body"])
    folder = Path(app.outdir) / FOLDER

    def store(data: bytes, extension: str) -> str:
        name = f"{hashlib.sha256(data).hexdigest()[:24]}.{extension}"
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / name).exists():
            (folder / name).write_bytes(data)
        return context["pathto"](f"{FOLDER}/{name}", 1)

    if pictures_to_urls(state, store):
        scripts[STATE_KEY] = (uri, {**attributes, "body": sanitize_script_content(json.dumps(state))})


def setup(app: Sphinx) -> None:
    app.connect("html-page-context", write_widget_pictures, priority=400)
