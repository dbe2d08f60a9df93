"""What a job can see and leave behind in the warm sandbox, observed from inside (used by tests).

    .venv/bin/python -m testbed.isolation        (prints the report as JSON; tests run it as an
                                                  ordinary user, and call isolation_report() as root)

Runs jobs in two slots of one sandbox of small limits (as the executor does) and reports what each saw: the descriptors, processes,
writable mounts and capabilities of a job; what a hostile job left behind for the next job in the
same worker (deep trees, full file systems, a daemon, an abstract socket, System V objects, a FIFO);
and a fork storm in one slot while a job in the other slot and the host's user start processes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from autograder import sandbox

LIMITS = sandbox.Limits(tmpfs_bytes=32 * sandbox.MIB, tmpfs_files=4096, cell_s=20.0)

LOOK = r'''
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
links = {}
for fd in sorted(int(fd) for fd in os.listdir("/proc/self/fd")):
    try:
        links[fd] = os.readlink(f"/proc/self/fd/{fd}").split(":")[0]
    except OSError:
        pass  # the listing's own descriptor, closed by now
visible = {}
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    visible[fields[4]] = fields[5].split(",")  # the last mount at a path is the one seen there
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
try:
    open("/proc/sys/user/max_user_namespaces", "w").write("100")
    sysctl = "written"
except OSError as exc:
    sysctl = exc.strerror
masked = MASKED
try:
    open(os.path.join(masked, "left"), "w").close()
    masked_written = True
except OSError:
    masked_written = False
print(json.dumps({
    "masked": {"entries": sorted(os.listdir(masked)), "written": masked_written},
    "fds": links,
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "writable": sorted(p for p, opts in visible.items() if "rw" in opts and os.path.isdir(p)),
    "caps": sorted({status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}),
    "no_new_privs": status["NoNewPrivs"].strip(),
    "new_user_namespace": libc.unshare(0x10000000) == 0,
    "sysctl": sysctl,
}))
'''

LEAVE = r'''
import ctypes, json, os, socket, time
made = {}
os.mkfifo("/tmp/fifo")
libc = ctypes.CDLL(None, use_errno=True)
made["sysv"] = [libc.shmget(0x6a7e, 4096, 0o1666), libc.semget(0x6a7e, 1, 0o1666), libc.msgget(0x6a7e, 0o1666)]
if os.fork() == 0:  # a daemon: its own session, an abstract socket, sleeping for ever
    os.setsid()
    if os.fork() == 0:
        server = socket.socket(socket.AF_UNIX)
        server.bind("\0gated-leftover")
        server.listen()
        time.sleep(1000)
    os._exit(0)
for folder in ("/tmp", "/work/submission", "/dev/shm"):
    os.chdir(folder)
    depth = files = written = 0
    try:
        for n in range(100):  # until it is full
            with open(f"big{n}", "wb") as fh:
                for _ in range(16):
                    fh.write(b"x" * 2**20)
                    written += 1
    except OSError:
        pass
    try:
        for depth in range(1500):  # a tree deeper than a path may be long
            os.mkdir("d")
            os.chdir("d")
        for files in range(100000):  # until the file system has no inode left
            open(f"f{files}", "w").close()
    except OSError:
        pass
    made[folder] = [depth, files, written]
os.chdir("/")
time.sleep(0.3)
made["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print(json.dumps(made))
'''

SCRATCH = ("/tmp", "/work/submission", "/dev/shm")  # what AFTER lists: the folders a job may write


def fresh_scratch() -> tuple[dict[str, list[str]], dict[str, int]]:
    """What a fresh job's scratch folders hold, as AFTER reports them: nothing, but for the read-only
    mount points of library paths the sandbox binds under one of them (a course and its virtual
    environment checked out under /tmp); returns (entries, inodes used) per folder."""
    entries, inodes = {}, {}
    for folder in SCRATCH:
        below = [Path(p).relative_to(folder) for p in sandbox.library_paths() if Path(p).is_relative_to(folder)]
        entries[folder] = sorted({rel.parts[0] for rel in below})
        inodes[folder] = 1 + len({rel.parts[:i] for rel in below for i in range(1, len(rel.parts) + 1)})
    return entries, inodes


AFTER = r'''
import json, os, socket
scratch = ("/tmp", "/work/submission", "/dev/shm")
def used(folder):
    st = os.statvfs(folder)
    return [st.f_blocks - st.f_bfree, st.f_files - st.f_ffree]
client = socket.socket(socket.AF_UNIX)
try:
    client.connect("\0gated-leftover")
    reached = True
except OSError:
    reached = False
print(json.dumps({
    "entries": {f: sorted(os.listdir(f)) for f in scratch},
    "used": {f: used(f) for f in scratch},
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "sysv": {k: open(f"/proc/sysvipc/{k}").read().splitlines()[1:] for k in ("shm", "sem", "msg")},
    "socket_reached": reached,
}))
'''

STORM = r'''
import json, os, time
forked, errno = 0, None
try:
    while forked < 5000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        forked += 1
except OSError as exc:
    errno = exc.errno
print(json.dumps({"forked": forked, "errno": errno}), flush=True)
time.sleep(8)  # hold them while the neighbour and the host start processes
'''

NEIGHBOUR = r'''
import json, os
children = []
for _ in range(30):
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    children.append(pid)
print(json.dumps({"forked": len(children), "reaped": sum(os.waitpid(p, 0)[0] == p for p in children)}))
'''


def run_job(worker: sandbox.WarmWorker, source: str) -> dict:
    """Run one cell of ``source`` in ``worker``; the JSON line it printed, with how the job ended."""
    job = sandbox.prepare_dir(worker.inbox / "job")
    (job / "job.json").write_text(json.dumps({"setup": "", "cells": [{"index": 0, "source": source}], "checks": [],
                                              "cell_timeout_s": LIMITS.cell_s}))
    (job / "job.json").chmod(0o644)
    attempt = worker.run("job", {0: LIMITS.cell_s}, {}, time.monotonic() + 60)
    lines = attempt.output.decode("utf-8", "replace").strip().splitlines()
    errors = [e.get("error") for e in attempt.events if e.get("status") == "error"]
    try:
        seen = json.loads(lines[-1])
    except (IndexError, ValueError):
        seen = {"output": lines[-5:], "errors": errors}
    return {"done": attempt.done, "errors": errors, "broken": worker.broken, **seen}


def masked_folder() -> str:
    """A package folder of the virtual environment that the report masks, as the sandbox masks a
    copy of the course installed there (:func:`autograder.sandbox.hidden_paths`): dask's, which
    nothing in a job imports."""
    import importlib.util

    return os.path.realpath(importlib.util.find_spec("dask").submodule_search_locations[0])


def isolation_report() -> dict:
    folder = Path(tempfile.mkdtemp(prefix="isolation-"))
    report: dict = {}
    masked = masked_folder()
    hidden_paths, sandbox.hidden_paths = sandbox.hidden_paths, lambda: [masked]  # read when the sandbox starts
    try:
        shared = sandbox.SharedSandbox(LIMITS, "", folder / "inbox", folder / "sandbox.log")  # as the executor runs
        first = sandbox.WarmWorker(LIMITS, "", folder / "inbox" / "w0", shared=shared)
        second = sandbox.WarmWorker(LIMITS, "", folder / "inbox" / "w1", shared=shared)
    finally:
        sandbox.hidden_paths = hidden_paths
    try:
        report["look"] = run_job(first, LOOK.replace("MASKED", repr(masked)))
        report["leave"] = run_job(first, LEAVE)
        report["after"] = run_job(first, AFTER)  # the same worker, the next job
        storm: dict = {}
        stormer = threading.Thread(target=lambda: storm.update(run_job(first, STORM)))
        stormer.start()
        time.sleep(3.0)  # the storm has forked all it may by now and holds them
        report["neighbour"] = run_job(second, NEIGHBOUR)
        report["host_started"] = subprocess.run(["true"]).returncode == 0
        stormer.join()
        report["storm"] = storm
        report["after_storm"] = run_job(first, AFTER)
    finally:
        first.close()
        second.close()
        shared.close()
    return report


if __name__ == "__main__":
    json.dump(isolation_report(), sys.stdout)
