"""Find each student's notebook in a folder or an LMS zip, without trusting any name in it.

Layouts accepted (nbgrader's conventions):

* a folder (or a zip holding one) laid out ``<student>/<assignment>/<notebook>.ipynb``, as nbgrader's
  ``submitted/`` folder is;
* ``<student>/<file>.ipynb`` (one folder per student, as Moodle exports);
* flat files named by ``--name-regexp`` with the groups ``student_id`` and optionally ``file_id``,
  as nbgrader's ``FileNameCollectorPlugin.named_regexp`` (default: ``<student>_<anything>.ipynb``).

Nothing is extracted to disk: zip members are read into memory with a size cap (zip bombs stop at
the cap). Student names become safe ids (letters, digits, ``_ . -``); a changed name is reported.
"""
from __future__ import annotations

import hashlib
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.sanitize import MAX_NOTEBOOK_BYTES

DEFAULT_NAME_REGEXP = r"(?P<student_id>[^_/]+)_(?P<file_id>.*\.ipynb)"


@dataclass
class Submission:
    student: str  # the safe id recorded in the gradebook
    data: bytes | None  # the notebook file's bytes (capped), None when nothing usable was found
    source: str  # where it came from, for messages
    problems: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data or b"").hexdigest()


def safe_id(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-")
    return cleaned[:64] or "student"


def _read_capped(read, size: int) -> tuple[bytes, bool]:
    if size > MAX_NOTEBOOK_BYTES:
        return read(MAX_NOTEBOOK_BYTES + 1), True
    return read(size + 1), False


def _entries_from_folder(root: Path) -> list[tuple[PurePosixPath, int, object]]:
    entries = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = PurePosixPath(path.relative_to(root).as_posix())
        if any(part.startswith(".") for part in rel.parts):
            continue
        entries.append((rel, path.stat().st_size, path))
    return entries


def _entries_from_zip(archive: zipfile.ZipFile) -> list[tuple[PurePosixPath, int, object]]:
    entries = []
    for info in archive.infolist():
        if info.is_dir():
            continue
        rel = PurePosixPath(info.filename.replace("\\", "/").lstrip("/"))
        if ".." in rel.parts or any(part.startswith(".") or part == "__MACOSX" for part in rel.parts):
            continue
        entries.append((rel, info.file_size, info))
    return entries


def collect(path: Path, assignment: str, notebook: str, name_regexp: str = DEFAULT_NAME_REGEXP) -> list[Submission]:
    """One :class:`Submission` per student found under ``path`` (a folder or a .zip)."""
    path = Path(path)
    if path.is_dir():
        entries = _entries_from_folder(path)

        def read(ref, size):
            with open(ref, "rb") as fh:
                return _read_capped(fh.read, size)
        found = _assign(entries, assignment, notebook, name_regexp, read)
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            entries = _entries_from_zip(archive)

            def read(ref, size):
                with archive.open(ref) as fh:
                    return _read_capped(fh.read, size)
            found = _assign(entries, assignment, notebook, name_regexp, read)
    else:
        raise FileNotFoundError(f"--submissions must be a folder or a .zip, got {path}")
    return found


def _assign(entries, assignment, notebook, name_regexp, read) -> list[Submission]:
    per_student: dict[str, list[tuple[int, PurePosixPath, int, object]]] = {}
    pattern = re.compile(name_regexp)
    # a common top folder (a zip of "submitted/") is not a student, unless the entries already read
    # <student>/<assignment>/... (a class of one)
    tops = {rel.parts[0] for rel, _, _ in entries if len(rel.parts) > 1}
    one_student = all(len(rel.parts) > 2 and rel.parts[1] == assignment for rel, _, _ in entries)
    strip = 1 if len(tops) == 1 and all(len(rel.parts) > 2 for rel, _, _ in entries) and not one_student else 0
    for rel, size, ref in entries:
        parts = rel.parts[strip:]
        if len(parts) >= 3 and parts[1] == assignment:
            rank = 0 if parts[-1] == notebook else 1
            student = parts[0]
        elif len(parts) == 2:
            rank = 0 if parts[-1] == notebook else 2
            student = parts[0]
        elif len(parts) == 1:
            match = pattern.fullmatch(parts[0])
            if not match:
                continue
            student = match.group("student_id")
            file_id = match.groupdict().get("file_id") or ""
            rank = 0 if file_id == notebook else 2
        else:
            continue
        per_student.setdefault(student, []).append((rank, rel, size, ref))
    submissions: list[Submission] = []
    used: set[str] = set()
    for name in sorted(per_student):
        sid = safe_id(name)
        base, n = sid, 2
        while sid in used:
            sid, n = f"{base}-{n}", n + 1
        used.add(sid)
        problems = [] if sid == name else [f"student name {name!r} recorded as {sid!r}"]
        candidates = sorted(per_student[name], key=lambda c: (c[0], str(c[1])))
        notebooks = [c for c in candidates if c[1].suffix == ".ipynb"]
        if not notebooks:
            names = ", ".join(c[1].name for c in candidates[:3])
            submissions.append(Submission(sid, None, name, problems + [f"no notebook found (files: {names})"]))
            continue
        rank, rel, size, ref = notebooks[0]
        if rel.name != notebook:
            problems.append(f"notebook named {rel.name!r} instead of {notebook!r}: graded anyway")
        if len(notebooks) > 1:
            problems.append(f"{len(notebooks)} notebooks found: graded {rel.as_posix()!r}")
        data, too_big = read(ref, size)
        if too_big:
            problems.append(f"file larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
        submissions.append(Submission(sid, data, rel.as_posix(), problems))
    return submissions
