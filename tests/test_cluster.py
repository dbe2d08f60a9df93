"""``--cluster``: a real Dask scheduler and two worker processes on 127.0.0.1, started here (dynamic
ports) and stopped at the end. The toy class gets the local run's scores; a worker killed midway
loses nothing and counts each submission once; an unreachable scheduler is one line; a worker
without bubblewrap refuses the work and says why, and grades nothing."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import cli, executors, pipeline, sandbox

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
distributed = pytest.importorskip("distributed")


def _toy():
    sys.path.insert(0, str(ROOT / "tests"))
    import test_grader_toy as toy

    return toy


class Cluster:
    """A scheduler and workers, each its own process group, so that the test stops only them."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.procs, self.workers = folder, [], {}
        info = folder / "scheduler.json"
        self.procs.append(self._start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                       "--port", "0", "--no-dashboard", "--scheduler-file", str(info)], "scheduler"))
        stop = time.monotonic() + 60
        while not info.exists() or not info.read_text().strip():
            assert time.monotonic() < stop, (folder / "scheduler.log").read_text()[-2000:]
            time.sleep(0.1)
        self.address = json.loads(info.read_text())["address"]

    def _start(self, argv: list[str], name: str, env: dict | None = None) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")
        return subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True, cwd=ROOT,
                                env=env or dict(os.environ))

    def add_worker(self, name: str, env: dict | None = None) -> subprocess.Popen:
        proc = self._start([sys.executable, "-m", "distributed.cli.dask_worker", self.address, "--nthreads", "1",
                            "--no-nanny", "--no-dashboard", "--name", name], name, env)
        self.procs.append(proc)
        self.workers[name] = proc
        with distributed.Client(self.address, timeout=30, set_as_default=False) as client:
            stop = time.monotonic() + 60
            while name not in {w["name"] for w in client.scheduler_info(n_workers=-1)["workers"].values()}:
                assert time.monotonic() < stop, (self.folder / f"{name}.log").read_text()[-2000:]
                time.sleep(0.2)
        return proc

    def processing(self, name: str) -> int:
        """How many tasks the scheduler has the worker ``name`` running now."""
        def count(dask_scheduler, name=name):
            return sum(len(ws.processing) for ws in dask_scheduler.workers.values() if ws.name == name)

        with distributed.Client(self.address, timeout=30, set_as_default=False) as client:
            return client.run_on_scheduler(count)

    def kill(self, name: str) -> None:
        os.killpg(self.workers[name].pid, signal.SIGKILL)
        self.workers[name].wait()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def cluster(tmp_path):
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        pytest.skip(str(exc))
    running = Cluster(tmp_path)
    try:
        running.add_worker("w0")
        running.add_worker("w1")
        yield running
    finally:
        running.stop()


def _toy_class(tmp_path, students: dict[str, dict[str, str]]):
    toy = _toy()
    root = tmp_path / "course"
    release, _ = pipeline.release_and_gradebook_cells(toy._course(root), toy.SPEC, None)
    return toy, root, toy._class(tmp_path / "subs", release, students)


def _students(toy, n: int, slow: bool = False) -> dict[str, dict[str, str]]:
    pause = "import time\ntime.sleep(1.5)\n" if slow else ""
    wrong = "def scale(x, s):\n    return x"
    return {f"s{i:02d}": {"add_answer": pause + toy.GOOD["add_answer"],
                          "scale_answer": toy.GOOD["scale_answer"] if i % 3 else wrong} for i in range(n)}


def test_the_toy_class_gets_the_local_scores_on_the_cluster(cluster, tmp_path):
    toy = _toy()
    toy, root, subs = _toy_class(tmp_path, _students(toy, 6))
    local = pipeline.grade(toy.SPEC, subs, pipeline.Course(root), tmp_path / "local", workers=2)
    remote = pipeline.grade(toy.SPEC, subs, pipeline.Course(root), tmp_path / "remote", cluster=cluster.address)
    assert {o.student: o.score for o in remote.outcomes} == {o.student: o.score for o in local.outcomes}
    assert sorted({o.score for o in local.outcomes}) == [1.0, 3.0]
    assert remote.executor.startswith(f"Dask cluster at {cluster.address}: 2 worker(s) with 2 sandbox thread(s)")


