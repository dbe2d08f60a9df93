"""The program that runs one submission INSIDE the sandbox (stdlib, numpy, IPython; torch for the guards).

Usage: ``python runner.py JOB_DIR --events-fd=N``. ``JOB_DIR/job.json`` holds the setup source, the
cells to execute in order, the probes' sources and the cases (their arrays' bytes in ``arrays.bin``
next to it, indexed in job.json: see :class:`Arrays`).
Everything goes back as JSON lines on file descriptor N: the start and end of every cell and probe,
and each probe's result between its probe's start and end (arrays as base64 ``.npy`` bytes, never
pickle); the sandbox has no writable folder on the host. Nothing here is trusted by the grader:
the student's code shares this process and may tamper with all of it; the parent enforces the time
limits from outside and believes the results only as data (:mod:`autograder.channel`).

While the probes of a test run, the test's runtime guards (:data:`autograder.rules.GUARDS`) are
armed: PyTorch's recurrent ATen operators are overridden to record and refuse, and a profile hook
records calls into the Python functions they name. What they saw is kept here, out of the student's
reach, and sent with each result, so an exception the student catches hides nothing.
The student's code gets builtins whose ``getattr``/``setattr``/``delattr``/``hasattr`` refuse
private names.
"""
from __future__ import annotations

import base64
import io
import json
import os
import select
import signal
import sys
import time
import traceback

_T0 = time.monotonic()

import numpy as np

_EVENTS = None  # the channel to the parent, opened by main() (or by the warm worker for its child)


# Our own references, taken before any student code runs (which may replace the builtins).
_exec, _compile, _dumps, _setprofile = exec, compile, json.dumps, sys.setprofile


def emit(**event) -> None:
    try:
        event["t"] = round(time.monotonic() - _T0, 4)
        _EVENTS.write(_dumps(event) + "\n")
        _EVENTS.flush()
    except Exception:  # the student closed or broke our channel: the parent notices the silence
        pass


class Timeout(BaseException):
    """Raised by the interval timer when a cell or a probe runs past its limit."""


def _alarm(signum, frame):
    raise Timeout()


def one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


class _Shell:
    """A stand-in for ``get_ipython()``: runs the few magics a notebook needs, has no hooks at all."""

    def __init__(self, ns: dict) -> None:
        self._ns = ns

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 1):
        if name in ("time", "timeit"):
            return exec(line, self._ns)  # noqa: S102 - student code runs here by design
        return None  # %matplotlib, %load_ext, %config ... have no effect on grading

    def run_cell_magic(self, name: str, line: str, cell: str):
        if name in ("time", "timeit", "capture"):
            return exec(cell, self._ns)  # noqa: S102
        return None

    def system(self, cmd: str):
        return None

    getoutput = system

    def __getattr__(self, name: str):
        raise AttributeError(f"the grader runs notebooks without IPython: get_ipython().{name} is unavailable")


def to_python(source: str) -> str:
    """Translate IPython syntax (magics, ``!cmd``) to plain Python."""
    if not any(line.lstrip().startswith(("%", "!")) for line in source.splitlines()):
        return source  # plain Python: no need to import IPython (a quarter of a second)
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def run_limited(seconds: float, fn, *args):
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


class Arrays:
    """The cases' arrays: ``arrays.bin``'s bytes, read once before any student code runs (an
    immutable ``bytes``), and job.json's index of them. Each case gets fresh arrays made from those
    bytes, so what one probe's code does to its inputs never reaches the next case. The index is
    checked whole first: a plain numeric dtype (never an object one, so nothing is unpickled), a
    shape and a place that fit the bytes; anything else is refused before the set-up runs."""

    def __init__(self, job_dir: str, index: dict) -> None:
        if not isinstance(index, dict):
            raise ValueError("the arrays' index is not a mapping")
        self.data = b""
        if index:
            with open(os.path.join(job_dir, "arrays.bin"), "rb") as fh:
                self.data = fh.read()
        self.index = {}
        for name, entry in index.items():
            dtype = np.dtype(str(entry["dtype"]))
            shape, offset, length = tuple(entry["shape"]), entry["offset"], entry["length"]
            if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
                raise ValueError(f"array {name}: dtype {dtype} refused")
            if not all(type(n) is int and n >= 0 for n in (*shape, offset, length)) \
                    or length != dtype.itemsize * int(np.prod(shape, dtype=np.int64)) \
                    or offset + length > len(self.data):
                raise ValueError(f"array {name}: shape {shape} at {offset}+{length} does not fit the data")
            self.index[name] = (dtype, shape, offset, length)

    def get(self, name: str) -> np.ndarray:
        dtype, shape, offset, length = self.index[name]
        return np.frombuffer(self.data, dtype, length // dtype.itemsize if dtype.itemsize else 0,
                             offset).reshape(shape).copy()


