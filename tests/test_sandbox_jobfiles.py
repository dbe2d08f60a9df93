"""A job's arrays travel as one file (``arrays.bin``) and an index in job.json: what the runner
reads back is what the grader wrote, fresh for every case, and a malformed index is refused."""
import json

import numpy as np
import pytest

from autograder import runner
from autograder.executors import Job


def _write(tmp_path, arrays):
    manifest = {"setup": "", "cells": [], "checks": [], "cell_timeout_s": 1.0}
    folder = Job(manifest, arrays, {}, {}).write(tmp_path / "job")
    return folder, json.loads((folder / "job.json").read_text())


def test_arrays_come_back_as_written(tmp_path):
    arrays = {"a.npy": np.arange(12, dtype=np.float64).reshape(3, 4),
              "fortran.npy": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
              "strided.npy": np.arange(10, dtype=np.int64)[::3],
              "scalar.npy": np.asarray(2.5),
              "empty.npy": np.zeros((0, 5)),
              "bool.npy": np.array([True, False, True]),
              "big-endian.npy": np.arange(4, dtype=">i4")}
    folder, doc = _write(tmp_path, arrays)
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.bin", "job.json"]
    loaded = runner.Arrays(str(folder), doc["arrays"])
    for name, want in arrays.items():
        got = loaded.get(name)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_every_case_gets_fresh_arrays(tmp_path):
    folder, doc = _write(tmp_path, {"x.npy": np.ones(3)})
    loaded = runner.Arrays(str(folder), doc["arrays"])
    first = loaded.get("x.npy")
    first[:] = 7.0  # what a probe's code may do to its inputs
    np.testing.assert_array_equal(loaded.get("x.npy"), np.ones(3))


def test_no_arrays_no_file(tmp_path):
    folder, doc = _write(tmp_path, {})
    assert runner.Arrays(str(folder), doc["arrays"]).index == {}
    assert runner.Arrays(str(tmp_path), {}).index == {}  # job.json without an index (older writers)


def test_object_arrays_are_never_written(tmp_path):
    with pytest.raises(ValueError, match="Python objects"):
        _write(tmp_path, {"o.npy": np.array([{"a": 1}], dtype=object)})


@pytest.mark.parametrize("change", [
    {"dtype": "|O"}, {"dtype": "[('a', '<f8')]"}, {"dtype": "(2,)<f8"}, {"dtype": "not a dtype"},
    {"offset": 8}, {"offset": -8}, {"length": 8}, {"shape": [4]}, {"shape": [-3]}, {"shape": [3.0]},
    {"offset": "0"}, {"shape": None}])
def test_a_malformed_index_is_refused(tmp_path, change):
    folder, doc = _write(tmp_path, {"x.npy": np.ones(3)})
    entry = {**doc["arrays"]["x.npy"], **change}
    with pytest.raises((ValueError, TypeError)):
        runner.Arrays(str(folder), {"x.npy": entry})


@pytest.mark.parametrize("index", [[], "x", {"x.npy": {}}])
def test_an_index_of_the_wrong_shape_is_refused(tmp_path, index):
    folder, _ = _write(tmp_path, {"x.npy": np.ones(3)})
    with pytest.raises((ValueError, TypeError, KeyError)):
        runner.Arrays(str(folder), index)
