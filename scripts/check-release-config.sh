#!/usr/bin/env bash
# CI: the release configuration of `npm run prebuild` (every CUDA architecture of the release
# list, as scripts/prebuild.js and scripts/cmake-js-shim.js pass it) configures, and compiles:
#  - native/cuda/device.cu with nvcc, checked to hold code for every architecture of the list;
#  - native/cuda/backend_cuda.cc, the unit that reports the list in info(), checked to hold it as
#    one string (a CMake list in a compile definition once split into -D options there).
# A source build (`npm install`) targets one architecture, so this is CI's only sight of the
# release list; the whole release build is `npm run prebuild` (about 4 minutes on 2 cores).
# Without nvcc there is nothing to compile: it says so and exits 0.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
t0=$SECONDS
say() { echo "check-release-config: [$((SECONDS - t0)) s] $*"; }
fail() { echo "check-release-config: FAIL: $*" >&2; exit 1; }

nvcc="${CUDACXX:-$(command -v nvcc || true)}"
[ -n "$nvcc" ] || { [ -x /usr/local/cuda/bin/nvcc ] && nvcc=/usr/local/cuda/bin/nvcc; } || true
if [ -z "$nvcc" ]; then
  say "SKIPPED: no nvcc on PATH, no CUDACXX, no /usr/local/cuda/bin/nvcc (the release build needs one)"
  exit 0
fi

archs="$(node scripts/prebuild.js --release-archs)"
joined="$(echo "$archs" | tr ';' ',')"
bdir="$(mktemp -d)"
trap 'rm -rf "$bdir"' EXIT
log="$bdir/check.log"

say "configure ($nvcc, architectures $archs, TFE_CUDA_TESTS=OFF as in a release build)"
env TFE_CUDA_TESTS=OFF node "$(node -p "require.resolve('cmake-js/bin/cmake-js')")" configure \
  --directory "$root" --out "$bdir" "--CDCMAKE_CUDA_ARCHITECTURES=$archs" --CDCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$log" 2>&1 ||
  { cat "$log" >&2; fail "configuring the release configuration failed (log above)"; }
node -e "
const i = require('$bdir/tfe_build_info.json');
if (!i.cuda) { console.error('CMake did not enable the CUDA module (see the configure log)'); process.exit(1); }
if (i.cudaArchitectures !== '$joined') { console.error('architectures ' + i.cudaArchitectures + ', expected $joined'); process.exit(1); }
" || { cat "$log" >&2; fail "the release configuration has no CUDA module for $joined"; }

objs=(CMakeFiles/tfe_cuda_kernels.dir/native/cuda/device.cu.o CMakeFiles/tfe_cuda_kernels.dir/native/cuda/backend_cuda.cc.o)
say "compile ${objs[*]##*/}"
if [ -f "$bdir/build.ninja" ]; then
  ninja -C "$bdir" -j2 "${objs[@]}" >"$log" 2>&1 || { cat "$log" >&2; fail "compiling with the release configuration failed (log above)"; }
else
  make -C "$bdir" -j2 native/cuda/device.cu.o native/cuda/backend_cuda.cc.o >"$log" 2>&1 ||
    { cat "$log" >&2; fail "compiling with the release configuration failed (log above)"; }
fi

# How the list reached the compilers: one definition, the whole list, for both units; and code
# generated for every architecture (cuobjdump, when the toolkit has it, reads the object itself).
node - "$bdir/compile_commands.json" "$joined" <<'EOF' || fail "the release configuration's compile commands are wrong (above)"
const [file, joined] = process.argv.slice(2);
const cmds = require(file);
const fail = (m) => { console.error(m); process.exit(1); };
const want = `-DTFE_CUDA_ARCHS=\\"${joined}\\"`; // as a shell word: the macro is the string "<list>"
for (const unit of ['native/cuda/device.cu', 'native/cuda/backend_cuda.cc']) {
  const c = cmds.find((e) => e.file.endsWith(unit));
  if (!c) fail(`no compile command for ${unit}`);
  const cmd = c.command || c.arguments.join(' ');
  const defs = cmd.match(/-DTFE_CUDA_ARCHS=\S+/g) || [];
  if (defs.length !== 1 || defs[0] !== want) fail(`${unit}: TFE_CUDA_ARCHS reaches the compiler as ${JSON.stringify(defs)}, expected [${JSON.stringify(want)}]`);
  if (/ -D[0-9]/.test(cmd)) fail(`${unit}: a stray numeric -D option in: ${cmd}`);
  if (unit.endsWith('.cu')) for (const a of joined.split(',')) {
    const n = a.replace(/-.*/, '');
    if (!cmd.includes(`sm_${n}`)) fail(`${unit}: no code for sm_${n} in: ${cmd}`);
  }
}
EOF
cuobjdump="$(command -v cuobjdump || true)"
[ -n "$cuobjdump" ] || cuobjdump="$(dirname "$(readlink -f "$nvcc")")/cuobjdump"
if [ -x "$cuobjdump" ]; then
  elfs="$("$cuobjdump" --list-elf "$bdir/${objs[0]}" 2>&1)" || fail "cuobjdump --list-elf device.cu.o: $elfs"
  for a in ${archs//;/ }; do
    a="${a%%-*}"
    echo "$elfs" | grep -q "sm_$a\b" || fail "device.cu.o has no sm_$a code: $elfs"
  done
fi
say "ok: release configuration ($joined) configures and compiles"
