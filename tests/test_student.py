"""A student's path, as the Getting started page gives it: the working copy, the JupyterLab command,
the message of a failing visible test (in JupyterLab and in ``nbgrader validate``), the two time limits."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from autograder.sandbox import Limits
from gated import workbook
from gated.checks import MISTAKES, check_new_state
from gated.checks.engine import MESSAGE_WIDTH, CheckFailed
from testbed.mistakes import planted_mistakes
from testbed.submissions import answer_namespace, answers, submission

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "book" / "getting_started.md"
SWAPPED = {m.name: m for m in planted_mistakes()}["update_swapped"]


def page_commands() -> list[str]:
    """The shell lines of the page's ```bash blocks."""
    blocks = re.findall(r"```bash\n(.*?)```", PAGE.read_text(), re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def page_command(start: str) -> list[str]:
    found = [c for c in page_commands() if c.startswith(start)]
    assert len(found) == 1, f"the Getting started page should give one command starting {start!r}: {found}"
    return found[0].split()


def unwrap(lines: list[str]) -> str:
    """Wrapped lines joined back into the sentences they came from."""
    return " ".join(line.strip() for line in lines)


@pytest.fixture
def course(tmp_path) -> Path:
    """A course clone as a student has it: the release, the nbgrader config, .gitignore."""
    for name in ("nbgrader_config.py", ".gitignore"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "exercises" / "gru", tmp_path / "exercises" / "gru")
    return tmp_path


# ------------------------------------------------------------------------- item 7: the message


def test_failing_visible_test_shows_the_named_mistake_first_and_whole():
    ns = answer_namespace("gru", SWAPPED.all_edits())
    with pytest.raises(CheckFailed) as caught:
        check_new_state(ns["new_state"])
    shown = caught.value._render_traceback_()  # what IPython prints instead of a traceback
    assert shown[0].startswith("new_state: z and 1 − z are swapped")
    assert all(len(line) <= MESSAGE_WIDTH for line in shown), shown
    assert MISTAKES["update_swapped"] in unwrap(shown)
    assert isinstance(caught.value, AssertionError) and str(caught.value) == "\n".join(shown)


@pytest.mark.slow
def test_validate_shows_the_named_mistake_within_14_lines_uncut(course):
    path, _ = workbook.start(course, "gru")
    nbformat.write(submission("gru", answers("gru", SWAPPED.all_edits())), str(path))
    ran = subprocess.run([sys.executable, "-m", "gated.workbook", "validate", "gru"], cwd=course,
                         capture_output=True, text=True, timeout=300)
    lines = (ran.stderr + ran.stdout).splitlines()  # stderr (nbgrader's log) comes first in a terminal
    first = next(i for i, line in enumerate(lines) if "z and 1 − z are swapped" in line)
    assert first < 14, "\n".join(lines[:20])
    assert lines[first].strip().startswith("new_state: z and 1 − z are swapped")
    block = []
    for line in lines[first:]:
        if not line.strip():
            break
        block.append(line)
    assert MISTAKES["update_swapped"] in unwrap(block), "\n".join(block)
    errors = [line for i, line in enumerate(lines) if i > 0 and lines[i - 2:i] == ["The error was:", ""]]
    assert errors and not any(line.endswith("...") for line in block), "validate cut the message"
    assert "VALIDATION FAILED ON 5 CELL(S)" in ran.stdout.replace("\n", " ")


# ----------------------------------------------------------------- item 9: the student's copy


def _git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def test_a_course_update_never_touches_the_students_copy(course, tmp_path_factory):
    upstream = course
    _git(upstream, "init", "-q", "-b", "main")
    _git(upstream, "add", ".")
    _git(upstream, "commit", "-q", "-m", "release")
    clone = tmp_path_factory.mktemp("student") / "course"
    _git(clone.parent, "clone", "-q", str(upstream), str(clone))

    path, copied = workbook.start(clone, "gru")
    assert copied and path == clone / "mywork" / "gru" / "gru.ipynb"
    mine = submission("gru", answers("gru"))
    nbformat.write(mine, str(path))
    ours = path.read_bytes()

    release = upstream / "exercises" / "gru" / "gru.ipynb"
    updated = nbformat.read(release, as_version=4)
    updated.cells[0].source += "\n\nCorrected: the update gate's rows are [H:2H]."
    nbformat.write(updated, str(release))
    _git(upstream, "commit", "-q", "-am", "update the release")

    assert _git(clone, "status", "--porcelain") == ""  # mywork/ is ignored: nothing to commit or stash
    _git(clone, "pull", "-q", "--ff-only")
    assert "Corrected" in (clone / "exercises" / "gru" / "gru.ipynb").read_text()
    assert path.read_bytes() == ours
    assert workbook.start(clone, "gru") == (path, False) and path.read_bytes() == ours


def test_workbook_refuses_an_unknown_assignment_in_one_line(course):
    ran = subprocess.run([sys.executable, "-m", "gated.workbook", "start", "grux"], cwd=course,
                         capture_output=True, text=True)
    assert ran.returncode != 0 and "Traceback" not in ran.stderr
    assert ran.stderr.strip() == "unknown assignment 'grux'; the assignments are gru"


def test_page_validates_and_submits_the_copy_with_the_workbook():
    commands = page_commands()
    assert ".venv/bin/python -m gated.workbook start gru" in commands
    assert ".venv/bin/python -m gated.workbook validate gru" in commands
    assert "exercises/gru/gru.ipynb" not in " ".join(c for c in commands if "jupyter" in c or "nbgrader" in c)


# ------------------------------------------------------------------------- item 8: server root


def _lab(course: Path, command: list[str], runtime: Path):
    """Start the page's JupyterLab command in ``course`` on 127.0.0.1 (a free port, a token)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = secrets.token_hex(16)
    jupyter = str(Path(sys.executable).with_name("jupyter"))
    argv = [jupyter, *command[1:], "--no-browser", "--ip=127.0.0.1", f"--port={port}",
            f"--IdentityProvider.token={token}", "--allow-root"]
    log = (runtime / "lab.log").open("w")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime))
    process = subprocess.Popen(argv, cwd=course, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"

    def get(path: str) -> int:
        req = urllib.request.Request(url + path, headers={"Authorization": f"token {token}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if get("/api/status") == 200:
                break
        except OSError:
            time.sleep(0.5)
    return process, get, log


@pytest.mark.slow
def test_the_pages_jupyterlab_command_serves_the_course_and_the_copy(course, tmp_path_factory):
    command = page_command(".venv/bin/jupyter lab")
    assert "--notebook-dir=." in command
    workbook.start(course, "gru")
    runtime = tmp_path_factory.mktemp("runtime")
    process, get, log = _lab(course, command, runtime)
    try:
        assert get("/lab/tree/exercises/gru/gru.ipynb") == 200
        assert get("/api/contents/exercises/gru/gru.ipynb") == 200
        assert get("/api/contents/mywork/gru/gru.ipynb") == 200
        opened = "".join(p.read_text() for p in runtime.glob("jpserver-file-to-run-*-open.html"))
        assert "lab/tree/mywork/gru/gru.ipynb" in opened, opened
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    text = (runtime / "lab.log").read_text()
    assert "not a subdirectory" not in text, text[-3000:]
    assert "Loading the formgrader nbgrader serverextension" in text  # nbgrader's extensions did load


@pytest.mark.slow
def test_the_notebooks_folder_as_root_is_what_the_page_avoids(course, tmp_path_factory):
    """The command without --notebook-dir=. (the old instructions) shows both failures, so the test
    above can tell the two apart."""
    workbook.start(course, "gru")
    runtime = tmp_path_factory.mktemp("runtime")
    process, get, log = _lab(course, ["jupyter", "lab", "mywork/gru/gru.ipynb"], runtime)
    try:
        assert get("/api/contents/exercises/gru/gru.ipynb") == 404
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    assert "not a subdirectory" in (runtime / "lab.log").read_text()


# ------------------------------------------------------------------------ item 11: time limits


def test_page_states_the_configured_time_limits():
    from traitlets.config.loader import PyFileConfigLoader

    timeout = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config().Execute.timeout
    text = " ".join(PAGE.read_text().split())
    assert f"Validation stops a cell that runs for more than {timeout:g} seconds" in text
    assert f"it allows each cell {Limits().cell_s:g} seconds" in text
    assert not re.search(r"\b(?!(%g|%g)\b)\d+ s(econds)?\b" % (timeout, Limits().cell_s), text), \
        "another time limit on the page"
