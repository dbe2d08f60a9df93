"""Find each student's notebook in a folder or an LMS zip, without trusting any name in it.

Layouts accepted (nbgrader's conventions):

* a folder (or a zip holding one) laid out ``<student>/<assignment>/<notebook>.ipynb``, as nbgrader's
  ``submitted/`` folder is;
* ``<student>/<file>.ipynb`` (one folder per student, as Moodle exports);
* flat files named by ``--name-regexp`` with the groups ``student_id`` and optionally ``file_id``,
  as nbgrader's ``FileNameCollectorPlugin.named_regexp`` (default: ``<student>_<anything>.ipynb``).

Nothing is extracted to disk: zip members are read into memory with a size cap (zip bombs stop at
the cap). Student names become safe ids (letters, digits, ``_ . -``, accents and full-width forms
folded); a changed name is flagged for the instructor. A made-safe name never takes a real
classmate's id: when two names read as one id, the name that is that id already keeps it, every
other gets the id followed by ``~`` and a digest of its name (``~`` is never in a safe name), and
all of them are flagged. No student is made from an assignment's or a file's name; a notebook
renamed by an LMS (``alice_12345_attempt_..._gru.ipynb``, ``gru (1).ipynb``) is the notebook.
Bad input (no such path, nothing found, a broken zip) raises :class:`~autograder.errors.UserError`.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.errors import UserError
from autograder.sanitize import MAX_NOTEBOOK_BYTES

DEFAULT_NAME_REGEXP = r"(?P<student_id>[^_/]+)_(?P<file_id>.*\.ipynb)"


@dataclass
class Submission:
    student: str  # the safe id recorded in the gradebook
    data: bytes | None  # the notebook file's bytes (capped), None when nothing usable was found
    source: str  # where it came from, for messages
    problems: list[str] = field(default_factory=list)  # for the student: what was done with the file
    flags: list[str] = field(default_factory=list)  # for the instructor: how the student was named

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data or b"").hexdigest()


def safe_id(name: str) -> str:
    """``name`` as an id of letters, digits and ``_ . -`` (accents and full-width forms folded to
    ASCII), at most 64 characters; empty when nothing of it is left."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name))
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", folded).strip("._-")
    return cleaned[:64].rstrip("._-")


def _hashed(name: str, base: str) -> str:
    return f"{base or 'student'}~{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def is_the_notebook(file_name: str, notebook: str) -> bool:
    """Whether a file is the assignment's notebook, as it was or as an LMS or a browser renamed it
    (a prefix ending in ``_``, ``-``, a space or a dot; a copy number after it)."""
    stem = re.escape(Path(notebook).stem)
    return re.fullmatch(rf"(?:.*[_\-\s.])?{stem}(?:\s*\(\d+\)|[-_]\d+)?\.ipynb", file_name, re.IGNORECASE) is not None


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
    if not path.exists():
        raise UserError(f"--submissions {path}: no such file or folder")
    if path.is_dir():
        entries = _entries_from_folder(path)

        def read(ref, size):
            with open(ref, "rb") as fh:
                return _read_capped(fh.read, size)
        found = _assign(entries, assignment, notebook, name_regexp, read, path.name)
    elif zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                entries = _entries_from_zip(archive)

                def read(ref, size):
                    with archive.open(ref) as fh:
                        return _read_capped(fh.read, size)
                found = _assign(entries, assignment, notebook, name_regexp, read, path.stem)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
            raise UserError(f"--submissions {path}: a zip that cannot be read ({exc})") from None
    else:
        raise UserError(f"--submissions {path}: neither a folder nor a .zip")
    if not found:
        raise UserError(f"--submissions {path}: no submission of {assignment} found; {_what_is_there(entries, assignment)}")
    return found


def _what_is_there(entries, assignment: str) -> str:
    """A hint for an instructor whose folder held no submission of ``assignment``."""
    notebooks = [rel for rel, _, _ in entries if rel.suffix == ".ipynb"]
    if not entries:
        return "it is empty"
    if not notebooks:
        return f"it holds {len(entries)} file(s) and no notebook"
    folders = sorted({rel.parts[-2] for rel in notebooks if len(rel.parts) >= 2})
    if len(notebooks) == 1 and len(notebooks[0].parts) == 1:
        return ("it holds one notebook and no student's folder: pass the folder that holds the students' "
                "folders (<student>/<assignment>/<notebook>.ipynb), or an LMS's files <student>_<anything>.ipynb")
    return (f"its notebooks are in folders named {', '.join(folders[:5])} (another assignment's?)" if folders
            else "its notebooks are not named <student>_<anything>.ipynb")


