"""Kernel 3b: a persistent GRU layer with W_hh split across programs and a grid barrier per step.

:mod:`gated.kernels.persistent` keeps all of W_hh in one program, which caps H at 128. Here W_hh's rows
are split over P programs, as in Diamos et al. 2016 and FlashRNN: program p owns the hidden units
j ∈ [p·BLOCK_J, (p+1)·BLOCK_J) and the rows of W_hh that produce them, three (H × BLOCK_J) tiles (one per
gate, transposed for ``tl.dot``), loaded once and kept on chip for all T steps. Each step it reads the
whole h_{t−1} (B × H), computes its BLOCK_J columns of r, z, n and h_t, writes them into the output
(which doubles as the exchange buffer: step t writes ``out[t]`` and reads ``out[t−1]``, so nothing a
program still reads is ever overwritten), and then waits at a grid-wide barrier until every program
has published its slice of h_t. One barrier per step suffices for that reason.

The barrier is a counter in global memory that only grows. After writing h_t, each program
synchronises its own threads, adds 1 with release semantics at GPU scope (its stores become visible
before the count does), does independent work (it loads GI_{t+1}), then polls the count until it
reaches (t+1)·P, and reads out[t] bypassing L1 (``.cg``) so no stale line is seen. The poll is written
as an atomic read-modify-write, an add of 0 with acquire semantics at GPU scope; Triton's NVIDIA
backend lowers an acquire add of zero to an acquire load, so the PTX (Triton 3.9, sm_90:
:func:`inspect_compiled`) polls with ``ld.global.gpu.acquire.b32``, issued by one thread of the program,
which passes the value to the others through shared memory. A poll limit turns a deadlock into an
error flag that the wrapper raises, instead of a hung GPU (after one timeout a program stops waiting,
so the launch ends within one limit).

On-chip budget and memory traffic (:func:`gated.gpu_model.split_persistent_budget` gives the numbers).
W_hh holds 3H² elements, 6 MiB in bfloat16 at H = 1024: far more than one SM holds, so the split needs
at least :func:`gated.gpu_model.split_programs_needed` programs even if each filled its SM's shared
memory. With BLOCK_J = 16 (the smallest block ``tl.dot`` accepts) it launches H/16 programs, 64 at
H = 1024, each holding 3·H·16 weights. After the first load W_hh never travels from HBM again; per step
each program reads B·H elements of h_{t−1} and 3·B·BLOCK_J of GI from global memory (L2) and writes
B·BLOCK_J of h_t. Compiled for sm_90 (Triton 3.9; :func:`inspect_compiled`, no GPU needed), the slice
sits in shared memory and is re-read with ``ldmatrix`` every step, and h_{t−1} is staged there too, so
one program needs :func:`split_smem_bytes`; a launch that needs more than one program may use
(:data:`MAX_SMEM_BYTES`) is refused. How fast any of this runs has not been measured.

Correctness of the barrier depends on every program being resident at once: the grid must not exceed
the number of SMs (one program per SM at most; the wrapper refuses more on CUDA), and no other kernel
may hold the SMs the launch needs. Under Triton's interpreter programs run one after another, so a
barrier across programs would wait forever: there the wrapper runs ONE program over the whole sequence
(or many programs for ONE step, where no barrier is reached), and refuses many programs with T > 1.
"""
from __future__ import annotations

import gated  # noqa: F401  (sets TRITON_INTERPRET=1 before triton is imported when there is no GPU)

import torch
import triton
import triton.language as tl
from torch import Tensor

from gated import cells, gpu_model
from gated.device import kernel_backend
from gated.kernels.persistent import load_gate_biases, load_gate_weights_t
from gated.kernels.pointwise import gru_pointwise_math, load_gate_blocks
from gated.kernels.stepwise import input_projection, run_gru_layers

MAX_BATCH = 64
"""Largest batch: every program holds all batch rows (the issue's target is B ≤ 64)."""
MAX_SPINS = 1 << 22
"""Polls of the barrier counter before a program gives up and raises the timeout flag (≫ any real wait)."""
MAX_SMEM_BYTES = gpu_model.H200_SXM.smem_per_block
"""Shared memory one program may use (the per-block opt-in limit of a Hopper GPU, from the model)."""


