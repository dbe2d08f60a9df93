"""Benchmark harness: nn.GRU against each kernel of :mod:`gated.kernels` (`make bench`).

    python -m gated.kernels.benchmark            # on a CUDA device: full grid, writes bench/records/<date>-<gpu>.json
    python -m gated.kernels.benchmark --quick    # a smaller grid
    python -m gated.kernels.benchmark --json out.json   # also (or, on the CPU, only) write the record here

On a CUDA device every entry is the median of many runs from ``triton.testing.do_bench`` and the record
holds the device name, driver, CUDA, cuDNN, torch and Triton versions and the date. Without CUDA the
kernels run under Triton's interpreter: the harness times a tiny grid with a plain timer, labels every
figure "CPU" / "interpreter", and never writes into ``bench/records/``, which holds GPU measurements only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import re
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import gated  # noqa: F401  (must precede triton)

import torch
import triton

from gated.device import kernel_backend
from gated.kernels import mingru, persistent, persistent_split, stepwise

RECORDS = Path(__file__).resolve().parent.parent / "bench" / "records"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Case:
    """One point of the grid: batch B, hidden size H, input size I, length T, dtype."""

    batch: int
    hidden: int
    inputs: int
    steps: int
    dtype: str


def gpu_grid(quick: bool = False) -> list[Case]:
    """The issue's target region: T = 512, B ≤ 64, H from 128 to 1024, bf16 and fp32."""
    hiddens = (128, 512) if quick else (128, 256, 512, 1024)
    batches = (16,) if quick else (16, 64)
    dtypes = ("bfloat16",) if quick else ("bfloat16", "float32")
    return [Case(b, h, h, 512, d) for d in dtypes for b in batches for h in hiddens]


def cpu_grid() -> list[Case]:
    """Interpreter sizes: seconds, not minutes, on 2 CPU cores."""
    return [Case(4, 32, 32, 32, "float32")]


# ------------------------------------------------------------------------------ implementations

Setup = Callable[[Case, str], Callable[[], torch.Tensor]]


def _gru_inputs(case: Case, device: str):
    torch.manual_seed(0)
    dtype = DTYPES[case.dtype]
    module = torch.nn.GRU(case.inputs, case.hidden).to(device=device, dtype=dtype)
    x = torch.randn(case.steps, case.batch, case.inputs, device=device, dtype=dtype)
    h0 = torch.randn(1, case.batch, case.hidden, device=device, dtype=dtype)
    return module, x, h0


def _mingru_inputs(case: Case, device: str):
    torch.manual_seed(0)
    dtype = DTYPES[case.dtype]
    bound = case.hidden ** -0.5
    weight = torch.empty(2 * case.hidden, case.inputs, device=device, dtype=dtype).uniform_(-bound, bound)
    bias = torch.empty(2 * case.hidden, device=device, dtype=dtype).uniform_(-bound, bound)
    x = torch.randn(case.steps, case.batch, case.inputs, device=device, dtype=dtype)
    h0 = torch.randn(case.batch, case.hidden, device=device, dtype=dtype)
    return x, weight, bias, h0


def _nn_gru(case, device):
    module, x, h0 = _gru_inputs(case, device)
    return lambda: module(x, h0)[0]


def _gru_kernel(layer: Callable) -> Setup:
    def setup(case, device):
        module, x, h0 = _gru_inputs(case, device)
        state = module.state_dict()
        return lambda: layer(x, state, h0)[0]
    return setup


def _mingru_kernel(fn: Callable) -> Setup:
    def setup(case, device):
        x, weight, bias, h0 = _mingru_inputs(case, device)
        return lambda: fn(x, weight, bias, h0)[0]
    return setup


IMPLEMENTATIONS: dict[str, Setup] = {
    "nn.GRU": _nn_gru,
    "stepwise": _gru_kernel(stepwise.gru_stepwise),
    "persistent": _gru_kernel(persistent.gru_persistent),
    # The barrier's timeout flag is not read back while timing (a host sync per call); a timed-out
    # barrier would still show as a large error against nn.GRU.
    "persistent split": _gru_kernel(
        lambda x, state, h0: persistent_split.gru_persistent_split(x, state, h0, check_barrier=False)),
    "minGRU sequential": _mingru_kernel(mingru.mingru_sequential),
    "minGRU scan": _mingru_kernel(mingru.mingru_scan),
}
GRU_FAMILY = ("stepwise", "persistent", "persistent split")  # compared with nn.GRU's output for their error


def ran_on(name: str, backend: str) -> str:
    """What executed an implementation: PyTorch's own GRU or a Triton kernel, on which device."""
    if name == "nn.GRU":
        return "GPU (cuDNN)" if backend == "cuda" else "CPU (PyTorch)"
    return "GPU (Triton, compiled)" if backend == "cuda" else "CPU (Triton interpreter)"


def skip_reason(name: str, case: Case) -> str | None:
    """Why a kernel does not run on a case, or None."""
    if name == "persistent" and case.hidden > persistent.MAX_HIDDEN:
        return f"H > {persistent.MAX_HIDDEN}: W_hh does not fit one SM"
    if name == "persistent split":
        if case.batch > persistent_split.MAX_BATCH:
            return f"B > {persistent_split.MAX_BATCH}: every program holds all batch rows"
        smem = persistent_split.split_smem_bytes(case.batch, case.hidden, triton.cdiv(case.hidden, 16),
                                                 DTYPES[case.dtype])
        if smem > persistent_split.MAX_SMEM_BYTES:
            return (f"{smem // 1024} KiB of W_hh slice and h per program exceed "
                    f"{persistent_split.MAX_SMEM_BYTES // 1024} KiB of shared memory")
    return None


