"""A model, not a measurement: the work of one GRU layer's forward pass and what it implies on a GPU.

For batch B, hidden size H, input size I and length T, count the floating-point operations, the fewest
bytes any implementation must move, and lower bounds on time from the device's peak rates, its kernel
launch cost and the T dependent steps. Every time here is a floor computed from datasheet figures;
real kernels are slower. Measured times live in ``bench/records/`` and come from a GPU only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}

# FLOPs per element of the state per step in the fused pointwise kernel, exp counted as one:
# r and z: an add and a sigmoid (neg, exp, add, div) each = 10; n: gi_n + r·gh_n = 2, tanh built from
# exp (abs, mul, exp, sub, add, div, select) = 7; h' = (1 − z)·n + z·h = 4.
POINTWISE_FLOPS = 23


@dataclass(frozen=True)
class Device:
    """Datasheet figures of a GPU (peak rates, not achieved ones), each with its source."""

    name: str
    compute_capability: tuple[int, int]
    sms: int
    smem_per_sm: int            # bytes of shared memory per SM
    smem_per_block: int         # bytes of shared memory one program (thread block) may use, opted in
    registers_per_sm: int       # bytes of register file per SM
    l2_bytes: int
    hbm_bytes_per_s: float
    peak_flops: dict[str, float]  # dense matrix-product peak by operand type
    boost_hz: float             # SM boost clock, to turn bytes per clock into bytes per second
    launch_s: float             # one kernel launch, as an assumption (not a datasheet figure)
    sources: dict[str, str] = field(default_factory=dict)


H100_SXM = Device(
    name="NVIDIA H100 SXM5 (datasheet figures)",
    compute_capability=(9, 0),
    sms=132,
    smem_per_sm=228 * 1024,
    smem_per_block=227 * 1024,
    registers_per_sm=256 * 1024,
    l2_bytes=50 * 1024**2,
    hbm_bytes_per_s=3.35e12,
    peak_flops={"bfloat16": 989e12, "float16": 989e12, "tf32": 495e12, "float32": 67e12},
    boost_hz=1.98e9,
    launch_s=4.5e-6,
    sources={
        "SMs, L2, HBM3 bandwidth, peak FLOP/s, boost clock": "NVIDIA H100 Tensor Core GPU datasheet "
                                                             "(SXM5, dense)",
        "shared memory and register file per SM, 227 KB per block": "NVIDIA Hopper Tuning Guide / "
                                                                    "H100 architecture whitepaper",
        "launch cost": "assumption: several µs per launch (about 4.5 µs for a cached Triton launch on "
                       "recent GPUs); a measured value belongs in a bench record",
    },
)

H200_SXM = Device(
    name="NVIDIA H200 SXM (datasheet figures)",
    compute_capability=H100_SXM.compute_capability,
    sms=H100_SXM.sms,
    smem_per_sm=H100_SXM.smem_per_sm,
    smem_per_block=H100_SXM.smem_per_block,
    registers_per_sm=H100_SXM.registers_per_sm,
    l2_bytes=H100_SXM.l2_bytes,
    hbm_bytes_per_s=4.8e12,
    peak_flops=H100_SXM.peak_flops,
    boost_hz=H100_SXM.boost_hz,
    launch_s=H100_SXM.launch_s,
    sources={
        "HBM3e bandwidth": "NVIDIA H200 Tensor Core GPU datasheet (SXM, 141 GB at 4.8 TB/s)",
        "SMs, shared memory, registers, L2, peak FLOP/s, boost clock": "the H100 SXM's: the same Hopper "
                                                                       "chip (H200 datasheet; see H100_SXM)",
        "launch cost": H100_SXM.sources["launch cost"],
    },
)
"""The GPU this workplace lends (one H200 SXM): the device of the predictions in ``bench/NOTES.md``."""


def gru_layer_flops(batch: int, hidden: int, inputs: int, steps: int) -> dict[str, int]:
    """FLOPs of one GRU layer's forward pass, by part (a multiply-add counts as 2)."""
    input_projection = 2 * steps * batch * inputs * 3 * hidden
    recurrent = 2 * steps * batch * hidden * 3 * hidden
    pointwise = POINTWISE_FLOPS * steps * batch * hidden
    return {"input projection": input_projection, "recurrent": recurrent, "pointwise": pointwise,
            "total": input_projection + recurrent + pointwise}


def gru_layer_min_bytes(batch: int, hidden: int, inputs: int, steps: int, dtype: str) -> int:
    """Fewest bytes any forward pass moves to and from memory: weights, x, h0 read once; outputs written once."""
    weights = 3 * hidden * (inputs + hidden + 2)
    return BYTES[dtype] * (weights + steps * batch * inputs + batch * hidden + steps * batch * hidden)


def stepwise_bytes(batch: int, hidden: int, inputs: int, steps: int, dtype: str) -> int:
    """Bytes moved by the stepwise (cuDNN-structured) layer: W_hh re-read and gates round-tripped every step."""
    s = BYTES[dtype]
    projection = s * (3 * hidden * inputs + steps * batch * inputs + steps * batch * 3 * hidden)
    per_step = s * (3 * hidden * hidden + batch * hidden + batch * 3 * hidden   # product: W_hh, h in; gh out
                    + batch * 7 * hidden + batch * hidden)                     # pointwise: gi, gh, h in; h' out
    return projection + steps * per_step


