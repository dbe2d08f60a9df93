"""Every bad input of a grading run gets a one-line reason and a non-zero exit, never a traceback; a
second run on a busy workspace waits a bounded time and refuses, and the first is unharmed."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from autograder import cli, workspace
from autograder.collect import collect

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "files" / "submissions"
HONEST = CORPUS / "honest-solution.ipynb"


def _class(folder: Path, students: dict[str, Path], assignment: str = "gru") -> Path:
    for name, notebook in students.items():
        (folder / name / assignment).mkdir(parents=True, exist_ok=True)
        shutil.copy(notebook, folder / name / assignment / f"{assignment}.ipynb")
    return folder


def _grade(capsys, *args: str) -> tuple[int, str]:
    """Run the CLI in this process; (exit status, what it wrote to stderr, the --unsafe warning aside)."""
    code = cli.main(["grade", "gru", "--unsafe", *args])
    err = capsys.readouterr().err
    return code, "\n".join(line for line in err.splitlines() if line.strip() and not line.startswith("WARNING"))


def _refused(code: int, err: str, reason: str) -> None:
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and reason in lines[0], err


def test_a_missing_submissions_path(capsys, tmp_path):
    _refused(*_grade(capsys, "--submissions", str(tmp_path / "nowhere"), "--workspace", str(tmp_path / "w")),
             "no such file or folder")


def test_an_empty_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    _refused(*_grade(capsys, "--submissions", str(tmp_path / "empty"), "--workspace", str(tmp_path / "w")),
             "it is empty")
    assert not (tmp_path / "w").exists()  # refused before the workspace is touched


def test_a_file_that_is_neither_a_folder_nor_a_zip(capsys, tmp_path):
    (tmp_path / "class.tar").write_bytes(b"x" * 100)
    _refused(*_grade(capsys, "--submissions", str(tmp_path / "class.tar"), "--workspace", str(tmp_path / "w")),
             "neither a folder nor a .zip")


def test_a_zip_that_cannot_be_read(capsys, tmp_path):
    archive = tmp_path / "lms.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.write(HONEST, "alice_gru.ipynb")
    data = bytearray(archive.read_bytes())
    data[100:200] = b"\0" * 100  # the member's bytes: its checksum fails when read
    archive.write_bytes(bytes(data))
    _refused(*_grade(capsys, "--submissions", str(archive), "--workspace", str(tmp_path / "w")),
             "a zip that cannot be read")


def test_a_folder_of_another_assignments_submissions(capsys, tmp_path):
    lstm = ROOT / "exercises" / "lstm" / "lstm.ipynb"
    subs = _class(tmp_path / "subs", {"alice": lstm, "bob": lstm}, assignment="lstm")
    _refused(*_grade(capsys, "--submissions", str(subs), "--workspace", str(tmp_path / "w")),
             "its notebooks are in folders named lstm")


def test_an_lms_export_of_another_assignment(capsys, tmp_path):
    (tmp_path / "lms").mkdir()
    shutil.copy(ROOT / "exercises" / "lstm" / "lstm.ipynb", tmp_path / "lms" / "alice_12345_lstm.ipynb")
    _refused(*_grade(capsys, "--submissions", str(tmp_path / "lms"), "--workspace", str(tmp_path / "w")),
             "is the gru assignment's")


def test_no_student_is_named_after_the_assignment_or_a_file(tmp_path):
    (tmp_path / "flat").mkdir()
    shutil.copy(HONEST, tmp_path / "flat" / "gru.ipynb")  # no student's name in it
    shutil.copy(HONEST, tmp_path / "flat" / "gru_final.ipynb")  # "gru" is the assignment
    shutil.copy(HONEST, tmp_path / "flat" / "dana_gru.ipynb")
    assert [s.student for s in collect(tmp_path / "flat", "gru", "gru.ipynb")] == ["dana"]


def test_a_students_own_folder_passed_as_the_class_is_that_student(tmp_path):
    subs = _class(tmp_path / "submitted", {"alice": HONEST})
    assert [s.student for s in collect(subs / "alice", "gru", "gru.ipynb")] == ["alice"]
    assert [s.student for s in collect(subs, "gru", "gru.ipynb")] == ["alice"]


def test_an_unknown_student(capsys, tmp_path):
    subs = _class(tmp_path / "subs", {"alice": HONEST})
    _refused(*_grade(capsys, "--submissions", str(subs), "--workspace", str(tmp_path / "w"), "--student", "zed"),
             "no submission of 'zed'")


def test_a_course_without_the_instructors_notebook(capsys, tmp_path):
    subs = _class(tmp_path / "subs", {"alice": HONEST})
    _refused(*_grade(capsys, "--submissions", str(subs), "--workspace", str(tmp_path / "w"),
                     "--course", str(tmp_path)), "no instructor notebook at")


def test_a_workspace_that_is_a_file(capsys, tmp_path):
    subs = _class(tmp_path / "subs", {"alice": HONEST})
    (tmp_path / "w").write_text("a file")
    _refused(*_grade(capsys, "--submissions", str(subs), "--workspace", str(tmp_path / "w")),
             "as the grading workspace")


def test_a_database_url_nothing_can_open(capsys, tmp_path):
    subs = _class(tmp_path / "subs", {"alice": HONEST})
    _refused(*_grade(capsys, "--submissions", str(subs), "--workspace", str(tmp_path / "w"), "--db", "nonsense://x"),
             "--db nonsense://x")


def test_a_corrupt_gradebook(capsys, tmp_path):
    subs = _class(tmp_path / "subs", {"alice": HONEST})
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "gradebook.db").write_bytes(b"this is not SQLite" * 100)
    _refused(*_grade(capsys, "--submissions", str(subs), "--workspace", str(tmp_path / "w")),
             "is not a database nbgrader can read")


def test_a_gradebook_locked_by_another_program(capsys, tmp_path):
    from nbgrader.api import Gradebook

    subs = _class(tmp_path / "subs", {"alice": HONEST})
    (tmp_path / "w").mkdir()
    db = tmp_path / "w" / "gradebook.db"
    Gradebook(f"sqlite:///{db}").close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    started = time.monotonic()
    try:
        result = _grade(capsys, "--submissions", str(subs), "--workspace", str(tmp_path / "w"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _refused(*result, "is locked by another program")
    assert time.monotonic() - started < 120  # sqlite waits its timeout (5 s) per attempt, then gives up


def test_a_workspace_held_by_another_run_is_refused_after_a_bounded_wait(capsys, tmp_path):
    subs = _class(tmp_path / "subs", {"alice": HONEST})
    (tmp_path / "w").mkdir()
    started = time.monotonic()
    with workspace.Lock(tmp_path / "w"):
        result = _grade(capsys, "--submissions", str(subs), "--workspace", str(tmp_path / "w"))
    waited = time.monotonic() - started
    _refused(*result, "another grading run (pid")
    assert 9 < waited < 60, waited


@pytest.mark.slow
def test_two_grading_runs_on_one_workspace_the_second_refuses_and_the_first_is_unharmed(tmp_path):
    slow = CORPUS / "endless-loop.ipynb"  # a cell that runs to its 30 s limit: the first run is busy a while
    subs = _class(tmp_path / "subs", {"alice": HONEST, "bob": slow, "carol": HONEST})
    command = [sys.executable, "-m", "autograder", "grade", "gru", "--submissions", str(subs),
               "--workspace", str(tmp_path / "w"), "--workers", "1"]
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "w" / workspace.LOCK
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (lock.exists() and lock.read_text().startswith("pid")):
        time.sleep(0.2)
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    out, err = first.communicate(timeout=600)
    assert second.returncode == 2 and "another grading run (pid" in second.stderr, second.stderr[-1000:]
    assert "Traceback" not in second.stderr
    assert first.returncode == 0, err[-2000:]
    rows = (tmp_path / "w" / "gru-grades.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] + ":" + r.split(",")[2] for r in rows) == ["alice:20", "bob:20", "carol:20"]


def test_a_postgresql_server_that_is_not_there(capsys, tmp_path):
    subs = _class(tmp_path / "subs", {"alice": HONEST})
    url = f"postgresql://postgres@/gradebook?host={tmp_path / 'no-server'}"
    _refused(*_grade(capsys, "--submissions", str(subs), "--workspace", str(tmp_path / "w"), "--db", url),
             "cannot be used (connection")