def _assign(entries, assignment, notebook, name_regexp, read, own_name: str = "") -> list[Submission]:
    per_student: dict[str, list[tuple[int, PurePosixPath, int, object]]] = {}
    pattern = re.compile(name_regexp)
    # a common top folder (a zip of "submitted/") is not a student, unless the entries already read
    # <student>/<assignment>/... (a class of one)
    tops = {rel.parts[0] for rel, _, _ in entries if len(rel.parts) > 1}
    one_student = all(len(rel.parts) > 2 and rel.parts[1] == assignment for rel, _, _ in entries)
    strip = 1 if len(tops) == 1 and all(len(rel.parts) > 2 for rel, _, _ in entries) and not one_student else 0
    # the folder itself is one student's: <assignment>/<notebook> inside (alice/gru/gru.ipynb, passed alice/)
    own = own_name if entries and all(len(rel.parts) == 2 and rel.parts[0] == assignment for rel, _, _ in entries) \
        else ""
    for rel, size, ref in entries:
        parts = rel.parts[strip:]
        if own:
            rank, student = (0 if is_the_notebook(parts[-1], notebook) else 2), own
        elif len(parts) >= 3 and parts[1] == assignment:
            rank = 0 if is_the_notebook(parts[-1], notebook) else 1
            student = parts[0]
        elif len(parts) == 2:
            rank = 0 if is_the_notebook(parts[-1], notebook) else 2
            student = parts[0]
        elif len(parts) == 1:
            match = pattern.fullmatch(parts[0])
            if not match:
                continue
            student = match.group("student_id")
            file_id = match.groupdict().get("file_id") or ""
            rank = 0 if is_the_notebook(file_id, notebook) else 2
        else:
            continue
        if student == assignment or student.endswith(".ipynb"):
            continue  # an assignment's or a file's name is nobody's
        per_student.setdefault(student, []).append((rank, rel, size, ref))
    ids = _ids(sorted(per_student))
    submissions: list[Submission] = []
    for name in sorted(per_student):
        sid, flags = ids[name]
        candidates = sorted(per_student[name], key=lambda c: (c[0], str(c[1])))
        notebooks = [c for c in candidates if c[1].suffix == ".ipynb"]
        if not notebooks:
            names = ", ".join(c[1].name for c in candidates[:3])
            submissions.append(Submission(sid, None, name, [f"no notebook found (files: {names})"], flags))
            continue
        rank, rel, size, ref = notebooks[0]
        problems = []
        if not is_the_notebook(rel.name, notebook):
            problems.append(f"notebook named {rel.name!r} instead of {notebook!r}: graded anyway")
        if len(notebooks) > 1:
            problems.append(f"{len(notebooks)} notebooks found: graded {rel.as_posix()!r}")
        data, too_big = read(ref, size)
        if too_big:
            problems.append(f"file larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
        submissions.append(Submission(sid, data, rel.as_posix(), problems, flags))
    return submissions


def _ids(names: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Each name's id and the flags about it: a name already safe keeps itself as its id; a changed
    one gets its safe form unless another name reads the same, when it gets the form with ``~`` and
    a digest (never a real name's id), and both sides are flagged."""
    by_id: dict[str, list[str]] = {}
    for name in names:
        by_id.setdefault(safe_id(name), []).append(name)
    out: dict[str, tuple[str, list[str]]] = {}
    for sid, group in by_id.items():
        for name in group:
            flags = []
            if len(group) > 1 or not sid:
                others = ", ".join(repr(n) for n in group if n != name)
                clash = (f"the student names {name!r} and {others} {'both' if len(group) == 2 else 'all'} read as "
                         f"{sid!r}" if others else f"the student name {name!r} has no letters or digits left once "
                                                   "made safe")
                mine = sid if name == sid else _hashed(name, sid)
                flags.append(f"{clash}: recorded as {mine!r}; check which submission is whose")
            else:
                mine = sid
                if sid != name:
                    flags.append(f"student name {name!r} recorded as {sid!r}")
            out[name] = (mine, flags)
    return out
