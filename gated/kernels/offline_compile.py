"""Compile the course's kernels for a Hopper GPU (sm_90) on a machine that has none.

When a wrapper launches a kernel, Triton asks its active driver for the target, specialises the kernel
on the arguments (dtypes, constexprs, integers equal to 1 or divisible by 16) and compiles each new
specialisation once. :func:`capture_launches` hands Triton a stand-in driver that names sm_90 and a
cache hook that records each specialisation instead of compiling and launching it (the wrappers' outputs
stay unwritten); :func:`compile_captured` then compiles every distinct one with Triton's own compiler
and times it. This is how the device run's compile budget is sized without a GPU
(:func:`benchmark_variants`), and how :func:`gated.kernels.persistent_split.inspect_compiled` reads
the code the hardware would get. Compile times are this machine's; nothing here runs on a GPU.

Needs the compiled backend: set ``TRITON_INTERPRET=0`` before ``import gated``, in a process of its own
(the stand-in driver stays in Triton's per-kernel caches). Uses Triton 3.9's hooks.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Iterator

import gated  # noqa: F401  (must precede triton)

import torch
from triton import knobs
from triton.backends.compiler import GPUTarget
from triton.runtime.driver import driver

from gated.device import kernel_backend


@dataclass(frozen=True)
class Launch:
    """One specialisation of a kernel, as Triton's launch path made it."""

    kernel: str
    key: str
    constants: dict
    num_warps: int
    specialization_data: str
    jit_function: object


class _Sm90Driver:
    """What Triton's launch path asks of a driver before it compiles, answered for sm_``arch``."""

    def __init__(self, arch: int):
        self.target = GPUTarget("cuda", arch, 32)

    def get_current_device(self) -> int:
        return 0

    def get_current_stream(self, device: int | None = None) -> int:
        return 0

    def get_current_target(self) -> GPUTarget:
        return self.target

    def get_active_torch_device(self) -> torch.device:
        return torch.device("cpu")


@contextmanager
def _sm90_driver(arch: int) -> Iterator[None]:
    """Triton's active driver is the stand-in within the block. The one before is put back by hand:
    ``driver.reset_active()`` would build Triton's default driver, which fails with no GPU."""
    saved = driver._active
    driver.set_active(_Sm90Driver(arch))
    try:
        yield
    finally:
        driver._active = saved


@contextmanager
def capture_launches(arch: int = 90) -> Iterator[list[Launch]]:
    """Within the block, kernel launches are recorded (for sm_``arch``), not compiled or run."""
    if kernel_backend() != "cuda":
        raise RuntimeError("capturing launches needs Triton's compiler, not the interpreter: "
                           "set TRITON_INTERPRET=0 before importing gated")
    launches: list[Launch] = []

    def record(*, key, repr, fn, compile, is_manual_warmup, already_compiled):
        constants = {fn.jit_function.arg_names[path[0]]: value
                     for path, value in compile["constants"].items()}
        launches.append(Launch(fn.name, str(key), constants, compile["num_warps"],
                               compile["specialization_data"], fn.jit_function))
        return True  # handled: Triton neither compiles nor launches

    saved_hook = knobs.runtime.jit_cache_hook
    knobs.runtime.jit_cache_hook = record
    try:
        with _sm90_driver(arch):
            yield launches
    finally:
        knobs.runtime.jit_cache_hook = saved_hook


def distinct(launches: list[Launch]) -> list[Launch]:
    """The launches Triton would compile: one per kernel and specialisation key."""
    seen: dict[tuple[str, str], Launch] = {}
    for launch in launches:
        seen.setdefault((launch.kernel, launch.key), launch)
    return list(seen.values())


def compile_captured(launch: Launch, arch: int = 90):
    """Compile one captured specialisation for sm_``arch``; returns (Triton's compiled kernel, seconds).

    Times a real compile only when Triton's cache does not hold it (point ``TRITON_CACHE_DIR`` at an
    empty folder)."""
    with _sm90_driver(arch):
        start = time.perf_counter()
        compiled = launch.jit_function.preload(launch.specialization_data)
        return compiled, time.perf_counter() - start


def benchmark_variants(grid, names: list[str] | None = None, arch: int = 90, sms: int | None = None,
                       steps: int = 64) -> list[dict]:
    """Every kernel specialisation that timing ``grid`` on a GPU would compile, each compiled for
    sm_``arch`` here and timed.

    The cases run at ``steps`` instead of their own T (cheaper on the CPU; a multiple of 64 specialises
    as 512 does: T is specialised on divisibility by 16, and the scan's block is min(64, T) steps), on
    CPU tensors, with the split kernel's programs chosen for ``sms``
    SMs (default: the model's H200) as :func:`~gated.kernels.persistent_split.default_programs` does on
    a GPU. Returns one row per specialisation: kernel, constexprs, warps, seconds, shared bytes.
    """
    from gated import gpu_model
    from gated.kernels import benchmark, persistent_split

    sms = gpu_model.H200_SXM.sms if sms is None else sms
    saved = persistent_split.default_programs
    persistent_split.default_programs = lambda hidden, *_, **__: persistent_split.programs_for_sms(hidden, sms)
    try:
        with capture_launches(arch) as launches, torch.no_grad():
            for case in grid:
                short = replace(case, steps=steps)
                for name in names or list(benchmark.IMPLEMENTATIONS):
                    if name.startswith("nn.GRU") or benchmark.skip_reason(name, case):
                        continue
                    benchmark.IMPLEMENTATIONS[name](short, "cpu")()
    finally:
        persistent_split.default_programs = saved
    rows = []
    for launch in distinct(launches):
        compiled, seconds = compile_captured(launch, arch)
        rows.append({"kernel": launch.kernel, "num_warps": launch.num_warps, "seconds": round(seconds, 3),
                     "shared bytes": compiled.metadata.shared,
                     "constants": {k: v for k, v in launch.constants.items() if isinstance(v, (int, str))}})
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import tempfile
    import os
    import warnings

    from gated.kernels import benchmark

    parser = argparse.ArgumentParser(description="Compile every kernel variant of a benchmark grid for "
                                                 "sm_90 without a GPU, and time the compiles")
    parser.add_argument("--grid", choices=["gpu", "quick"], default="gpu")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TRITON_CACHE_DIR"] = cache  # a real compile for every variant, not a cache hit
        knobs.cache.dir = cache
        rows = benchmark_variants(benchmark.GRIDS[args.grid]())
    for row in rows:
        print(json.dumps(row))
    by_kernel: dict[str, list[float]] = {}
    for row in rows:
        by_kernel.setdefault(row["kernel"], []).append(row["seconds"])
    summary = {"variants": len(rows), "seconds": round(sum(r["seconds"] for r in rows), 1),
               "by kernel": {k: {"variants": len(v), "seconds": round(sum(v), 1), "slowest": max(v)}
                             for k, v in by_kernel.items()}}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
