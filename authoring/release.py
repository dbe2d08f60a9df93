"""Release ``exercises/`` from ``solutions/`` with nbgrader's ``generate_assignment`` (the last step
of ``make exercises``).

``generate(root, names)`` runs, in a child process started in the course root ``root`` (nbgrader's
state stays out of the caller), what ``nbgrader generate_assignment <a> --force`` runs: it strips
solutions and hidden tests, locks the read-only cells, records the assignment in the gradebook
(``grading/gradebook.db``) and writes ``exercises/<a>/``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def assignments(root: Path) -> list[str]:
    """The assignment ids: the folders of solutions/ that hold a notebook of the same name."""
    return sorted(p.name for p in (root / "solutions").iterdir()
                  if p.is_dir() and (p / f"{p.name}.ipynb").exists())


def generate(root: Path, names: list[str] | None = None) -> list[str]:
    """Run nbgrader's generate_assignment in ``root`` for ``names`` (all by default)."""
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
    subprocess.run([sys.executable, "-m", "authoring.release", *names], cwd=root, env=env, check=True)
    return names


def main() -> int:
    """In the course root (the cwd): generate each named assignment with nbgrader's API."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    parser = argparse.ArgumentParser(description="generate_assignment in the current folder (use generate())")
    parser.add_argument("names", nargs="+")
    args = parser.parse_args()
    config = PyFileConfigLoader("nbgrader_config.py", path=os.getcwd()).load_config()
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    for name in args.names:
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"generate_assignment {name} failed:\n{result.get('error')}\n"
                               f"{result.get('log')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
