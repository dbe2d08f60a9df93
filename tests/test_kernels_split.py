"""The split-H persistent GRU kernel (gated.kernels.persistent_split) against nn.GRU, in float32.

Under Triton's interpreter programs run one after another, so a grid barrier across programs can never
be passed. The kernel is tested there in the two forms that need no such barrier: ONE program over the
whole sequence (the time loop, the on-chip weights, the barrier code with a single arrival), and MANY
programs over ONE step (the row partitioning of W_hh, the masks and the publishing of each slice).
H = 40 with 3 programs of 16 units leaves the last program half masked. On a CUDA device the full
kernel (many programs, many steps, the barrier) is tested as well.
"""
from __future__ import annotations

import pytest
import torch

from kernel_checks import DEVICE, _true_float32_on_cuda, relative_error  # noqa: F401 (autouse fixture)
from gated import gpu_model
from gated.device import kernel_backend
from gated.kernels import persistent_split as split

INTERPRETER = kernel_backend() == "interpreter"
RTOL = 1e-5


def _case(steps: int, batch: int, inputs: int, hidden: int, layers: int = 1, bias: bool = True,
          batch_first: bool = False):
    torch.manual_seed(0)
    gru = torch.nn.GRU(inputs, hidden, num_layers=layers, bias=bias, batch_first=batch_first).to(DEVICE)
    g = torch.Generator().manual_seed(1)
    shape = (batch, steps, inputs) if batch_first else (steps, batch, inputs)
    x, h0 = torch.randn(shape, generator=g), torch.randn(layers, batch, hidden, generator=g)
    return gru, x.to(DEVICE), h0.to(DEVICE)


def _check_against_nn_gru(gru, x, h0, batch_first=False, **launch):
    with torch.no_grad():
        want_out, want_h = gru(x, h0)
        got_out, got_h = split.gru_persistent_split(x, gru.state_dict(), h0, batch_first=batch_first,
                                                    **launch)
    assert got_out.shape == want_out.shape and got_h.shape == want_h.shape
    assert relative_error(got_out, want_out) < RTOL
    assert relative_error(got_h, want_h) < RTOL


@pytest.mark.parametrize("grid_sync", [True, False])
def test_one_program_over_the_whole_sequence_matches_nn_gru(grid_sync):
    gru, x, h0 = _case(steps=6, batch=3, inputs=4, hidden=40)
    _check_against_nn_gru(gru, x, h0, programs=1, grid_sync=grid_sync)


def test_one_program_matches_stacked_nn_gru_without_bias_batch_first():
    gru, x, h0 = _case(steps=5, batch=19, inputs=3, hidden=17, layers=2, bias=False, batch_first=True)
    _check_against_nn_gru(gru, x, h0, batch_first=True, programs=1)


@pytest.mark.parametrize("programs", [3, 2, 5])  # slices of 16, 32 and 16 (5 asked, 3 needed) units
def test_many_programs_over_one_step_match_nn_gru(programs):
    gru, x, h0 = _case(steps=1, batch=3, inputs=4, hidden=40)
    _check_against_nn_gru(gru, x, h0, programs=programs)


def test_one_program_arrives_at_the_barrier_after_every_step_but_the_last():
    torch.manual_seed(2)
    steps, batch, hidden = 6, 3, 40
    gi = 0.5 * torch.randn(steps, batch, 3 * hidden, device=DEVICE)
    w = torch.randn(3 * hidden, hidden, device=DEVICE) / hidden**0.5
    _, sync = split._launch_split(gi, torch.zeros(batch, hidden, device=DEVICE), w, None, 1, True)
    assert sync.tolist() == [steps - 1, 0]  # [arrivals, timeouts]


@pytest.mark.skipif(not INTERPRETER, reason="on a GPU all three programs are resident and pass")
@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")  # step 1 reads unwritten h
def test_barrier_that_cannot_be_passed_times_out_instead_of_hanging():
    torch.manual_seed(2)
    gi = 0.5 * torch.randn(2, 3, 120)
    w = torch.randn(120, 40) / 40**0.5
    _, sync = split._launch_split(gi, torch.zeros(3, 40), w, None, 3, True, max_polls=4)
    # Programs 0 and 1 run alone and give up; program 2 arrives last and finds the count complete.
    assert sync.tolist() == [3, 2]


@pytest.mark.skipif(not INTERPRETER, reason="checks the interpreter's refusal")
def test_interpreter_refuses_many_programs_over_many_steps():
    gru, x, h0 = _case(steps=2, batch=3, inputs=4, hidden=40)
    with pytest.raises(ValueError, match="under Triton's interpreter .* 3 programs .* T = 2"):
        split.gru_persistent_split(x, gru.state_dict(), h0, programs=3)


