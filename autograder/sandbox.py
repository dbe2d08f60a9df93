"""Run one submission's job inside bubblewrap, with rlimits, time limits and a capped output.

The sandbox (see :func:`command`): ``prlimit`` sets the resource limits, ``bwrap`` unshares the PID,
network, IPC and UTS namespaces, mounts read-only only the Python install, the virtual environment,
the course library and the runner, the job (read-only), and size-limited private tmpfs folders
``/tmp`` and ``/work/submission`` (its working folder): nothing on the host is writable from inside,
and results come back on a pipe; ``setpriv`` then drops to an
unprivileged user of its own (one uid per worker, so a fork storm in one sandbox cannot starve
another), with no capabilities and ``no_new_privs``. ``--die-with-parent`` and the PID namespace
kill every process the submission started when it ends or is killed.

A worker can keep one such sandbox for the whole class (:class:`WarmWorker`): its first process
imports the assignment's setup (torch) once and forks a child per submission, which drops to the
worker's uid with the limits below before any student code runs; or start a fresh sandbox for every
run (:func:`execute`, slower: torch is imported each time). Which one a grading run uses is its
executor's choice (:mod:`autograder.executors`).

The parent watches the runner's progress events; a cell or probe that runs past its limit, or a
process that dies, is attributed to the cell or probe in progress, which is skipped on the next
attempt so that the rest of the notebook is still graded.
"""
from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# The channel's reading and validation live in autograder.channel (the integrity of what comes back).
from autograder.channel import Attempt
from autograder.channel import drain as _drain
from autograder.channel import watch as _watch


RUNNER = Path(__file__).with_name("runner.py")
GIB = 1024**3
MIB = 1024**2
MAX_WORKERS = 64
# Sandboxed code runs as uid UID_BASE + worker: a range of its own for this grading run, so two runs
# on one machine never share (or clean up) each other's processes. Such uids own no files.
UID_BASE = 61000 + MAX_WORKERS * (os.getpid() % 1000)
UID_RANGE = (61000, 61000 + MAX_WORKERS * 1000)


def sandbox_uid(slot: int) -> int:
    return UID_BASE + slot


def kill_uid(uid: int, within_s: float = 5.0) -> None:
    """SIGKILL every process of ``uid`` on this machine until none is left (or ``within_s`` passes)."""
    stop = time.monotonic() + within_s
    while time.monotonic() < stop:
        pids = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    if os.stat(f"/proc/{name}").st_uid == uid:
                        pids.append(int(name))
                except OSError:
                    pass
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)


@dataclass(frozen=True)
class Limits:
    """The sandbox's limits; the defaults are the documented ones."""

    memory_bytes: int = 4 * GIB  # RLIMIT_AS of every process (torch alone maps about 1.5 GiB)
    cpu_s: int = 600  # RLIMIT_CPU of every process
    nproc: int = 64  # RLIMIT_NPROC of the sandbox's own uid
    fsize_bytes: int = 64 * MIB  # RLIMIT_FSIZE: largest file it may write
    nofile: int = 256  # RLIMIT_NOFILE
    tmpfs_bytes: int = 256 * MIB  # size of the private /tmp
    output_bytes: int = 256 * 1024  # stdout+stderr kept; the rest is read and dropped
    results_bytes: int = 256 * MIB  # all the results and events of one run together
    startup_s: float = 60.0  # interpreter start, imports and the trusted setup
    cell_s: float = 30.0  # one notebook cell
    gap_s: float = 20.0  # between two events (the runner's own work)
    submission_s: float = 600.0  # all attempts of one submission together
    max_attempts: int = 8


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces on this machine."""


def _system_binds() -> list[str]:
    args: list[str] = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives"):
        if os.path.exists(etc):
            args += ["--ro-bind", etc, etc]
    return args


def _parents(path: str) -> list[str]:
    parts = Path(path).parents
    return [str(p) for p in reversed(list(parts)) if str(p) != "/"]


def library_paths() -> list[str]:
    """What the sandbox may read besides /usr: the Python install and the venv. Never the course
    library: the probes travel as text and the set-up is self-contained, and the references must
    not be importable where student code runs."""
    paths = {os.path.realpath(sys.base_prefix), os.path.abspath(sys.prefix), os.path.realpath(sys.prefix)}
    return sorted(p for p in paths if p != "/" and os.path.isdir(p))


def hidden_paths() -> list[str]:
    """The course's own packages where :func:`library_paths` would show them (``pip install .``
    copies them into site-packages): the sandbox mounts an empty folder over each."""
    import importlib.util

    mounted = library_paths()
    found = set()
    for name in ("gated", "autograder", "authoring", "testbed"):
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            real = os.path.realpath(location)
            if any(real.startswith(path + os.sep) for path in mounted):
                found.add(real)
    return sorted(found)


def _python() -> str:
    return os.path.join(sys.prefix, "bin", "python")


def _rlimits(limits: Limits, nproc: bool) -> list[str]:
    return ["prlimit", f"--as={limits.memory_bytes}", f"--cpu={limits.cpu_s}", f"--fsize={limits.fsize_bytes}",
            f"--nofile={limits.nofile}", "--core=0", *([f"--nproc={limits.nproc}"] if nproc else []), "--"]


def unconfined_command(job_dir: Path, limits: Limits, events_fd: int) -> list[str]:
    """The runner on one job with the resource limits only: no sandbox, as the caller's user."""
    return _rlimits(limits, nproc=False) + [_python(), "-I", str(RUNNER), str(job_dir), f"--events-fd={events_fd}"]


