"""The warm sandbox seen from inside a job, as root and as an ordinary user made by the test.

A job holds only its two channels, sees only its own processes, can write only its own fresh file
systems, has no capability and cannot gain one; whatever a hostile job leaves behind (full and deep
file systems, a daemon, an abstract socket, System V objects) is gone for the next job in the same
worker; a fork storm starves neither a job in another worker nor the host's user. Also: a worker
whose clean-up fails is replaced, a worker that dies at start-up is reported in one line, and a
course and virtual environment under /tmp work.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from autograder import cli, executors, pipeline, sandbox
from testbed import isolation
from testbed.users import give, ordinary_user, run_as

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _sandbox_or_skip() -> None:
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def user():
    _sandbox_or_skip()
    with ordinary_user() as made:
        yield made


@pytest.fixture(scope="module")
def reports(user, tmp_path_factory) -> dict[str, dict]:
    """The isolation report as root (when the tests run as root) and as the ordinary user."""
    found = {}
    if os.geteuid() == 0:
        found["root"] = isolation.isolation_report()
    area = Path(tempfile.mkdtemp(prefix="isolation-user-"))
    area.chmod(0o755)
    give(user, area)
    run = run_as(user, [sys.executable, "-m", "testbed.isolation"], tmp_path_factory.mktemp("hold"), cwd=ROOT,
                 capture_output=True, text=True, timeout=300, env=dict(os.environ, TMPDIR=str(area)))
    shutil.rmtree(area, ignore_errors=True)
    assert run.returncode == 0, run.stderr[-3000:]
    found["user"] = json.loads(run.stdout)
    return found


WHO = ["root", "user"]


def _report(reports, who):
    if who not in reports:
        pytest.skip("the tests do not run as root")
    return reports[who]


@pytest.mark.parametrize("who", WHO)
def test_a_job_holds_only_its_two_channels(reports, who):
    """No descriptor of the host reaches student code but /dev/null, the output pipe and the events pipe."""
    assert _report(reports, who)["look"]["fds"] == {"0": "/dev/null", "1": "pipe", "2": "pipe", "3": "pipe"}


@pytest.mark.parametrize("who", WHO)
def test_a_job_sees_only_its_own_processes(reports, who):
    assert _report(reports, who)["look"]["pids"] == [1, 2]  # its init and itself


@pytest.mark.parametrize("who", WHO)
def test_a_job_can_write_only_its_own_file_systems(reports, who):
    look = _report(reports, who)["look"]
    assert look["writable"] == ["/dev/pts", "/dev/shm", "/proc", "/tmp", "/work/submission"]
    assert look["sysctl"] != "written"
    assert look["masked"] == {"entries": [], "written": False}  # a masked copy of the course: empty, read-only


@pytest.mark.parametrize("who", WHO)
def test_a_job_has_no_capability_and_cannot_make_a_namespace(reports, who):
    look = _report(reports, who)["look"]
    assert (look["caps"], look["no_new_privs"], look["new_user_namespace"]) == (["0000000000000000"], "1", False)


@pytest.mark.parametrize("who", WHO)
def test_nothing_a_job_leaves_reaches_the_next_job_in_the_worker(reports, who):
    report = _report(reports, who)
    leave, after = report["leave"], report["after"]
    assert leave["done"] and leave["sysv"] == [0, 0, 0] and len(leave["pids"]) > 2  # it did leave a daemon
    for folder in ("/tmp", "/work/submission", "/dev/shm"):
        depth, files, mib = leave[folder]
        assert depth > 1000 and files > 1000 and mib >= 31, (folder, leave[folder])  # deep, out of inodes, full
    entries, inodes = isolation.fresh_scratch()  # empty, but for a course's mount points under /tmp
    assert after == {"done": True, "errors": [], "broken": False, "pids": [1, 2], "socket_reached": False,
                     "entries": entries, "used": {folder: [0, n] for folder, n in inodes.items()},
                     "sysv": {"shm": [], "sem": [], "msg": []}}


@pytest.mark.parametrize("who", WHO)
def test_a_fork_storm_starves_neither_another_worker_nor_the_host(reports, who):
    report = _report(reports, who)
    storm = report["storm"]
    assert storm["errno"] == 11 and 50 <= storm["forked"] < isolation.LIMITS.nproc  # EAGAIN at its own limit
    assert report["neighbour"]["forked"] == report["neighbour"]["reaped"] == 30
    assert report["host_started"] and report["after_storm"]["pids"] == [1, 2]


# ------------------------------------------------------------------ the pipeline: the same worker, two students

def _toy():
    sys.path.insert(0, str(ROOT / "tests"))
    import test_grader_toy as toy

    return toy


def _without_rules(spec):
    """The toy spec with no rules on its tests: the hostile and the observing answers import os and
    ctypes, which the judge's analysis rightly zeroes; here only what the sandbox lets through is tested."""
    import dataclasses

    return dataclasses.replace(spec, checks=tuple(dataclasses.replace(c, rules=None) for c in spec.checks))