@triton.jit
def _grid_arrive(sync_ptr):
    """Announce that this program's stores are done: CTA barrier, then +1 with release at GPU scope."""
    tl.debug_barrier()  # every thread of the program has issued its stores of h_t
    tl.atomic_add(sync_ptr, 1, sem="release", scope="gpu")


@triton.jit
def _grid_wait(sync_ptr, target, MAX_POLLS: tl.constexpr):
    """Poll the counter (an acquire add of 0 at GPU scope) until it reaches ``target``, at most
    MAX_POLLS polls.

    Returns 1 if the barrier was passed, 0 if it timed out.
    """
    seen = tl.atomic_add(sync_ptr, 0, sem="acquire", scope="gpu")
    polls = 0
    while (seen < target) & (polls < MAX_POLLS):
        seen = tl.atomic_add(sync_ptr, 0, sem="acquire", scope="gpu")
        polls += 1
    tl.debug_barrier()  # no thread reads h_t before the counter said it was complete
    return (seen >= target).to(tl.int32)


# Block shapes: (BLOCK_B, BLOCK_K) for the whole h_{t−1} that every program reads (BLOCK_K ≥ H);
# (BLOCK_K, BLOCK_J) for each of the three weight tiles of the program's slice; (BLOCK_B, BLOCK_J) for
# its gates and its columns of h_t. Program p owns hidden units p·BLOCK_J … p·BLOCK_J + BLOCK_J − 1.
@triton.jit
def gru_split_kernel(
    gi_ptr, w_ptr, b_ptr, h0_ptr, out_ptr, sync_ptr,
    T, B, H,
    stride_gi_t, stride_gi_b, stride_w, stride_h0, stride_out_t, stride_out_b,
    HAS_BIAS: tl.constexpr, GRID_SYNC: tl.constexpr,
    BLOCK_B: tl.constexpr, BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr,
    INPUT_PRECISION: tl.constexpr, MAX_POLLS: tl.constexpr,
):
    programs = tl.num_programs(0)
    rows = tl.arange(0, BLOCK_B)[:, None]
    cols = tl.program_id(0) * BLOCK_J + tl.arange(0, BLOCK_J)[None, :]   # this program's hidden units
    ks = tl.arange(0, BLOCK_K)                                          # all hidden units
    mask = (rows < B) & (cols < H)
    mask_all = (rows < B) & (ks[None, :] < H)

    # This program's slice of W_hh and b_hh: loaded once, kept on chip for all T steps.
    w_r, w_z, w_n = load_gate_weights_t(w_ptr, H, stride_w, ks[:, None], cols)
    b_r, b_z, b_n = load_gate_biases(b_ptr, H, cols, HAS_BIAS, BLOCK_J)

    h_all = tl.load(h0_ptr + rows * stride_h0 + ks[None, :], mask=mask_all, other=0.0).to(w_r.dtype)
    h_own = tl.load(h0_ptr + rows * stride_h0 + cols, mask=mask, other=0.0).to(tl.float32)
    gi_r, gi_z, gi_n = load_gate_blocks(gi_ptr + rows * stride_gi_b + cols, H, mask)
    in_step = tl.full((), 1, tl.int32)  # 0 after a barrier timed out: later waits are skipped

    for t in range(T):
        gh_r = tl.dot(h_all, w_r, input_precision=INPUT_PRECISION) + b_r
        gh_z = tl.dot(h_all, w_z, input_precision=INPUT_PRECISION) + b_z
        gh_n = tl.dot(h_all, w_n, input_precision=INPUT_PRECISION) + b_n
        h_own = gru_pointwise_math(gi_r, gi_z, gi_n, gh_r, gh_z, gh_n, h_own)
        # Publish this program's columns of h_t; padded columns and rows are never stored.
        tl.store(out_ptr + t * stride_out_t + rows * stride_out_b + cols,
                 h_own.to(out_ptr.dtype.element_ty), mask=mask)
        if t + 1 < T:  # after the last step nobody reads h_T inside the kernel: no barrier
            if GRID_SYNC:
                _grid_arrive(sync_ptr)
            # GI_{t+1} does not depend on h: loaded while the other programs are still arriving.
            gi_r, gi_z, gi_n = load_gate_blocks(gi_ptr + (t + 1) * stride_gi_t + rows * stride_gi_b + cols,
                                                H, mask)
            if GRID_SYNC:
                if in_step != 0:
                    in_step = _grid_wait(sync_ptr, (t + 1) * programs, MAX_POLLS)
            h_all = tl.load(out_ptr + t * stride_out_t + rows * stride_out_b + ks[None, :],
                            mask=mask_all, other=0.0, cache_modifier=".cg").to(w_r.dtype)
    if in_step == 0:
        tl.atomic_add(sync_ptr + 1, 1)  # a timed-out barrier: the wrapper raises


