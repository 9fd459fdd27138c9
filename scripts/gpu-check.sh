#!/usr/bin/env bash
# The GPU check (issue 17), for a bare GPU machine with nvcc, CMake and Python but no Node and no
# internet: builds the CUDA harness for one architecture, runs every kernel bit for bit against the
# CPU kernel (tfe_cuda_test), the host-side checks (tfe_cuda_host_check), then the benchmarks
# (tfe_cuda_test --bench: ring GEMM per candidate with the device's fp64/int8 rates from the same
# run; DCF keygen and eval in elements/s, a folded product's many-payload keys in cells/s, beside
# the CPU kernels'), and prints a short table last.
# Logs go to $OUT (default ./gpu-check-out).
#   scripts/gpu-check.sh                 # sm_90 (H100/H200)
#   TFE_CUDA_ARCHS=80 scripts/gpu-check.sh
#   GPU_CHECK_SKIP_RUN=1 scripts/gpu-check.sh   # dry run on a machine without a GPU: build only
# Each step has its own time limit so one hang cannot eat the machine's 15 minutes (one `run` call
# may last 600 s): configure and build GPU_CHECK_BUILD_S (default 300 s), each run
# GPU_CHECK_STEP_S (default 120 s). A step that fails is reported and the next one still runs,
# except the benchmarks after a kernel check that timed out (the same binary would hang again).
# Each row is also appended to $OUT/summary.txt as it finishes, so a call cut short keeps them.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu-check-out}"
ARCHS="${TFE_CUDA_ARCHS:-90}"
STEP_S="${GPU_CHECK_STEP_S:-120}"
BUILD_S="${GPU_CHECK_BUILD_S:-300}"
JOBS="$(nproc 2>/dev/null || echo 4)"
BUILD="${GPU_CHECK_BUILD:-build-gpu-check}"
mkdir -p "$OUT"
: >"$OUT/summary.txt"
# A previous run's logs in a kept $OUT must not be read as this run's (the benchmark lines below).
rm -f "$OUT"/*.log "$OUT/bench_lines.txt"
declare -a ROWS=()

row() {
  ROWS+=("$(printf '%-28s %-8s %s' "$1" "$2" "$3")")
  printf '%s\n' "${ROWS[-1]}" >>"$OUT/summary.txt"
}

# step LIMIT_S NAME LOG COMMAND...: runs with a time limit; records ok/FAIL/timeout/skip and seconds.
step() {
  local limit="$1" name="$2" log="$OUT/$3"; shift 3
  local t0=$SECONDS rc
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  rc=$?
  local secs=$((SECONDS - t0))
  case $rc in
    0) row "$name" ok "${secs}s  $(tail -n 1 "$log" | cut -c1-80)" ;;
    77) row "$name" skip "no CUDA device (exit 77)" ;;
    124|137) row "$name" TIMEOUT "after ${limit}s; see $log" ;;
    *) row "$name" FAIL "exit $rc after ${secs}s; $(grep -m1 -iE 'fail|error' "$log" | cut -c1-80)" ;;
  esac
  return $rc
}

{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv 2>&1 || echo "nvidia-smi: not available"
  nvcc --version 2>&1 | tail -n 2
  cmake --version | head -n 1
  lscpu 2>/dev/null | grep -m1 'Model name'
} >"$OUT/machine.txt"
row machine info "$(grep -m1 -vE '^(date|commit|name)' "$OUT/machine.txt" | cut -c1-70)"

if step "$BUILD_S" "configure (sm_${ARCHS})" configure.log cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CUDA_ARCHITECTURES=${ARCHS}" -DTFE_CUDA_TESTS=ON \
  && step "$BUILD_S" "build harness" build.log cmake --build "$BUILD" --target tfe_cuda_test tfe_cuda_host_check -j "$JOBS"; then
  if [ "${GPU_CHECK_SKIP_RUN:-0}" = 1 ]; then
    row "run" skip "GPU_CHECK_SKIP_RUN=1 (dry run)"
  else
    step "$STEP_S" "host checks" host_check.log "$BUILD/tfe_cuda_host_check"
    step "$STEP_S" "kernels vs CPU (bit exact)" cuda_test.log "$BUILD/tfe_cuda_test"
    case $? in
      124|137) row "benchmarks" skip "the kernel check timed out: the same binary would hang again" ;;
      *) step "$STEP_S" "benchmarks" cuda_bench.log "$BUILD/tfe_cuda_test" --bench ;;
    esac
    # The GEMM table (impl, T-MAC/s, ceiling), the peaks line and the DCF rates, as
    # tfe_cuda_test --bench prints them.
    grep -E 'ring GEMM|^  (impl|uint64|fp64|int8|auto|peaks)|^DCF at|^  dcf ' "$OUT/cuda_bench.log" >"$OUT/bench_lines.txt" 2>/dev/null || true
  fi
fi

echo
echo "== gpu-check: $(head -n 2 "$OUT/machine.txt" | tr '\n' ' ')"
printf '%s\n' "${ROWS[@]}"
if [ -s "$OUT/bench_lines.txt" ]; then
  echo "-- benchmark lines"
  cat "$OUT/bench_lines.txt"
fi