def load_inputs(arrays: Arrays, spec: dict) -> dict:
    inputs = {}
    for key, item in spec.items():
        if item["type"] == "npy":
            inputs[key] = arrays.get(item["file"])
        else:
            inputs[key] = item["value"]
    return inputs


def to_plain(value):
    """A probe's value as JSON-able data or a numpy array (never an object array)."""
    if isinstance(value, (bool, np.bool_)):
        return "json", bool(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return "json", int(value)
    if isinstance(value, (float, np.floating)):
        return "json", float(value)
    if isinstance(value, str):
        return "json", str(value)
    if value is None:
        return "json", None
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.array(value)
    if array.dtype == object:
        raise TypeError(f"cannot send a value of type {type(value).__name__} as an array")
    return "npy", array


def send_result(grade_id: str, k: int, result: dict, guarded: list[str], max_array: int) -> None:
    """Send one probe's result to the parent: JSON values inline, arrays as base64 ``.npy`` bytes
    (an array larger than the parent accepts is refused here, so one huge answer costs only its test)."""
    values = {}
    for key, value in result.items():
        kind, plain = to_plain(value)
        if kind == "npy":
            array = np.array(plain, order="C")
            if array.nbytes > max_array:
                raise ValueError(f"{str(key).removeprefix('out.')} holds {array.nbytes / 2**20:.1f} MiB; the grader "
                                 f"accepts at most {max_array / 2**20:g} MiB per array")
            buffer = io.BytesIO()
            np.save(buffer, array, allow_pickle=False)
            values[str(key)] = {"type": "npy", "b64": base64.b64encode(buffer.getvalue()).decode("ascii")}
        else:
            values[str(key)] = {"type": "json", "value": plain}
    emit(ev="result", g=grade_id, k=k, kind="ok", values=values, guard=guarded)


def send_error(grade_id: str, k: int, kind: str, message: str, guarded: list[str] = ()) -> None:
    emit(ev="result", g=grade_id, k=k, kind="error", error_kind=kind, message=message, guard=list(guarded))


# ------------------------------------------------------------------------------ the student's builtins


def student_builtins() -> dict:
    """The builtins the student's code sees: attribute look-ups by computed name may not reach
    private or special attributes (``getattr(x, "__cl" + "ass__")``), which the grader's analysis
    cannot see when the object is one of the student's own."""
    import builtins

    real = {name: vars(builtins)[name] for name in ("getattr", "setattr", "delattr", "hasattr")}

    def public(name):
        if not isinstance(name, str):
            raise TypeError("attribute name must be string")
        plain = str.__str__(name)  # the characters themselves, whatever a str subclass claims
        if plain.startswith("_"):
            raise AttributeError(f"the grader does not let a computed name reach private attributes ({plain[:40]!r})")
        return plain

    def getattr(obj, name, *default):  # noqa: A001 - the student's getattr
        return real["getattr"](obj, public(name), *default)

    def setattr(obj, name, value):  # noqa: A001
        return real["setattr"](obj, public(name), value)

    def delattr(obj, name):  # noqa: A001
        return real["delattr"](obj, public(name))

    def hasattr(obj, name):  # noqa: A001
        return real["hasattr"](obj, public(name))

    safe = dict(vars(builtins))
    safe.update(getattr=getattr, setattr=setattr, delattr=delattr, hasattr=hasattr)
    return safe


# ------------------------------------------------------------------------------------ the guards

_SEEN: list[str] = []  # what the armed guards recorded: runner-private, sent with each result


def _record(label: str) -> None:
    if label not in _SEEN and len(_SEEN) < 16:
        _SEEN.append(label)


class Guard:
    """One test's runtime guards, prepared from their plain-data specification before any student
    code runs (so what they watch cannot be swapped), armed only while the test's probes run."""

    def __init__(self, specs: list[dict]) -> None:
        import importlib
        import importlib.util
        import re

        self.ops: list[tuple[str, str, str]] = []  # (operator, dispatch key, label)
        self.codes: dict = {}  # code object -> label
        self.files: dict = {}  # file -> (pattern over function names, label, module)
        for spec in specs:
            if spec.get("ops"):
                import torch

                pattern = re.compile(spec["ops"])
                for full in torch._C._dispatch_get_all_op_names():
                    if not full.startswith("aten::") or not pattern.search(full):
                        continue
                    for key in ("CompositeImplicitAutograd", "CompositeExplicitAutograd", "Autograd", "CPU"):
                        if torch._C._dispatch_has_kernel_for_dispatch_key(full, key):
                            self.ops.append((full[len("aten::"):], key, f"{spec['label']} ({full})"))
                            if key == "CompositeImplicitAutograd":
                                break  # it runs before any backend kernel
            for dotted in spec.get("calls", ()):
                fn = self._resolve(importlib, dotted)
                if fn is not None:
                    self.codes[fn.__code__] = f"{spec['label']} ({dotted})"
            for module, names in spec.get("files", ()):
                try:
                    found = importlib.util.find_spec(module)
                except (ImportError, ValueError):
                    found = None
                if found is not None and found.origin:
                    self.files[found.origin] = (re.compile(names), spec["label"], module)
        self.library = None

    @staticmethod
    def _resolve(importlib, dotted: str):
        """The function a dotted name names (as autograder.analysis.resolve; the runner imports
        nothing of the grader's), or None."""
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            try:
                for attr in parts[i:]:
                    obj = getattr(obj, attr)
            except AttributeError:
                return None
            return obj if hasattr(obj, "__code__") else None
        return None

    def _hook(self, frame, event, arg) -> None:
        if event != "call":
            return
        code = frame.f_code
        label = self.codes.get(code)
        if label is None:
            match = self.files.get(code.co_filename)
            if match is None or not match[0].search(code.co_name):
                return
            label = f"{match[1]} ({match[2]}.{code.co_name})"
        _record(label)

    def arm(self) -> None:
        if self.ops:
            import warnings

            import torch

            self.library = torch.library.Library("aten", "IMPL")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "overriding a previously registered kernel": we mean to
                for name, key, label in self.ops:
                    self.library.impl(name, _refusing(name, label), key)
        if self.codes or self.files:
            _setprofile(self._hook)

    def disarm(self) -> None:
        if self.codes or self.files:
            _setprofile(None)
        if self.library is not None:
            self.library._destroy()
            self.library = None


def _refusing(name: str, label: str):
    def kernel(*args, **kwargs):
        _record(label)
        raise RuntimeError(f"aten::{name} is not allowed in this test: write the computation yourself")

    return kernel


# ------------------------------------------------------------------------------------------ the job


def run_job(job_dir: str) -> None:
    """Run one job: setup, cells, probes; report on the events channel; never returns."""
    if os.path.isdir("/work/submission"):
        os.chdir("/work/submission")  # the private working folder (in the sandbox)
    with open(os.path.join(job_dir, "job.json")) as fh:
        job = json.load(fh)
    skip_cells = set(job.get("skip_cells", []))
    skip_probes = {tuple(x) for x in job.get("skip_probes", [])}
    ns: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    shell = _Shell(ns)
    ns["get_ipython"] = lambda: shell
    emit(ev="ready")
    try:
        arrays = Arrays(job_dir, job.get("arrays", {}))
        if job.get("setup"):
            exec(compile(job["setup"], "<setup>", "exec"), ns)  # noqa: S102 - trusted setup
        prepared: dict[str, Guard] = {}  # one Guard per distinct specification
        guards = {}
        for check in job["checks"]:
            key = json.dumps(check.get("guards", []))
            if key not in prepared:
                prepared[key] = Guard(check.get("guards", []))
            guards[check["grade_id"]] = prepared[key]
    except BaseException as exc:  # noqa: BLE001
        emit(ev="setup", status="error", error=one_line(exc))
        sys.stderr.write(traceback.format_exc())
        os._exit(3)
    ns["__builtins__"] = student_builtins()
    for cell in job["cells"]:
        i = cell["index"]
        if i in skip_cells:
            continue
        emit(ev="cell", i=i, status="start")
        try:
            code = _compile(to_python(cell["source"]), f"<cell {i}>", "exec")
            run_limited(job["cell_timeout_s"], _exec, code, ns)
            emit(ev="cell", i=i, status="ok")
        except Timeout:
            emit(ev="cell", i=i, status="timeout", error=f"stopped after {job['cell_timeout_s']:g} s")
        except BaseException as exc:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
            emit(ev="cell", i=i, status="error", error=one_line(exc))
    for check in job["checks"]:
        run_probes(arrays, check, ns, guards[check["grade_id"]], skip_probes, job.get("max_array", 2**20))
    emit(ev="done")
    sys.stdout.flush()
    os._exit(0)  # do not run the student's atexit hooks or finalizers


def run_probes(arrays: Arrays, check: dict, ns: dict, guard: Guard, skip_probes: set, max_array: int) -> None:
    """Every case of one check, each between a ``probe start`` and a ``probe`` end event, its result
    (with what the guards saw) in between, as the parent's channel requires."""
    grade_id = check["grade_id"]
    probe_ns: dict = {"__name__": "probe"}
    try:
        exec(compile(check["probe"], f"<probe {grade_id}>", "exec"), probe_ns)  # noqa: S102 - trusted
        probe, failed = probe_ns["probe"], None
    except BaseException as exc:  # noqa: BLE001
        probe, failed = None, f"probe failed to load: {one_line(exc)}"
    timed_out = False
    for k, case in enumerate(check["cases"]):
        if (grade_id, k) in skip_probes:
            continue
        emit(ev="probe", g=grade_id, k=k, status="start")
        if failed or timed_out:  # the other cases of a test that hangs would hang too
            send_error(grade_id, k, "exception" if failed else "timeout",
                       failed or "skipped after an earlier case timed out")
            emit(ev="probe", g=grade_id, k=k, status="error")
            continue
        _SEEN.clear()
        status = "ok"
        try:
            inputs = load_inputs(arrays, case)
            guard.arm()
            try:
                result = run_limited(check["timeout_s"], probe, ns, inputs)
            finally:
                guard.disarm()
            if not isinstance(result, dict):
                raise TypeError(f"the probe returned {type(result).__name__}, not a dict")
            send_result(grade_id, k, result, list(_SEEN), max_array)
        except Timeout:
            timed_out, status = True, "timeout"
            send_error(grade_id, k, "timeout", f"stopped after {check['timeout_s']:g} s", _SEEN)
        except MemoryError:
            status = "error"
            send_error(grade_id, k, "memory", "ran out of memory (MemoryError)", _SEEN)
        except BaseException as exc:  # noqa: BLE001
            status = "error"
            tb = traceback.extract_tb(exc.__traceback__)
            where = next((f" (in {f.name}, line {f.lineno})" for f in reversed(tb) if f.filename.startswith("<cell")), "")
            send_error(grade_id, k, "exception", one_line(exc) + where, _SEEN)
        emit(ev="probe", g=grade_id, k=k, status=status)


# ------------------------------------------------------------------------------ the warm worker
# ``runner.py --zygote --control-fd=N --config=JSON`` is the sandbox's first process (trusted). It
# imports the assignment's set-up once; for every job the parent sends on the control socket (with
# two pipes: events and output; several jobs may run at once, one per slot of the executor, each
# with the uid the parent gives) it forks a keeper that gives the job namespaces of its own:
#
#   keeper  new mount, PID, IPC and network namespaces (the zygote keeps CAP_SYS_ADMIN for this);
#           it writes init's uid and gid maps (below) and reports init's exit status. (The zygote
#           cannot make the PID namespace itself: unprivileged, it could not return to its own.)
#   init    PID 1 of the new PID namespace: a fresh /proc; fresh size-limited tmpfs on /tmp, the
#           working folder and /dev/shm; the job's rlimits; a user namespace of its own that maps only
#           the job's uid (the worker's own uid when the grader is root) and in which no namespace of
#           any kind may be made; every capability dropped, no_new_privs; then it forks the job
#   job     only /dev/null, the output pipe and the events pipe open; runs run_job
#
# When the job process exits, init exits with its status and the kernel kills every process left in
# the PID namespace; the file systems and IPC objects the job could write die with its namespaces.
# Nothing of one submission can survive into the next, so there is no wipe that could fail; the
# zygote only checks that a killed job is gone within ``cleanup_s`` (init's end, and so the keeper's,
# waits for every process of its namespace) and says so.

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWUSER = 0x00020000, 0x08000000, 0x10000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x4000, 0x40000
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 24, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
SYS_OPEN_TREE, SYS_MOVE_MOUNT = 428, 429  # the same number on every architecture (asm-generic)
OPEN_TREE_CLONE, AT_RECURSIVE, MOVE_MOUNT_F_EMPTY_PATH, AT_FDCWD = 0x1, 0x8000, 0x4, -100
SCRATCH = ("/tmp", "/work/submission", "/dev/shm")  # the only places a job can write
NAMESPACE_KINDS = ("user", "mnt", "pid", "ipc", "net", "uts", "cgroup", "time")
SETUP_FAILED = 71  # the keeper's or init's status when the job's namespaces could not be made
_LIMITS = {"as": "RLIMIT_AS", "cpu": "RLIMIT_CPU", "nproc": "RLIMIT_NPROC", "fsize": "RLIMIT_FSIZE",
           "nofile": "RLIMIT_NOFILE", "core": "RLIMIT_CORE"}

_libc = None


def _c():
    global _libc
    if _libc is None:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(result: int, what: str) -> int:
    if result < 0:
        import ctypes

        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def _prctl(option: int, arg: int = 0) -> None:
    _check(_c().prctl(option, arg, 0, 0, 0), f"prctl({option})")


def _unshare(flags: int) -> None:
    _check(_c().unshare(flags), "unshare")  # Python 3.11 has no os.unshare


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    import ctypes

    enc = (lambda s: s.encode() if s is not None else None)
    _check(_c().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _mount_points_under(folder: str) -> list[str]:
    """Mount points strictly below ``folder`` (the library paths bound there), outermost only."""
    points = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = _unescape(line.split()[4])
            if point.startswith(folder.rstrip("/") + "/"):
                points.append(point)
    points.sort(key=len)
    outer: list[str] = []
    for point in points:
        if not any(point.startswith(o + "/") or point == o for o in outer):
            outer.append(point)
    return outer


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    import re

    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _fresh_scratch(limits: dict) -> None:
    """Fresh tmpfs on every folder a job may write; what the sandbox bound under /tmp (a course or
    virtual environment kept there) is carried over onto the new /tmp, read-only as before."""
    import ctypes

    kept = []
    for point in _mount_points_under("/tmp"):
        fd = _c().syscall(ctypes.c_long(SYS_OPEN_TREE), AT_FDCWD, point.encode(),
                          ctypes.c_uint(OPEN_TREE_CLONE | os.O_CLOEXEC | AT_RECURSIVE))
        kept.append((point, _check(fd, f"open_tree {point}")))
    options = f"size={int(limits['tmpfs'])},nr_inodes={int(limits['tmpfs_files'])},mode=1777"
    for folder in SCRATCH:
        _mount("tmpfs", folder, "tmpfs", MS_NOSUID | MS_NODEV, options)
    for point, fd in kept:
        os.makedirs(point, exist_ok=True)
        _check(_c().syscall(ctypes.c_long(SYS_MOVE_MOUNT), fd, b"", AT_FDCWD, point.encode(),
                            ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH)), f"move_mount {point}")
        os.close(fd)


def _set_limits(limits: dict) -> None:
    import resource

    for key, name in _LIMITS.items():
        if key in limits:
            resource.setrlimit(getattr(resource, name), (int(limits[key]), int(limits[key])))


def _drop_capabilities() -> None:
    """Empty bounding, ambient, permitted, effective and inheritable sets; no_new_privs."""
    import ctypes

    for cap in range(64):
        if _c().prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0:
            break  # EINVAL: past the kernel's last capability
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    _check(_c().capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")  # _LINUX_CAPABILITY_VERSION_3
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def _exit_code(raw: int) -> int:
    return 128 + os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else os.WEXITSTATUS(raw)


def _fail_setup(where: str) -> None:
    try:
        os.write(2, f"autograder: {where} could not make the job's sandbox:\n{traceback.format_exc()}".encode())
    finally:
        os._exit(SETUP_FAILED)


def _job_process(events_fd: int, output_fd: int, job: str) -> None:
    """The job's own process: the two channels and /dev/null, nothing else, then run_job."""
    global _EVENTS, _T0
    try:
        os.setsid()
        import fcntl

        events, output = fcntl.fcntl(events_fd, fcntl.F_DUPFD, 10), fcntl.fcntl(output_fd, fcntl.F_DUPFD, 10)
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.dup2(events, 3)
        os.closerange(4, 1 << 20)  # every other descriptor: only the two channels reach student code
        _EVENTS, _T0 = os.fdopen(3, "w", buffering=1), time.monotonic()
        sys.stdin = os.fdopen(0, "r")
        sys.stdout = os.fdopen(1, "w", buffering=1)
        sys.stderr = os.fdopen(2, "w", buffering=1)
        for signo in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGCHLD):
            signal.signal(signo, signal.SIG_DFL)
    except BaseException:  # noqa: BLE001
        os.write(2, traceback.format_exc().encode()[-2000:])
        os._exit(70)
    try:
        run_job(job)
    finally:
        os._exit(70)  # run_job ends the process itself; never return into the zygote's code


def _init(events_fd: int, output_fd: int, job: str, uid: int, gid: int, config: dict, unshared_w: int,
          mapped_r: int) -> None:
    """PID 1 of the job's PID namespace (see above); exits with the job process's status."""
    try:
        limits = config["limits"]
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        _fresh_scratch(limits)
        if os.geteuid() == 0:
            os.setgroups([])  # root's supplementary groups must not follow the job
        _prctl(PR_SET_DUMPABLE, 1)  # so that the keeper may write our maps
        _unshare(CLONE_NEWUSER)
        os.write(unshared_w, b"u")
        os.close(unshared_w)
        if os.read(mapped_r, 1) != b"m":
            raise RuntimeError("the keeper did not map the job's user namespace")
        os.close(mapped_r)
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        # The limits only now, inside the job's user namespace: the kernel counts the job's processes
        # against RLIMIT_NPROC there, and in each enclosing namespace against the limit its creator
        # had, which must not be this job's (jobs of other slots share the sandbox's namespace).
        _set_limits(limits)
        for kind in NAMESPACE_KINDS:  # the job may make no namespace, so it can never gain a capability
            path = f"/proc/sys/user/max_{kind}_namespaces"
            if kind == "user" or os.path.exists(path):
                _write(path, "0")
        _drop_capabilities()
        _prctl(PR_SET_DUMPABLE, 0)
    except BaseException:  # noqa: BLE001
        _fail_setup("init")
    try:
        job_pid = os.fork()
        if job_pid == 0:
            _job_process(events_fd, output_fd, job)
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 1 << 20)
        while True:
            pid, raw = os.waitpid(-1, 0)
            if pid == job_pid:
                os._exit(_exit_code(raw))
    finally:
        os._exit(70)  # init never returns into the zygote's code


