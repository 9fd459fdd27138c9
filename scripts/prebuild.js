#!/usr/bin/env node
// `npm run prebuild`: the binaries that `npm pack` ships, made with prebuildify (Node-API, one
// build for every Node >= 20 on this platform), driven through scripts/cmake-js-shim.js because
// prebuildify knows only node-gyp:
//   prebuilds/<platform>-<arch>/tfjs-encrypted.node   the CPU module (prebuildify 6 names a Node-API
//                                                      build after the package, no abi tag)
//   prebuilds/<platform>-<arch>/cuda/tfe_cuda.node    the CUDA module, when nvcc is found
// Both stripped. TFE_CUDA=OFF skips the CUDA module; TFE_CUDA_ARCHS="90" (default
// "75;80;86;89;90") picks its architectures. The cmake-js build directory is build/prebuild,
// configured afresh each time (its object files are reused); TFE_PREBUILD_BUILD_DIR=build reuses
// the build of `npm install` instead, with its options (scripts/check-pack.sh does: relink only).
// In a checkout, a source build in build/Release still comes before prebuilds/ at load time.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const stage = path.join(root, 'build', 'prebuildify'); // prebuildify's working directory
const artifacts = path.join(stage, 'artifacts');
const shim = path.join(__dirname, 'cmake-js-shim.js');
const builds = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);

// (npm would run a script named "prebuild" before one named "build"; package.json therefore
// has build:ts and build:native, and no "build".)

let prebuildify;
try {
  prebuildify = require('prebuildify');
} catch {
  console.error('[prebuild] prebuildify is missing: run `npm install` (it is a devDependency)');
  process.exit(1);
}

const strip = spawnSync('strip', ['--version'], { stdio: 'ignore' }).status === 0;
if (!strip) console.warn('[prebuild] `strip` not found (binutils): the prebuilds keep their symbols');

// Start clean: a CUDA module left from an earlier run must not ship with a build that has none.
fs.rmSync(builds, { recursive: true, force: true });
fs.rmSync(stage, { recursive: true, force: true });
fs.mkdirSync(artifacts, { recursive: true });
fs.chmodSync(shim, 0o755); // prebuildify executes it directly

const reuse = Boolean(process.env.TFE_PREBUILD_BUILD_DIR);
const buildDir = reuse ? path.resolve(process.env.TFE_PREBUILD_BUILD_DIR) : path.join(root, 'build', 'prebuild');
// Release binaries cover every supported GPU generation (a source build defaults to the GPU it
// finds, or to one architecture plus PTX: see cmake/cuda.cmake).
if (!reuse && !process.env.TFE_CUDA_ARCHS) process.env.TFE_CUDA_ARCHS = '75;80;86;89;90';
if (!reuse) fs.rmSync(path.join(buildDir, 'CMakeCache.txt'), { force: true }); // no options left from a previous run

const started = Date.now();
process.env.TFE_PREBUILD_ROOT = root;
process.env.TFE_PREBUILD_BUILD_DIR = buildDir;
process.env.TFE_PREBUILD_ARTIFACTS = artifacts;
prebuildify(
  { cwd: stage, out: root, name: pkg.name, napi: true, strip, nodeGyp: shim, artifacts },
  (err) => {
    if (err) {
      console.error(`[prebuild] ${err.message || err}`);
      process.exit(1);
    }
    fs.rmSync(stage, { recursive: true, force: true });
    const list = (dir) =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? list(path.join(dir, e.name)) : [path.join(dir, e.name)],
      );
    for (const f of list(builds)) {
      console.log(`[prebuild] ${path.relative(root, f)}  ${(fs.statSync(f).size / 1048576).toFixed(2)} MiB`);
    }
    console.log(`[prebuild] done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  },
);
