#!/usr/bin/env bash
# CI: what `npm pack` ships installs as a user gets it.
#  1. `npm run prebuild` (unless prebuilds/ already holds this platform's build), `npm pack`.
#  2. The tarball, installed into an empty project with no compiler on PATH, loads its CPU
#     prebuild (nothing compiled) and computes on secret shares.
#  3. The same package without prebuilds/ installs by compiling (cmake-js, TFE_CUDA=OFF) and loads
#     build/Release/tfe_native.node.
# Run after `npm install` (it reuses that build: the prebuild step only relinks).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
t0=$SECONDS
scratch="$(mktemp -d)"
made_prebuilds=0
cleanup() {
  rm -rf "$scratch"
  # Prebuilds made here are throwaway: they must not end up in a later `npm publish`.
  if [ "$made_prebuilds" = 1 ]; then rm -rf "$root/prebuilds"; fi
}
trap cleanup EXIT
step() { echo "check-pack: [$((SECONDS - t0)) s] $*"; }
fail() { echo "check-pack: FAIL: $*" >&2; exit 1; }
# Runs a command with its output in a log, shown only when it fails.
quiet() {
  local log="$scratch/$1.log"
  shift
  "$@" >"$log" 2>&1 || { cat "$log" >&2; fail "$* (log above)"; }
}

[ -d node_modules/prebuildify ] || quiet npm-install npm install --no-audit --no-fund
plat="$(node -p 'process.platform + "-" + process.arch')"

