"""The benchmark harness: it labels where figures came from and keeps CPU figures out of the GPU records;
the device script's dry run; the baseline's rule; the model's predictions in bench/NOTES.md."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gated import gpu_model
from gated.kernels import baseline
from gated.kernels import benchmark as bench

ROOT = Path(__file__).resolve().parent.parent
ON_CPU = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path")

TINY = bench.Case(batch=2, hidden=5, inputs=3, steps=3, dtype="float32")


def _record(backend: str, date: str, device: str = "NVIDIA H100 80GB HBM3") -> dict:
    return {"environment": {"backend": backend, "date": date, "device": device}, "results": []}


@ON_CPU
def test_cpu_run_times_every_kernel_and_labels_it_interpreter():
    record = bench.run([TINY])
    env = record["environment"]
    assert env["backend"] == "interpreter" and "Triton interpreter" in env["device"]
    assert [row["kernel"] for row in record["results"]] == list(bench.IMPLEMENTATIONS)
    assert all(row["ms"] > 0 for row in record["results"]), record["results"]
    labels = {row["kernel"]: row["ran_on"] for row in record["results"]}
    assert labels["nn.GRU"] == "CPU (PyTorch)" and labels["persistent"] == "CPU (Triton interpreter)"
    assert all(row["ms min"] <= row["ms"] <= row["ms max"] and row["calls"] == 5 for row in record["results"])
    assert record["complete"]


@ON_CPU
def test_cpu_run_records_the_rule_and_the_trace_of_nn_gru():
    row = bench.run([TINY], names=["nn.GRU"])["results"][0]
    assert row["algorithm by PyTorch's rule"].startswith("CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H (the rule on")
    assert row["profile"]["aten::_cudnn_rnn ran"] is False and row["profile"]["kernels"] == {}


@ON_CPU
def test_cpu_run_checks_gru_kernels_against_nn_gru():
    record = bench.run([TINY], names=["nn.GRU", "stepwise", "persistent"])
    errors = [row["rel_error_vs_nn.GRU"] for row in record["results"][1:]]
    assert len(errors) == 2 and max(errors) < 1e-5


def test_persistent_is_skipped_where_w_hh_does_not_fit_one_sm():
    record = bench.run([bench.Case(1, 129, 2, 1, "float32")], backend="interpreter", names=["persistent"])
    assert "does not fit one SM" in record["results"][0]["skipped"]


def test_write_record_refuses_a_record_not_measured_on_cuda(tmp_path):
    with pytest.raises(ValueError, match="GPU measurements only; this record's backend is 'interpreter'"):
        bench.write_record(_record("interpreter", "2026-01-01T00:00:00+00:00", "CPU"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_latest_record_is_the_newest_gpu_record_and_ignores_others(tmp_path):
    bench.write_record(_record("cuda", "2026-01-01T00:00:00+00:00"), tmp_path)
    newest = bench.write_record(_record("cuda", "2026-03-01T00:00:00+00:00"), tmp_path)
    (tmp_path / "zz-cpu.json").write_text(json.dumps(_record("interpreter", "2027-01-01T00:00:00+00:00")))
    assert bench.latest_record(tmp_path) == json.loads(newest.read_text())


def test_latest_record_is_none_without_records(tmp_path):
    assert bench.latest_record(tmp_path) is None


def test_a_passed_deadline_leaves_every_row_not_run():
    record = bench.run([TINY], backend="interpreter", names=["nn.GRU", "stepwise"],
                       deadline=time.monotonic() - 1)
    assert [row["not run"] for row in record["results"]] == ["the run's time budget was spent"] * 2
    assert not record["complete"]


def test_the_record_is_handed_over_after_every_case():
    seen = []
    bench.run([TINY, TINY], backend="interpreter", names=["nn.GRU"],
              after_case=lambda record: seen.append(len(record["results"])))
    assert seen == [1, 2]


def test_interleaved_rounds_time_each_call_per_call_and_pair_them_round_by_round():
    calls = []
    times = bench.interleaved_ms({"slow": lambda: (calls.append("slow"), time.sleep(0.002)),
                                  "fast": lambda: calls.append("fast")}, rounds=4, window_ms=5)
    assert [len(v) for v in times.values()] == [4, 4]
    assert all(slow >= 2.0 > fast for slow, fast in zip(times["slow"], times["fast"]))  # ms per call
    assert calls.count("fast") > 4 * calls.count("slow")  # short calls are repeated to fill the window


def test_write_record_in_a_dry_run_labels_it_and_never_writes_into_bench_records(tmp_path):
    record = _record("interpreter", "2026-01-01T00:00:00+00:00", "CPU")
    with pytest.raises(ValueError, match="a dry run never writes into bench/records"):
        bench.write_record(record, bench.RECORDS, dry_run=True)
    path = bench.write_record(record, tmp_path, dry_run=True)
    assert path.name.startswith("dry-run-")
    assert json.loads(path.read_text())["NOT A GPU RECORD"] == bench.DRY_RUN_LABEL
    assert bench.latest_record(tmp_path) is None


def test_latest_record_ignores_a_dry_run_even_if_it_claims_cuda(tmp_path):
    bench.write_record(_record("cuda", "2026-01-01T00:00:00+00:00"), tmp_path, dry_run=True)
    assert bench.latest_record(tmp_path) is None


@ON_CPU
def test_main_on_cpu_writes_nothing_into_the_records_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(bench.GRIDS, "cpu", lambda: [TINY])
    monkeypatch.setattr(bench, "RECORDS", tmp_path / "records")
    out = tmp_path / "cpu.json"
    assert bench.main(["--kernels", "nn.GRU", "minGRU scan", "--json", str(out)]) == 0
    assert not (tmp_path / "records").exists()
    assert json.loads(out.read_text())["environment"]["backend"] == "interpreter"
    assert "no GPU figures" in capsys.readouterr().out


@ON_CPU
def test_main_dry_run_writes_one_labelled_record_with_the_tests_summary(tmp_path, monkeypatch):
    monkeypatch.setitem(bench.GRIDS, "dry-run", lambda: [TINY])
    log = tmp_path / "tests.log"
    log.write_text("..\n2 passed in 0.1s\n")
    args = ["--dry-run", "--out", str(tmp_path / "out"), "--kernels", "nn.GRU", "persistent",
            "--tests-log", str(log), "--tests-status", "0"]
    assert bench.main(args) == 0
    [path] = (tmp_path / "out").iterdir()
    record = json.loads(path.read_text())
    assert record["NOT A GPU RECORD"] == bench.DRY_RUN_LABEL and record["complete"]
    assert record["tests"] == {"log": "tests.log", "summary": "2 passed in 0.1s", "exit status": 0}
    assert record["split kernel barrier instructions"].startswith("unavailable")


@ON_CPU
def test_dry_run_needs_a_folder_other_than_the_records(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--dry-run"])
    assert "needs --out" in capsys.readouterr().err


@ON_CPU
@pytest.mark.slow
def test_device_script_dry_run_runs_every_step_and_writes_a_labelled_record(tmp_path):
    """bench/gpu_run.sh --dry-run: tests, benchmark and record writer, on the CPU, into $OUT only."""
    before = sorted(p.name for p in bench.RECORDS.iterdir())
    run = subprocess.run(["bash", str(ROOT / "bench" / "gpu_run.sh"), "--dry-run"], capture_output=True,
                         text=True, timeout=600, env={**os.environ, "OUT": str(tmp_path),
                                                      "PYTHON": sys.executable})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    names = sorted(p.name for p in tmp_path.iterdir())
    [record_name] = [n for n in names if n.endswith(".json")]
    assert names == sorted(["bench.log", "gpu-run.log", "tests.log", "tests.xml", record_name])
    record = json.loads((tmp_path / record_name).read_text())
    assert record_name.startswith("dry-run-") and record["NOT A GPU RECORD"] == bench.DRY_RUN_LABEL
    assert record["tests"]["exit status"] == 0 and "passed" in record["tests"]["summary"]
    kernels = {row["kernel"] for row in record["results"] if "ms" in row}
    assert kernels == set(bench.IMPLEMENTATIONS) and record["complete"]
    assert sorted(p.name for p in bench.RECORDS.iterdir()) == before


def test_device_script_refuses_an_unknown_argument():
    run = subprocess.run(["bash", str(ROOT / "bench" / "gpu_run.sh"), "--bogus"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "usage: bench/gpu_run.sh [--dry-run]" in run.stderr


# ------------------------------------------------------------------------ the baseline and the model


@pytest.mark.parametrize("hidden, dtype, kw, want", [
    (192, "float32", {}, baseline.PERSIST_STATIC_SMALL_H),
    (256, "float32", {}, baseline.STANDARD),
    (128, "float64", {}, baseline.STANDARD),
    (128, "float32", {"packed": True}, baseline.STANDARD),
    (160, "float32", {"forward": False}, baseline.STANDARD),      # backward: H <= 128 only
    (128, "float32", {"major": 5}, baseline.STANDARD),
    (256, "float16", {}, baseline.STANDARD),                      # >= 8.0 with >= 98 SMs: no GRU
    (256, "float16", {"major": 7, "minor": 0}, baseline.PERSIST_STATIC),   # Volta, B = 16, T = 512
    (256, "float16", {"major": 7, "minor": 5}, baseline.STANDARD),          # Turing excluded
    (256, "bfloat16", {"bf16_in_cudnn": False}, baseline.NATIVE),
])
def test_nn_gru_algorithm_follows_pytorchs_get_algo(hidden, dtype, kw, want):
    kw = {"major": 9, **kw}
    assert baseline.nn_gru_algorithm(hidden, dtype, **kw) == want


def test_nn_gru_algorithm_names_both_cases_when_bf16_support_is_unknown():
    got = baseline.nn_gru_algorithm(128, "bfloat16", major=9)
    assert baseline.PERSIST_STATIC_SMALL_H in got and baseline.NATIVE in got


def test_profile_of_nn_gru_on_the_cpu_sees_no_cudnn_and_no_device_kernels():
    gru = torch.nn.GRU(3, 4)
    profile = baseline.profile_nn_gru(gru, torch.randn(2, 1, 3), torch.randn(1, 1, 4))
    assert profile == {"aten::_cudnn_rnn ran": False, "kernels": {}, "distinct kernels": 0,
                       "a kernel named persistent": False}


def test_notes_hold_the_predictions_the_model_makes_now():
    """bench/NOTES.md states the prediction for every kernel and size before the GPU run; it must be
    exactly what the model gives (regenerate with python -m gated.kernels.benchmark --predictions)."""
    assert bench.predictions_markdown() in (ROOT / "bench" / "NOTES.md").read_text()


def test_predictions_state_the_target_against_the_algorithm_nn_gru_runs():
    table = bench.predictions_markdown([bench.Case(16, 128, 128, 512, "float32"),
                                        bench.Case(16, 1024, 1024, 512, "float32")]).splitlines()[-2:]
    assert "| PERSIST_STATIC_SMALL_H | no slower |" in table[0]
    assert "| STANDARD | 1.5× faster |" in table[1]


def test_model_floor_of_the_split_spans_its_assumed_barrier_cost():
    lo, hi = bench.model_floor_ms("persistent split", bench.Case(16, 256, 256, 512, "bfloat16"))
    assert hi - lo == pytest.approx(511 * (gpu_model.BARRIER_S[1] - gpu_model.BARRIER_S[0]) * 1e3)
    assert bench.model_floor_ms("nn.GRU", bench.Case(16, 256, 256, 512, "bfloat16")) is None


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="compiles for sm_90 through a stand-in "
                    "driver, for machines without a GPU; on a GPU the launches compile for real")
def test_the_gpu_grid_compiles_for_sm90_without_a_gpu():
    """Every kernel the GPU run launches, captured on the CPU and compiled for sm_90 (a fresh process)."""
    code = ("import json, warnings; warnings.simplefilter('ignore');"
            "from gated.kernels import benchmark, offline_compile;"
            "rows = offline_compile.benchmark_variants([benchmark.Case(16, 128, 128, 512, 'bfloat16')]);"
            "print(json.dumps(rows))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "TRITON_INTERPRET": "0"}, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    rows = json.loads(run.stdout.strip().splitlines()[-1])
    assert {row["kernel"] for row in rows} == {"gru_pointwise_kernel", "gru_persistent_kernel",
                                               "gru_split_kernel", "mingru_sequential_kernel",
                                               "mingru_scan_kernel"}
    split = [row for row in rows if row["kernel"] == "gru_split_kernel"]
    assert split[0]["constants"]["BLOCK_J"] == 16 and split[0]["shared bytes"] == 16384


# ------------------------------------------------------------------------------- the GPU model


def test_model_counts_two_flops_per_multiply_add_of_both_products():
    flops = gpu_model.gru_layer_flops(batch=2, hidden=3, inputs=5, steps=7)
    assert flops["input projection"] == 2 * 7 * 2 * 5 * 9
    assert flops["recurrent"] == 2 * 7 * 2 * 3 * 9
    assert flops["total"] == flops["input projection"] + flops["recurrent"] + 23 * 7 * 2 * 3


def test_model_fewest_bytes_count_every_weight_of_nn_gru_once():
    params = sum(p.numel() for p in torch.nn.GRU(5, 3).parameters())
    io = 7 * 2 * 5 + 2 * 3 + 7 * 2 * 3  # x, h0, outputs
    assert gpu_model.gru_layer_min_bytes(2, 3, 5, 7, "float32") == 4 * (params + io)


def test_model_stepwise_traffic_exceeds_the_minimum_by_rereading_w_hh():
    fewest = gpu_model.gru_layer_min_bytes(16, 256, 256, 512, "bfloat16")
    stepwise = gpu_model.stepwise_bytes(16, 256, 256, 512, "bfloat16")
    assert stepwise > fewest + 511 * 3 * 256 * 256 * 2


def test_largest_hidden_one_sm_is_the_boundary_of_fits_one_sm():
    for dtype in ("float32", "bfloat16"):
        largest = gpu_model.largest_hidden_one_sm(dtype)
        assert gpu_model.fits_one_sm(largest, dtype) and not gpu_model.fits_one_sm(largest + 1, dtype)
    assert gpu_model.largest_hidden_one_sm("float32") == 139  # 3·H²·4 bytes ≤ 228 KiB


def test_model_floors_are_counts_over_datasheet_rates():
    model = gpu_model.gru_layer_model(16, 1024, 1024, 512, "bfloat16")
    device = gpu_model.H200_SXM
    assert model["compute floor µs"] == pytest.approx(model["FLOPs"] / device.peak_flops["bfloat16"] * 1e6)
    assert model["stepwise launch floor µs"] == pytest.approx(2 * 512 * device.launch_s * 1e6)
    assert model["recurrent FLOPs per W_hh byte"] == 16
