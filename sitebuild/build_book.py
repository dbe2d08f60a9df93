"""Build the website: the one piece of code behind `make book`, `make strict-book` and the tests.

    python -m sitebuild.build_book            # _build/html, reusing the execution cache where valid
    python -m sitebuild.build_book --strict   # _build/strict/_build/html: fresh cache, -W -n --keep-going --all

The normal build drops the execution cache when the course library changed (jupyter-cache keys a
page on its own cells, not on what it imports). The strict build always starts from nothing, so a
broken page cannot hide behind a cached success.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sitebuild import ROOT, cache_key

STRICT_OUTPUT = ROOT / "_build" / "strict"


def jupyter_book() -> str:
    return str(Path(sys.executable).with_name("jupyter-book"))


def build(strict: bool, log: Path | None = None) -> Path:
    """Build the site and return the html folder; raise CalledProcessError when the build fails."""
    if strict:
        shutil.rmtree(STRICT_OUTPUT, ignore_errors=True)
        command = [jupyter_book(), "build", str(ROOT), "--path-output", str(STRICT_OUTPUT),
                   "-W", "-n", "--keep-going", "--all"]
        html = STRICT_OUTPUT / "_build" / "html"
    else:
        cache_key.main("_build")
        command = [jupyter_book(), "build", str(ROOT), "--keep-going"]
        html = ROOT / "_build" / "html"
    start = time.perf_counter()
    if log is None:
        subprocess.run(command, cwd=ROOT, check=True)
    else:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            subprocess.run(command, cwd=ROOT, check=True, stdout=out, stderr=subprocess.STDOUT)
    print(f"built {html.relative_to(ROOT)} in {time.perf_counter() - start:.0f} s")
    return html


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="fresh cache, warnings are errors")
    args = parser.parse_args()
    try:
        build(strict=args.strict)
    except subprocess.CalledProcessError as error:
        print(f"book build failed (exit {error.returncode})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
