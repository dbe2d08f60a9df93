"""Build the website: the one piece of code behind `make book`, `make strict-book` and the tests.

    python -m sitebuild.build_book            # _build/html, reusing the execution cache where valid
    python -m sitebuild.build_book --strict   # _build/strict/_build/html: fresh cache, -W -n --keep-going --all

The normal build drops the execution cache when the course library changed (jupyter-cache keys a
page on its own cells, not on what it imports). The strict build always starts from nothing, so a
broken page cannot hide behind a cached success. Both first execute the notebooks the cache lacks,
one per core at a time (sitebuild/execute.py), into the cache the Jupyter Book run then reads.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from sitebuild import ROOT, cache_key, execute

STRICT_OUTPUT = ROOT / "_build" / "strict"


def jupyter_book() -> str:
    return str(Path(sys.executable).with_name("jupyter-book"))


def build(strict: bool, log: Path | None = None, book: Path = ROOT, output: Path | None = None) -> Path:
    """Build the site and return the html folder; raise CalledProcessError when the build fails.
    ``book`` and ``output`` (the strict build's --path-output) are for tests that build a probe book."""
    if strict:
        output = output or STRICT_OUTPUT
        shutil.rmtree(output, ignore_errors=True)
        command = [jupyter_book(), "build", str(book), "--path-output", str(output),
                   "-W", "-n", "--keep-going", "--all"]
        html = output / "_build" / "html"
    else:
        if book == ROOT:
            cache_key.main("_build")
        command = [jupyter_book(), "build", str(book), "--keep-going"]
        html = book / "_build" / "html"
    # the cache myst-nb reads: beside the html folder (myst_nb.sphinx_ext, when `execute.cache` is unset)
    execute_command = [sys.executable, "-m", "sitebuild.execute", str(book), str(html.parent / ".jupyter_cache")]
    start = time.perf_counter()
    if log is None:
        _run_steps(execute_command, command, out=None)
    else:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as out:
            _run_steps(execute_command, command, out)
    print(f"built {html} in {time.perf_counter() - start:.0f} s")
    return html


def _run_steps(execute_command: list[str], build_command: list[str], out) -> None:
    streams = {} if out is None else {"stdout": out, "stderr": subprocess.STDOUT}
    status = subprocess.run(execute_command, cwd=ROOT, check=False, **streams).returncode
    if status not in (0, execute.NOTEBOOK_FAILED):      # a failed notebook: the book build reports it
        raise subprocess.CalledProcessError(status, execute_command)
    subprocess.run(build_command, cwd=ROOT, check=True, **streams)


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
