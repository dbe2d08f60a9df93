"""Vendor the JavaScript the website needs, so that it reads with no outside network.

    python -m sitebuild.site_assets      # npm ci (when package-lock.json changed), then copy

MathJax 3, RequireJS and the ipywidgets HTML manager come from the npm registry through
`package.json` / `package-lock.json` (`npm ci` into `_build/assets/npm`, which git ignores). The few
files a page loads are copied into `_build/assets/site/_vendor/`, which `_config.yml` hands to Sphinx
as `html_extra_path`: they land in `_build/html/_vendor/` and nowhere else. Not `_static/`, because
every `.js` there is added to every page (the widget manager would render each widget twice).
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from sitebuild import ROOT

ASSETS = ROOT / "_build" / "assets"
NPM_DIR = ASSETS / "npm"
SITE_EXTRA = ASSETS / "site"          # html_extra_path: copied verbatim into the html root
VENDOR = SITE_EXTRA / "_vendor"

# what the pages load, relative to node_modules -> relative to _vendor
COPIES = {
    "mathjax/es5": "mathjax",                                   # tex-mml-chtml.js and what it loads
    "requirejs/require.js": "require.js",
    "@jupyter-widgets/html-manager/dist": "html-manager",       # embed-amd.js and its fonts
}
SKIP_SUFFIXES = (".map",)
SKIP_NAMES = {"embed.js", "libembed-amd.js", "embed.js.LICENSE.txt"}   # not loaded by the pages


def _lock_digest() -> str:
    data = (ROOT / "package.json").read_bytes() + (ROOT / "package-lock.json").read_bytes()
    return hashlib.sha256(data).hexdigest()


def install() -> Path:
    """Run `npm ci` into _build/assets/npm unless the lock file is unchanged since the last run."""
    stamp = NPM_DIR / ".lock-digest"
    digest = _lock_digest()
    if stamp.exists() and stamp.read_text() == digest and (NPM_DIR / "node_modules").is_dir():
        return NPM_DIR / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is missing: the site serves MathJax and the widget manager from itself "
                         "and installs them with npm (Debian: apt-get install npm, or run tools/system-deps.sh)")
    NPM_DIR.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(ROOT / name, NPM_DIR / name)
    subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=NPM_DIR, check=True)
    stamp.write_text(digest)
    return NPM_DIR / "node_modules"


def _ignore(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n in SKIP_NAMES or n.endswith(SKIP_SUFFIXES)]


def vendor(node_modules: Path) -> Path:
    """Copy what the pages load into _build/assets/site/_vendor; return that folder."""
    shutil.rmtree(VENDOR, ignore_errors=True)
    VENDOR.mkdir(parents=True)
    for source, target in COPIES.items():
        src, dst = node_modules / source, VENDOR / target
        if not src.exists():
            raise SystemExit(f"{src} is missing after npm ci: expected it from package-lock.json")
        if src.is_dir():
            shutil.copytree(src, dst, ignore=_ignore)
        else:
            shutil.copy2(src, dst)
    return VENDOR


def build() -> Path:
    """Install (if needed) and vendor; return the html_extra_path folder."""
    vendor(install())
    return SITE_EXTRA


if __name__ == "__main__":
    folder = build()
    print(f"vendored {sum(1 for p in VENDOR.rglob('*') if p.is_file())} files into {folder.relative_to(ROOT)}")
    sys.exit(0)