def test_many_programs_over_many_steps_need_the_barrier():
    gru, x, h0 = _case(steps=2, batch=3, inputs=4, hidden=40)
    with pytest.raises(ValueError, match=r"3 programs over T = 2 steps need the grid barrier"):
        split.gru_persistent_split(x, gru.state_dict(), h0, programs=3, grid_sync=False)


@pytest.mark.skipif(not INTERPRETER, reason="checks the interpreter's default")
def test_default_is_one_program_under_the_interpreter():
    assert split.default_programs(1024) == 1


def test_batch_beyond_the_limit_is_refused():
    with pytest.raises(ValueError, match=f"batch ≤ {split.MAX_BATCH}, got {split.MAX_BATCH + 1}"):
        split.split_block_sizes(split.MAX_BATCH + 1, 256, 16)


def test_shared_memory_estimate_matches_triton_for_sm90():
    """Triton 3.9 allocated these for sm_90 (``TRITON_INTERPRET=0 python -m
    gated.kernels.persistent_split``)."""
    assert split.split_smem_bytes(16, 1024, 64, torch.bfloat16) == 131072
    assert split.split_smem_bytes(64, 1024, 64, torch.bfloat16) == 229376
    assert split.split_smem_bytes(16, 1024, 64, torch.float32) == 262144 > split.MAX_SMEM_BYTES


def test_model_counts_the_programs_that_can_hold_w_hh():
    assert gpu_model.split_programs_needed(1024, "bfloat16") == 27   # 6 MiB / 228 KB
    assert gpu_model.split_programs_needed(1024, "float32") == 54
    budget = gpu_model.split_persistent_budget(1024, "bfloat16", columns=16)
    assert budget["programs"] == 64 and budget["slice bytes"] == 96 * 1024 and budget["fits the SMs"]


@pytest.mark.skipif(DEVICE != "cuda", reason="a barrier across programs needs them all resident: GPU only")
@pytest.mark.parametrize("hidden, programs", [(40, 3), (256, 16)])
def test_many_programs_over_many_steps_match_nn_gru_on_a_gpu(hidden, programs):
    gru, x, h0 = _case(steps=33, batch=5, inputs=7, hidden=hidden)
    _check_against_nn_gru(gru, x, h0, programs=programs)


@pytest.mark.skipif(DEVICE != "cuda", reason="bfloat16 tl.dot is wrong under the interpreter; GPU only")
def test_split_in_bfloat16_stays_close_to_nn_gru_in_float32():
    gru, x, h0 = _case(steps=32, batch=16, inputs=64, hidden=512)
    with torch.no_grad():
        want, _ = gru(x, h0)
        state = {k: v.bfloat16() for k, v in gru.state_dict().items()}
        got, _ = split.gru_persistent_split(x.bfloat16(), state, h0.bfloat16())
    assert relative_error(got.float(), want) < 3e-2


def test_bench_skips_the_split_where_a_program_would_exceed_shared_memory():
    from gated.kernels import benchmark as bench

    assert "exceed 227 KiB of shared memory" in bench.skip_reason(
        "persistent split", bench.Case(16, 1024, 1024, 512, "float32"))
    assert bench.skip_reason("persistent split", bench.Case(16, 1024, 1024, 512, "bfloat16")) is None


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="compiles for sm_90 through a stand-in "
                    "driver, for machines without a GPU; on a GPU the launches compile for real")
def test_kernel_compiles_for_sm90_with_the_barrier_and_predicted_shared_memory():
    """Triton's real compiler, not the interpreter, targeting sm_90 (no GPU needed): a fresh process.

    The poll is written as an atomic read-modify-write (add 0, acquire, GPU scope) and reaches Triton's
    IR as one; Triton's NVIDIA backend lowers that acquire add of zero to an acquire load."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json, warnings; warnings.simplefilter('ignore');"
            "from gated.kernels.persistent_split import inspect_compiled;"
            "print(json.dumps(inspect_compiled(16, 256, 'bfloat16')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TRITON_INTERPRET": "0"})
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["shared bytes"] == report["predicted shared bytes"] == 32768
    assert "tt.atomic_rmw add, acquire, gpu" in report["barrier atomics in Triton IR"]
    assert "red.global.gpu.release.add.u32" in report["barrier instructions"]
    assert "ld.global.gpu.acquire.b32" in report["barrier instructions"]
    assert not any(i.startswith("atom.global.gpu.acquire") for i in report["barrier instructions"])
    assert report["h loads bypassing L1"] and report["spill store bytes"] == 0
