#!/usr/bin/env bash
# Builds the addon with node-gyp (binding.gyp) in a scratch copy and loads it, so the fallback
# build cannot drift from the primary cmake-js build (both read native/sources.json).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r "$root/native" "$root/binding.gyp" "$root/package.json" "$scratch/"
ln -s "$root/node_modules" "$scratch/node_modules"
gyp="$(dirname "$(dirname "$(command -v npm)")")/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
prefix="$(dirname "$(dirname "$(command -v node)")")"
(cd "$scratch" && node "$gyp" rebuild --nodedir="$prefix" --jobs=2 >"$scratch/gyp.log" 2>&1) || { cat "$scratch/gyp.log"; exit 1; }
node -e "
const n = require('$scratch/build/Release/tfe_native.node');
const i = n.info();
if (i.buildSystem !== 'node-gyp') throw new Error('unexpected build system ' + i.buildSystem);
const a = n.fromBytes(new BigUint64Array([2n, 3n]), [1, 2], 'ring64');
const b = n.fromBytes(new BigUint64Array([5n, 7n]), [2, 1], 'ring64');
const [c] = n.runSync('MatMul', [a, b]);
const v = new BigUint64Array(n.toBytes(c.handle))[0];
if (v !== 31n) throw new Error('node-gyp build computed ' + v);
console.log('node-gyp build ok: ' + i.kernels.length + ' kernels, matmul ' + i.matmulKernel);
"
