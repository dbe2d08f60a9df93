"""``python -m authoring [assignment ...] [--root DIR]`` (``make exercises``): for every assignment
(or the ones named), write ``solutions/<a>/<a>.ipynb`` from ``authoring/sources/<a>.py``, release
``exercises/<a>/`` with nbgrader, and update the README's points tables. ``--root`` regenerates a
copy of the course elsewhere (the tests use it; the README is then left alone)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from authoring import notebook, release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m authoring", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help=f"assignments (default: all of {', '.join(notebook.ASSIGNMENTS)})")
    parser.add_argument("--root", type=Path, default=notebook.ROOT, help="the course root (default: this checkout)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(notebook.ASSIGNMENTS))
    if unknown:
        print(f"unknown assignment(s) {', '.join(unknown)}; known: {', '.join(notebook.ASSIGNMENTS)}",
              file=sys.stderr)
        return 2
    root = args.root.resolve()
    names = args.names or list(notebook.ASSIGNMENTS)
    for name in names:
        print("wrote", notebook.write(name, root).relative_to(root))
    for name in release.generate(root, names):
        print(f"released exercises/{name}/")
    if root == notebook.ROOT and notebook.update_readme(root / "README.md"):
        print("updated the points tables in README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
