"""How a submission's job is run: one executor, chosen once per grading run (:func:`choose`).

The pipeline sees only this interface; an executor holds one slot per worker thread::

    executor.check()                            # refuse early, saying why and how to fix it
    executor.prepare(setup)                     # optional: start booting while the class is checked
    executor.start(setup, workers, scratch)     # the slots start in the background; one that
                                                #   cannot start raises where it is first borrowed
    with executor.slot() as slot:               # borrow a free slot (started when first borrowed)
        attempt = slot.run(job, deadline)       # one attempt: events, results and output, as data
    executor.close()

A :class:`Job` is plain data (the manifest the runner reads, and the cases' arrays), so an executor
may run it wherever it likes: here in a sandbox, or on another machine. The executors, strongest
first (``describe`` names the one a run used):

* :class:`WarmSandbox` (the default): one long-lived bubblewrap sandbox shared by the slots, the
  assignment's imports done once, every job in namespaces of its own (:class:`sandbox.Sandbox`); as
  root each slot's jobs run as a uid of the slot's own, as an ordinary user as that user;
* :class:`ColdSandbox`: a fresh sandbox for every attempt (slower: torch is imported each time);
* :class:`Unsafe`: no sandbox, the resource limits only (``--unsafe``);
* :class:`autograder.cluster.DaskExecutor` (``--cluster``): each job to a Dask worker, which runs
  the same sandbox on its own machine.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import threading
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from autograder import sandbox
from autograder.sandbox import Attempt, Limits


@dataclass
class Job:
    """One submission's run as plain data: what an executor ships to where it runs it."""

    manifest: dict  # job.json: setup, cells, checks (probe sources, encoded cases), cells and probes to skip
    arrays: dict[str, np.ndarray]  # the cases' arrays by file name (the manifest refers to them)
    cell_limits: dict[int, float]  # cell index -> seconds
    probe_limits: dict[str, float]  # grade_id -> seconds per case

    def write(self, folder: Path) -> Path:
        """Write job.json and the arrays into a fresh ``folder``, readable by the sandbox's user: the
        arrays' bytes one after another in ``arrays.bin``, each one's dtype, shape and place in it in
        job.json's ``arrays`` index (two files, not one per array: a job has hundreds of arrays, and
        a file each cost more than everything else the grader does to start a job)."""
        folder = sandbox.prepare_dir(folder)
        index, chunks, offset = {}, [], 0
        for name, array in self.arrays.items():
            array = np.asarray(array)
            if array.dtype.hasobject:
                raise ValueError(f"a case's array {name} holds Python objects")
            data = array.tobytes(order="C")  # whatever its layout (np.ascontiguousarray would make a 0-d array 1-d)
            index[name] = {"dtype": array.dtype.str, "shape": list(array.shape), "offset": offset,
                           "length": len(data)}
            chunks.append(data)
            offset += len(data)
        for name, data in (("arrays.bin", b"".join(chunks)),
                           ("job.json", json.dumps({**self.manifest, "arrays": index}).encode())):
            (folder / name).write_bytes(data)
            os.chmod(folder / name, 0o644)
        return folder


class Slot(ABC):
    """Where one worker thread runs its jobs, one attempt at a time."""

    def open(self) -> None:
        """Start what the slot needs; called each time it is borrowed (a no-op once started)."""

    @abstractmethod
    def run(self, job: Job, deadline: float) -> Attempt:
        """Run ``job`` once; stop it when a cell or probe overruns or at ``deadline`` (time.monotonic)."""

    def close(self) -> None:
        """Stop what the slot started."""