def fits_one_sm(hidden: int, dtype: str, device: Device = H200_SXM) -> bool:
    """Whether W_hh (3H² elements) fits in one SM's shared memory: the persistent kernel's condition."""
    return 3 * hidden * hidden * BYTES[dtype] <= device.smem_per_sm


def largest_hidden_one_sm(dtype: str, device: Device = H200_SXM) -> int:
    """Largest H with 3H² weights in one SM's shared memory."""
    return math.isqrt(device.smem_per_sm // (3 * BYTES[dtype]))


def gru_layer_model(batch: int, hidden: int, inputs: int, steps: int, dtype: str = "bfloat16",
                    device: Device = H200_SXM) -> dict[str, float]:
    """Floors on the time of one GRU layer's forward pass, in microseconds, with the counts behind them.

    * ``compute floor``: all FLOPs at the device's dense peak for ``dtype``;
    * ``memory floor``: the fewest bytes at the HBM bandwidth;
    * ``stepwise launch floor``: 2 launches per step (product, pointwise) times T, nothing else;
    * ``stepwise W_hh traffic``: W_hh re-read every step, at the HBM bandwidth (a pessimistic floor:
      3H² fits in L2, whose bandwidth is higher but not on the datasheet);
    * ``persistent step floor``: one program per 16 batch rows, so only ⌈B/16⌉ SMs do the recurrent
      product, each at 1/SMs of the peak (only meaningful when W_hh fits one SM).
    """
    flops = gru_layer_flops(batch, hidden, inputs, steps)
    peak = device.peak_flops[dtype]
    min_bytes = gru_layer_min_bytes(batch, hidden, inputs, steps, dtype)
    busy_sms = min(device.sms, math.ceil(batch / 16))
    us = 1e6
    return {
        "FLOPs": flops["total"],
        "recurrent FLOPs": flops["recurrent"],
        "min bytes": min_bytes,
        "stepwise bytes": stepwise_bytes(batch, hidden, inputs, steps, dtype),
        "recurrent FLOPs per W_hh byte": 2 * batch / BYTES[dtype],
        "device FLOPs per HBM byte": peak / device.hbm_bytes_per_s,
        "compute floor µs": flops["total"] / peak * us,
        "memory floor µs": min_bytes / device.hbm_bytes_per_s * us,
        "stepwise launch floor µs": 2 * steps * device.launch_s * us,
        "stepwise W_hh traffic µs": steps * 3 * hidden * hidden * BYTES[dtype] / device.hbm_bytes_per_s * us,
        "persistent fits one SM": fits_one_sm(hidden, dtype, device),
        "persistent recurrent floor µs": flops["recurrent"] / (peak * busy_sms / device.sms) * us,
    }


# ---------------------------------------------------------------- the split-H persistent kernel

SMEM_BYTES_PER_CLOCK = 128
"""Shared-memory bandwidth of one SM: 32 banks × 4 bytes per clock (CUDA C++ Programming Guide)."""
BARRIER_S = (1e-6, 2e-6)
"""ASSUMPTION, not a datasheet figure: one grid-wide barrier (atomic counter in L2, every program
spinning on it) costs about 1–2 µs on a Hopper GPU. A measured value belongs in a bench record."""


def split_programs_needed(hidden: int, dtype: str, budget_bytes: int | None = None,
                          device: Device = H200_SXM) -> int:
    """Fewest programs whose on-chip budget (default: one SM's shared memory) holds W_hh (3H² elements)."""
    budget = device.smem_per_sm if budget_bytes is None else budget_bytes
    return math.ceil(3 * hidden * hidden * BYTES[dtype] / budget)


def split_slice_bytes(hidden: int, columns: int, dtype: str) -> int:
    """Bytes of one program's slice of W_hh: ``columns`` hidden units × 3 gates × H inputs."""
    return 3 * hidden * columns * BYTES[dtype]


def split_persistent_budget(hidden: int, dtype: str, columns: int = 16,
                            device: Device = H200_SXM) -> dict[str, float]:
    """The on-chip budget of the split-H persistent kernel with ``columns`` hidden units per program.

    Returns W_hh's bytes, the programs the split launches (⌈H / columns⌉), each one's slice in bytes and
    as a fraction of one SM's shared memory and of its register file, and the fewest programs that
    could hold W_hh at all if each filled one SM's shared memory.
    """
    programs = math.ceil(hidden / columns)
    slice_bytes = split_slice_bytes(hidden, columns, dtype)
    return {
        "W_hh bytes": 3 * hidden * hidden * BYTES[dtype],
        "programs": programs,
        "fits the SMs": programs <= device.sms,
        "slice bytes": slice_bytes,
        "slice / SMEM": slice_bytes / device.smem_per_sm,
        "slice / registers": slice_bytes / device.registers_per_sm,
        "fewest programs (SMEM-full)": split_programs_needed(hidden, dtype, device=device),
    }


def dot_rows(batch: int) -> int:
    """Rows a ``tl.dot`` really multiplies for ``batch`` rows: a power of two, at least 16 on a GPU."""
    return max(16, 1 << max(0, batch - 1).bit_length())


def split_persistent_step_model(batch: int, hidden: int, dtype: str = "bfloat16", columns: int = 16,
                                barrier_s: float = BARRIER_S[0],
                                device: Device = H200_SXM) -> dict[str, float]:
    """A floor on one step of the split-H persistent kernel, in microseconds (a model, not a measurement).

    Per step each program multiplies h_{t−1} (B × H, padded to :func:`dot_rows` rows) by its W_hh slice
    (H × 3·columns) at 1/SMs of the dense peak, reads that slice from shared memory (W_hh never comes
    from HBM after the first step: the worst case, if it stays in registers this term vanishes), reads
    all of h_{t−1} (B·H elements), writes its B·columns outputs, and waits at one grid-wide barrier,
    whose cost ``barrier_s`` is an ASSUMPTION (:data:`BARRIER_S`). The step floor is
    max(product, SMEM read) + barrier. With ``columns = H`` and no barrier it is the one-program
    persistent kernel's step (:mod:`gated.kernels.persistent`).
    """
    s = BYTES[dtype]
    flops = 2 * dot_rows(batch) * hidden * 3 * columns
    per_sm_peak = device.peak_flops[dtype] / device.sms
    product_us = flops / per_sm_peak * 1e6
    smem_us = split_slice_bytes(hidden, columns, dtype) / (SMEM_BYTES_PER_CLOCK * device.boost_hz) * 1e6
    barrier_us = barrier_s * 1e6
    return {
        "product µs": product_us,
        "SMEM slice read µs": smem_us,
        "barrier µs (assumed)": barrier_us,
        "h read per program bytes": batch * hidden * s,
        "step floor µs": max(product_us, smem_us) + barrier_us,
    }


# ------------------------------------------------------------ floors of the benchmark's kernels


def input_projection_floor_us(batch: int, inputs: int, outputs: int, steps: int, dtype: str,
                              device: Device = H200_SXM) -> float:
    """The one product X W_ihᵀ (T·B × I by I × ``outputs``) that every kernel starts with, in µs: the
    larger of its FLOPs at the peak and its bytes (x and W read, the result written) at HBM bandwidth."""
    flops = 2 * steps * batch * inputs * outputs
    moved = BYTES[dtype] * (steps * batch * inputs + outputs * inputs + steps * batch * outputs)
    return max(flops / device.peak_flops[dtype], moved / device.hbm_bytes_per_s) * 1e6


def kernel_floor_us(kernel: str, batch: int, hidden: int, inputs: int, steps: int,
                    dtype: str = "bfloat16", barrier_s: float = BARRIER_S[0],
                    device: Device = H200_SXM) -> float:
    """A floor on one forward call of a kernel of :mod:`gated.kernels`, in µs (a model, not a measurement).

    Each is the input projection plus the kernel's own terms:

    * ``stepwise``: per step the larger of 2 launches and W_hh re-read from HBM;
    * ``persistent``: one launch, then per step :func:`split_persistent_step_model` with one program
      holding all H units of its 16 batch rows and no barrier (the programs of other rows run beside it);
    * ``persistent split``: one launch, per step the same model with 16 units per program, plus one
      barrier of ``barrier_s`` (ASSUMED, :data:`BARRIER_S`) after every step but the last;
    * ``minGRU sequential`` and ``minGRU scan``: one launch, P (T·B·2H) read and h (T·B·H) written at
      HBM bandwidth (the same for both: they differ in the length of their dependency chain, which this
      floor leaves out).
    """
    launch = device.launch_s * 1e6
    if kernel in ("minGRU sequential", "minGRU scan"):
        moved = BYTES[dtype] * steps * batch * 3 * hidden
        return (input_projection_floor_us(batch, inputs, 2 * hidden, steps, dtype, device) + launch
                + moved / device.hbm_bytes_per_s * 1e6)
    projection = input_projection_floor_us(batch, inputs, 3 * hidden, steps, dtype, device)
    if kernel == "stepwise":
        w_hh = 3 * hidden * hidden * BYTES[dtype] / device.hbm_bytes_per_s * 1e6
        return projection + steps * max(2 * launch, w_hh)
    if kernel == "persistent":
        step = split_persistent_step_model(min(batch, 16), hidden, dtype, columns=hidden, barrier_s=0.0,
                                           device=device)
        return projection + launch + steps * step["step floor µs"]
    if kernel == "persistent split":
        step = split_persistent_step_model(batch, hidden, dtype, columns=16, barrier_s=barrier_s, device=device)
        work = step["step floor µs"] - step["barrier µs (assumed)"]
        return projection + launch + steps * work + (steps - 1) * step["barrier µs (assumed)"]
    raise ValueError(f"no model for kernel {kernel!r}")
