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
// It is used only once it loads here, in a child process: a prebuild made on a newer glibc (or for
// glibc, on musl) would otherwise install and then fail at the first `tfe` command. In a git
// checkout prebuilds/ (left by `npm run prebuild`) is never used: the sources may have moved on.
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const cpuPrebuild = path.join(prebuilt, 'tfjs-encrypted.node');
const checkout = fs.existsSync(path.join(root, '.git'));
if (!force && !checkout && fs.existsSync(cpuPrebuild)) {
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(cpuPrebuild)}).info()`], { encoding: 'utf8', timeout: 60_000 });
  if (probe.status === 0) {
    const cuda = fs.existsSync(path.join(prebuilt, 'cuda', 'tfe_cuda.node')) ? ' (with the CUDA module)' : '';
    console.log(`[tfjs-encrypted] using prebuilt binaries in ${path.relative(root, prebuilt)}${cuda}`);
    process.exit(0);
  }
  const why = (probe.stderr || '').split('\n').find((l) => /Error|not found|cannot/i.test(l)) || (probe.error ? probe.error.message : `exit code ${probe.status}`);
  console.warn(`[tfjs-encrypted] the prebuilt binary does not load on this host (${why.trim()}); building from source instead`);
}

// CMake options from the environment: TFE_CUDA=ON|OFF builds or skips the CUDA module,
// TFE_CUDA_ARCHS="90" (or "75;80;86;89;90") sets the CUDA architectures.
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
  if (!process.env.npm_config_nodedir && fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${prefix}`);
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
