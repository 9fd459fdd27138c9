#!/usr/bin/env bash
# CI: what `npm pack` ships installs as a user gets it.
#  1. `npm pack`: its prepack (scripts/prebuild.js --if-stale) builds prebuilds/ when it is missing
#     or stale. The tarball must hold the CPU prebuild, its prebuild.json manifest, and the CUDA
#     prebuild when nvcc is here (unless TFE_CUDA=OFF). A manifest that no longer matches the
#     sources must be refused.
#  2. The tarball, installed into an empty project with no compiler on PATH, loads its CPU
#     prebuild (nothing compiled), info() names the prebuild's tag, the CUDA prebuild loads too
#     (reporting no driver here), and it computes on secret shares.
#  3. The same package without prebuilds/ installs by compiling (cmake-js, TFE_CUDA=OFF), loads
#     build/Release/tfe_native.node, and info() says it was compiled from source.
# Run after `npm install`: when prebuilds/ is missing, the prepack reuses that build
# (TFE_PREBUILD_BUILD_DIR=build: relink only, the manifest says "release": false) and the
# prebuilds made here are removed at the end. TFE_CHECK_PACK_RELEASE=1 makes the prepack do the
# release build instead (all CUDA architectures, build/prebuild: 1.5-4 minutes on 2 cores).
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
want_cuda=0
case "${TFE_CUDA:-ON}" in OFF|off|0|FALSE|false|NO|no) ;; *)
  if [ -n "${CUDACXX:-}" ] || command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then want_cuda=1; fi ;;
esac

# 1. pack (the prepack makes or checks the prebuilds)
pack_env=()
if [ -d "prebuilds/$plat" ]; then
  step "npm pack (prebuilds/$plat exists: the prepack rebuilds it if stale)"
else
  made_prebuilds=1
  bdir="$root/build/prebuild"
  if [ "${TFE_CHECK_PACK_RELEASE:-0}" = 1 ]; then
    step "npm pack (no prebuilds/$plat: the prepack makes the release build)"
  else
    if [ -f build/CMakeCache.txt ]; then bdir="$root/build"; fi
    pack_env=(TFE_PREBUILD_BUILD_DIR="$bdir")
    step "npm pack (no prebuilds/$plat: the prepack builds it from ${bdir#"$root"/})"
  fi
fi
quiet pack env "${pack_env[@]}" npm pack --foreground-scripts --pack-destination "$scratch"
grep -E '^\[prebuild\]' "$scratch/pack.log" || true
manifest="prebuilds/$plat/prebuild.json"
[ -f "$manifest" ] || fail "npm pack left no $manifest (is the prepack script in package.json?)"
# A manifest that does not match the sources is refused (checked on a copy of prebuilds/).
mkdir -p "$scratch/stale/prebuilds" && cp -r "prebuilds/$plat" "$scratch/stale/prebuilds/"
node -e "const f = process.argv[1], m = require(f); m.sources = '0'.repeat(64); require('fs').writeFileSync(f, JSON.stringify(m))" "$scratch/stale/$manifest"
if env "${pack_env[@]}" node scripts/prebuild.js --check --prebuilds="$scratch/stale/prebuilds" >"$scratch/stale.log" 2>&1; then
  cat "$scratch/stale.log"; fail "prebuild.js --check accepted a manifest whose sources hash does not match"
