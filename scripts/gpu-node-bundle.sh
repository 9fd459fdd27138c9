#!/usr/bin/env bash
# Packs what scripts/gpu-node.sh needs on a GPU machine without Node or internet into
# .gpu-node/bundle.tar.xz (carry it: `run` with carry [".gpu-node"]): this host's Node binary
# (it needs only glibc and libstdc++), dist/ without maps and declarations, ava and ws with their
# dependencies, and build/Release's modules. Build the CUDA module for the GPU first:
#   TFE_CUDA_ARCHS=90 node scripts/build-native.js --force && npx tsc -p tsconfig.json
#   scripts/gpu-node-bundle.sh      # prints the bundle's size; the tree plus it must stay < 64 MiB
set -eu
cd "$(dirname "$0")/.."
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/.gpu-node/bin" .gpu-node
cp "$(readlink -f "$(command -v node)")" "$stage/.gpu-node/bin/node"
# node_modules: the closure of ava's and ws's dependencies, resolved as Node resolves them.
node -e '
const fs = require("fs"), path = require("path"), seen = new Set();
function visit(name, from) {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const p = path.join(dir, "node_modules", name);
    if (fs.existsSync(path.join(p, "package.json"))) {
      if (seen.has(p)) return;
      seen.add(p);
      const pj = JSON.parse(fs.readFileSync(path.join(p, "package.json")));
      for (const d of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) visit(d, p);
      return;
    }
    if (path.dirname(dir) === dir) return;
  }
}
for (const n of ["ava", "ws"]) visit(n, process.cwd());
console.log([...seen].map((p) => path.relative(process.cwd(), p)).join("\n"));
' >"$stage/modules.txt"
tar cf "$stage/files.tar" --exclude='*.map' --exclude='*.d.ts' dist build/Release/tfe_native.node build/Release/tfe_cuda.node \
  $(cat "$stage/modules.txt")
tar rf "$stage/files.tar" -C "$stage" .gpu-node/bin/node
xz -T0 -6 -c "$stage/files.tar" >.gpu-node/bundle.tar.xz
du -h .gpu-node/bundle.tar.xz