def split_block_sizes(batch: int, hidden: int, programs: int) -> tuple[int, int, int]:
    """(BLOCK_B, BLOCK_J, BLOCK_K) for ``programs`` slices: ``tl.dot`` on a GPU needs every block ≥ 16."""
    if batch > MAX_BATCH:
        raise ValueError(f"the split persistent kernel holds all batch rows in every program and accepts "
                         f"batch ≤ {MAX_BATCH}, got {batch}")
    if not 1 <= programs <= hidden:
        raise ValueError(f"expected 1 ≤ programs ≤ hidden_size = {hidden}, got {programs}")
    block_j = max(16, triton.next_power_of_2(triton.cdiv(hidden, programs)))
    return max(16, triton.next_power_of_2(batch)), block_j, max(16, triton.next_power_of_2(hidden))


def split_smem_bytes(batch: int, hidden: int, programs: int, dtype: torch.dtype) -> int:
    """Shared memory one program needs once compiled: its three weight tiles (BLOCK_K × BLOCK_J) and
    the staged h_{t−1} (BLOCK_B × BLOCK_K), in the weights' dtype. Triton 3.9 for sm_90 allocates
    exactly this for the sizes in ``bench/NOTES.md`` (see :func:`inspect_compiled`)."""
    block_b, block_j, block_k = split_block_sizes(batch, hidden, programs)
    return (3 * block_k * block_j + block_b * block_k) * torch.empty((), dtype=dtype).element_size()


def programs_for_sms(hidden: int, sms: int) -> int:
    """One program per 16 hidden units (the smallest ``tl.dot`` block), but never more than ``sms``,
    so that all programs can be resident at once."""
    programs = triton.cdiv(hidden, 16)
    while programs > sms:  # wider slices until the grid fits the SMs
        programs = triton.cdiv(hidden, 2 * triton.cdiv(hidden, programs))
    return programs


def default_programs(hidden: int, backend: str | None = None, device: torch.device | None = None) -> int:
    """How many programs to launch: one (all of H) under the interpreter; on CUDA
    :func:`programs_for_sms` with the GPU's SM count."""
    if (backend or kernel_backend()) != "cuda":
        return 1
    sms = torch.cuda.get_device_properties(device or torch.cuda.current_device()).multi_processor_count
    return programs_for_sms(hidden, sms)


def _check_launch(programs: int, steps: int, grid_sync: bool, device: torch.device, smem: int) -> None:
    if programs > 1 and steps > 1 and not grid_sync:
        raise ValueError(f"{programs} programs over T = {steps} steps need the grid barrier "
                         f"(grid_sync=True): every program reads all of h_(t-1)")
    if device.type != "cuda":
        if kernel_backend() == "interpreter" and programs > 1 and steps > 1:
            raise ValueError(
                f"under Triton's interpreter programs run one after another, so a grid barrier across "
                f"{programs} programs would never be passed with T = {steps} > 1; run one program "
                f"(programs=1) for the whole sequence, or many programs for T = 1")
        return
    if smem > MAX_SMEM_BYTES:
        raise ValueError(f"each program needs {smem // 1024} KiB of shared memory (its W_hh slice and h), "
                         f"more than the {MAX_SMEM_BYTES // 1024} KiB one program may use")
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    if programs > sms:
        raise ValueError(f"{programs} programs exceed the {sms} SMs of {torch.cuda.get_device_name(device)}:"
                         f" the grid barrier needs every program resident at once (one per SM at most)")


