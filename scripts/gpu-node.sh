#!/usr/bin/env bash
# Node on the GPU machine (which has none): unpacks a carried Node binary, the compiled dist/,
# ava and ws with their dependencies, and build/Release's modules (CUDA for sm_90); then the
# CUDA module's probe, bench:gpu on CUDA, and the protocol suites on CUDA.
set -u
OUT="${OUT:-$PWD/gpu-node-out}"; mkdir -p "$OUT"
t0=$SECONDS
tar xJf .gpu-node/bundle.tar.xz || { echo "unpack failed"; exit 1; }
export PATH="$PWD/.gpu-node/bin:$PATH"
{ echo "unpacked in $((SECONDS - t0)) s"; ldd --version | head -1; node --version; nvidia-smi --query-gpu=name --format=csv,noheader; } 2>&1 | tee "$OUT/env.txt"
node -e "const {probeCuda}=require('./dist/lib/backend/cuda_loader');console.log(JSON.stringify(probeCuda(process.cwd())))" 2>&1 | tee "$OUT/probe.txt"
timeout --kill-after=5 "${BENCH_S:-170}" node dist/bench/gpu.js > "$OUT/bench_gpu.log" 2>&1; echo "bench:gpu exit $?" >> "$OUT/bench_gpu.log"
timeout --kill-after=5 "${SUITE_S:-240}" node node_modules/ava/entrypoints/cli.mjs --timeout 4m dist/test/cuda_suite.test.js dist/test/cuda_folded_suite.test.js > "$OUT/suites.log" 2>&1; echo "suites exit $?" >> "$OUT/suites.log"
echo "== bench:gpu"; tail -n 16 "$OUT/bench_gpu.log"
echo "== suites"; grep -E "✘|passed|failed|skipped|exit|Error" "$OUT/suites.log" | head -40
