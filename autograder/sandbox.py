"""Run submissions' jobs in a sandbox: bubblewrap around a warm zygote, namespaces of its own per job.

The sandbox (see :func:`command`) is a ``bwrap`` that unshares the PID, network, IPC and UTS
namespaces and mounts read-only only the Python install, the virtual environment (never the course
library: see :func:`library_paths`), the runner and the inbox (the jobs being graded); the root and
``/dev`` are remounted read-only.
Its first process, the zygote (``runner.py --zygote``), imports the assignment's set-up (torch) once
and, for every job, forks a child that enters namespaces of its own: mount, PID, IPC and network,
with fresh size-limited tmpfs on ``/tmp``, the working folder ``/work/submission`` and ``/dev/shm``
and a fresh ``/proc``, then a user namespace in which no further namespace can be made, every
capability dropped, ``no_new_privs`` and the limits of :class:`Limits`. The job's process runs as
PID 2 under a tiny init; when it ends, the kernel kills every process left in its PID namespace and
its file systems and IPC objects go with their namespaces, so nothing of it reaches the next job.
Results come back on a pipe; nothing on the host is writable from inside.

The same sandbox runs for root and for an ordinary user:

* as root, bwrap runs privileged and each slot's jobs run as a uid of the slot's own, claimed for
  the slot's lifetime (:func:`claim_uid`), so that processes of two slots never share a uid;
* as an ordinary user, bwrap makes a user namespace and every job runs as that user; the per-job
  user namespace counts the job's processes on its own, so one job's fork storm starves neither
  another slot's job nor the user's other processes.

:class:`Sandbox` is one such sandbox, which runs several jobs at once; :class:`SharedSandbox` starts
it and replaces it when broken; :class:`WarmWorker` is one slot's view of it (its folder, its uid).
Which executor uses them how is :mod:`autograder.executors`'s business, and whether this machine
can run them at all is :mod:`autograder.machine`'s.

The parent watches the runner's progress events; a cell or probe that runs past its limit, or a
process that dies, is attributed to the cell or probe in progress, which is skipped on the next
attempt so that the rest of the notebook is still graded.
"""
from __future__ import annotations

import itertools
import json
import os
import queue
import selectors
import shutil
import signal
import socket
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
# As root, a worker's jobs run as a uid of this range that no other worker on the machine holds
# (claimed with an abstract socket of that name, released when the worker's process dies). The
# range is far from the users of /etc/passwd, systemd's dynamic users (61184-65519) and the usual
# subordinate uids (100000 + 65536 per user); such uids own no files.
UID_RANGE = (1_900_000_000, 1_900_000_000 + 65536)
CLEANUP_S = 10.0  # every process of a job gone within this, or the worker is retired


_CLAIMED: set[int] = set()  # every uid this process has claimed, for uids_claimed()


def claim_uid() -> tuple[int, socket.socket]:
    """A uid of :data:`UID_RANGE` that no other live process on this machine has claimed, with the
    socket that holds the claim (close it, or exit, to release the uid). The claim is atomic: binding
    an abstract socket name succeeds for one process only, so two grading runs started at the same
    moment (two instructors, a test and a run) never share a uid; the kernel drops the name when its
    holder dies, however it dies, so no stale claim is left behind."""
    span = UID_RANGE[1] - UID_RANGE[0]
    start = (os.getpid() * 64) % span
    for step in range(span):
        uid = UID_RANGE[0] + (start + step) % span
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            claim.bind(f"\0gated-autograder-uid-{uid}")
            _CLAIMED.add(uid)
            return uid, claim
        except OSError:
            claim.close()
    raise SandboxUnavailable("no free uid for a worker: every uid of the sandbox's range is claimed")


def uids_claimed() -> frozenset[int]:
    """Every uid this process's workers have run jobs as (so a test counts only its own processes)."""
    return frozenset(_CLAIMED)