# 1. prebuild and pack
if ls "prebuilds/$plat"/*.node >/dev/null 2>&1; then
  step "using the existing prebuilds/$plat"
else
  step "npm run prebuild"
  made_prebuilds=1
  bdir="$root/build/prebuild"
  if [ -f build/CMakeCache.txt ]; then bdir="$root/build"; fi
  quiet prebuild env TFE_PREBUILD_BUILD_DIR="$bdir" npm run prebuild
  grep '^\[prebuild\]' "$scratch/prebuild.log" || true
  if [ -f "$bdir/Release/tfe_cuda.node" ] && [ ! -f "prebuilds/$plat/cuda/tfe_cuda.node" ]; then
    fail "the CUDA module was built but prebuilds/$plat/cuda/tfe_cuda.node is missing"
  fi
fi
step "npm pack"
quiet pack npm pack --pack-destination "$scratch"
tgz="$(ls "$scratch"/*.tgz)"
tar tzf "$tgz" >"$scratch/contents"
cpu_prebuild="$(grep -E "^package/prebuilds/$plat/[^/]+\.node$" "$scratch/contents" || true)"
[ -n "$cpu_prebuild" ] || fail "$(basename "$tgz") has no prebuilds/$plat/*.node"
! grep -q '^package/build/' "$scratch/contents" || fail "$(basename "$tgz") contains build/"
cuda_prebuild="$(grep -E "^package/prebuilds/$plat/cuda/tfe_cuda\.node$" "$scratch/contents" || true)"
if [ -f "prebuilds/$plat/cuda/tfe_cuda.node" ] && [ -z "$cuda_prebuild" ]; then fail "the CUDA prebuild is not in the tarball"; fi
step "$(basename "$tgz"): $(wc -l <"$scratch/contents") files, $(du -k "$tgz" | cut -f1) KiB; ${cpu_prebuild#package/}${cuda_prebuild:+, ${cuda_prebuild#package/}}"

# The check run inside each installed project: the CPU backend, loaded from the expected file,
# and a small private computation (a private matmul plus an add, revealed to one player).
cat >"$scratch/check.js" <<'EOF'
'use strict';
const path = require('node:path');
const expected = process.argv[2]; // 'prebuild' or 'source'
const pkg = path.dirname(require.resolve('tfjs-encrypted/package.json'));
const tfe = require('tfjs-encrypted');
const fail = (m) => { console.error(`check.js: ${m}`); process.exit(1); };
const info = tfe.info();
if (info.backend !== 'cpu') fail(`backend ${info.backend}, expected cpu`);
const loaded = Object.keys(require.cache).filter((f) => f.endsWith('.node'));
const want = expected === 'prebuild'
  ? (f) => path.dirname(f) === path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`)
  : (f) => f === path.join(pkg, 'build', 'Release', 'tfe_native.node');
if (loaded.length !== 1 || !want(loaded[0])) fail(`loaded ${JSON.stringify(loaded)}, expected the ${expected} build`);
(async () => {
  const x = tfe.definePrivateInput('prediction-client', () => ({ data: Float64Array.from([1, 2, 3, 4]), shape: [2, 2] }));
  const w = tfe.definePrivateInput('model-owner', () => ({ data: Float64Array.from([0.5, -1, 2, 0.25]), shape: [2, 2] }));
  const y = await tfe.defineOutput('prediction-client', tfe.add(tfe.matmul(x, w), x));
  await tfe.getCluster().close();
  const expect = [5.5, 1.5, 12.5, 2];
  if (y.data.some((v, i) => Math.abs(v - expect[i]) > 1e-3)) fail(`x.w + x = ${[...y.data]}, expected ${expect}`);
  console.log(`loaded ${path.relative(pkg, loaded[0])} (${info.buildSystem}, ${info.kernels.length} kernels); private x.w + x = [${[...y.data].map((v) => v.toFixed(3))}]`);
})().catch((e) => fail(e.stack));
EOF

new_project() {
  mkdir -p "$1"
  echo '{ "name": "pack-check", "version": "1.0.0", "private": true }' >"$1/package.json"
  cp "$scratch/check.js" "$1/"
}

# 2. install with no compiler on PATH: a bin directory with node, npm, npx and what npm's
# install scripts need (sh), nothing else.
nobin="$scratch/nocompiler-bin"
mkdir -p "$nobin"
for tool in node npm npx sh; do
  src="$(command -v "$tool")" || fail "$tool not found"
  ln -s "$(readlink -f "$src")" "$nobin/$tool"
done
for tool in cc gcc g++ c++ clang clang++ make cmake ninja nvcc python3; do
  ! env PATH="$nobin" "$nobin/sh" -c "command -v $tool" >/dev/null || fail "$tool is still on the stripped PATH"
done
proj="$scratch/prebuilt-project"
new_project "$proj"
step "install with no compiler on PATH"
(cd "$proj" && quiet install-prebuilt env PATH="$nobin" npm install --no-audit --no-fund --foreground-scripts "$tgz")
grep -q 'using prebuilt binaries' "$scratch/install-prebuilt.log" || { cat "$scratch/install-prebuilt.log"; fail "the install did not take the prebuild"; }
[ ! -e "$proj/node_modules/tfjs-encrypted/build" ] || fail "the prebuilt install has a build/ directory"
if [ -n "$cuda_prebuild" ] && command -v readelf >/dev/null; then
  # Static cudart: the CUDA prebuild needs the driver (libcuda, loaded at run time), no toolkit.
  ! readelf -d "$proj/node_modules/tfjs-encrypted/${cuda_prebuild#package/}" | grep -q 'NEEDED.*libcudart' ||
    fail "the CUDA prebuild links libcudart dynamically"
fi
(cd "$proj" && TFE_DEVICE=cpu PATH="$nobin" node check.js prebuild) || fail "the prebuilt install does not work"
(cd "$proj" && TFE_DEVICE=cpu PATH="$nobin" npx --no tfe info --json) >"$scratch/info.json" 2>"$scratch/npx.log" ||
  { cat "$scratch/npx.log" >&2; fail "npx tfe info failed"; }
node -e "const i = require('$scratch/info.json'); if (i.backend !== 'cpu') process.exit(1); console.log('tfe info: ' + i.backend + ', ' + i.cpuFeatures + ', matmul ' + i.matmulKernel)"

# 3. the source-build fallback: the same package without prebuilds/, installed with the normal PATH
step "install from source (no prebuilds/, TFE_CUDA=OFF)"
mkdir -p "$scratch/unpacked"
tar xzf "$tgz" -C "$scratch/unpacked"
rm -rf "$scratch/unpacked/package/prebuilds"
tar czf "$scratch/source-only.tgz" -C "$scratch/unpacked" package
proj="$scratch/source-project"
new_project "$proj"
(cd "$proj" && quiet install-source env TFE_CUDA=OFF npm install --no-audit --no-fund --foreground-scripts "$scratch/source-only.tgz")
[ -f "$proj/node_modules/tfjs-encrypted/build/Release/tfe_native.node" ] || fail "the source install built no build/Release/tfe_native.node"
(cd "$proj" && TFE_DEVICE=cpu node check.js source) || fail "the source install does not work"

step "ok"
