"""Benchmark harness: nn.GRU against each kernel of :mod:`gated.kernels` (``make bench``).

    python -m gated.kernels.benchmark                  # the issue's grid on a CUDA device
    python -m gated.kernels.benchmark --grid quick     # a smaller grid
    python -m gated.kernels.benchmark --out DIR        # write the record into DIR, not bench/records
    python -m gated.kernels.benchmark --dry-run --out DIR   # CPU: a tiny grid, record labelled NOT a GPU record

On a CUDA device every entry is timed by ``triton.testing.do_bench`` (CUDA events, L2 flushed between
calls; the record keeps the median, the fastest and the slowest call and their number), ``nn.GRU`` is
also run once under PyTorch's profiler to see which cuDNN algorithm it took
(:mod:`gated.kernels.baseline`), and the record holds the device, driver, CUDA, cuDNN, torch and Triton
versions, the date and the model's floor for each row (:mod:`gated.gpu_model`). The record is rewritten
after every case, so a run cut short keeps what it measured; ``--deadline`` stops timing (and says so
in the record) before an outside time limit would.

Without CUDA the kernels run under Triton's interpreter: the harness times a tiny grid with a plain
timer and labels every figure "CPU" / "interpreter". :func:`write_record` refuses to write such a
record as a GPU record; ``--dry-run`` writes it, labelled as not one, into a folder other than
``bench/records``, which holds GPU measurements only.
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

from gated import gpu_model
from gated.device import kernel_backend
from gated.kernels import baseline, mingru, persistent, persistent_split, stepwise

RECORDS = Path(__file__).resolve().parents[2] / "bench" / "records"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
DRY_RUN_LABEL = "DRY RUN on the CPU under Triton's interpreter: NOT a GPU record"


@dataclass(frozen=True)
class Case:
    """One point of the grid: batch B, hidden size H, input size I, length T, dtype."""

    batch: int
    hidden: int
    inputs: int
    steps: int
    dtype: str


def gpu_grid() -> list[Case]:
    """Issue 16's grid: T = 512, B in 1, 16, 64, H = I from 128 to 1024, bfloat16 and float32."""
    return [Case(b, h, h, 512, d) for d in ("bfloat16", "float32") for b in (1, 16, 64)
            for h in (128, 192, 256, 512, 1024)]


def quick_grid() -> list[Case]:
    """One batch size, the two sides of H = 192, bfloat16 only."""
    return [Case(16, h, h, 512, "bfloat16") for h in (128, 256, 1024)]


def cpu_grid() -> list[Case]:
    """Interpreter sizes: seconds, not minutes, on 2 CPU cores (``make bench`` without a GPU)."""
    return [Case(4, 32, 32, 32, "float32")]


def dry_run_grid() -> list[Case]:
    """The dry run's grid: two cases, so that the per-case record rewrite runs twice."""
    return [Case(2, 16, 16, 4, "float32"), Case(3, 17, 5, 3, "float32")]


GRIDS: dict[str, Callable[[], list[Case]]] = {"gpu": gpu_grid, "quick": quick_grid, "cpu": cpu_grid,
                                              "dry-run": dry_run_grid}


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


class _TrueFloat32:
    """Within the block cuDNN and cuBLAS multiply float32 in float32, as the float32 kernels do
    (PyTorch lets cuDNN use TF32 by default)."""

    def __enter__(self):
        self.saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False

    def __exit__(self, *exc):
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = self.saved


def _nn_gru_without_tf32(case, device):
    run = _nn_gru(case, device)

    def call():
        with _TrueFloat32():
            return run()
    return call


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
    "nn.GRU, no TF32": _nn_gru_without_tf32,
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
    if name.startswith("nn.GRU"):
        return "GPU (PyTorch)" if backend == "cuda" else "CPU (PyTorch)"
    return "GPU (Triton, compiled)" if backend == "cuda" else "CPU (Triton interpreter)"


def skip_reason(name: str, case: Case) -> str | None:
    """Why an implementation does not run on a case, or None."""
    if name == "nn.GRU, no TF32" and case.dtype != "float32":
        return "TF32 concerns float32 only"
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


