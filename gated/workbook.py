"""The student's own working copy of the exercises, which course updates never overwrite.

``exercises/<a>/<a>.ipynb`` is the release: tracked by git and replaced whenever the course is
updated, so a student who edits it there gets a conflict on the next ``git pull``. Instead::

    python -m gated.workbook start gru      # copies the release to mywork/gru/gru.ipynb (never overwrites)
    python -m gated.workbook validate gru   # nbgrader validate on that copy, with the course's settings
    python -m gated.workbook submit gru     # says which file to upload; --course ID submits to an exchange

``mywork/`` is ignored by git. It is laid out as nbgrader's ``fetch_assignment`` lays out a
student's folder (``<a>/<a>.ipynb``), so ``nbgrader submit <a>`` run there works too.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

WORK_FOLDER = "mywork"


def course_root(start: Path | None = None) -> Path:
    """The course clone: the first of ``start`` (default: the current folder) and its parents that
    holds ``exercises/``, else the clone this library was installed from."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "exercises").is_dir():
            return folder
    installed = Path(__file__).resolve().parent.parent
    if (installed / "exercises").is_dir():
        return installed
    raise SystemExit("no exercises/ folder here or above, nor beside the installed course library: "
                     "run this inside your clone of the course")


def assignments(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "exercises").iterdir() if (p / f"{p.name}.ipynb").is_file())


def release(root: Path, name: str) -> Path:
    path = root / "exercises" / name / f"{name}.ipynb"
    if not path.is_file():
        raise SystemExit(f"unknown assignment {name!r}; the assignments are {', '.join(assignments(root))}")
    return path


def copy_of(root: Path, name: str) -> Path:
    """The student's working copy of assignment ``name``."""
    return root / WORK_FOLDER / name / f"{name}.ipynb"


def start(root: Path, name: str) -> tuple[Path, bool]:
    """Copy the release of ``name`` to the working copy unless it exists; (path, copied now)."""
    source, target = release(root, name), copy_of(root, name)
    if target.exists():
        return target, False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target, True


def _existing_copy(root: Path, name: str) -> Path:
    release(root, name)  # an unknown name is reported as such
    path = copy_of(root, name)
    if not path.is_file():
        raise SystemExit(f"no working copy of {name} yet: run  python -m gated.workbook start {name}")
    return path


def validate(root: Path, name: str) -> int:
    """``nbgrader validate`` on the working copy, run in the course root so that the course's
    nbgrader_config.py (cell timeout, ignored warnings) applies, as in the grader's own check."""
    path = _existing_copy(root, name)
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path.relative_to(root))],
                          cwd=root, env=env).returncode


def submit(root: Path, name: str, course: str | None) -> int:
    """With ``course``: ``nbgrader submit`` from ``mywork/`` to the course's exchange. Without:
    say which file to upload to the learning platform."""
    path = _existing_copy(root, name)
    if course is None:
        print(f"Upload this file, under this name, to the assignment {name!r} of your course:\n  {path}\n"
              "(first save it after Kernel > Restart Kernel and Run All Cells)")
        return 0
    return subprocess.run([sys.executable, "-m", "nbgrader", "submit", name, "--course", course],
                          cwd=path.parent.parent).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gated.workbook", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command, text in (("start", "copy the release to mywork/<a>/<a>.ipynb (an existing copy is kept)"),
                          ("validate", "nbgrader validate on your copy, with the course's settings"),
                          ("submit", "say which file to upload, or submit it to an nbgrader exchange")):
        p = sub.add_parser(command, help=text)
        p.add_argument("assignment")
        if command == "submit":
            p.add_argument("--course", help="the course id of an nbgrader exchange")
    args = parser.parse_args(argv)
    root = course_root()
    if args.command == "start":
        path, copied = start(root, args.assignment)
        rel = path.relative_to(root)
        print(f"{'copied the release to' if copied else 'your copy is kept:'} {rel}\n"
              f"open it:  .venv/bin/jupyter lab {rel}   (from {root})")
        return 0
    if args.command == "validate":
        return validate(root, args.assignment)
    return submit(root, args.assignment, args.course)


if __name__ == "__main__":
    sys.exit(main())