def gru_layer_split(x: Tensor, h0: Tensor, weight_ih: Tensor, weight_hh: Tensor,
                    bias_ih: Tensor | None, bias_hh: Tensor | None, programs: int | None = None,
                    grid_sync: bool | None = None, input_precision: str = "ieee",
                    num_warps: int | None = None, check_barrier: bool = True) -> Tensor:
    """One GRU layer, one launch, W_hh split over ``programs``. x: (T, B, I), h0: (B, H) -> (T, B, H).

    ``programs`` defaults to :func:`default_programs` (1 under the interpreter; ⌈H/16⌉ capped at the
    SM count on CUDA). ``grid_sync`` (default: on when more than one program) compiles the grid barrier
    in; without it, many programs are allowed only for T = 1. On CUDA the grid may not exceed the
    SMs: every program must be resident at once, or the barrier deadlocks (it then times out and this
    function raises; ``check_barrier=False`` skips that check, which costs a device-to-host copy and
    a synchronisation, for timing). ``input_precision`` as in
    :func:`gated.kernels.persistent.gru_layer_persistent`.
    """
    cells._check_state(h0, weight_hh, 3, what="h0")
    steps, batch, _ = x.shape
    hidden = weight_hh.shape[1]
    if programs is None:
        programs = default_programs(hidden, "cuda" if x.is_cuda else "interpreter", x.device)
    block_b, block_j, block_k = split_block_sizes(batch, hidden, programs)
    programs = triton.cdiv(hidden, block_j)  # power-of-two slices may need fewer programs than asked
    grid_sync = programs > 1 if grid_sync is None else grid_sync
    _check_launch(programs, steps, grid_sync, x.device,
                  split_smem_bytes(batch, hidden, programs, weight_hh.dtype))
    out, sync = _launch_split(input_projection(x, weight_ih, bias_ih), h0, weight_hh, bias_hh,
                              programs, grid_sync, input_precision, num_warps)
    if check_barrier and grid_sync and programs > 1 and int(sync[1].item()) != 0:
        raise RuntimeError(f"the grid barrier timed out in {int(sync[1].item())} waits with {programs} "
                           f"programs: were they all resident at once? (see gated.kernels.persistent_split)")
    return out


def _launch_split(gi: Tensor, h0: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, programs: int,
                  grid_sync: bool, input_precision: str = "ieee", num_warps: int | None = None,
                  max_polls: int = MAX_SPINS) -> tuple[Tensor, Tensor]:
    """Launch the kernel on GI (T, B, 3H): returns h (T, B, H) and the barrier's [arrivals, timeouts]."""
    steps, batch, _ = gi.shape
    hidden = weight_hh.shape[1]
    block_b, block_j, block_k = split_block_sizes(batch, hidden, programs)
    programs = triton.cdiv(hidden, block_j)
    gi, w, h0 = gi.contiguous(), weight_hh.contiguous(), h0.contiguous()
    out = gi.new_empty(steps, batch, hidden)
    sync = torch.zeros(2, dtype=torch.int32, device=gi.device)  # [arrivals, timeouts]
    bias = bias_hh.contiguous() if bias_hh is not None else w  # any pointer; unused without bias
    if num_warps is None:
        num_warps = 8 if block_k * block_j >= 8192 else 4  # more threads share a large weight slice
    gru_split_kernel[(programs,)](
        gi, w, bias, h0, out, sync, steps, batch, hidden,
        gi.stride(0), gi.stride(1), w.stride(0), h0.stride(0), out.stride(0), out.stride(1),
        HAS_BIAS=bias_hh is not None, GRID_SYNC=grid_sync,
        BLOCK_B=block_b, BLOCK_J=block_j, BLOCK_K=block_k,
        INPUT_PRECISION=input_precision if w.dtype == torch.float32 else None,
        MAX_POLLS=max_polls, num_warps=num_warps,
    )
    return out, sync


def gru_persistent_split(x: Tensor, state_dict: dict[str, Tensor], h0: Tensor | None = None,
                         batch_first: bool = False, programs: int | None = None,
                         grid_sync: bool | None = None,
                         check_barrier: bool = True) -> tuple[Tensor, Tensor]:
    """Multi-layer GRU, one split persistent launch per layer; same call and result as ``nn.GRU``.

    x: (T, B, I) (or (B, T, I) if ``batch_first``), h0: (L, B, H) -> output (T, B, H), h_n (L, B, H).
    ``programs``, ``grid_sync`` and ``check_barrier`` as in :func:`gru_layer_split`.
    """
    def layer(x, h0, *params):
        return gru_layer_split(x, h0, *params, programs=programs, grid_sync=grid_sync,
                               check_barrier=check_barrier)

    return run_gru_layers(layer, x, state_dict, h0, batch_first)


