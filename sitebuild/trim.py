"""After the build: the theme's CSS and icon fonts cut down to what the site's pages use.

The theme (pydata-sphinx-theme under sphinx-book-theme) ships all of Bootstrap's CSS and every Font
Awesome icon, about 400 KB of CSS and 270 KB of fonts on every page, of which a page uses a small
part. When all pages are written (build-finished):

1. PurgeCSS (the maintained tool for this job, from npm with the site's other JavaScript) keeps
   the CSS rules whose selectors occur in the built pages or in the theme's JavaScript (classes that
   scripts add: dropdowns, the search dialog, the dark theme). It works on the build's own output,
   so a page that uses a new class keeps its rule.
2. The Font Awesome fonts are cut to the icons the kept CSS still names (each icon's rule, or the
   theme's icon variable, holds its code point), with fontTools, as WOFF files the CSS then points at.
3. Files no page loads leave the output: source maps, the theme's translation catalogues, the
   original fonts, Font Awesome's script, Thebe's files (the site has no Thebe button).
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from sitebuild import site_assets

PURGECSS_CONFIG = Path(__file__).resolve().parent / "purgecss.config.cjs"

# the theme's and the extensions' stylesheets in _static/, purged in place
STYLESHEETS = ("styles/pydata-sphinx-theme.css", "styles/sphinx-book-theme.css", "basic.css",
               "pygments.css", "sphinx-design.min.css", "mystnb.*.css", "togglebutton.css", "copybutton.css")
ICON_FONTS = "vendor/fontawesome/webfonts"
FONT_FACE = re.compile(r'url\(\.\./vendor/fontawesome/webfonts/(fa-[a-z]+-\d+)\.woff2\)\s*format\("woff2"\)\s*,'
                       r'\s*url\(\.\./vendor/fontawesome/webfonts/\1\.ttf\)\s*format\("truetype"\)')
CODE_POINT = re.compile(r"\"\\([0-9a-fA-F]{4,6})\"")
NOT_LOADED = ("**/*.map", "locales", "scripts/fontawesome.js*", "sphinx-thebe.*", "*webpack-macros.html")


def purge_css(html: Path) -> None:
    static = html / "_static"
    sheets = [p for pattern in STYLESHEETS for p in static.glob(pattern)]
    content = [str(p) for p in html.rglob("*.html") if "_vendor" not in p.parts]
    content += [str(p) for p in static.rglob("*.js")]
    out = html / "_build-purged"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    node_modules = site_assets.install()
    command = [shutil.which("node") or "node", str(node_modules / "purgecss" / "bin" / "purgecss.js"),
               "--config", str(PURGECSS_CONFIG), "--css", *map(str, sheets), "--content", *content,
               "--output", str(out)]
    subprocess.run(command, check=True, capture_output=True, text=True)
    for sheet in sheets:
        shutil.move(out / sheet.name, sheet)
    out.rmdir()


def subset_icon_fonts(html: Path) -> list[int]:
    """Cut the Font Awesome fonts to the code points the theme's CSS still uses; return them."""
    from fontTools import subset

    css_path = html / "_static" / "styles" / "pydata-sphinx-theme.css"
    css = css_path.read_text()
    # icons are private-use code points, written as escapes ("\f135") or as the characters themselves
    points = {int(p, 16) for p in CODE_POINT.findall(css)} | {ord(c) for c in css}
    points = sorted(p for p in points if 0xE000 <= p <= 0xF8FF or p >= 0xF0000)
    fonts = html / "_static" / ICON_FONTS
    for name in set(FONT_FACE.findall(css)):
        options = subset.Options()
        options.flavor = "woff"            # zlib; WOFF2 would need the brotli module
        font = subset.load_font(str(fonts / f"{name}.ttf"), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=points)
        subsetter.subset(font)
        subset.save_font(font, str(fonts / f"{name}.subset.woff"), options)
    css = FONT_FACE.sub(r'url(../vendor/fontawesome/webfonts/\1.subset.woff) format("woff")', css)
    css_path.write_text(css)
    for original in [*fonts.glob("*.woff2"), *fonts.glob("*.ttf")]:
        original.unlink()
    return points


def remove_unloaded_files(html: Path) -> None:
    static = html / "_static"
    for pattern in NOT_LOADED:
        for path in static.glob(pattern):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def trim(app, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    html = Path(app.outdir)
    purge_css(html)
    subset_icon_fonts(html)
    remove_unloaded_files(html)