@dataclass(frozen=True)
class Limits:
    """The sandbox's limits; the defaults are the documented ones."""

    memory_bytes: int = 4 * GIB  # RLIMIT_AS of every process (torch alone maps about 1.5 GiB)
    cpu_s: int = 600  # RLIMIT_CPU of every process
    nproc: int = 64  # RLIMIT_NPROC: processes of one job (counted in the job's own user namespace)
    fsize_bytes: int = 64 * MIB  # RLIMIT_FSIZE: largest file it may write
    nofile: int = 256  # RLIMIT_NOFILE
    tmpfs_bytes: int = 256 * MIB  # size of each private tmpfs: /tmp, the working folder, /dev/shm
    tmpfs_files: int = 65536  # files and folders in each of them (each costs kernel memory)
    output_bytes: int = 256 * 1024  # stdout+stderr kept; the rest is read and dropped
    results_bytes: int = 256 * MIB  # all the results and events of one run together
    startup_s: float = 60.0  # interpreter start, imports and the trusted setup
    cell_s: float = 30.0  # one notebook cell
    gap_s: float = 20.0  # between two events (the runner's own work)
    submission_s: float = 600.0  # all attempts of one submission together
    max_attempts: int = 8

    def for_job(self) -> dict[str, int]:
        """What the job's init sets: rlimits and the size of its file systems."""
        return {"as": self.memory_bytes, "cpu": self.cpu_s, "nproc": self.nproc, "fsize": self.fsize_bytes,
                "nofile": self.nofile, "core": 0, "tmpfs": self.tmpfs_bytes, "tmpfs_files": self.tmpfs_files}


class SandboxError(RuntimeError):
    """The sandbox cannot grade: the message is one line for the user, with what to do."""


class SandboxUnavailable(SandboxError):
    """This machine cannot run the sandbox (no Linux, no bubblewrap, no user namespaces...)."""

    def __init__(self, message: str, cause: str = "sandbox-failed") -> None:
        super().__init__(message)
        self.cause = cause


class WorkerBroken(SandboxError):
    """A worker's sandbox did not start or stopped answering; the caller starts a new one."""


def inbox_folder(fallback: Path) -> Path:
    """A private folder for the jobs' inboxes, on the RAM file system /dev/shm where there is one:
    every attempt writes its job (job.json and the cases' arrays.bin) afresh, and a disk would add
    its own latency to each. Otherwise a folder in ``fallback``."""
    import tempfile

    shm = Path("/dev/shm")
    where = shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else fallback
    return Path(tempfile.mkdtemp(prefix="autograder-inbox-", dir=where))  # mode 0700


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


def command(inbox: Path, uid: int | None, limits: Limits, control_fd: int, info_fd: int | None = None,
            cleanup_s: float = CLEANUP_S, privileged: bool | None = None) -> list[str]:
    """The command line of one sandbox: bubblewrap around the zygote.

    ``privileged`` (by default: whether ``uid`` is given) is for a grader that is root: bwrap runs
    privileged and each job's init switches to the uid its slot asks for (``uid`` when it asks for
    none). Otherwise bwrap makes a user namespace and jobs run as the grader's user. The zygote
    keeps CAP_SYS_ADMIN, CAP_SETUID and CAP_SETGID, in bwrap's user namespace when there is one, to
    give each job namespaces of its own; a job never has any capability.
    """
    privileged = uid is not None if privileged is None else privileged
    args = ["bwrap", *([] if privileged else ["--unshare-user"]), "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    for cap in ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID"):
        args += ["--cap-add", cap]
    if info_fd is not None:
        args += ["--info-fd", str(info_fd)]
    # /tmp first, so that a library path under /tmp is bound on top of it (and kept by each job)
    args += ["--size", str(limits.tmpfs_bytes), "--perms", "01777", "--tmpfs", "/tmp"]
    args += _system_binds()
    made: set[str] = set()
    for path in library_paths():
        args += ["--ro-bind", path, path]
        made.update(_parents(path))
    for path in hidden_paths():  # an empty read-only folder over each: a job may not write there either
        args += ["--tmpfs", path, "--remount-ro", path]
    args += ["--ro-bind", str(RUNNER), "/grader/runner.py", "--ro-bind", str(inbox), "/jobs",
             "--dir", "/work/submission", "--proc", "/proc", "--dev", "/dev"]
    made.update(["/grader", "/work"])
    for parent in sorted(made - {"/tmp"}, key=len):
        args += ["--chmod", "0755", parent]
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]  # the jobs' own tmpfs are their only writable places
    for var, value in _env(uid).items():
        args += ["--setenv", var, value]
    config = {"uid": uid, "gid": uid, "limits": limits.for_job(), "cleanup_s": cleanup_s}
    return args + ["--", _python(), "-I", "/grader/runner.py", "--zygote", f"--control-fd={control_fd}",
                   f"--config={json.dumps(config, separators=(',', ':'))}"]


def _env(uid: int | None) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
        "USER": "student" if uid is None else f"student{uid}",
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
        "TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": "",
    }


_CHECKED: dict[str, str | None] = {}  # "bwrap": what the probe sandbox said (None: it worked), once a process