def test_a_worker_killed_midway_loses_nothing_and_counts_each_submission_once(cluster, tmp_path):
    toy = _toy()
    toy, root, subs = _toy_class(tmp_path, _students(toy, 8, slow=True))

    class KillAfterTwo:
        def start(self, total, skipped=0):
            self.done = 0

        def advance(self, outcome):
            self.done += 1
            if self.done == 2:
                self.in_flight = cluster.processing("w0")
                cluster.kill("w0")  # it is running a job now (each takes 1.5 s): that job goes to w1

        def finish(self):
            pass

    killer = KillAfterTwo()
    # the slow answers import time, which the judge's rules zero: a spec without rules grades them
    from test_sandbox_isolation import _without_rules

    summary = pipeline.grade(_without_rules(toy.SPEC), subs, pipeline.Course(root), tmp_path / "grading", cluster=cluster.address,
                             progress=killer)
    assert killer.in_flight == 1  # w0 died with a job of its own running
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{tmp_path / 'grading' / 'gradebook.db'}") as gb:
        rows = [(s.student.id, s.score) for s in gb.assignment_submissions("toy")]
    expected = {name: 1.0 if int(name[1:]) % 3 == 0 else 3.0 for name in _students(toy, 8)}
    assert sorted(o.student for o in summary.outcomes) == sorted(expected)  # each once
    assert dict(rows) == expected and len(rows) == 8
    assert all(not o.failures for o in summary.outcomes), [o.failures for o in summary.outcomes]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys, monkeypatch):
    from autograder import cluster as cluster_module

    monkeypatch.setattr(cluster_module, "CONNECT_S", 2.0)
    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    code = cli.main(["grade", "gru", "--submissions", str(tmp_path), "--workspace", str(tmp_path / "ws"),
                     "--cluster", address])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0]
    assert err[0].startswith(f"refusing to grade: cannot reach the Dask scheduler at {address} (")


def test_a_worker_without_bubblewrap_refuses_the_work_and_says_why(cluster, tmp_path):
    bare = tmp_path / "bin"  # a PATH with python but no bwrap
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    cluster.add_worker("nobwrap", env=dict(os.environ, PATH=str(bare)))
    toy = _toy()
    toy, root, subs = _toy_class(tmp_path, _students(toy, 4))
    executor = executors.choose(cluster=cluster.address)
    summary = pipeline.grade(toy.SPEC, subs, pipeline.Course(root), tmp_path / "grading", executor=executor)
    assert len(summary.outcomes) == 4
    assert "refused: no sandbox can run here: bubblewrap is not installed" in summary.executor
    executor.check()  # connect again, to ask each worker what it ran
    ran = {executor.workers[a]["name"]: n for a, n in executor.jobs_per_worker().items()}
    executor.close()
    assert ran["nobwrap"] == 0 and ran["w0"] + ran["w1"] == 4
    # a job sent to it all the same is refused, never run unsandboxed
    with distributed.Client(cluster.address, timeout=30, set_as_default=False) as client:
        where = [a for a, w in client.scheduler_info(n_workers=-1)["workers"].items() if w["name"] == "nobwrap"]
        from autograder.cluster import job_to_plain, run_remote

        job = executors.Job({"setup": "", "cells": [], "checks": [], "cell_timeout_s": 1.0}, {}, {}, {})
        future = client.submit(run_remote, job_to_plain(job), 10.0, sandbox.Limits().__dict__, workers=where,
                               pure=False)
        with pytest.raises(Exception, match="this worker grades nothing: no sandbox can run here: bubblewrap"):
            future.result(timeout=60)


def test_no_capable_worker_refuses_to_grade(tmp_path):
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "python").symlink_to(sys.executable)
    only = Cluster(tmp_path)
    try:
        only.add_worker("nobwrap", env=dict(os.environ, PATH=str(bare)))
        with pytest.raises(sandbox.SandboxUnavailable, match="no worker of the Dask scheduler .* can run the sandbox"):
            executors.choose(cluster=only.address).check()
    finally:
        only.stop()