def model_floor_ms(name: str, case: Case) -> list[float] | None:
    """The model's floor for a kernel on a case (H200 figures): [low, high] ms, the split's range being
    its assumed barrier cost; None for nn.GRU, which the model does not describe."""
    if name.startswith("nn.GRU"):
        return None
    lo, hi = (gpu_model.kernel_floor_us(name, case.batch, case.hidden, case.inputs, case.steps, case.dtype,
                                        barrier_s=barrier) / 1e3 for barrier in gpu_model.BARRIER_S)
    return [lo, hi]


# ---------------------------------------------------------------------------------------- timing


def time_call(fn: Callable[[], object], backend: str, repeats: int = 5, warmup_ms: int = 25,
              rep_ms: int = 100) -> dict[str, float]:
    """Time ``fn()`` in milliseconds: median, fastest and slowest call, and how many were timed.

    On a GPU ``triton.testing.do_bench`` (``warmup_ms`` of warm-up, about ``rep_ms`` of timed calls,
    each between CUDA events with the L2 cache flushed before it); on the CPU a plain timer over
    ``repeats`` calls after one untimed call (parsing and specialisation of the kernels).
    """
    if backend == "cuda":
        times = triton.testing.do_bench(fn, warmup=warmup_ms, rep=rep_ms, return_mode="all")
    else:
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1e3)
    return {"ms": statistics.median(times), "ms min": min(times), "ms max": max(times), "calls": len(times)}


def interleaved_ms(calls: dict[str, Callable[[], object]], rounds: int = 11,
                   window_ms: float = 20.0) -> dict[str, list[float]]:
    """CPU times of competing calls, in milliseconds per call, measured in interleaved rounds.

    Each round times every call once, in an order that alternates from round to round, as the mean
    of as many back-to-back calls as fill about ``window_ms`` (so that a short call is not one timer
    tick and one scheduler hiccup). Rounds pair the calls under the same machine load, so the ratio of
    two calls round by round says more than the ratio of their medians. Returns each call's per-round
    times; the first call of each is an untimed warm-up.
    """
    def per_call(fn, number):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - start) * 1e3 / number

    numbers = {}
    for name, fn in calls.items():
        fn()
        estimate = statistics.median(per_call(fn, 1) for _ in range(3))
        numbers[name] = max(1, round(window_ms / max(estimate, 1e-3)))
    times: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(rounds):
        for name in (list(calls) if round_ % 2 == 0 else list(calls)[::-1]):
            times[name].append(per_call(calls[name], numbers[name]))
    return times


def _nvidia_driver() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        return out.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def environment(backend: str) -> dict[str, object]:
    """Where and when the figures were taken."""
    env: dict[str, object] = {
        "backend": backend,
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "torch": torch.__version__,
        "triton": triton.__version__,
        "python": platform.python_version(),
        "host": platform.machine(),
    }
    if backend == "cuda":
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        env.update(device=torch.cuda.get_device_name(), driver=_nvidia_driver(),
                   cuda=str(torch.version.cuda), cudnn=str(torch.backends.cudnn.version()),
                   compute_capability=f"{props.major}.{props.minor}", sms=props.multi_processor_count,
                   l2_bytes=getattr(props, "L2_cache_size", None),
                   cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                   matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
                   timer="triton.testing.do_bench: CUDA events per call, L2 flushed between calls; "
                         "median, min and max of the timed calls")
    else:
        env.update(device=f"CPU ({platform.processor() or platform.machine()}), Triton interpreter",
                   timer="time.perf_counter, median of 5 after one warm-up call, 1 torch thread")
    return env


