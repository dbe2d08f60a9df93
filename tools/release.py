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
    """Run nbgrader's generate_assignment in ``root`` for ``names`` (all by default).

    One child process (nbgrader's state stays out of the caller) generates them all through
    ``NbGraderAPI``, which is what ``nbgrader generate_assignment <name> --force`` runs.
    """
    names = names or assignments(root)
    for name in names:
        notebook = root / "solutions" / name / f"{name}.ipynb"
        if not notebook.exists():
            raise FileNotFoundError(f"no source notebook {notebook}")
        extra = sorted(p.name for p in notebook.parent.iterdir() if p.name != notebook.name
                       and not p.name.startswith("."))
        if extra:
            raise RuntimeError(f"solutions/{name}/ holds {extra} besides the notebook; nbgrader "
                               f"would copy them to the students")
    (root / "grading").mkdir(exist_ok=True)
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)  # nbgrader needs the environment's alembic on PATH
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    subprocess.run([sys.executable, __file__, "--here", *names], cwd=root, env=env, check=True)
    return names


def _generate_here(names: list[str]) -> None:
    """In the course root (the cwd): generate each assignment with nbgrader's API."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=os.getcwd()).load_config()
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    for name in names:
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"generate_assignment {name} failed:\n{result.get('error')}\n"
                               f"{result.get('log')}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--root", type=Path, default=ROOT)
    parser.add_argument("--here", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.here:
        _generate_here(args.names)
        return 0
    for name in generate(args.root.resolve(), args.names or None):
        print(f"released exercises/{name}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
