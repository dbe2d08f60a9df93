"""The website's Sphinx extension, loaded by module name from `_config.yml` (`sphinx: extra_extensions`).

It gathers the build's own parts:
- sitebuild.notebook_links: notebook downloads, Colab and Binder buttons that work, the generated
  notebooks with their install cell, the note on pages that need a kernel or a GPU; before
  anything is read, the exercise pages and the vendored JavaScript;
- sitebuild.kernel: the kernels that execute the chapters draw their figures sharp (SVG);
- sitebuild.widget_images: widget pictures as files fetched on demand;
- sitebuild.theme: the CSS for phones, lighter pages, search ranking and snippets;
- sitebuild.trim: when all pages are written, the theme's CSS and icon fonts cut to what they use.
"""
from __future__ import annotations

from sphinx.application import Sphinx

from sitebuild import kernel, notebook_links, theme, trim, widget_images


def setup(app: Sphinx) -> dict:
    notebook_links.setup(app)
    kernel.setup(app)
    widget_images.setup(app)
    theme.setup(app)
    app.connect("build-finished", trim.trim, priority=900)   # after the notebooks are written
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