def _keeper(events_fd: int, output_fd: int, job: str, uid: int, gid: int, config: dict) -> None:
    """The zygote's child for one job: makes its namespaces and init, reports init's status.
    SIGUSR1 (the parent's "kill") kills init, whose end kills every process of the job."""
    init = 0
    wanted_dead = False

    def kill_init(signum, frame) -> None:
        nonlocal wanted_dead
        wanted_dead = True
        if init > 0:
            os.kill(init, signal.SIGKILL)

    signal.signal(signal.SIGUSR1, kill_init)  # before init exists: a kill that comes first ends us
    try:
        os.setsid()
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # stderr (2) stays the worker's log, for a failure before the job starts
        keep = sorted({2, events_fd, output_fd})
        for low, high in zip(keep, keep[1:] + [1 << 20]):
            os.closerange(low + 1, high)  # the control socket, other jobs' pipes: all the zygote's
        _unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNET)
        _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing the job mounts propagates to the zygote
        unshared_r, unshared_w = os.pipe()
        mapped_r, mapped_w = os.pipe()
        init = os.fork()
        if init == 0:
            signal.signal(signal.SIGUSR1, signal.SIG_DFL)
            os.close(unshared_r)
            os.close(mapped_w)
            _init(events_fd, output_fd, job, uid, gid, config, unshared_w, mapped_r)
        if wanted_dead:
            os.kill(init, signal.SIGKILL)
        os.close(unshared_w)
        os.close(mapped_r)
        os.close(events_fd)
        os.close(output_fd)
        if os.read(unshared_r, 1) == b"u":
            # init has mounted its namespace's /proc by now, which this process (in the same mount
            # namespace) sees as well: there init is PID 1
            _write("/proc/1/setgroups", "deny")
            _write("/proc/1/uid_map", f"{uid} {uid} 1")
            _write("/proc/1/gid_map", f"{gid} {gid} 1")
            os.write(mapped_w, b"m")
        os.close(mapped_w)
        _, raw = os.waitpid(init, 0)  # init's end comes after every other process of its namespace
    except BaseException:  # noqa: BLE001
        _fail_setup("the keeper")
    os._exit(_exit_code(raw))


