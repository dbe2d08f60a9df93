"""Regenerate ``exercises/`` from ``solutions/`` with nbgrader (``make release``).

    python tools/release.py [assignment ...] [--root DIR]

Runs ``nbgrader generate_assignment <a> --force`` from the course root for every assignment in
``solutions/`` (or the ones named), which strips solutions and hidden tests, locks the read-only
cells, records the assignment in the gradebook (``grading/gradebook.db``) and writes
``exercises/<a>/``. ``--root`` regenerates a copy of the course elsewhere (the tests use it).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def assignments(root: Path) -> list[str]:
    """The assignment ids: the folders of solutions/ that hold a notebook of the same name."""
    return sorted(p.name for p in (root / "solutions").iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").exists())


def generate(root: Path, names: list[str] | None = None) -> list[str]:
    """Run nbgrader generate_assignment in ``root`` for ``names`` (all by default)."""
    names = names or assignments(root)
    (root / "grading").mkdir(exist_ok=True)
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)  # nbgrader needs the environment's alembic on PATH
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    for name in names:
        notebook = root / "solutions" / name / f"{name}.ipynb"
        if not notebook.exists():
            raise FileNotFoundError(f"no source notebook {notebook}")
        extra = sorted(p.name for p in notebook.parent.iterdir() if p.name != notebook.name
                       and not p.name.startswith("."))
        if extra:
            raise RuntimeError(f"solutions/{name}/ holds {extra} besides the notebook; nbgrader "
                               f"would copy them to the students")
        subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force",
                        "--log-level=WARN"], cwd=root, env=env, check=True)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    for name in generate(args.root.resolve(), args.names or None):
        print(f"released exercises/{name}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