def check_available(probe: bool = True) -> None:
    """Raise :class:`SandboxUnavailable`, naming the cause and its fix, unless the sandbox runs here
    (the cheap checks each time, the probe sandbox once a process: :mod:`autograder.machine`).
    ``probe=False`` skips the probe unless its answer is known (a grading run's first worker is one)."""
    from autograder import machine

    def probe_once() -> str | None:
        if "bwrap" not in _CHECKED and probe:
            _CHECKED["bwrap"] = machine.probe_sandbox()
        return _CHECKED.get("bwrap")

    problem = machine.sandbox_problem(probe_once)
    if problem is not None:
        raise SandboxUnavailable(problem.message, problem.cause)


def execute(command_for: Callable[[int], list[str]], limits: Limits, cells: dict[int, float],
            probes: dict[str, float], deadline: float, cwd: Path | None = None) -> Attempt:
    """Run ``command_for(events_fd)`` once (the runner unconfined, for ``--unsafe``); kill it when
    the cell or probe in progress overruns."""
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
        os.close(read_fd)
        drainer.join(timeout=10)
    return attempt


class _Spawner:
    """Starts every worker sandbox from one thread that lives as long as the grader: bwrap's
    --die-with-parent is a parent-death signal, which Linux sends when the *thread* that started the
    process ends, so a sandbox started from a short-lived thread would be killed with it."""

    def __init__(self) -> None:
        self._requests: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _serve(self) -> None:
        while True:
            args, kwargs, done = self._requests.get()
            try:
                done["proc"] = subprocess.Popen(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - raised again in the caller
                done["error"] = exc
            done["event"].set()

    def popen(self, *args, **kwargs) -> subprocess.Popen:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="sandbox-spawner", daemon=True)
                self._thread.start()
        done = {"event": threading.Event()}
        self._requests.put((args, kwargs, done))
        done["event"].wait()
        if "error" in done:
            raise done["error"]
        return done["proc"]


_SPAWNER = _Spawner()