def test_an_honest_student_after_a_hostile_one_in_the_same_worker_scores_full(tmp_path):
    _sandbox_or_skip()
    toy = _toy()
    root = tmp_path / "course"
    release, _ = pipeline.release_and_gradebook_cells(toy._course(root), toy.SPEC, None)
    leave = isolation.LEAVE + "\n" + toy.GOOD["add_answer"]
    honest = isolation.AFTER + "\n" + toy.GOOD["scale_answer"]
    subs = toy._class(tmp_path / "subs", release, {
        "a-hostile": {"add_answer": leave, "scale_answer": toy.GOOD["scale_answer"]},
        "b-honest": {"add_answer": toy.GOOD["add_answer"], "scale_answer": honest}})
    summary = pipeline.grade(_without_rules(toy.SPEC), subs, pipeline.Course(root), tmp_path / "grading", workers=1,
                             limits=isolation.LIMITS)
    by = {o.student: o for o in summary.outcomes}
    seen = json.loads(by["b-honest"].output_excerpt.strip().splitlines()[-1])
    assert (by["a-hostile"].score, by["b-honest"].score) == (3.0, 3.0)
    assert seen["entries"] == isolation.fresh_scratch()[0] and seen["pids"] == [1, 2]


# ------------------------------------------------------------------ clean-up failures and start-up failures

def test_a_worker_whose_clean_up_fails_is_replaced(tmp_path, monkeypatch):
    """A job whose processes are still dying when the clean-up window closes retires its sandbox:
    the slot's next job runs in a fresh one."""
    _sandbox_or_skip()
    monkeypatch.setattr(sandbox, "CLEANUP_S", 0.0)
    slot = executors._WarmSlot(sandbox.Limits(cell_s=1.0), "", tmp_path / "inbox")
    hang = ("import os, signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\n"
            "for _ in range(4):\n    if os.fork() == 0:\n        b = bytearray(200 * 2**20)\n        time.sleep(60)\n"
            "time.sleep(60)")  # deaf to its cell's alarm: the parent kills it, and its children take a while to die
    job = executors.Job({"setup": "", "cells": [{"index": 0, "source": hang}], "checks": [], "cell_timeout_s": 1.0,
                         "skip_cells": [], "skip_probes": []}, {}, {0: 1.0}, {})
    slot.open()
    first = slot.worker.sandbox
    attempt = slot.run(job, deadline=time.monotonic() + 30)
    assert attempt.killed == "timeout" and first.broken  # retired, not reused
    slot.open()
    assert slot.worker.sandbox is not first and not slot.worker.sandbox.broken
    slot.close()


def _toy_spec_with_setup(setup: str):
    import dataclasses

    return dataclasses.replace(_toy().SPEC, sandbox_setup=setup)


