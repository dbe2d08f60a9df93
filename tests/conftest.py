"""Shared fixtures: the strict site build, made once per test session."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from sitebuild import build_book

ROOT = Path(__file__).resolve().parent.parent

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
        pytest.fail(f"the strict book build failed ({BUILD_LOG}):\n{build_failure_summary()}", pytrace=False)


def build_failure_summary(context: int = 12) -> str:
    """The warnings and the failing cell of the build log, not the Sphinx traceback around them."""
    lines = re.sub(r"\x1b\[[0-9;]*m", "", BUILD_LOG.read_text(errors="replace")).splitlines()
    keep: list[str] = []
    for i, line in enumerate(lines):
        if ("WARNING" in line or "ERROR" in line) and "IPKernelApp" not in line:
            keep.append(line)
        elif "CellExecutionError: An error occurred" in line and not any("failing cell" in k for k in keep):
            keep.append("failing cell:")
            keep.extend(lines[i + 1:i + 1 + context])
    return "\n".join(keep[-80:]) or "\n".join(lines[-60:])
