"""Grading out of one machine: each submission's job runs on a Dask worker, in this project's sandbox.

``python -m autograder grade gru --submissions PATH --cluster tcp://HOST:8786`` sends every job
(plain data: the manifest, the cases' arrays as ``.npy`` bytes, the time left) to a worker of that
Dask scheduler and gets the attempt back as plain data (JSON); the judge and the one gradebook
writer stay in the instructor's command. On each worker a plugin (:class:`SandboxPlugin`) checks,
when the worker joins, that the sandbox runs on its machine (:mod:`autograder.machine`): if it does,
the worker advertises the resource ``gated-sandbox`` (one unit per thread) and keeps a warm sandbox
(shared by its threads) across tasks; if not, it advertises nothing, says why, and refuses any job sent to it
anyway, so nothing is ever graded unsandboxed. Jobs ask for one unit of that resource. A worker
lost mid-job is Dask's to handle: the scheduler runs its tasks again elsewhere (up to its
``distributed.scheduler.allowed-failures``), and the instructor's command gets each result once.
"""
from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import queue
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import fields
from pathlib import Path

import distributed
import numpy as np
from distributed.diagnostics.plugin import WorkerPlugin

from autograder import channel, sandbox
from autograder.executors import Executor, Job, Slot, _WarmSlot
from autograder.sandbox import Attempt, Limits
from autograder.spec import ProbeError

RESOURCE = "gated-sandbox"
PLUGIN = "gated-sandbox"
CONNECT_S = 10.0
log = logging.getLogger("autograder.cluster")


# ------------------------------------------------------------------------------ plain data both ways

def _plain(value):
    """JSON-able form of an attempt's or job's values: bytes, tuples, arrays (as ``.npy`` bytes), the
    channel's results (:class:`channel.Received`, :class:`ProbeError`) and dicts with other keys tagged."""
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.ndarray):
        return {"npy": base64.b64encode(_npy(value)).decode("ascii")}
    if isinstance(value, channel.Received):
        return {"received": [_plain(value.result), list(value.guarded), value.forged]}
    if isinstance(value, ProbeError):
        return {"probe_error": [value.kind, value.message]}
    if isinstance(value, tuple):
        return {"tuple": [_plain(v) for v in value]}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"dict": {k: _plain(v) for k, v in value.items()}}
        return {"pairs": [[_plain(k), _plain(v)] for k, v in value.items()]}
    return value


def _unplain(value):
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    if isinstance(value, dict):
        (tag, inner), = value.items()
        if tag == "bytes":
            return base64.b64decode(inner)
        if tag == "npy":
            return np.load(io.BytesIO(base64.b64decode(inner)), allow_pickle=False)
        if tag == "received":
            result, guarded, forged = inner
            return channel.Received(_unplain(result), tuple(guarded), bool(forged))
        if tag == "probe_error":
            return ProbeError(*inner)
        if tag == "tuple":
            return tuple(_unplain(v) for v in inner)
        if tag == "dict":
            return {k: _unplain(v) for k, v in inner.items()}
        return {_unplain(k): _unplain(v) for k, v in inner}
    return value


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def job_to_plain(job: Job) -> str:
    arrays = {name: _npy(array) for name, array in job.arrays.items()}
    return json.dumps(_plain({"manifest": job.manifest, "arrays": arrays, "cell_limits": job.cell_limits,
                              "probe_limits": job.probe_limits}))


def job_from_plain(text: str) -> Job:
    doc = _unplain(json.loads(text))
    arrays = {name: np.load(io.BytesIO(data), allow_pickle=False) for name, data in doc["arrays"].items()}
    return Job(doc["manifest"], arrays, doc["cell_limits"], doc["probe_limits"])


def attempt_to_plain(attempt: Attempt) -> str:
    return json.dumps({f.name: _plain(getattr(attempt, f.name)) for f in fields(Attempt)})


def attempt_from_plain(text: str) -> Attempt:
    doc = json.loads(text)
    return Attempt(**{f.name: _unplain(doc[f.name]) for f in fields(Attempt) if f.name in doc})


# ------------------------------------------------------------------------------ on each worker

class SandboxRefused(RuntimeError):
    """This Dask worker cannot run the sandbox: it grades nothing."""


class SandboxPlugin(WorkerPlugin):
    """Checks the sandbox when the worker joins; keeps warm sandboxes for its tasks (see the module)."""

    name = PLUGIN
    idempotent = True  # a second grading run keeps the first one's plugin and its warm sandboxes

    def __init__(self) -> None:
        self.refusal: str | None = None
        self.jobs_run = 0
        self._pools: dict[str, tuple[sandbox.SharedSandbox, queue.Queue]] = {}
        self._slots: list[_WarmSlot] = []
        self._shared: list[sandbox.SharedSandbox] = []
        self._folder: Path | None = None
        self._lock: threading.Lock | None = None  # made on the worker: the plugin travels pickled

    async def setup(self, worker) -> None:
        self._lock = threading.Lock()
        loop = asyncio.get_running_loop()
        self.refusal = await loop.run_in_executor(None, self._check)
        if self.refusal:
            log.warning("this worker refuses grading jobs: %s", self.refusal)
            return
        self._folder = Path(tempfile.mkdtemp(prefix="autograder-worker-"))
        await worker.set_resources(**{RESOURCE: worker.state.nthreads})

    @staticmethod
    def _check() -> str | None:
        try:
            sandbox.check_available()
        except sandbox.SandboxUnavailable as exc:
            return str(exc)
        return None

    def teardown(self, worker) -> None:
        for slot in self._slots:
            slot.close()
        for shared in self._shared:
            shared.close()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def run(self, job: Job, deadline: float, limits: Limits) -> Attempt:
        if self.refusal:
            raise SandboxRefused(f"this worker grades nothing: {self.refusal}")
        setup = job.manifest.get("setup", "")
        key = json.dumps([setup, limits.__dict__], sort_keys=True)
        with self._lock:
            if key not in self._pools:  # one sandbox per set-up, shared by the worker's threads
                inboxes = sandbox.inbox_folder(self._folder)
                shared = sandbox.SharedSandbox(limits, setup, inboxes, self._folder / f"sandbox{len(self._pools)}.log")
                self._pools[key] = (shared, queue.Queue())
                self._shared.append(shared)
            shared, free = self._pools[key]
            try:
                slot = free.get_nowait()
            except queue.Empty:  # a slot per thread that asks, kept for the next task
                slot = _WarmSlot(limits, setup, shared.inbox / f"worker{len(self._slots)}", shared=shared)
                self._slots.append(slot)
        try:
            attempt = slot.run(job, deadline)
            self.jobs_run += 1
            return attempt
        finally:
            free.put(slot)