def test_a_worker_that_dies_at_start_up_is_reported_in_one_line(tmp_path, monkeypatch, capsys):
    _sandbox_or_skip()
    toy = _toy()
    root = tmp_path / "course"
    release, _ = pipeline.release_and_gradebook_cells(toy._course(root), toy.SPEC, None)
    subs = toy._class(tmp_path / "subs", release, {"alice": toy.GOOD})
    from autograder import assignments

    dying = _toy_spec_with_setup("import os, sys\nsys.stderr.write('fatal: the set-up ran out of luck\\n')\n"
                                 "sys.stderr.flush()\nos._exit(3)")
    monkeypatch.setitem(assignments.SPECS, "toy", dying)
    code = cli.main(["grade", "toy", "--submissions", str(subs), "--workspace", str(tmp_path / "ws"),
                     "--course", str(root), "--workers", "1"])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err
    assert last.startswith("grading stopped: the sandbox did not start: fatal: the set-up ran out of luck (log: ")


def test_a_sandbox_that_bubblewrap_cannot_build_is_reported_with_bwraps_words(tmp_path, monkeypatch):
    _sandbox_or_skip()
    toy = _toy()
    root = tmp_path / "course"
    release, _ = pipeline.release_and_gradebook_cells(toy._course(root), toy.SPEC, None)
    subs = toy._class(tmp_path / "subs", release, {"alice": toy.GOOD})
    paths = sandbox.library_paths
    monkeypatch.setattr(sandbox, "library_paths", lambda: [*paths(), str(tmp_path / "gone")])
    with pytest.raises(sandbox.WorkerBroken) as failed:
        pipeline.grade(toy.SPEC, subs, pipeline.Course(root), tmp_path / "grading", workers=1)
    message = str(failed.value)
    assert "\n" not in message and message.startswith("the sandbox did not start: bwrap: Can't find source path")


# ------------------------------------------------------------------ a course and a virtual environment under /tmp

@pytest.fixture(scope="module")
def course_in_tmp(user):
    """A copy of the course (its library, grader and gru solution) and the virtual environment
    (a link to it) under a temporary folder of /tmp, readable by the ordinary user."""
    base = Path(tempfile.mkdtemp(prefix="course-in-tmp-", dir="/tmp"))
    base.chmod(0o755)
    course = base / "course"
    for part in ("gated", "autograder"):
        shutil.copytree(ROOT / part, course / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "solutions" / "gru", course / "solutions" / "gru")
    (base / "venv").symlink_to(sys.prefix)
    subs = base / "subs" / "dana" / "gru"
    subs.mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "files" / "submissions" / "honest-solution.ipynb", subs / "gru.ipynb")
    give(user, base)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("who", WHO)
def test_a_course_and_venv_under_tmp_grade(course_in_tmp, user, who, tmp_path):
    if who == "root" and os.geteuid() != 0:
        pytest.skip("the tests do not run as root")
    base = course_in_tmp
    python = str(base / "venv" / "bin" / "python")
    env = dict(os.environ, PYTHONPATH=str(base / "course"))
    where = subprocess.run([python, "-c", "from autograder import sandbox; print(sandbox.library_paths())"],
                           env=env, capture_output=True, text=True, cwd=base, check=True).stdout
    assert str(base / "venv") in where and str(base / "course") not in where  # the course library stays out
    workspace = base / f"grading-{who}"
    argv = [python, "-m", "autograder", "grade", "gru", "--submissions", str(base / "subs"), "--course",
            str(base / "course"), "--workspace", str(workspace), "--workers", "1"]
    kwargs = dict(env=env, cwd=base, capture_output=True, text=True, timeout=300)
    run = subprocess.run(argv, **kwargs) if who == "root" else run_as(user, argv, tmp_path, **kwargs)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "dana" in run.stdout and "20/20" in run.stdout, run.stdout
