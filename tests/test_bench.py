"""The benchmark harness: it labels where figures came from and keeps CPU figures out of the GPU records."""
from __future__ import annotations

import json

import pytest
import torch

from gated.kernels import benchmark as bench

TINY = bench.Case(batch=2, hidden=5, inputs=3, steps=3, dtype="float32")


def _record(backend: str, date: str, device: str = "NVIDIA H100 80GB HBM3") -> dict:
    return {"environment": {"backend": backend, "date": date, "device": device}, "results": []}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path")
def test_cpu_run_times_every_kernel_and_labels_it_interpreter():
    record = bench.run([TINY])
    env = record["environment"]
    assert env["backend"] == "interpreter" and "Triton interpreter" in env["device"]
    assert [row["kernel"] for row in record["results"]] == list(bench.IMPLEMENTATIONS)
    assert all(row["ms"] > 0 for row in record["results"]), record["results"]
    labels = {row["kernel"]: row["ran_on"] for row in record["results"]}
    assert labels["nn.GRU"] == "CPU (PyTorch)" and labels["persistent"] == "CPU (Triton interpreter)"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path")
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


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path")
def test_main_on_cpu_writes_nothing_into_the_records_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "cpu_grid", lambda: [TINY])
    monkeypatch.setattr(bench, "RECORDS", tmp_path / "records")
    out = tmp_path / "cpu.json"
    assert bench.main(["--kernels", "nn.GRU", "minGRU scan", "--json", str(out)]) == 0
    assert not (tmp_path / "records").exists()
    assert json.loads(out.read_text())["environment"]["backend"] == "interpreter"
    assert "no GPU figures" in capsys.readouterr().out


# ------------------------------------------------------------------------------- the GPU model

from gated import gpu_model  # noqa: E402


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
    device = gpu_model.H100_SXM
    assert model["compute floor µs"] == pytest.approx(model["FLOPs"] / device.peak_flops["bfloat16"] * 1e6)
    assert model["stepwise launch floor µs"] == pytest.approx(2 * 512 * device.launch_s * 1e6)
    assert model["recurrent FLOPs per W_hh byte"] == 16