def nn_gru_algorithm_rule(case: Case, backend: str) -> str:
    """Which algorithm PyTorch's rule gives nn.GRU on this GPU (on the CPU: what it would give on an H200)."""
    if backend != "cuda":
        major, minor = gpu_model.H200_SXM.compute_capability
        rule = baseline.nn_gru_algorithm(case.hidden, case.dtype, major=major, minor=minor, batch=case.batch,
                                         steps=case.steps, inputs=case.inputs)
        return f"{rule} (the rule on an H200; this run used no GPU)"
    major, minor = torch.cuda.get_device_capability()
    return baseline.nn_gru_algorithm(case.hidden, case.dtype, major=major, minor=minor, batch=case.batch,
                                     steps=case.steps, inputs=case.inputs)


def run(grid: list[Case], backend: str | None = None, names: list[str] | None = None,
        log: Callable[[str], None] = lambda line: None, deadline: float | None = None,
        after_case: Callable[[dict], None] | None = None) -> dict:
    """Time every implementation on every case; returns the record (environment + one row per pair).

    ``deadline`` (a ``time.monotonic()`` value) stops timing once passed: the remaining rows say
    "not run". ``after_case`` receives the record so far after each case (to write it as it grows).
    """
    backend = backend or kernel_backend()
    device = "cuda" if backend == "cuda" else "cpu"
    record = {"environment": environment(backend), "complete": False, "results": []}
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)  # one core: steadier on a shared machine than contended threads
    try:
        for case in grid:
            for name in names or list(IMPLEMENTATIONS):
                row = _run_one(name, case, backend, device, deadline)
                record["results"].append(row)
                log(_format_row(row))
            if after_case:
                after_case(record)
    finally:
        torch.set_num_threads(threads)
    record["complete"] = not any("not run" in row for row in record["results"])
    return record