# ---------------------------------------------------------------------------------------- timing


def time_call(fn: Callable[[], object], backend: str, repeats: int = 5) -> float:
    """Median time of ``fn()`` in milliseconds: ``do_bench`` on a GPU, a plain timer on the CPU."""
    if backend == "cuda":
        return float(triton.testing.do_bench(fn, warmup=25, rep=200, return_mode="median"))
    fn()  # first call: parsing and specialisation of the kernels
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _nvidia_driver() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        return out.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def environment(backend: str) -> dict[str, str]:
    """Where and when the figures were taken."""
    env = {
        "backend": backend,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "python": platform.python_version(),
        "host": platform.machine(),
    }
    if backend == "cuda":
        env.update(device=torch.cuda.get_device_name(), driver=_nvidia_driver(),
                   cuda=str(torch.version.cuda), cudnn=str(torch.backends.cudnn.version()),
                   timer="triton.testing.do_bench, median")
    else:
        env.update(device=f"CPU ({platform.processor() or platform.machine()}), Triton interpreter",
                   timer="time.perf_counter, median of 5 after one warm-up call, 1 torch thread")
    return env


def run(grid: list[Case], backend: str | None = None, names: list[str] | None = None,
        log: Callable[[str], None] = lambda line: None) -> dict:
    """Time every implementation on every case; returns the record (environment + one row per pair)."""
    backend = backend or kernel_backend()
    device = "cuda" if backend == "cuda" else "cpu"
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)  # one core: steadier on a shared machine than contended threads
    try:
        rows = _run_grid(grid, backend, device, names, log)
    finally:
        torch.set_num_threads(threads)
    return {"environment": environment(backend), "results": rows}


def _run_grid(grid, backend, device, names, log) -> list[dict]:
    rows = []
    for case in grid:
        reference = None
        for name in names or list(IMPLEMENTATIONS):
            row = {"kernel": name, "ran_on": ran_on(name, backend), **asdict(case)}
            reason = skip_reason(name, case)
            if reason:
                row["skipped"] = reason
            else:
                try:
                    fn = IMPLEMENTATIONS[name](case, device)
                    with torch.no_grad():
                        row["ms"] = time_call(fn, backend)
                        if name == "nn.GRU":
                            reference = fn().float()
                        elif name in GRU_FAMILY and reference is not None:
                            out = fn().float()
                            row["rel_error_vs_nn.GRU"] = ((out - reference).norm() / reference.norm()).item()
                except Exception as error:  # a failure is a result too; keep going
                    row["failed"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
            rows.append(row)
            log(_format_row(row))
    return rows


def _format_row(row: dict) -> str:
    size = f"B={row['batch']} H={row['hidden']} I={row['inputs']} T={row['steps']} {row['dtype']}"
    outcome = (f"{row['ms']:.3f} ms" if "ms" in row else row.get("skipped") or row.get("failed"))
    return f"{row['kernel']:<18} {row['ran_on']:<25} {size:<40} {outcome}"


def format_table(record: dict) -> str:
    """The record as a Markdown table, headed by where it was measured."""
    env = record["environment"]
    lines = [f"{env['device']} · {env['backend']} · {env['date']} · torch {env['torch']} · "
             f"Triton {env['triton']}", "",
             "| kernel | ran on | B | H | I | T | dtype | median ms | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in record["results"]:
        note = row.get("skipped") or row.get("failed") or (
            f"rel. error {row['rel_error_vs_nn.GRU']:.1e}" if "rel_error_vs_nn.GRU" in row else "")
        ms = f"{row['ms']:.3f}" if "ms" in row else "–"
        lines.append(f"| {row['kernel']} | {row['ran_on']} | {row['batch']} | {row['hidden']} | {row['inputs']} | "
                     f"{row['steps']} | {row['dtype']} | {ms} | {note} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- records


def write_record(record: dict, folder: Path | None = None) -> Path:
    """Write a GPU record as ``<date>-<device>.json``; refuses anything not measured on CUDA."""
    folder = RECORDS if folder is None else folder
    env = record["environment"]
    if env.get("backend") != "cuda":
        raise ValueError(f"bench/records holds GPU measurements only; this record's backend is "
                         f"{env.get('backend')!r} ({env.get('device')})")
    folder.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", env["device"]).strip("-").lower()
    stamp = env["date"].replace(":", "").replace("+0000", "Z")
    path = folder / f"{stamp}-{slug}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def latest_record(folder: Path | None = None) -> dict | None:
    """The newest GPU record in ``folder`` (by its recorded date), or None when there is none."""
    folder = RECORDS if folder is None else folder
    records = []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        if record.get("environment", {}).get("backend") == "cuda":
            records.append(record)
    return max(records, key=lambda r: r["environment"]["date"], default=None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller GPU grid")
    parser.add_argument("--json", type=Path, help="also write the record to this file")
    parser.add_argument("--kernels", nargs="+", choices=list(IMPLEMENTATIONS), help="a subset")
    args = parser.parse_args(argv)
    backend = kernel_backend()
    grid = gpu_grid(args.quick) if backend == "cuda" else cpu_grid()
    if backend != "cuda":
        print("No CUDA device: timing the Triton interpreter on the CPU (no GPU figures, no record "
              "in bench/records).")
    record = run(grid, backend, args.kernels, log=print)
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.json}")
    if backend == "cuda":
        print(f"wrote {write_record(record)}")
    print(format_table(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
