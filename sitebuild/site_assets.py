"""Vendor the JavaScript the website needs, so that it reads with no outside network.

    python -m sitebuild.site_assets      # npm ci (when package-lock.json changed), then copy

MathJax 3 and the ipywidgets HTML manager come from the npm registry through `package.json` /
`package-lock.json` (`npm ci` into `_build/assets/npm`, which git ignores). Only the files a page can
load are copied into `_build/assets/site/_vendor/`, which `_config.yml` hands to Sphinx as
`html_extra_path`: they land in `_build/html/_vendor/` and nowhere else. Not `_static/`, because every
`.js` there is added to every page (the widget manager would render each widget twice).

What a page loads, and so what is copied:
- MathJax: `startup.js`, which loads the components named in `_config.yml` (`mathjax3_config`:
  TeX input, CommonHTML output, the hidden MathML for screen readers), the TeX extensions that
  `autoload` fetches when a page uses their macros, and the CommonHTML web fonts (each fetched only
  when a formula needs it). Not copied: the combined components, the SVG output, the menu, the
  speech rule engine (24 MB in all).
- The widget manager: `embed.js`, the bundle that renders saved widgets without RequireJS, and the
  web fonts its icons use (browsers that read woff2 never ask for the other formats).
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

# what the pages load: a file, a folder or a glob under node_modules -> its place under _vendor
MATHJAX = "mathjax/es5"
COPIES = {
    f"{MATHJAX}/startup.js": "mathjax/startup.js",
    f"{MATHJAX}/core.js": "mathjax/core.js",
    f"{MATHJAX}/input/tex.js": "mathjax/input/tex.js",
    f"{MATHJAX}/input/tex/extensions": "mathjax/input/tex/extensions",
    f"{MATHJAX}/output/chtml.js": "mathjax/output/chtml.js",
    f"{MATHJAX}/output/chtml/fonts/tex.js": "mathjax/output/chtml/fonts/tex.js",
    f"{MATHJAX}/output/chtml/fonts/woff-v2": "mathjax/output/chtml/fonts/woff-v2",
    f"{MATHJAX}/a11y/assistive-mml.js": "mathjax/a11y/assistive-mml.js",
    "@jupyter-widgets/html-manager/dist/embed.js": "html-manager/embed.js",
    "@jupyter-widgets/html-manager/dist/*.woff2": "html-manager",
}
LICENSES = {"mathjax/LICENSE": "mathjax/LICENSE",
            "@jupyter-widgets/html-manager/dist/embed.js.LICENSE.txt": "html-manager/embed.js.LICENSE.txt"}


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


def vendor(node_modules: Path) -> Path:
    """Copy what the pages load (and the licences) into _build/assets/site/_vendor; return that folder."""
    shutil.rmtree(VENDOR, ignore_errors=True)
    VENDOR.mkdir(parents=True)
    for source, target in {**COPIES, **LICENSES}.items():
        sources = sorted(node_modules.glob(source)) if "*" in source else [node_modules / source]
        if not sources or not sources[0].exists():
            raise SystemExit(f"{node_modules / source} is missing after npm ci: expected it from package-lock.json")
        for src in sources:
            dst = VENDOR / target / src.name if "*" in source else VENDOR / target
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst)
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
