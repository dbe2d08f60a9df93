"""The result channel: read what the runner sends back, bounded and validated, linear in what was read.

Everything on the channel is untrusted: the runner shares its process with the student's code,
which can write anything to it. So every line is parsed with fixed bounds (its length, the number
of events, the keys, strings and arrays of a result, the dtypes), and each result is believed only
as data, only for a case of this job, only once, and only inside the run of its own probe: the
runner sends ``probe start (g, k)``, the result of (g, k), then ``probe end``; a result outside that
window, a second one, or one for a case the job does not have is a forgery, and the case scores zero
for it. A line that is not a valid event ends the attempt (``Attempt.broken`` says why): nothing
after it is believed. Arrays come as ``.npy`` bytes whose header is checked against the bytes
before any array is made, never pickle.

:func:`watch` (the events, with the time limits) and :func:`drain` (the printed output, kept up to a
limit) are what the sandbox's executors call for every attempt.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import math
import os
import selectors
import time
from dataclasses import dataclass, field

import numpy as np

from gated.checks.contract import ProbeError, Result

MIB = 1024**2

MAX_LINE = 4 * MIB  # one event, arrays included (base64)
MAX_ARRAY = 1 * MIB  # one array's data (an honest result is a few KiB)
MAX_KEYS = 64  # values in one result (the unpack probe sends 33)
MAX_KEY = 100  # characters of a key
MAX_TEXT = 2000  # characters of a string value or a message
MAX_DIMS = 8
MAX_GUARDED = 16  # entries of a result's guard record
MAX_ERROR = 500  # characters of an error's message
MAX_KEPT = 16 * MIB  # the results of one submission kept in memory, over all its attempts
ARRAY_KINDS = "biuf"  # bool, integers, floats: no objects, strings, structures or complex numbers
ERROR_KINDS = ("exception", "timeout", "crash", "memory", "missing")
EVENTS = ("ready", "setup", "cell", "probe", "result", "done")
STATUSES = ("start", "ok", "error", "timeout")


class ChannelError(ValueError):
    """A line that is not a valid event: the channel cannot be believed from here on."""


@dataclass
class Received:
    """One case's result as read from the channel: plain data or a ProbeError, and what the
    runtime guards recorded while its probe ran."""

    result: Result
    guarded: tuple[str, ...] = ()
    forged: bool = False

    @property
    def size(self) -> int:
        """Bytes it holds (arrays and strings), for the budget of what is kept."""
        if isinstance(self.result, ProbeError):
            return len(self.result.message) + 64
        return 64 + sum(v.nbytes if isinstance(v, np.ndarray) else len(v) if isinstance(v, str) else 8
                        for v in self.result.values())


def over_budget(received: Received) -> Received:
    return Received(ProbeError("bad-output", f"the results together exceed the {MAX_KEPT // MIB} MiB the grader "
                                             "keeps of one submission"), received.guarded)


@dataclass
class Attempt:
    events: list[dict] = field(default_factory=list)
    in_progress: tuple | None = None  # ("cell", i) or ("probe", grade_id, k) or ("startup",)
    returncode: int | None = None
    killed: str | None = None  # why the parent stopped it: "timeout", "hung", "flood", "broken"
    done: bool = False
    output: bytes = b""
    output_total: int = 0
    results: dict = field(default_factory=dict)  # (grade_id, k) -> Received
    broken: str = ""  # why the channel stopped being believed
    received_bytes: int = 0
    kept_bytes: int = 0  # of the results


# ----------------------------------------------------------------------------------- decoding


def _text(value, limit: int = MAX_TEXT) -> str:
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def decode_array(encoded: str) -> np.ndarray:
    """A ``.npy`` array from base64 text: header checked against the data first; raises ValueError."""
    if not isinstance(encoded, str) or len(encoded) > (MAX_ARRAY + 4096) * 4 // 3 + 8:
        raise ValueError("an array larger than the grader accepts")
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"not base64 ({exc})") from None
    buffer = io.BytesIO(raw)
    version = np.lib.format.read_magic(buffer)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(buffer, max_header_size=4096)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(buffer, max_header_size=4096)
    else:
        raise ValueError(f".npy version {version}")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in ARRAY_KINDS:
        raise ValueError(f"dtype {dtype}")
    if len(shape) > MAX_DIMS or any(not isinstance(n, int) or n < 0 for n in shape):
        raise ValueError(f"shape {shape}")
    count = math.prod(shape)
    offset = buffer.tell()
    if count * dtype.itemsize != len(raw) - offset or count * dtype.itemsize > MAX_ARRAY:
        raise ValueError(f"shape {shape} of {dtype} does not match {len(raw) - offset} bytes of data")
    array = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran else "C").copy()


def _value(item) -> object:
    if not isinstance(item, dict):
        raise ValueError("a value that is not an object")
    if item.get("type") == "json":
        value = item.get("value")
        if isinstance(value, str):
            return _text(value)
        if isinstance(value, bool) or value is None or isinstance(value, float):
            return value
        if isinstance(value, int):
            if abs(value) >= 2**63:
                raise ValueError("an integer out of range")
            return value
        raise ValueError("a value that is not plain data")
    if item.get("type") == "npy":
        return decode_array(item.get("b64"))
    raise ValueError("a value of an unknown type")


def read_result(event: dict) -> Received:
    """One result event (already known to be for a case of this job) as plain data or a ProbeError;
    what is not plain data within the bounds becomes a ``bad-output`` ProbeError."""
    guarded = event.get("guard", [])
    if not isinstance(guarded, list) or len(guarded) > MAX_GUARDED:
        guarded = ["an unreadable guard record"]
    guarded = tuple(_text(g, 200) for g in guarded)
    if event.get("kind") == "error":
        kind = event.get("error_kind")
        kind = kind if kind in ERROR_KINDS else "exception"
        return Received(ProbeError(kind, _text(event.get("message", ""), MAX_ERROR)), guarded)
    try:
        values = event.get("values")
        if not isinstance(values, dict) or len(values) > MAX_KEYS:
            raise ValueError(f"more than {MAX_KEYS} values, or none")
        out = {}
        for key, item in values.items():
            if len(key) > MAX_KEY:
                raise ValueError("a key too long")
            out[key] = _value(item)
        return Received(out, guarded)
    except Exception as exc:  # noqa: BLE001 - whatever is wrong, it is the sandbox's data that is bad
        return Received(ProbeError("bad-output", _text(f"the result could not be read as plain data ({exc})", 300)),
                        guarded)


def parse_event(line: bytes) -> dict:
    """One line as an event with the fields the parent relies on checked; raises ChannelError."""
    try:
        event = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise ChannelError(f"a line that is not JSON ({_text(exc, 80)})") from None
    if not isinstance(event, dict) or event.get("ev") not in EVENTS:
        raise ChannelError("a line that is not an event of the runner")
    kind = event["ev"]
    if kind in ("cell", "probe") and event.get("status") not in STATUSES:
        raise ChannelError(f"a {kind} event with an unknown status")
    if kind == "cell" and not (isinstance(event.get("i"), int) and not isinstance(event.get("i"), bool)):
        raise ChannelError("a cell event without a cell index")
    if kind in ("probe", "result"):
        if not isinstance(event.get("g"), str) or len(event["g"]) > MAX_KEY:
            raise ChannelError(f"a {kind} event without a test id")
        if not (isinstance(event.get("k"), int) and not isinstance(event.get("k"), bool) and 0 <= event["k"] < 10_000):
            raise ChannelError(f"a {kind} event without a case number")
    for key in ("error", "message"):
        if key in event:
            event[key] = _text(event[key], MAX_ERROR)
    return event


# ------------------------------------------------------------------------------------- reading


def drain(stream, limit: int, into: Attempt) -> None:
    """Read the runner's printed output to its end, keeping the first ``limit`` bytes."""
    kept = bytearray()
    total = 0
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            break
        total += len(chunk)
        if len(kept) < limit:
            kept += chunk[: limit - len(kept)]
    into.output, into.output_total = bytes(kept), total