class Sandbox:
    """One long-lived sandbox (see the module docstring), the assignment's set-up imported once,
    shared by the slots of an executor: each :meth:`run` is one job in namespaces of its own, and
    several may run at once. When a job's clean-up fails (a process of it still alive
    :data:`CLEANUP_S` after its kill), or the sandbox stops answering, it is marked ``broken`` and
    must be replaced, never reused. ``inbox`` is its view of the jobs, ``/jobs`` inside."""

    def __init__(self, limits: Limits, setup: str, inbox: Path, log: Path, uid: int | None = None,
                 cleanup_s: float | None = None, as_root: bool | None = None) -> None:
        self.limits, self.inbox, self.log, self.broken = limits, inbox, log, False
        cleanup_s = CLEANUP_S if cleanup_s is None else cleanup_s
        inbox.mkdir(parents=True, exist_ok=True)
        os.chmod(inbox, 0o755)
        self.sock, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        info_r, info_w = os.pipe()
        as_root = os.geteuid() == 0 if as_root is None else as_root
        cmd = command(inbox, uid, limits, child.fileno(), info_w, cleanup_s, privileged=as_root)
        self.proc = None
        self._sandbox_pid: int | None = None
        self._sending = threading.Lock()
        self._waiting: dict[int, queue.Queue] = {}  # job id -> where its "exit" answer goes
        self._ids = itertools.count()
        self._reader: threading.Thread | None = None
        try:
            with open(self.log, "wb") as log_file:
                self.proc = _SPAWNER.popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                                           pass_fds=(child.fileno(), info_w), start_new_session=True)
            os.close(info_w)
            child.close()
            self._sandbox_pid = self._read_sandbox_pid(info_r, limits.startup_s)
            try:
                self._send({"op": "warm", "setup": setup})
                answer = self._receive(limits.startup_s)
            except WorkerBroken:
                raise WorkerBroken(self.died("did not start")) from None
            if not answer.get("ok"):
                raise WorkerBroken(f"the grader's set-up failed in the sandbox: {answer.get('error')}")
        except BaseException:
            self.close()
            raise
        finally:
            os.close(info_r)
        self._reader = threading.Thread(target=self._read_answers, name="sandbox-answers", daemon=True)
        self._reader.start()

    def _read_sandbox_pid(self, info_r: int, timeout: float) -> int:
        """bwrap's --info-fd gives the sandbox's first process; its end is the end of every process
        in the sandbox (it is PID 1 there). An empty read means bwrap failed to start."""
        ready = selectors.DefaultSelector()
        ready.register(info_r, selectors.EVENT_READ)
        data = b""
        stop = time.monotonic() + timeout
        try:
            while b"}" not in data and time.monotonic() < stop:
                if ready.select(timeout=stop - time.monotonic()):
                    chunk = os.read(info_r, 4096)
                    if not chunk:
                        break
                    data += chunk
        finally:
            ready.close()
        try:
            return int(json.loads(data)["child-pid"])
        except (ValueError, KeyError, TypeError):
            raise WorkerBroken(self.died("did not start")) from None

    def died(self, what: str) -> str:
        """One line for the user: what happened and the last line of the sandbox's log."""
        if self.proc is not None:
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        try:
            lines = [line.strip() for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            lines = []
        tail = lines[-1][:300] if lines else "its log is empty"
        return f"the sandbox {what}: {tail} (log: {self.log})"

    def _send(self, message: dict, fds: list[int] | None = None) -> None:
        try:
            with self._sending:
                socket.send_fds(self.sock, [json.dumps(message).encode()], fds or [])
        except OSError:
            self.broken = True
            raise WorkerBroken(self.died("is gone")) from None

    def _receive(self, timeout: float) -> dict:
        """The next answer on the control socket (before the answer reader runs: the set-up's)."""
        ready = selectors.DefaultSelector()
        ready.register(self.sock, selectors.EVENT_READ)
        try:
            if not ready.select(timeout=timeout):
                raise WorkerBroken(f"the sandbox did not answer within {timeout:g} s (log: {self.log})")
            data = self.sock.recv(1 << 16)
        except OSError:
            data = b""
        finally:
            ready.close()
        if not data:
            raise WorkerBroken(self.died("closed its channel"))
        return json.loads(data)

    def _read_answers(self) -> None:
        """Hand each job's "exit" answer to the job waiting for it; when the channel closes, every
        waiting job learns that the sandbox is gone."""
        while True:
            try:
                data = self.sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                self.broken = True
                for waiting in list(self._waiting.values()):
                    waiting.put(None)
                return
            answer = json.loads(data)
            waiting = self._waiting.get(answer.get("id"))
            if waiting is not None:
                waiting.put(answer)

    def run(self, job: str, uid: int | None, cells: dict[int, float], probes: dict[str, float],
            deadline: float) -> Attempt:
        """Run ``inbox/<job>`` once as ``uid`` (None: the sandbox's own); kill it when the cell or
        probe in progress overruns."""
        attempt = Attempt(in_progress=("startup",))
        job_id = next(self._ids)
        answers: queue.Queue = queue.Queue()
        self._waiting[job_id] = answers
        read_fd, write_fd = os.pipe()
        out_read, out_write = os.pipe()
        try:
            self._send({"op": "run", "id": job_id, "job": f"/jobs/{job}", "uid": uid}, [write_fd, out_write])
        except WorkerBroken:
            os.close(read_fd)
            os.close(out_read)
            del self._waiting[job_id]
            raise
        finally:
            os.close(write_fd)
            os.close(out_write)
        drainer = threading.Thread(target=_drain, args=(os.fdopen(out_read, "rb"), self.limits.output_bytes, attempt),
                                   daemon=True)
        drainer.start()
        status: dict = {}

        def ended(timeout: float) -> bool:
            try:
                answer = answers.get(timeout=timeout)
            except queue.Empty:
                return False
            if answer is None:
                raise WorkerBroken(self.died("closed its channel"))
            status.update(answer)
            return True

        try:
            _watch(read_fd, attempt, self.limits, cells, probes, deadline, ended)
            if not status:
                if attempt.killed:
                    self._send({"op": "kill", "id": job_id})
                if not ended(30.0 + CLEANUP_S):
                    self.broken = True
                    raise WorkerBroken(f"the sandbox did not answer for a job it had to stop (log: {self.log})")
        finally:
            self._waiting.pop(job_id, None)
            os.close(read_fd)
            drainer.join(timeout=10)
        if not status.get("clean", False):
            self.broken = True  # a process of the job outlived it: never hand this sandbox to the next
        if status.get("setup_failed") and not attempt.events:
            self.broken = True
            raise WorkerBroken(self.died("could not set up a job"))
        attempt.returncode = status.get("status")
        return attempt

    def close(self) -> None:
        """Stop the sandbox and wait until every process in it is gone."""
        self.broken = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the answer reader
        except OSError:
            pass
        self.sock.close()
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)
        if self._sandbox_pid is not None:
            _wait_gone(self._sandbox_pid, 30.0)
            self._sandbox_pid = None


