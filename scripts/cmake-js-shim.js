#!/usr/bin/env node
// Stands in for node-gyp under prebuildify (scripts/prebuild.js passes it as --node-gyp).
// prebuildify runs `<node-gyp> rebuild --target=<v> --devdir=<dir> --arch=<a> --release` in its
// working directory, then moves the first .node file of <cwd>/build/Release into
// prebuilds/<platform>-<arch>/ and copies its `artifacts` folder there. This shim builds with
// cmake-js instead (Node-API: the target version does not matter) in a build directory of its
// own, hands prebuildify the CPU module alone, and puts the CUDA module, when one was built,
// into the artifacts as cuda/tfe_cuda.node.
//
// Environment (set by scripts/prebuild.js): TFE_PREBUILD_ROOT (the project), TFE_PREBUILD_BUILD_DIR
// (the cmake-js build directory), TFE_PREBUILD_ARTIFACTS; from prebuildify: PREBUILD_STRIP,
// PREBUILD_STRIP_BIN; TFE_CUDA=ON|OFF and TFE_CUDA_ARCHS as for scripts/build-native.js.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = process.env.TFE_PREBUILD_ROOT || path.resolve(__dirname, '..');
const buildDir = process.env.TFE_PREBUILD_BUILD_DIR || path.join(root, 'build', 'prebuild');
const artifacts = process.env.TFE_PREBUILD_ARTIFACTS;
const args = process.argv.slice(2);

function fail(msg) {
  console.error(`[cmake-js-shim] ${msg}`);
  process.exit(1);
}

function run(cmd, argv) {
  console.log(`[cmake-js-shim] ${path.basename(cmd)} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit' });
  if (r.error) fail(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${path.basename(cmd)} ${argv.join(' ')} exited with ${r.status ?? r.signal}`);
}

if (args[0] !== 'rebuild') fail(`unsupported node-gyp command: ${args.join(' ')}`);
if (args.includes('--debug')) fail('debug prebuilds are not supported');
const arch = (args.find((a) => a.startsWith('--arch=')) || '').slice('--arch='.length);
if (arch && arch !== process.arch) fail(`cross-compiling to ${arch} is not supported (this is ${process.arch})`);

// As scripts/build-native.js: options given in the environment override the build directory's
// cache (scripts/prebuild.js starts its own build directory from an empty cache).
const defs = [];
if (process.env.TFE_CUDA) defs.push(`--CDTFE_CUDA=${process.env.TFE_CUDA.toUpperCase()}`);
if (process.env.TFE_CUDA_ARCHS) defs.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.TFE_CUDA_ARCHS}`);

// Remove the previous outputs, so that a module not built this time (CUDA switched off) cannot
// be shipped stale; the object files stay, and only what changed is recompiled.
const release = path.join(buildDir, 'Release');
for (const f of ['tfe_native.node', 'tfe_cuda.node']) fs.rmSync(path.join(release, f), { force: true });

// configure applies the -D options to an existing cache too; build fails fast (no silent
// clean rebuild, as `cmake-js compile` would do).
const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
run(process.execPath, [cmakeJs, 'configure', '--directory', root, '--out', buildDir, ...defs]);
run(process.execPath, [cmakeJs, 'build', '--directory', root, '--out', buildDir, ...defs]);

const cpu = path.join(release, 'tfe_native.node');
if (!fs.existsSync(cpu)) fail(`${cpu} was not built`);
const output = path.join(process.cwd(), 'build', 'Release'); // where prebuildify looks
fs.rmSync(output, { recursive: true, force: true });
fs.mkdirSync(output, { recursive: true });
fs.copyFileSync(cpu, path.join(output, 'tfe_native.node'));

const cuda = path.join(release, 'tfe_cuda.node');
if (!fs.existsSync(cuda)) {
  console.log('[cmake-js-shim] note: no CUDA module was built (nvcc not found, or TFE_CUDA=OFF): no cuda/tfe_cuda.node prebuild');
} else if (artifacts) {
  const dest = path.join(artifacts, 'cuda', 'tfe_cuda.node');
  fs.mkdirSync(path.dirname(dest), { recursive: true });
  fs.copyFileSync(cuda, dest);
  // prebuildify strips only the file it picked; strip this one the same way.
  if (process.env.PREBUILD_STRIP === '1') run(process.env.PREBUILD_STRIP_BIN || 'strip', [dest, '--strip-all']);
}
