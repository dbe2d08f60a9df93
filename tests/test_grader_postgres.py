"""``--db postgresql://...`` against a real PostgreSQL server that the test starts itself: a throw-away
cluster (Debian's ``postgresql``: initdb and pg_ctl, listening on a Unix socket in a temporary folder
only), the toy class graded into it, read back through nbgrader's API, a run killed half-way and
resumed without losing or double-counting anyone, and the server stopped at the end."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder import pipeline

import test_grader_toy as toy  # the toy assignment and its class (tests/ is on pytest's path)

ROOT = Path(__file__).resolve().parent.parent
PORT = 5432  # the socket's name only: the server listens on no TCP port


def _bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _as_server_user(command: list[str]) -> list[str]:
    """initdb refuses to run as root: as root, run the server as Debian's postgres user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@pytest.fixture(scope="module")
def postgres():
    """The URL of an empty database on a fresh cluster; the cluster is stopped and removed after."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (tools/system-deps.sh installs Debian's postgresql)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
    base = Path(tempfile.mkdtemp(prefix="gated-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        for path in (base, sock):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    run = {"check": True, "capture_output": True, "text": True, "timeout": 120}
    subprocess.run(_as_server_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                    "--no-sync", "-E", "UTF8"]), **run)
    options = f"-k {sock} -c listen_addresses='' -p {PORT} -c fsync=off"
    subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                                    str(base / "server.log"), "-w", "start"]), **run)
    try:
        subprocess.run([str(bindir / "createdb"), "-h", str(sock), "-p", str(PORT), "-U", "postgres", "gradebook"],
                       **run)
        yield f"postgresql://postgres@/gradebook?host={sock}&port={PORT}"
    finally:
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    nb, _ = pipeline.release_and_gradebook_cells(toy._course(tmp_path_factory.mktemp("toy")), toy.SPEC, None)
    return nb


def _scores(url: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions("toy")}


@pytest.mark.slow
def test_a_class_graded_into_postgresql_reads_back_through_nbgraders_api(postgres, tmp_path, release):
    from nbgrader.apps import NbGraderAPI
    from traitlets.config import Config

    root = tmp_path / "course"
    toy._course(root)
    subs = toy._class(tmp_path / "subs", release, {"alice": toy.GOOD, "bob": {}, "carol": {"add_answer": toy.GOOD["add_answer"]}})
    workspace = tmp_path / "grading"
    summary = pipeline.grade(toy.SPEC, subs, pipeline.Course(root), workspace, db_url=postgres, unsafe=True)
    assert {o.student: o.score for o in summary.outcomes} == {"alice": 3.0, "bob": 0.0, "carol": 1.0}
    assert _scores(postgres) == {"alice": 3.0, "bob": 0.0, "carol": 1.0}
    config = Config()
    config.CourseDirectory.root = str(workspace)
    config.CourseDirectory.db_url = postgres
    listed = {s["student"]: s for s in NbGraderAPI(config=config).get_submissions("toy")}
    assert set(listed) == {"alice", "bob", "carol"} and all(s["autograded"] for s in listed.values())
    assert not (workspace / "gradebook.db").exists()


KILLED_RUN = """
from pathlib import Path
import test_grader_toy as toy
from autograder import pipeline, sandbox
pipeline.grade(toy.SPEC, Path({subs!r}), pipeline.Course(Path({root!r})), Path({workspace!r}), db_url={url!r},
               unsafe=True, workers=1, limits=sandbox.Limits(cell_s=4.0))
"""


@pytest.mark.slow
def test_a_run_killed_half_way_resumes_without_losing_or_double_counting(postgres, tmp_path, release):
    from nbgrader.api import Gradebook

    root = tmp_path / "course"
    toy._course(root)
    slow = {"add_answer": toy.GOOD["add_answer"] + "\nwhile True:\n    pass", "scale_answer": toy.GOOD["scale_answer"]}
    subs = toy._class(tmp_path / "subs", release, {"dana": toy.GOOD, "erin": slow, "fay": toy.GOOD})
    workspace = tmp_path / "grading"
    script = KILLED_RUN.format(subs=str(subs), root=str(root), workspace=str(workspace), url=postgres)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}  # the child imports the toy assignment too
    run = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, start_new_session=True, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = workspace / "state" / "toy" / "dana.json"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not done.exists() and run.poll() is None:
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGKILL)  # in the middle of erin, whose cell runs to its 4 s limit
    run.wait(timeout=60)
    assert done.exists() and not (workspace / "state" / "toy" / "fay.json").exists(), run.stderr.read()[-2000:]
    resumed = pipeline.grade(toy.SPEC, subs, pipeline.Course(root), workspace, db_url=postgres, unsafe=True,
                             limits=toy.sandbox.Limits(cell_s=4.0))
    assert resumed.skipped == ["dana"] and sorted(o.student for o in resumed.outcomes) == ["erin", "fay"]
    with Gradebook(postgres) as gb:
        rows = [(s.student.id, s.score) for s in gb.assignment_submissions("toy")]
    scores = dict(rows)
    assert len(rows) == len(scores) and {k: scores[k] for k in ("dana", "erin", "fay")} == \
        {"dana": 3.0, "erin": 3.0, "fay": 3.0}