def _run_one(name: str, case: Case, backend: str, device: str, deadline: float | None) -> dict:
    row: dict[str, object] = {"kernel": name, "ran_on": ran_on(name, backend), **asdict(case)}
    floor = model_floor_ms(name, case)
    if floor:
        row["model floor ms"] = floor
    reason = skip_reason(name, case)
    if reason:
        row["skipped"] = reason
        return row
    if deadline is not None and time.monotonic() > deadline:
        row["not run"] = "the run's time budget was spent"
        return row
    try:
        fn = IMPLEMENTATIONS[name](case, device)
        with torch.no_grad():
            row.update(time_call(fn, backend))
            if name == "nn.GRU":
                row["algorithm by PyTorch's rule"] = nn_gru_algorithm_rule(case, backend)
                row["profile"] = baseline.profile_nn_gru(*_gru_inputs(case, device))
            elif name in GRU_FAMILY:
                reference = _reference_output(case, device)
                out = fn().float()
                row["rel_error_vs_nn.GRU"] = ((out - reference).norm() / reference.norm()).item()
    except Exception as error:  # a failure is a result too; keep going
        row["failed"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return row


def _reference_output(case: Case, device: str) -> torch.Tensor:
    """nn.GRU's output in the case's dtype, float32 products in float32."""
    module, x, h0 = _gru_inputs(case, device)
    with _TrueFloat32():
        return module(x, h0)[0].float()


def _format_row(row: dict) -> str:
    size = f"B={row['batch']} H={row['hidden']} I={row['inputs']} T={row['steps']} {row['dtype']}"
    outcome = (f"{row['ms']:.3f} ms" if "ms" in row
               else row.get("skipped") or row.get("failed") or row.get("not run"))
    return f"{row['kernel']:<18} {row['ran_on']:<25} {size:<40} {outcome}"


def format_table(record: dict, floors: bool = True) -> str:
    """The record as a Markdown table, headed by where it was measured; ``floors`` adds the model's
    GPU floor beside each time (meaningful beside GPU times only)."""
    env = record["environment"]
    columns = ["kernel", "ran on", "B", "H", "I", "T", "dtype", "median ms"] + (["model floor ms"] if floors
                                                                                else []) + ["note"]
    lines = [f"{env['device']} · {env['backend']} · {env['date']} · torch {env['torch']} · "
             f"Triton {env['triton']}", "", "| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]
    for row in record["results"]:
        note = row.get("skipped") or row.get("failed") or row.get("not run") or (
            f"rel. error {row['rel_error_vs_nn.GRU']:.1e}" if "rel_error_vs_nn.GRU" in row else "")
        cells = [row["kernel"], row["ran_on"], row["batch"], row["hidden"], row["inputs"], row["steps"],
                 row["dtype"], f"{row['ms']:.3f}" if "ms" in row else "–"]
        if floors:
            floor = "–"
            if "model floor ms" in row:
                lo, hi = (_ms(v) for v in row["model floor ms"])
                floor = lo if lo == hi else f"{lo}–{hi}"
            cells.append(floor)
        lines.append("| " + " | ".join(str(c) for c in cells + [note]) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- the predictions


def _ms(value: float) -> str:
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def predictions_markdown(grid: list[Case] | None = None) -> str:
    """The model's prediction for each kernel and size of ``grid`` (default: the GPU grid), as the
    Markdown table that ``bench/NOTES.md`` holds (a test keeps the two equal)."""
    grid = gpu_grid() if grid is None else grid
    kernels = [name for name in IMPLEMENTATIONS if not name.startswith("nn.GRU")]
    lo_us, hi_us = (b * 1e6 for b in gpu_model.BARRIER_S)
    device = gpu_model.H200_SXM
    major, minor = device.compute_capability
    head = (["dtype", "B", "H", "nn.GRU by PyTorch's rule", "target"] + kernels
            + ["target out of reach if nn.GRU takes less than"])
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for case in grid:
        rule = baseline.nn_gru_algorithm(case.hidden, case.dtype, major=major, minor=minor, batch=case.batch,
                                         steps=case.steps, inputs=case.inputs, bf16_in_cudnn=True)
        rule = rule.replace("CUDNN_RNN_ALGO_", "") + ("†" if case.dtype == "bfloat16" else "")
        small_h = case.hidden <= 192
        cells, gru_floors = [], []
        for name in kernels:
            if skip_reason(name, case):
                cells.append("–")
                continue
            lo, hi = model_floor_ms(name, case)
            cells.append(_ms(lo) if _ms(lo) == _ms(hi) else f"{_ms(lo)}–{_ms(hi)}")
            if name in GRU_FAMILY:
                gru_floors.append(lo)
        factor = 1.0 if small_h else 1.5
        lines.append(f"| {case.dtype} | {case.batch} | {case.hidden} | {rule} | "
                     f"{'no slower' if small_h else '1.5× faster'} | " + " | ".join(cells)
                     + f" | {_ms(factor * min(gru_floors))} |")
    return ("Milliseconds for one forward call, T = 512, I = H: floors of the model (`gated.gpu_model`, "
            f"H200 datasheet figures, compute capability {major}.{minor}, {device.sms} SMs); the split's "
            f"range is its assumed "
            f"barrier, {lo_us:.0f}–{hi_us:.0f} µs per step. † if this PyTorch build sends bfloat16 RNNs "
            "to cuDNN; else nn.GRU runs PyTorch's native loop (the record's profile says which). "
            "Generated by `python -m gated.kernels.benchmark --predictions`; do not edit by hand.\n\n"
            + "\n".join(lines))


# --------------------------------------------------------------------------------------- records


def write_record(record: dict, folder: Path | None = None, dry_run: bool = False,
                 name: str | None = None) -> Path:
    """Write a GPU record as ``<date>-<device>.json`` (or ``name``); refuses anything not measured on CUDA.

    ``dry_run`` writes a CPU record instead, labelled :data:`DRY_RUN_LABEL`, named ``dry-run-…``, and
    never into ``bench/records``.
    """
    folder = RECORDS if folder is None else Path(folder)
    env = record["environment"]
    if dry_run:
        if folder.resolve() == RECORDS.resolve():
            raise ValueError("a dry run never writes into bench/records, which holds GPU measurements only")
        record = {"NOT A GPU RECORD": DRY_RUN_LABEL, **record}
    elif env.get("backend") != "cuda":
        raise ValueError(f"bench/records holds GPU measurements only; this record's backend is "
                         f"{env.get('backend')!r} ({env.get('device')})")
    folder.mkdir(parents=True, exist_ok=True)
    if name is None:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", str(env["device"])).strip("-").lower()
        stamp = str(env["date"]).replace(":", "").replace("+0000", "Z")
        name = f"{'dry-run-' if dry_run else ''}{stamp}-{slug}.json"
    path = folder / name
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def latest_record(folder: Path | None = None) -> dict | None:
    """The newest GPU record in ``folder`` (by its recorded date), or None when there is none."""
    folder = RECORDS if folder is None else folder
    records = []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        if record.get("environment", {}).get("backend") == "cuda" and "NOT A GPU RECORD" not in record:
            records.append(record)
    return max(records, key=lambda r: r["environment"]["date"], default=None)


def _tests_summary(log: Path | None, status: int | None) -> dict | None:
    """The last line of pytest's output (its tally) and its exit status, for the record."""
    if log is None:
        return None
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return {"log": log.name, "summary": lines[-1] if lines else "(empty)", "exit status": status}


def compiled_split_barriers() -> list[list[str]] | str:
    """The barrier's instructions in every variant of the split kernel this process compiled (their
    PTX as Triton built it on this machine), or why they cannot be read (e.g. under the interpreter)."""
    try:
        seen = set()
        for caches in persistent_split.gru_split_kernel.device_caches.values():
            for kernel in caches[0].values():
                seen.add(tuple(persistent_split.barrier_instructions(kernel.asm["ptx"])))
        return [list(found) for found in sorted(seen)]
    except Exception as error:  # Triton internals differ between versions; the record says so
        return f"unavailable: {type(error).__name__}: {error}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", choices=list(GRIDS), help="default: gpu on CUDA, cpu otherwise")
    parser.add_argument("--kernels", nargs="+", choices=list(IMPLEMENTATIONS), help="a subset")
    parser.add_argument("--out", type=Path, help="folder for the record (default: bench/records)")
    parser.add_argument("--json", type=Path, help="also write the record to this file (any backend)")
    parser.add_argument("--deadline", type=float, help="stop timing after this many seconds")
    parser.add_argument("--dry-run", action="store_true",
                        help="CPU only: the dry-run grid, and a record labelled NOT a GPU record (needs --out)")
    parser.add_argument("--predictions", action="store_true", help="print the model's predictions table")
    parser.add_argument("--tests-log", type=Path, help="pytest's output of the run's tests, summarised "
                                                       "into the record")
    parser.add_argument("--tests-status", type=int, help="pytest's exit status, kept in the record")
    args = parser.parse_args(argv)
    if args.predictions:
        print(predictions_markdown())
        return 0
    backend = kernel_backend()
    if args.dry_run and (backend == "cuda" or args.out is None):
        parser.error("--dry-run runs on the CPU under the interpreter and needs --out (not bench/records)")
    grid = GRIDS[args.grid or ("dry-run" if args.dry_run else "gpu" if backend == "cuda" else "cpu")]()
    if backend != "cuda":
        print("No CUDA device: timing the Triton interpreter on the CPU (no GPU figures, no record "
              "in bench/records).")
    deadline = None if args.deadline is None else time.monotonic() + args.deadline
    path: list[Path] = []

    def save(record: dict) -> None:
        if backend == "cuda" or args.dry_run:
            name = path[0].name if path else None
            path[:1] = [write_record(record, args.out, dry_run=args.dry_run, name=name)]

    tests = _tests_summary(args.tests_log, args.tests_status)

    def save_with_context(record: dict) -> None:
        record.update(tests=tests, predictions="bench/NOTES.md, generated by predictions_markdown()")
        save(record)

    record = run(grid, backend, args.kernels, log=lambda line: print(line, flush=True), deadline=deadline,
                 after_case=save_with_context)
    record["split kernel barrier instructions"] = compiled_split_barriers()
    save_with_context(record)
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.json}")
    if path:
        print(f"wrote {path[0]}" + ("" if record["complete"] else " (incomplete: time budget spent)"))
    print(format_table(record, floors=backend == "cuda"))  # GPU floors beside GPU times only
    return 0


if __name__ == "__main__":
    sys.exit(main())