def zygote(control_fd: int, config: dict) -> None:
    """Serve the parent's requests: "warm" (run the set-up), then any number of concurrent "run"
    (a job, with its id, folder, uid and its two pipes) and "kill" (a job, by id); answer "exit"
    with each job's status and whether all of it was gone within ``cleanup_s`` of a kill."""
    import select
    import socket

    # It forks the jobs' namespaces: only ever inside the sandbox built for it.
    if os.path.realpath(__file__) != "/grader/runner.py" or not os.path.isdir("/jobs"):
        sys.exit("the warm worker runs only inside its bubblewrap sandbox")
    _prctl(PR_SET_DUMPABLE, 0)  # nothing of the same uid may read or trace the zygote
    _set_limits({"nofile": config["limits"]["nofile"], "core": 0})
    cleanup_s = float(config["cleanup_s"])
    sock = socket.socket(fileno=control_fd)
    running: dict[int, dict] = {}  # keeper pid -> {"id", "pidfd", "killed_at"}

    def reply(**msg) -> None:
        sock.send(json.dumps(msg).encode())

    def end(keeper: int, status: int | None, clean: bool) -> None:
        job = running.pop(keeper)
        os.close(job["pidfd"])
        reply(op="exit", id=job["id"], status=status, clean=clean, setup_failed=status == SETUP_FAILED)

    while True:
        now = time.monotonic()
        overdue = [k for k, j in running.items() if j["killed_at"] and now - j["killed_at"] > cleanup_s]
        for keeper in overdue:  # killed and still not gone: this sandbox must not be used again
            end(keeper, None, False)
        waits = [j["killed_at"] + cleanup_s - now for j in running.values() if j["killed_at"]]
        ready = select.select([sock] + [j["pidfd"] for j in running.values()], [], [],
                              max(0.0, min(waits)) if waits else None)[0]
        for keeper, job in list(running.items()):
            if job["pidfd"] in ready:
                _, raw = os.waitpid(keeper, 0)
                end(keeper, _exit_code(raw), True)
        if sock not in ready:
            continue
        data, fds, _, _ = socket.recv_fds(sock, 1 << 20, 2)
        if not data:  # the parent is gone: so is every job
            for keeper in running:
                os.kill(keeper, signal.SIGUSR1)
            os._exit(0)
        request = json.loads(data)
        if request["op"] == "warm":
            try:
                exec(compile(request["setup"], "<setup>", "exec"), {"__name__": "__warm__"})  # noqa: S102 - trusted
                reply(op="warm", ok=True)
            except BaseException as exc:  # noqa: BLE001
                reply(op="warm", ok=False, error=one_line(exc))
        elif request["op"] == "kill":
            for keeper, job in running.items():
                if job["id"] == request["id"] and not job["killed_at"]:
                    os.kill(keeper, signal.SIGUSR1)
                    job["killed_at"] = time.monotonic()
        elif request["op"] == "run" and len(fds) == 2:
            events_fd, output_fd = fds
            asked = request.get("uid") if request.get("uid") is not None else config.get("uid")
            uid, gid = (os.geteuid(), os.getegid()) if asked is None else (int(asked), int(asked))
            keeper = os.fork()
            if keeper == 0:
                _keeper(events_fd, output_fd, request["job"], uid, gid, config)
            os.close(events_fd)
            os.close(output_fd)
            running[keeper] = {"id": request["id"], "pidfd": os.pidfd_open(keeper), "killed_at": None}
        else:
            for fd in fds:
                os.close(fd)


def main() -> None:
    global _EVENTS
    args = dict(a.split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
    if "--zygote" in sys.argv:
        zygote(int(args["--control-fd"]), json.loads(args["--config"]))
    else:
        _EVENTS = os.fdopen(int(args.get("--events-fd", 2)), "w", buffering=1)
        run_job(sys.argv[1])


if __name__ == "__main__":
    main()