def max_events(cells: dict, probes: dict) -> int:
    """The most events an honest run of the job sends (generously): start and end of every cell,
    start, result and end of every case of every probe, and a few more."""
    return 64 + 4 * len(cells) + 8 * 64 * max(1, len(probes))


class _Reader:
    """Events from one attempt's channel, applied to the attempt as they arrive."""

    def __init__(self, attempt: Attempt, limits, cells: dict[int, float], probes: dict[str, float]) -> None:
        self.attempt, self.limits, self.cells, self.probes = attempt, limits, cells, probes
        self.window: tuple[str, int] | None = None  # the case whose probe is running
        self.in_window = 0
        self.events = 0
        self.limit = max_events(cells, probes)
        self.limit_at = time.monotonic() + limits.startup_s

    def line(self, line: bytes) -> None:
        self.events += 1
        if self.events > self.limit:
            raise ChannelError(f"more than {self.limit} events")
        event = parse_event(line)
        attempt, now = self.attempt, time.monotonic()
        kind, status = event["ev"], event.get("status")
        if kind == "result":
            self.result(event)
            return
        if kind in ("setup", "cell", "done", "ready"):
            attempt.events.append({k: event[k] for k in ("ev", "status", "i", "error") if k in event})
        if kind == "ready":
            attempt.in_progress, self.limit_at = ("setup",), now + self.limits.startup_s
        elif kind == "cell" and status == "start" and event["i"] in self.cells:
            attempt.in_progress = ("cell", event["i"])
            self.limit_at = now + self.cells[event["i"]] + 2.0
        elif kind == "probe" and status == "start":
            if event["g"] not in self.probes:
                raise ChannelError("a probe of a test the job does not have")
            attempt.in_progress = ("probe", event["g"], event["k"])
            self.window, self.in_window = (event["g"], event["k"]), 0
            self.limit_at = now + self.probes[event["g"]] + 2.0
        elif kind == "done":
            attempt.done, attempt.in_progress, self.window = True, None, None
            self.limit_at = now + self.limits.gap_s
        elif status is not None:
            if kind == "probe":
                self.window = None
            attempt.in_progress, self.limit_at = ("between",), now + self.limits.gap_s

    def result(self, event: dict) -> None:
        key = (event["g"], event["k"])
        if key[0] not in self.probes:
            raise ChannelError("a result of a test the job does not have")
        results = self.attempt.results
        if self.window != key or self.in_window or key in results:
            why = ("arrived outside the run of its test" if self.window != key
                   else "came twice for one case")
            results[key] = Received(ProbeError("bad-output", f"a result {why}: a forgery on the grader's channel"),
                                    forged=True)
            return
        self.in_window += 1
        received = read_result(event)
        if self.attempt.kept_bytes + received.size > MAX_KEPT:
            received = over_budget(received)
        self.attempt.kept_bytes += received.size
        results[key] = received