# ------------------------------------------------------- what the compiler does with it, without a GPU


def inspect_compiled(batch: int, hidden: int, dtype: str = "bfloat16", programs: int | None = None,
                     arch: int = 90) -> dict[str, object]:
    """Compile the kernel for sm_``arch`` (no GPU needed) and report what the hardware would be given.

    The launch is the wrapper's own (:func:`_launch_split` with ``programs``, default ⌈H/16⌉, and
    T = 16, which Triton specialises as it does 512), captured by
    :func:`gated.kernels.offline_compile.capture_launches` and compiled by Triton. Returns the shared
    memory Triton allocates per program, the registers per thread and the bytes spilled (from
    ``ptxas -v``), the barrier's atomics in Triton's IR (what the source asks for) and its PTX
    instructions (what the hardware is given). Needs the compiled backend:
    run ``TRITON_INTERPRET=0 python -m gated.kernels.persistent_split`` on a machine without a GPU.
    Compile-time facts only: nothing here is a timing.
    """
    import re
    import subprocess
    import tempfile

    from triton import knobs

    from gated.kernels import offline_compile

    programs = triton.cdiv(hidden, 16) if programs is None else programs
    dt = getattr(torch, dtype)
    with offline_compile.capture_launches(arch) as launches:
        _launch_split(torch.zeros(16, batch, 3 * hidden, dtype=dt), torch.zeros(batch, hidden, dtype=dt),
                      torch.zeros(3 * hidden, hidden, dtype=dt), torch.zeros(3 * hidden, dtype=dt),
                      programs, grid_sync=True)
    compiled, _ = offline_compile.compile_captured(launches[0], arch)
    ptx = compiled.asm["ptx"]
    report = {"batch": batch, "hidden": hidden, "dtype": dtype,
              "programs": triton.cdiv(hidden, split_block_sizes(batch, hidden, programs)[1]),
              "num_warps": launches[0].num_warps, "shared bytes": compiled.metadata.shared,
              "predicted shared bytes": split_smem_bytes(batch, hidden, programs, dt),
              "barrier atomics in Triton IR": sorted(set(re.findall(r"tt\.atomic_rmw \w+, \w+, gpu",
                                                                    compiled.asm["ttir"]))),
              "barrier instructions": barrier_instructions(ptx),
              "h loads bypassing L1": len(re.findall(r"ld\.global\.cg", ptx)) > 0}
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/kernel.ptx"
        with open(path, "w") as handle:
            handle.write(ptx)
        tools = [getattr(knobs.nvidia, name, None) for name in ("ptxas_blackwell", "ptxas")]
        for tool in [t.path for t in tools if t is not None]:
            run = subprocess.run([tool, "-v", f"-arch=sm_{arch}a", path, "-o", f"{folder}/k.cubin"],
                                 capture_output=True, text=True)
            if run.returncode == 0:
                break
    registers = re.search(r"Used (\d+) registers", run.stderr)
    spills = re.search(r"(\d+) bytes spill stores", run.stderr)
    report["registers per thread"] = int(registers.group(1)) if registers else None
    report["spill store bytes"] = int(spills.group(1)) if spills else None
    return report


def barrier_instructions(ptx: str) -> list[str]:
    """The GPU-scope atomic and ordered memory instructions in a kernel's PTX (the barrier's arrive,
    poll and timeout count), each name once."""
    import re

    return sorted(set(re.findall(r"(?:red|atom|ld)\.global\.gpu\.(?:release|acquire|acq_rel)[\w.]*", ptx)))


if __name__ == "__main__":
    import json
    import warnings

    warnings.simplefilter("ignore")
    for batch, hidden, dtype in [(16, 256, "bfloat16"), (16, 1024, "bfloat16"), (64, 1024, "bfloat16"),
                                 (16, 512, "float32"), (16, 1024, "float32")]:
        print(json.dumps(inspect_compiled(batch, hidden, dtype)))