class Executor(ABC):
    """A pool of slots of one kind; subclasses say how a slot is made."""

    max_slots = sandbox.MAX_WORKERS

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._slots: list[Slot] = []
        self._free: queue.Queue[Slot] = queue.Queue()
        self._opening: dict[Slot, threading.Thread] = {}
        self._failed: dict[Slot, BaseException] = {}

    def check(self) -> None:
        """Raise :class:`sandbox.SandboxUnavailable` when this executor cannot run here."""

    def describe(self) -> str:
        """What ran the submissions, in words, for the run's summary."""
        return type(self).__name__

    def prepare(self, setup: str) -> None:
        """Start, in the background, what needs neither the workspace nor the number of slots (the
        warm sandbox boots while the grader reads and checks the class); :meth:`close` stops it."""

    @abstractmethod
    def make_slot(self, index: int, setup: str, scratch: Path) -> Slot:
        """Slot number ``index``; ``setup`` is the assignment's trusted set-up, ``scratch`` its folder."""

    def start(self, setup: str, workers: int, scratch: Path) -> None:
        """Make the slots and start them all at once, in the background (a sandbox imports torch:
        about a second, which overlaps the rest of the run's set-up); a slot that could not start
        raises, explained, where it is first borrowed, before anything runs in it."""
        self.check()
        for index in range(workers):
            slot = self.make_slot(index, setup, scratch)
            self._slots.append(slot)
            self._free.put(slot)
            self._opening[slot] = threading.Thread(target=self._open, args=(slot,), daemon=True)
            self._opening[slot].start()

    def _open(self, slot: Slot) -> None:
        try:
            slot.open()
        except BaseException as exc:  # noqa: BLE001 - raised again, explained, by slot()
            self._failed[slot] = exc

    def explain(self, failure: BaseException) -> BaseException:
        """The error to raise when a slot failed to start (here: the failure itself)."""
        return failure

    def default_slots(self) -> int:
        """How many slots a run uses when it is not told: one per core here."""
        return os.cpu_count() or 1

    @contextmanager
    def slot(self) -> Iterator[Slot]:
        slot = self._free.get()
        try:
            opening = self._opening.pop(slot, None)
            if opening is not None:
                opening.join()
                if slot in self._failed:
                    raise self.explain(self._failed.pop(slot))
            slot.open()
            yield slot
        finally:
            self._free.put(slot)

    def close(self) -> None:
        for opening in self._opening.values():
            opening.join()
        self._opening.clear()
        for slot in self._slots:
            slot.close()
        self._slots.clear()


# ------------------------------------------------------------------------------ the executors


class _WarmSlot(Slot):
    """A slot of the warm sandbox: its own inbox folder and (as root) uid, in the shared sandbox."""

    def __init__(self, limits: Limits, setup: str, inbox: Path, log: Path | None = None,
                 shared: sandbox.SharedSandbox | None = None) -> None:
        self.limits, self.setup, self.inbox, self.log, self.shared = limits, setup, inbox, log, shared
        self.worker: sandbox.WarmWorker | None = None

    def open(self) -> None:
        if self.worker is None:
            self.worker = sandbox.WarmWorker(self.limits, self.setup, self.inbox, log=self.log, shared=self.shared)
        else:
            self.worker.shared.get()  # started, or replaced when broken

    def run(self, job: Job, deadline: float) -> Attempt:
        for retry in (False, True):  # a sandbox that stopped answering is replaced, once
            try:
                self.open()
                job.write(self.inbox / "job")
                return self.worker.run("job", job.cell_limits, job.probe_limits, deadline)
            except sandbox.WorkerBroken:
                if retry:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