def command(job_dir: Path, uid: int, limits: Limits, events_fd: int) -> list[str]:
    """The full command line that runs the runner on one job in a fresh sandbox, as ``uid``."""
    python = _python()
    rlimits = _rlimits(limits, nproc=True)
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    args += _system_binds()
    made: set[str] = set()
    for path in library_paths():
        args += ["--ro-bind", path, path]
        made.update(_parents(path))
    for path in hidden_paths():
        args += ["--tmpfs", path]
    args += ["--ro-bind", str(RUNNER), "/grader/runner.py", "--ro-bind", str(job_dir), "/job",
             "--size", str(limits.tmpfs_bytes), "--perms", "01777", "--tmpfs", "/work/submission"]
    made.update(["/grader", "/work"])
    for parent in sorted(made, key=len):
        args += ["--chmod", "0755", parent]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmpfs_bytes), "--perms", "01777",
             "--tmpfs", "/tmp"]
    for var, value in _env(uid).items():
        args += ["--setenv", var, value]
    args += ["--", "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
             "--bounding-set=-all", "--inh-caps=-all",
             python, "-I", "/grader/runner.py", "/job", f"--events-fd={events_fd}"]
    return rlimits + args


def _env(uid: int) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "USER": f"student{uid}",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
        "TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": "",
    }


_CHECKED: dict[str, str | None] = {}


def check_available() -> None:
    """Raise :class:`SandboxUnavailable` unless bwrap, prlimit and setpriv work here (checked once)."""
    if "bwrap" not in _CHECKED:
        missing = [tool for tool in ("bwrap", "prlimit", "setpriv") if shutil.which(tool) is None]
        if missing:
            _CHECKED["bwrap"] = f"missing {', '.join(missing)} (Debian: apt-get install bubblewrap util-linux)"
        elif os.geteuid() != 0:
            _CHECKED["bwrap"] = "the sandbox drops to a per-worker uid, which needs root (run the grader as root)"
        else:
            probe = subprocess.run(
                ["bwrap", "--unshare-pid", "--unshare-net", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
                 "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev",
                 "/usr/bin/true"], capture_output=True, text=True, timeout=30)
            _CHECKED["bwrap"] = None if probe.returncode == 0 else f"bwrap failed: {probe.stderr.strip()[:200]}"
    if _CHECKED["bwrap"]:
        raise SandboxUnavailable(_CHECKED["bwrap"])


def execute(command_for: Callable[[int], list[str]], limits: Limits, cells: dict[int, float],
            probes: dict[str, float], deadline: float, cwd: Path | None = None,
            uid: int | None = None) -> Attempt:
    """Run ``command_for(events_fd)`` once (a fresh sandbox, or the runner unconfined); kill it when
    the cell or probe in progress overruns; afterwards kill every process of ``uid``, if given."""
    read_fd, write_fd = os.pipe()
    attempt = Attempt(in_progress=("startup",))
    proc = subprocess.Popen(command_for(write_fd), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, pass_fds=(write_fd,), start_new_session=True,
                            cwd=str(cwd) if cwd else None)
    os.close(write_fd)
    drainer = threading.Thread(target=_drain, args=(proc.stdout, limits.output_bytes, attempt), daemon=True)
    drainer.start()

    def ended(timeout: float) -> bool:
        try:
            proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    try:
        _watch(read_fd, attempt, limits, cells, probes, deadline, ended)
    finally:
        if attempt.killed or proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            attempt.returncode = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            attempt.returncode = proc.wait()
        if uid is not None:
            kill_uid(uid)
        os.close(read_fd)
        drainer.join(timeout=10)
    return attempt


class WorkerBroken(RuntimeError):
    """The warm worker's sandbox stopped answering; the caller starts a new one."""


