#!/usr/bin/env bash
# The GPU record in one run (issue 16): on a CUDA machine, the GPU-only kernel tests (the split kernel's
# barrier across many programs included), then the benchmark over the issue's grid (B 1, 16, 64;
# H 128-1024; T = 512; fp32 and bf16), all inside 8 minutes. Run from anywhere in the checkout:
#
#   bench/gpu_run.sh             # CUDA machine: record and logs into $OUT if set, else bench/records
#   bench/gpu_run.sh --dry-run   # any machine: the same steps on the CPU under Triton's interpreter at
#                                # tiny sizes, into $OUT or a new temporary folder; the record is
#                                # labelled NOT a GPU record and never goes to bench/records
#
# Python: $PYTHON if set, else .venv/bin/python, else python3; the first with torch, triton, numpy and
# pytest (the project's full requirements are not needed). If its torch is a CPU build on a machine with
# a GPU, the CUDA build of torch==2.13.0 is installed from $TORCH_INDEX_URL (PyTorch's CUDA wheel index
# for the driver; the script names none). A fresh checkout without any such Python gets `make
# .venv/.installed` first, which needs the package index.
#
# Budgets (seconds, from the script's start): TOTAL_BUDGET (default 450) ends everything; the tests get
# at most TEST_BUDGET (default 150); the benchmark stops timing 45 s before TOTAL_BUDGET and writes the
# record it has (rewritten after every case, so an outside kill still leaves one).
# Files written (at most 5): gpu-run.log, tests.log, tests.xml, bench.log and the record *.json.
set -u -o pipefail
cd "$(dirname "$0")/.."

DRY_RUN=0
case "${1:-}" in
  --dry-run) DRY_RUN=1 ;;
  "") ;;
  *) echo "usage: bench/gpu_run.sh [--dry-run]" >&2; exit 2 ;;
esac
TOTAL_BUDGET=${TOTAL_BUDGET:-450}
TEST_BUDGET=${TEST_BUDGET:-150}

if [ "$DRY_RUN" = 1 ]; then
  OUT=${OUT:-$(mktemp -d -t gpu-run-dry.XXXXXX)}
  RECORDS=$OUT
  export CUDA_VISIBLE_DEVICES="" TRITON_INTERPRET=1  # the CPU and the interpreter, even on a GPU machine
  TEST_SELECTION=(tests/test_kernels_split.py -k barrier)  # a few CPU tests: the step, not the suite
  BENCH_ARGS=(--dry-run)
else
  RECORDS=${OUT:-bench/records}
  OUT=${OUT:-bench/records}
  TEST_SELECTION=(tests/test_kernels.py tests/test_kernels_split.py tests/test_bench.py)
  BENCH_ARGS=()
fi
mkdir -p "$OUT"
LOG=$OUT/gpu-run.log
: >"$LOG"
say() { echo "[gpu_run ${SECONDS}s] $*" | tee -a "$LOG"; }
fail() { say "FAILED: $*"; exit 1; }

usable() {  # a Python with what the tests and the benchmark import
  [ -n "$1" ] && command -v "$1" >/dev/null 2>&1 && "$1" -c "import torch, triton, numpy, pytest" 2>/dev/null
}
pick_python() {
  for candidate in "${PYTHON:-}" .venv/bin/python python3; do
    if usable "$candidate"; then echo "$candidate"; return 0; fi
  done
  return 1
}

PY=$(pick_python) || {
  [ "$DRY_RUN" = 1 ] && fail "no Python with torch, triton, numpy and pytest (set PYTHON)"
  say "no Python with torch, triton, numpy and pytest: make .venv/.installed (needs the package index)"
  make .venv/.installed >>"$LOG" 2>&1 || fail "make .venv/.installed (see $LOG)"
  PY=.venv/bin/python
}
say "python: $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"

if [ "$DRY_RUN" = 0 ]; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm --format=csv \
    >>"$LOG" 2>&1 || fail "nvidia-smi found no NVIDIA GPU: run with --dry-run on a machine without one"
  if ! "$PY" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    if "$PY" -c "import torch, sys; sys.exit(torch.version.cuda is not None)" 2>/dev/null; then
      [ -n "${TORCH_INDEX_URL:-}" ] || fail "torch $("$PY" -c 'import torch; print(torch.__version__)') is \
a CPU build on a GPU machine: set TORCH_INDEX_URL to PyTorch's CUDA wheel index for this driver"
      say "installing the CUDA build of torch==2.13.0 from \$TORCH_INDEX_URL"
      "$PY" -m pip install -q "torch==2.13.0" --index-url "$TORCH_INDEX_URL" >>"$LOG" 2>&1 \
        || fail "pip install torch==2.13.0 (see $LOG)"
    fi
    "$PY" -c "import torch; assert torch.cuda.is_available()" 2>>"$LOG" \
      || fail "torch sees no CUDA device although nvidia-smi does (see $LOG)"
  fi
fi
"$PY" -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda,
      'cudnn', torch.backends.cudnn.version(), 'triton', triton.__version__,
      'device', torch.cuda.get_device_name() if torch.cuda.is_available() else 'CPU')" 2>&1 | tee -a "$LOG"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1

# 1. The kernel tests. --noconftest: tests/conftest.py serves the site build, which needs the book's
# requirements; the kernel tests need none of it.
say "tests (at most ${TEST_BUDGET}s): ${TEST_SELECTION[*]}"
timeout --kill-after=10 "$TEST_BUDGET" "$PY" -m pytest -q -rs -p no:cacheprovider --noconftest \
  --junitxml "$OUT/tests.xml" "${TEST_SELECTION[@]}" >"$OUT/tests.log" 2>&1
TESTS_RC=$?
tail -n 1 "$OUT/tests.log" | tee -a "$LOG"
say "tests exit status $TESTS_RC$([ $TESTS_RC = 124 ] && echo ' (time budget spent)')"

# 2. The benchmark (what `make bench` runs, without the venv set-up): it stops timing at its deadline.
DEADLINE=$((TOTAL_BUDGET - SECONDS - 45))
[ "$DEADLINE" -gt 30 ] || fail "no time left for the benchmark (${SECONDS}s used)"
say "benchmark (timing stops after ${DEADLINE}s), record into $RECORDS"
timeout --kill-after=10 $((TOTAL_BUDGET - SECONDS)) "$PY" -m gated.kernels.benchmark "${BENCH_ARGS[@]}" \
  --out "$RECORDS" --deadline "$DEADLINE" --tests-log "$OUT/tests.log" --tests-status "$TESTS_RC" \
  >"$OUT/bench.log" 2>&1
BENCH_RC=$?
grep -E "^wrote " "$OUT/bench.log" | tee -a "$LOG"
say "benchmark exit status $BENCH_RC$([ $BENCH_RC = 124 ] && echo ' (killed at the time budget)')"
say "done in ${SECONDS}s; files in $OUT"
[ "$TESTS_RC" = 0 ] && [ "$BENCH_RC" = 0 ]
