"""Shared fixtures: the strict site build, made once per test session."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import build_book  # noqa: E402

BUILD_LOG = ROOT / "_build" / "strict-build.log"


@pytest.fixture(scope="session")
def site_html() -> Path:
    """The html folder of a strict build from scratch (fresh cache, -W -n --keep-going --all).

    Set GATED_SITE_HTML to an existing html folder to skip the build while developing a test.
    """
    reuse = os.environ.get("GATED_SITE_HTML")
    if reuse:
        return Path(reuse)
    try:
        return build_book.build(strict=True, log=BUILD_LOG)
    except subprocess.CalledProcessError:
        tail = "\n".join(BUILD_LOG.read_text(errors="replace").splitlines()[-60:])
        pytest.fail(f"the strict book build failed; last lines of {BUILD_LOG}:\n{tail}", pytrace=False)