class WarmWorker:
    """One long-lived sandbox per worker, with the assignment's imports done once (see runner.zygote).

    Each job runs in a child forked from the sandbox's first process, as the worker's own uid with
    the job's rlimits and no capabilities; every process of that uid is killed, and ``/tmp`` and the
    working folder wiped, before the next job. The sandbox itself is the one :func:`command` builds,
    with the inbox (the job being graded, read-only) as its only view of the grading workspace.
    """

    def __init__(self, slot: int, limits: Limits, setup: str, inbox: Path) -> None:
        import socket

        self.uid, self.limits, self.inbox = sandbox_uid(slot), limits, inbox
        inbox.mkdir(parents=True, exist_ok=True)
        os.chmod(inbox, 0o755)
        self.sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        rl = {"as": limits.memory_bytes, "cpu": limits.cpu_s, "nproc": limits.nproc, "fsize": limits.fsize_bytes,
              "nofile": limits.nofile, "core": 0}
        cmd = command(inbox, self.uid, limits, child.fileno())
        cmd = self._as_zygote(cmd, child.fileno(), json.dumps(rl))
        self.log = inbox.parent / f"{inbox.name}.log"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         pass_fds=(child.fileno(),), start_new_session=True)
        child.close()
        self._send({"op": "warm", "setup": setup})
        answer = self._receive(limits.startup_s)
        if not answer.get("ok"):
            self.close()
            raise WorkerBroken(f"the grader's set-up failed in the sandbox: {answer.get('error')}")

    def _as_zygote(self, cmd: list[str], fd: int, limits_json: str) -> list[str]:
        """The sandbox command with the zygote as its program, privileged enough to switch uid."""
        cmd = [a for a in cmd if not a.startswith(("--as=", "--cpu=", "--nproc=", "--fsize="))]
        at = cmd.index("/usr/bin/setpriv")
        python = next(a for a in cmd[at:] if a.endswith("/python"))
        caps = []
        for cap in ("CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL"):
            caps += ["--cap-add", cap]
        head = cmd[:at - 1]  # up to the "--" before setpriv
        jobs = head.index("/job")
        head[jobs] = "/jobs"
        return head + caps + ["--", python, "-I", "/grader/runner.py", "--zygote", f"--control-fd={fd}",
                                            f"--uid={self.uid}", f"--limits={limits_json}"]

    def _send(self, message: dict, fds: list[int] | None = None) -> None:
        import socket

        try:
            socket.send_fds(self.sock, [json.dumps(message).encode()], fds or [])
        except OSError as exc:
            raise WorkerBroken(f"the worker's sandbox is gone ({exc})") from None

    def _receive(self, timeout: float) -> dict:
        ready = selectors.DefaultSelector()
        ready.register(self.sock, selectors.EVENT_READ)
        try:
            if not ready.select(timeout=timeout):
                raise WorkerBroken("the worker's sandbox did not answer")
            data = self.sock.recv(1 << 16)
        finally:
            ready.close()
        if not data:
            tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
            raise WorkerBroken(f"the worker's sandbox closed its channel; its log ends:\n{tail}")
        return json.loads(data)

    def run(self, job: str, cells: dict[int, float], probes: dict[str, float], deadline: float) -> Attempt:
        """Run ``inbox/<job>`` once; kill it when the cell or probe in progress overruns."""
        attempt = Attempt(in_progress=("startup",))
        read_fd, write_fd = os.pipe()
        out_read, out_write = os.pipe()
        try:
            self._send({"op": "run", "job": f"/jobs/{job}"}, [write_fd, out_write])
        finally:
            os.close(write_fd)
            os.close(out_write)
        drainer = threading.Thread(target=_drain, args=(os.fdopen(out_read, "rb"), self.limits.output_bytes, attempt),
                                   daemon=True)
        drainer.start()
        status: dict = {}

        def ended(timeout: float) -> bool:
            try:
                status.update(self._receive(timeout))
                return True
            except WorkerBroken:
                return False

        try:
            _watch(read_fd, attempt, self.limits, cells, probes, deadline, ended)
            if not status:
                if attempt.killed:
                    self._send({"op": "kill"})
                status.update(self._receive(30.0))
        finally:
            os.close(read_fd)
            drainer.join(timeout=10)
        attempt.returncode = status.get("status")
        return attempt

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
            kill_uid(self.uid)  # the namespace dies with its init, asynchronously: make sure


def describe_exit(attempt: Attempt, limits: Limits) -> tuple[str, str]:
    """(kind, message) for a run that stopped without finishing: ProbeError kinds of the contract."""
    if attempt.killed == "timeout":
        return "timeout", "ran past its time limit and was stopped"
    if attempt.killed in ("flood", "broken"):
        return "bad-output", f"wrote to the grader's result channel: {attempt.broken}"
    code = attempt.returncode
    signo = -code if code is not None and code < 0 else (code - 128 if code and code > 128 else None)
    if signo:
        try:
            name = signal.Signals(signo).name
        except ValueError:
            name = f"signal {signo}"
        if name == "SIGXCPU":
            return "timeout", f"used up its CPU time ({limits.cpu_s} s) and was killed"
        if name == "SIGXFSZ":
            return "crash", f"wrote a file larger than {limits.fsize_bytes // MIB} MiB and was killed"
        return "crash", f"the Python process died ({name})"
    return "crash", f"the Python process exited (status {code}) before the notebook finished"


def prepare_dir(base: Path) -> Path:
    """A fresh folder for one submission's job (written by us, mounted read-only in the sandbox)."""
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    os.chmod(base, 0o755)
    return base


__all__ = ["Attempt", "Limits", "SandboxUnavailable", "WarmWorker", "WorkerBroken", "check_available", "command",
           "describe_exit", "execute", "unconfined_command"]