fi
grep -q 'native sources changed' "$scratch/stale.log" || { cat "$scratch/stale.log"; fail "prebuild.js --check refused a stale manifest without saying why"; }
tgz="$(ls "$scratch"/*.tgz)"
tar tzf "$tgz" >"$scratch/contents"
cpu_prebuild="$(grep -E "^package/prebuilds/$plat/[^/]+\.node$" "$scratch/contents" || true)"
[ -n "$cpu_prebuild" ] || fail "$(basename "$tgz") has no prebuilds/$plat/*.node"
grep -q "^package/$manifest$" "$scratch/contents" || fail "$(basename "$tgz") has no $manifest"
! grep -q '^package/build/' "$scratch/contents" || fail "$(basename "$tgz") contains build/"
cuda_prebuild="$(grep -E "^package/prebuilds/$plat/cuda/tfe_cuda\.node$" "$scratch/contents" || true)"
if [ -f "prebuilds/$plat/cuda/tfe_cuda.node" ] && [ -z "$cuda_prebuild" ]; then fail "the CUDA prebuild is not in the tarball"; fi
if [ "$want_cuda" = 1 ] && [ -z "$cuda_prebuild" ]; then fail "nvcc is here but $(basename "$tgz") has no CUDA prebuild (TFE_CUDA=OFF to pack without)"; fi
tag="$(node -p "require('./$manifest').tag")"
step "prebuild tag $tag"
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
const prebuilds = path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`);
const want = expected === 'prebuild'
  ? (f) => path.dirname(f) === prebuilds
  : (f) => f === path.join(pkg, 'build', 'Release', 'tfe_native.node');
if (loaded.length !== 1 || !want(loaded[0])) fail(`loaded ${JSON.stringify(loaded)}, expected the ${expected} build`);
// info() names what was loaded: the prebuild's tag, or a source build.
const b = info.binary;
if (!b || b.origin !== expected || b.path !== loaded[0]) fail(`info().binary is ${JSON.stringify(b)}, expected origin ${expected} at ${loaded[0]}`);
if (expected === 'prebuild') {
  const m = require(path.join(prebuilds, 'prebuild.json'));
  if (b.tag !== m.tag) fail(`info().binary.tag ${b.tag}, expected ${m.tag}`);
  // The CUDA prebuild: found, loads with no CUDA toolkit (static cudart), reports no usable
  // device here rather than failing to load, and was built for the manifest's architectures.
  const cudaFile = path.join(prebuilds, 'cuda', 'tfe_cuda.node');
  if (m.cuda) {
    if (info.cuda.modulePath !== cudaFile) fail(`info().cuda.modulePath ${info.cuda.modulePath}, expected ${cudaFile}`);
    if (!info.cuda.available && /^probing /.test(info.cuda.reason || '')) fail(`the CUDA prebuild does not load: ${info.cuda.reason}`);
    const c = require(cudaFile).info();
    if (c.backend !== 'cuda' || c.cudaArchitectures !== m.cuda.architectures) fail(`the CUDA prebuild reports ${c.backend}, sm ${c.cudaArchitectures}; the manifest says ${m.cuda.architectures}`);
    console.log(`CUDA prebuild loads: sm ${c.cudaArchitectures}, ${c.deviceAvailable ? `device ${c.deviceName}` : `no device here (${c.unavailableReason})`}`);
  }
}
(async () => {
  const x = tfe.definePrivateInput('prediction-client', () => ({ data: Float64Array.from([1, 2, 3, 4]), shape: [2, 2] }));
  const w = tfe.definePrivateInput('model-owner', () => ({ data: Float64Array.from([0.5, -1, 2, 0.25]), shape: [2, 2] }));
  const y = await tfe.defineOutput('prediction-client', tfe.add(tfe.matmul(x, w), x));
  await tfe.getCluster().close();
  const expect = [5.5, 1.5, 12.5, 2];
  if (y.data.some((v, i) => Math.abs(v - expect[i]) > 1e-3)) fail(`x.w + x = ${[...y.data]}, expected ${expect}`);
  console.log(`loaded ${path.relative(pkg, loaded[0])} (${b.origin}${b.tag ? ` ${b.tag}` : ''}, ${info.buildSystem}, ${info.kernels.length} kernels); private x.w + x = [${[...y.data].map((v) => v.toFixed(3))}]`);
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
node -e "const i = require('$scratch/info.json'); if (i.backend !== 'cpu' || i.binary.tag !== '$tag') { console.error('tfe info --json: ' + JSON.stringify(i.binary)); process.exit(1); } console.log('tfe info: ' + i.backend + ', ' + i.cpuFeatures + ', matmul ' + i.matmulKernel + ', prebuild ' + i.binary.tag)" ||
  fail "tfe info --json does not name the prebuild $tag"
(cd "$proj" && TFE_DEVICE=cpu PATH="$nobin" npx --no tfe info) | grep -q "^binary  *prebuild $tag" || fail "tfe info does not print the prebuild tag $tag"

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
