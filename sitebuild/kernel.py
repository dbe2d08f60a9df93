"""The kernels that execute the chapters for the website draw their figures sharp.

Before anything is executed, the build gets an IPython profile of its own (`_build/ipython`, through
IPYTHONDIR, which the kernels that myst-nb starts inherit) whose startup file is
`sitebuild/kernel_startup.py`: figures as SVG, or as a 2x PNG when that is smaller. A profile of the
build's own also keeps a developer's personal IPython settings out of the site.
"""
from __future__ import annotations

import os
import shutil

from sphinx.application import Sphinx

from sitebuild import ROOT

PROFILE_DIR = ROOT / "_build" / "ipython"
STARTUP = ROOT / "sitebuild" / "kernel_startup.py"
INPUTS = (STARTUP, ROOT / "sitebuild" / "kernel.py")   # what decides how kernels draw: in the cache key


# Until the startup file's formatters take over (the cell that first imports pyplot), the inline
# backend's own choice: SVG as well.
KERNEL_CONFIG = 'c.InlineBackend.figure_formats = {"svg"}\n'


def use_build_profile() -> None:
    """Point IPYTHONDIR at the build's profile, with the figure formats' startup file in it."""
    profile = PROFILE_DIR / "profile_default"
    (profile / "startup").mkdir(parents=True, exist_ok=True)
    shutil.copy2(STARTUP, profile / "startup" / "00-site-figures.py")
    (profile / "ipython_kernel_config.py").write_text("# written by sitebuild/kernel.py\n" + KERNEL_CONFIG)
    os.environ["IPYTHONDIR"] = str(PROFILE_DIR)


def setup(app: Sphinx) -> None:
    app.connect("config-inited", lambda app, config: use_build_profile())