def run_remote(job_text: str, seconds_left: float, limits_plain: dict) -> str:
    """The Dask task: one attempt of one job in this worker's sandbox, as plain data."""
    deadline = time.monotonic() + seconds_left
    plugin = distributed.get_worker().plugins.get(PLUGIN)
    if plugin is None:
        raise SandboxRefused("this worker has no sandbox plugin: it grades nothing")
    return attempt_to_plain(plugin.run(job_from_plain(job_text), deadline, Limits(**limits_plain)))


def _worker_state(dask_worker) -> dict:
    """Run on each worker by Client.run (which passes the worker as ``dask_worker``)."""
    worker = dask_worker
    plugin = worker.plugins.get(PLUGIN)
    return {"name": str(worker.name), "threads": worker.state.nthreads,
            "refusal": plugin.refusal if plugin else "no sandbox plugin", "jobs": plugin.jobs_run if plugin else 0}


# ------------------------------------------------------------------------------ in the instructor's command

class _DaskSlot(Slot):
    def __init__(self, executor: DaskExecutor) -> None:
        self.executor = executor

    def run(self, job: Job, deadline: float) -> Attempt:
        seconds_left = max(0.0, deadline - time.monotonic())
        future = self.executor.client.submit(run_remote, job_to_plain(job), seconds_left,
                                             self.executor.limits.__dict__, resources={RESOURCE: 1}, pure=False,
                                             key=f"grade-{uuid.uuid4().hex}")
        try:
            return attempt_from_plain(future.result())
        except distributed.KilledWorker as exc:
            raise sandbox.WorkerBroken(f"a job was running on every Dask worker that died ({exc})") from None
        except SandboxRefused as exc:
            raise sandbox.WorkerBroken(f"a Dask worker refused a job: {exc}") from None
        except OSError as exc:
            raise sandbox.WorkerBroken(f"lost the Dask scheduler at {self.executor.address}: {exc}") from None


class DaskExecutor(Executor):
    """Each job to a Dask worker that runs the sandbox (see the module docstring)."""

    def __init__(self, address: str, limits: Limits | None = None) -> None:
        super().__init__(limits)
        self.address = address
        self.client = None
        self.workers: dict[str, dict] = {}

    def check(self) -> None:
        if self.client is not None:
            return
        try:
            self.client = distributed.Client(self.address, timeout=CONNECT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise sandbox.SandboxUnavailable(
                f"cannot reach the Dask scheduler at {self.address} ({reason}). Start it (dask scheduler) or "
                "give its address as --cluster tcp://HOST:PORT.", "no-scheduler") from None
        self.client.register_plugin(SandboxPlugin())
        self.workers = self.client.run(_worker_state)
        capable = {a: w for a, w in self.workers.items() if not w["refusal"]}
        if not capable:
            why = "; ".join(f"{a}: {w['refusal']}" for a, w in sorted(self.workers.items())) or "it has no worker"
            self.close()
            raise sandbox.SandboxUnavailable(f"no worker of the Dask scheduler at {self.address} can run the sandbox "
                                             f"({why})", "no-capable-worker")
        for address, worker in self.workers.items():
            if worker["refusal"]:
                log.warning("Dask worker %s grades nothing: %s", address, worker["refusal"])
        self.max_slots = sum(w["threads"] for w in capable.values())

    def default_slots(self) -> int:
        return self.max_slots

    def make_slot(self, index: int, setup: str, scratch: Path) -> Slot:
        return _DaskSlot(self)

    def describe(self) -> str:
        capable = sorted(a for a, w in self.workers.items() if not w["refusal"])
        refused = sorted((a, w["refusal"]) for a, w in self.workers.items() if w["refusal"])
        text = (f"Dask cluster at {self.address}: {len(capable)} worker(s) with {self.max_slots} sandbox thread(s), "
                "each job in the worker's own sandbox")
        for address, why in refused:
            text += f"; {address} refused: {why}"
        return text

    def jobs_per_worker(self) -> dict[str, int]:
        """How many jobs each worker ran (the refusing ones: none)."""
        return {a: w["jobs"] for a, w in self.client.run(_worker_state).items()}

    def close(self) -> None:
        super().close()
        if self.client is not None:
            self.client.close()
            self.client = None


__all__ = ["DaskExecutor", "SandboxPlugin", "SandboxRefused", "attempt_from_plain", "attempt_to_plain",
           "job_from_plain", "job_to_plain", "run_remote"]