def watch(read_fd: int, attempt: Attempt, limits, cells: dict[int, float], probes: dict[str, float],
          deadline: float, ended) -> None:
    """Read the runner's events until the channel closes; stop (set ``attempt.killed``) when the cell
    or probe in progress overruns its limit, or when the channel floods or breaks. ``ended(timeout)``
    waits for the runner to exit. Linear in the bytes read; keeps at most one line of them."""
    reader = _Reader(attempt, limits, cells, probes)
    selector = selectors.DefaultSelector()
    selector.register(read_fd, selectors.EVENT_READ)
    buffer = bytearray()
    scanned = 0  # bytes of ``buffer`` known to hold no newline
    try:
        while True:
            now = time.monotonic()
            stop_at = min(reader.limit_at, deadline)
            if now >= stop_at:
                attempt.killed = "timeout"
                return
            if not selector.select(timeout=stop_at - now):
                continue
            chunk = os.read(read_fd, 65536)
            if not chunk:  # the runner exited (or closed the channel): give it a moment to finish
                if not ended(min(5.0, max(0.1, deadline - time.monotonic()))):
                    attempt.killed = "timeout" if time.monotonic() >= deadline else "hung"
                return
            attempt.received_bytes += len(chunk)
            if attempt.received_bytes > limits.results_bytes:
                attempt.killed, attempt.broken = "flood", f"more than {limits.results_bytes // MIB} MiB on the channel"
                return
            buffer += chunk
            start = 0
            while True:
                end = buffer.find(b"\n", max(start, scanned))
                if end < 0:
                    break
                try:
                    reader.line(bytes(buffer[start:end]))
                except ChannelError as exc:
                    attempt.killed, attempt.broken = "broken", str(exc)
                    return
                start = end + 1
            del buffer[:start]
            scanned = len(buffer)
            if len(buffer) > MAX_LINE:
                attempt.killed, attempt.broken = "broken", f"a line longer than {MAX_LINE // MIB} MiB"
                return
    finally:
        selector.close()


__all__ = ["Attempt", "ChannelError", "MAX_KEPT", "MAX_LINE", "Received", "decode_array", "drain", "over_budget",
           "parse_event", "read_result", "watch"]