class WarmSandbox(Executor):
    """One long-lived bubblewrap sandbox for all slots, the set-up imported once, namespaces per job."""

    _inboxes: Path | None = None
    _shared: sandbox.SharedSandbox | None = None
    _logs: Path | None = None  # the log's folder of a sandbox started by prepare()

    def check(self) -> None:
        sandbox.check_available(probe=False)  # the cheap checks: the first worker is the probe

    def explain(self, failure: BaseException) -> BaseException:
        """A worker that could not start: the machine's checks with the probe say why, if they can."""
        try:
            sandbox.check_available()
        except sandbox.SandboxUnavailable as exc:
            return exc
        return failure

    def prepare(self, setup: str) -> None:
        """Boot the shared sandbox now, in the background (a second: torch's import), its log in a
        private folder of its own (the workspace may not exist yet)."""
        import tempfile

        self._logs = Path(tempfile.mkdtemp(prefix="autograder-sandbox-"))  # mode 0700
        self._inboxes = sandbox.inbox_folder(self._logs)
        self._shared = sandbox.SharedSandbox(self.limits, setup, self._inboxes, self._logs / "sandbox.log")
        self._shared.boot()

    def start(self, setup: str, workers: int, scratch: Path) -> None:
        """One sandbox for all the slots: torch is imported once, and every slot's jobs are forked
        from it (each in namespaces of its own, as a uid of the slot's own when root)."""
        if self._shared is None or self._shared.setup != setup:
            self.close()
            self._inboxes = sandbox.inbox_folder(scratch)
            self._shared = sandbox.SharedSandbox(self.limits, setup, self._inboxes, scratch / "sandbox.log")
        super().start(setup, workers, scratch)

    def close(self) -> None:
        super().close()
        if self._shared is not None:
            self._shared.close()
            if self._logs is not None and not self._shared.troubled:
                shutil.rmtree(self._logs, ignore_errors=True)  # kept when a message names the log
            self._shared = None
        self._logs = None
        if self._inboxes is not None:
            shutil.rmtree(self._inboxes, ignore_errors=True)
            self._inboxes = None

    def describe(self) -> str:
        if os.geteuid() == 0:
            return "sandbox as root (bubblewrap; a uid of its own per worker; namespaces of its own per submission)"
        import pwd

        try:
            who = pwd.getpwuid(os.geteuid()).pw_name
        except KeyError:
            who = f"uid {os.geteuid()}"
        return f"sandbox as {who}, unprivileged (bubblewrap in a user namespace; namespaces of its own per submission)"

    def make_slot(self, index: int, setup: str, scratch: Path) -> Slot:
        return _WarmSlot(self.limits, setup, (self._inboxes or scratch) / f"worker{index}", shared=self._shared)


class _ColdSlot(Slot):
    def __init__(self, limits: Limits, folder: Path, confined: bool) -> None:
        self.limits, self.folder, self.confined = limits, folder, confined

    def run(self, job: Job, deadline: float) -> Attempt:
        if self.confined:  # a worker sandbox for this one attempt
            worker = sandbox.WarmWorker(self.limits, job.manifest.get("setup", ""), self.folder / "inbox")
            try:
                job.write(self.folder / "inbox" / "job")
                return worker.run("job", job.cell_limits, job.probe_limits, deadline)
            finally:
                worker.close()
        job_dir = job.write(self.folder / "job")
        work = sandbox.prepare_dir(self.folder / "work")
        return sandbox.execute(lambda fd: sandbox.unconfined_command(job_dir, self.limits, fd), self.limits,
                               job.cell_limits, job.probe_limits, deadline, cwd=work)


class ColdSandbox(Executor):
    """A fresh bubblewrap sandbox for every attempt."""

    def check(self) -> None:
        sandbox.check_available()

    def describe(self) -> str:
        return "sandbox, a fresh one per attempt (bubblewrap)"

    def make_slot(self, index: int, setup: str, scratch: Path) -> Slot:
        return _ColdSlot(self.limits, scratch / f"slot{index}", confined=True)


class Unsafe(Executor):
    """No sandbox: the runner as the caller's user, with the resource limits only."""

    def describe(self) -> str:
        return "NO SANDBOX (--unsafe): student code ran as you, with the resource limits only"

    def make_slot(self, index: int, setup: str, scratch: Path) -> Slot:
        return _ColdSlot(self.limits, scratch / f"slot{index}", confined=False)


def choose(unsafe: bool = False, limits: Limits | None = None, cluster: str | None = None) -> Executor:
    """The executor of a grading run: ``--cluster``'s Dask workers, ``--unsafe``'s none, or the warm
    sandbox, the strongest this machine allows (as root, a uid per worker; otherwise unprivileged);
    its ``check()`` says exactly what is missing when no sandbox can run here."""
    if cluster:
        try:
            from autograder.cluster import DaskExecutor
        except ImportError as exc:
            raise sandbox.SandboxUnavailable(f"--cluster needs Dask ({exc}): pip install -r requirements.txt",
                                             "no-dask") from None
        return DaskExecutor(cluster, limits)
    if unsafe:
        return Unsafe(limits)
    return WarmSandbox(limits)


__all__ = ["ColdSandbox", "Executor", "Job", "Slot", "Unsafe", "WarmSandbox", "choose"]
