#!/usr/bin/env node
// Install-time native build. Order, as in sharp and node-llama-cpp: a prebuilt binary for this
// platform if one ships in prebuilds/, else cmake-js (the primary build), else node-gyp.
// Nothing is downloaded: cmake-js uses node-api-headers (package.json binary.napi_versions).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const force = process.argv.includes('--force');

function run(cmd, args) {
  console.log(`[tfjs-encrypted] ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  return r.status === 0;
}

// The CPU prebuild decides: the CUDA one (prebuilds/<platform>-<arch>/cuda/tfe_cuda.node) is an
// optional extra, so a package that ships only the CPU prebuild still installs without compiling.
// A prebuild is kept only when it was built from the sources beside it (prebuild.json's hash: a
// leftover of `npm run prebuild` in a source tree hid later changes) and it loads here, in a child
// process (one made on a newer glibc, or for glibc on musl, installed and then failed at the
// first `tfe` command). In a git checkout it is never used: build/Release, which the loader
// prefers, must be rebuilt. The CUDA prebuild is loaded too: when it does not load here, the CPU
// one is still kept, and the install says so.
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const cpuPrebuild = path.join(prebuilt, 'tfjs-encrypted.node');
const cudaPrebuild = path.join(prebuilt, 'cuda', 'tfe_cuda.node');
const checkout = fs.existsSync(path.join(root, '.git'));

/** Why a module does not load here, or '' when it does (a child process, so a crash or a hang costs nothing). */
function loadFailure(file, call) {
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(file)}).${call}`], { encoding: 'utf8', timeout: 60_000 });
  if (probe.status === 0) return '';
  const line = (probe.stderr || '').split('\n').find((l) => /Error|not found|cannot/i.test(l));
  return (line || (probe.error ? probe.error.message : probe.signal ? `killed by ${probe.signal}` : `exit code ${probe.status}`)).trim();
}

function prebuildMismatch() {
  let m;
  try {
    m = JSON.parse(fs.readFileSync(path.join(prebuilt, 'prebuild.json'), 'utf8'));
  } catch {
    return 'it has no readable prebuild.json';
  }
  if (!fs.existsSync(path.join(root, 'native'))) return '';
  const { sourcesHash } = require('./sources_hash');
  return m.sources === sourcesHash(root) ? '' : 'it was built from other native sources than these';
}

if (!force && !checkout && fs.existsSync(cpuPrebuild)) {
  const stale = prebuildMismatch();
  const why = stale || loadFailure(cpuPrebuild, 'info()');
  if (!why) {
    let cuda = '';
    if (fs.existsSync(cudaPrebuild)) {
      // Loading it needs no driver (it probes the device only when asked); a newer glibc it does.
      const cudaWhy = loadFailure(cudaPrebuild, 'info()');
      cuda = cudaWhy ? ` (its CUDA module does not load here: ${cudaWhy}; the CPU computes, or build from source with nvcc: ${path.join(root, 'scripts', 'build-native.js')} --force)` : ' (with the CUDA module)';
      if (cudaWhy) console.warn(`[tfjs-encrypted] the CUDA prebuild does not load on this host (${cudaWhy})`);
    }
    console.log(`[tfjs-encrypted] using prebuilt binaries in ${path.relative(root, prebuilt)}${cuda}`);
    process.exit(0);
  }
  console.warn(`[tfjs-encrypted] the prebuilt binary is not used (${stale ? stale : `it does not load on this host: ${why}`}); building from source instead`);
}

// CMake options from the environment: TFE_CUDA=ON|OFF builds or skips the CUDA module,
// TFE_CUDA_ARCHS="90" (or "75;80;86;89;90") sets the CUDA architectures. The CUDA test programs
// (cmake/cuda.cmake: TFE_CUDA_TESTS) are built in a checkout only: an installed package never runs
// them, and they were an eighth of its compile.
if (!checkout && process.env.TFE_CUDA_TESTS === undefined) process.env.TFE_CUDA_TESTS = 'OFF';
function cmakeDefines() {
  const defs = [];
  const cuda = process.env.TFE_CUDA;
  if (cuda) {
    const v = cuda.toUpperCase();
    if (!['ON', 'OFF', '1', '0', 'TRUE', 'FALSE', 'YES', 'NO'].includes(v)) {
      console.error(`[tfjs-encrypted] TFE_CUDA=${cuda}: expected ON or OFF`);
      process.exit(1);
    }
    defs.push(`--CDTFE_CUDA=${v}`);
  }
  if (process.env.TFE_CUDA_ARCHS) defs.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.TFE_CUDA_ARCHS}`);
  return defs;
}

function hasCmake() {
  return spawnSync('cmake', ['--version'], { stdio: 'ignore' }).status === 0;
}

// node-gyp ships inside npm; npm exports its path to install scripts.
function nodeGypCommand() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].filter(Boolean);
  const found = candidates.find((c) => fs.existsSync(c));
  const args = ['rebuild'];
  // Build against the headers that ship with this Node (offline) unless npm already says where.
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir) {
    // Without Node's headers here node-gyp would download them, and nothing is downloaded at
    // install: said instead.
    if (!fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) {
      console.error(`[tfjs-encrypted] no cmake, and no Node headers at ${path.join(prefix, 'include', 'node')} for node-gyp (it would download them): install cmake >= 3.19 (preferred), or Node's headers (a distribution's nodejs-dev package), or set npm_config_nodedir`);
      process.exit(1);
    }
    args.push(`--nodedir=${prefix}`);
  }
  return found ? [process.execPath, [found, ...args]] : ['node-gyp', args];
}

let ok;
if (hasCmake()) {
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const defs = cmakeDefines();
  // `cmake-js compile` configures only a fresh build directory: re-run the configure step first
  // so that options given now also reach an existing build/CMakeCache.txt.
  const reconfigure = defs.length > 0 && fs.existsSync(path.join(root, 'build', 'CMakeCache.txt'));
  ok = (!reconfigure || run(process.execPath, [cmakeJs, 'configure', '--out', 'build', ...defs])) &&
    run(process.execPath, [cmakeJs, 'compile', '--out', 'build', ...defs]);
} else {
  console.warn('[tfjs-encrypted] cmake not found; building with node-gyp instead');
  ok = run(...nodeGypCommand());
}
if (!ok) {
  console.error(`[tfjs-encrypted] native build failed: a C++17 compiler and cmake >= 3.19 (or node-gyp) are needed; retry with \`node ${path.join(root, 'scripts', 'build-native.js')} --force\``);
  process.exit(1);
}
