"""The result channel (autograder.channel): every byte from the sandbox is untrusted, so reading is
bounded, linear and validated; a forged or malformed message is a zero with a reason, never a
crash and never a grade."""
from __future__ import annotations

import base64
import io
import json
import os
import resource
import threading
import time

import numpy as np
import pytest

from autograder import channel
from autograder.sandbox import Limits
from gated.checks.contract import ProbeError

CELLS = {0: 30.0, 1: 30.0}
PROBES = {"test_a": 30.0, "test_b": 30.0}


def _read(data: bytes, limits: Limits | None = None) -> tuple[channel.Attempt, float]:
    """Feed ``data`` to the channel reader through a pipe, as the runner would; (attempt, seconds)."""
    read_fd, write_fd = os.pipe()

    def write():
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view[:1 << 16]):]
        except BrokenPipeError:
            pass
        finally:
            os.close(write_fd)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    attempt = channel.Attempt(in_progress=("startup",))
    started = time.monotonic()
    try:
        channel.watch(read_fd, attempt, limits or Limits(), CELLS, PROBES, time.monotonic() + 60, lambda t: True)
    finally:
        os.close(read_fd)
    writer.join(timeout=10)
    return attempt, time.monotonic() - started


def _lines(*events) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)


def _npy(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return base64.b64encode(buffer.getvalue()).decode()


def _window(g: str, k: int, *results) -> list[dict]:
    return [{"ev": "probe", "g": g, "k": k, "status": "start"}, *results,
            {"ev": "probe", "g": g, "k": k, "status": "ok"}]


def _result(g: str, k: int, **values) -> dict:
    return {"ev": "result", "g": g, "k": k, "kind": "ok", "values": values}


def test_a_result_inside_its_window_is_read_as_plain_data():
    attempt, _ = _read(_lines({"ev": "ready"}, *_window("test_a", 0, _result(
        "test_a", 0, y={"type": "npy", "b64": _npy(np.arange(6.0).reshape(2, 3))}, n={"type": "json", "value": 3})),
        {"ev": "done"}))
    got = attempt.results[("test_a", 0)]
    assert not got.forged and got.result["n"] == 3 and got.result["y"].shape == (2, 3) and attempt.done


@pytest.mark.parametrize("events, why", [
    ([_result("test_a", 0)], "outside the run of its test"),
    (_window("test_b", 0, _result("test_a", 0)), "outside the run of its test"),
    (_window("test_a", 0, _result("test_a", 0), _result("test_a", 0)), "came twice"),
    ([_result("test_a", 0), *_window("test_a", 0, _result("test_a", 0))], "came twice"),
])
def test_a_forged_result_zeroes_its_case(events, why):
    attempt, _ = _read(_lines(*events))
    got = attempt.results[("test_a", 0)]
    assert got.forged and isinstance(got.result, ProbeError) and why in got.result.message


@pytest.mark.parametrize("line, why", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "not an event"),
    (json.dumps({"ev": "surprise"}).encode(), "not an event"),
    (json.dumps({"ev": "cell", "i": "0", "status": "start"}).encode(), "without a cell index"),
    (json.dumps({"ev": "probe", "g": "test_z", "k": 0, "status": "start"}).encode(), "does not have"),
    (json.dumps({"ev": "result", "g": "test_a", "k": -1}).encode(), "without a case number"),
    (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
])
def test_a_malformed_line_breaks_the_channel_with_a_reason(line, why):
    attempt, _ = _read(_lines(*_window("test_a", 0, _result("test_a", 0))) + line + b"\n" +
                       _lines(*_window("test_b", 0, _result("test_b", 0))))
    assert attempt.killed == "broken" and why in attempt.broken
    assert ("test_a", 0) in attempt.results and ("test_b", 0) not in attempt.results  # nothing after it


@pytest.mark.parametrize("value, why", [
    ({"type": "npy", "b64": "!!"}, "base64"),
    ({"type": "npy", "b64": base64.b64encode(b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, "
                                             b"'shape': (1000000000,), }" + b" " * 60 + b"\n").decode()}, "does not match"),
    ({"type": "npy", "b64": _npy(np.array(["a"]))}, "dtype"),
    ({"type": "npy", "b64": _npy(np.zeros(3, dtype=[("a", "<f8")]))}, "dtype"),
    ({"type": "npy", "b64": _npy(np.zeros(3, dtype=complex))}, "dtype"),
    ({"type": "npy", "b64": _npy(np.zeros(2**18))}, "larger than the grader accepts"),
    ({"type": "json", "value": [1, 2]}, "not plain data"),
    ({"type": "json", "value": 2**70}, "out of range"),
    ({"type": "pickle", "value": ""}, "unknown type"),
])
def test_a_value_that_is_not_plain_data_is_a_bad_output(value, why):
    attempt, _ = _read(_lines(*_window("test_a", 0, _result("test_a", 0, y=value))))
    got = attempt.results[("test_a", 0)].result
    assert isinstance(got, ProbeError) and got.kind == "bad-output" and why in got.message, got


def test_strings_and_messages_are_clipped():
    attempt, _ = _read(_lines(*_window("test_a", 0, _result("test_a", 0, s={"type": "json", "value": "x" * 10**6})),
                              *_window("test_b", 0, {"ev": "result", "g": "test_b", "k": 0, "kind": "error",
                                                     "error_kind": "made-up", "message": "y" * 10**6})))
    assert len(attempt.results[("test_a", 0)].result["s"]) <= channel.MAX_TEXT + 1
    error = attempt.results[("test_b", 0)].result
    assert error.kind == "exception" and len(error.message) <= channel.MAX_ERROR + 1


def test_too_many_events_break_the_channel():
    attempt, seconds = _read(_lines(*[{"ev": "cell", "i": 0, "status": "start"}] * 100_000))
    assert attempt.killed == "broken" and "events" in attempt.broken and seconds < 10


def test_an_endless_line_is_read_in_linear_time_and_bounded_memory():
    """64 MiB without a newline: the reader stops at the line limit, without quadratic re-scanning."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    attempt, seconds = _read(b"{" * (64 * 2**20))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # KiB
    assert attempt.killed == "broken" and "longer than" in attempt.broken
    assert seconds < 5 and grown < 64 * 1024, (seconds, grown)


def test_a_flood_of_bytes_is_cut_at_the_attempts_limit():
    attempt, seconds = _read(_lines(*[{"ev": "ready", "pad": "x" * 2**20}] * 8), Limits(results_bytes=2**20))
    assert attempt.killed == "flood" and seconds < 10


def test_what_is_kept_of_one_submission_has_a_budget():
    big = {"y": {"type": "npy", "b64": _npy(np.zeros(2**17 - 16))}}  # just under 1 MiB each
    events = [e for k in range(20) for e in _window("test_a", k, _result("test_a", k, **big))]
    attempt, _ = _read(_lines(*events))
    kept = [r for r in attempt.results.values() if isinstance(r.result, dict)]
    over = [r for r in attempt.results.values() if isinstance(r.result, ProbeError)]
    assert sum(r.size for r in kept) <= channel.MAX_KEPT and over and "exceed" in over[0].result.message