class SharedSandbox:
    """The one sandbox the slots of an executor share, started by whichever slot first needs it and
    replaced, once, by whichever first finds it broken (the jobs still running in the old one end
    with :class:`WorkerBroken` and are run again by their slots)."""

    def __init__(self, limits: Limits, setup: str, inbox: Path, log: Path, cleanup_s: float | None = None) -> None:
        self.limits, self.setup, self.inbox, self.log, self.cleanup_s = limits, setup, inbox, log, cleanup_s
        self.current: Sandbox | None = None
        self.troubled = False  # a sandbox failed to start or was replaced: its log is worth keeping
        self._closed = False
        self._lock = threading.Lock()
        self._started = 0

    def get(self) -> Sandbox:
        with self._lock:
            if self.current is None or self.current.broken:
                if self.current is not None:
                    self.troubled = True
                    self.current.close()
                    self.current = None
                log = self.log if not self._started else self.log.with_suffix(f".{self._started}.log")
                self._started += 1
                try:
                    self.current = Sandbox(self.limits, self.setup, self.inbox, log, cleanup_s=self.cleanup_s)
                except BaseException:
                    self.troubled = True
                    raise
                if self._closed:  # closed while this one booted: nobody may use it
                    self.current.close()
                    self.current = None
                    raise WorkerBroken("the sandbox was closed while it started")
            return self.current

    def boot(self) -> None:
        """Start the sandbox in the background; whoever first needs it waits for it (or, when it
        could not start, starts another and gets that one's error)."""
        def start() -> None:
            try:
                self.get()
            except BaseException:  # noqa: BLE001 - the first slot tries again and reports it
                pass

        threading.Thread(target=start, name="sandbox-boot", daemon=True).start()

    def close(self) -> None:
        """Stop the sandbox; one still booting in the background is stopped as soon as it is up."""
        self._closed = True
        if not self._lock.acquire(blocking=False):
            return  # a sandbox is starting: get() closes it when it is up
        try:
            if self.current is not None:
                self.current.close()
                self.current = None
        finally:
            self._lock.release()


class WarmWorker:
    """One slot's view of a sandbox: a folder of its own in the sandbox's inbox and, as root, a uid
    of its own (claimed for the slot's lifetime). Without ``shared`` it starts a sandbox of its own
    at once, whose inbox is ``inbox`` itself."""

    def __init__(self, limits: Limits, setup: str, inbox: Path, as_root: bool | None = None,
                 cleanup_s: float | None = None, log: Path | None = None,
                 shared: SharedSandbox | None = None) -> None:
        self.limits, self.inbox = limits, inbox
        self.uid, self._claim = claim_uid() if (os.geteuid() == 0 if as_root is None else as_root) else (None, None)
        self._own = shared is None
        self.shared = shared or SharedSandbox(limits, setup, inbox, log or inbox.parent / f"{inbox.name}.log", cleanup_s)
        inbox.mkdir(parents=True, exist_ok=True)
        os.chmod(inbox, 0o755)
        self.job_prefix = "" if inbox == self.shared.inbox else f"{inbox.relative_to(self.shared.inbox)}/"
        try:
            self.shared.get()
        except BaseException:
            self.close()
            raise

    @property
    def sandbox(self) -> Sandbox | None:
        return self.shared.current

    @property
    def broken(self) -> bool:
        return self.shared.current is None or self.shared.current.broken

    @property
    def log(self) -> Path:
        return self.shared.current.log if self.shared.current else self.shared.log

    def run(self, job: str, cells: dict[int, float], probes: dict[str, float], deadline: float) -> Attempt:
        return self.shared.get().run(self.job_prefix + job, self.uid, cells, probes, deadline)

    def close(self) -> None:
        if self._own:
            self.shared.close()
        if self._claim is not None:
            self._claim.close()  # only now may another worker take this uid
            self._claim = None


def _wait_gone(pid: int, timeout: float) -> None:
    """Wait until process ``pid`` (the sandbox's PID 1: its end waits for all the others) is gone."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        ready = selectors.DefaultSelector()
        ready.register(pidfd, selectors.EVENT_READ)
        ready.select(timeout=timeout)
        ready.close()
    finally:
        os.close(pidfd)


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


__all__ = ["Attempt", "Limits", "Sandbox", "SandboxError", "SandboxUnavailable", "SharedSandbox", "WarmWorker", "WorkerBroken", "check_available",
           "claim_uid", "command", "describe_exit", "execute", "inbox_folder", "uids_claimed", "unconfined_command"]
