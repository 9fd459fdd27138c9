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

const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
if (!force && fs.existsSync(prebuilt) && fs.readdirSync(prebuilt).some((f) => f.endsWith('.node'))) {
  console.log(`[tfjs-encrypted] using prebuilt binaries in ${path.relative(root, prebuilt)}`);
  process.exit(0);
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
  ok = run(process.execPath, [require.resolve('cmake-js/bin/cmake-js'), 'compile', '--out', 'build']);
} else {
  console.warn('[tfjs-encrypted] cmake not found; building with node-gyp instead');
  ok = run(...nodeGypCommand());
}
if (!ok) {
  console.error('[tfjs-encrypted] native build failed: a C++17 compiler and cmake >= 3.19 (or node-gyp) are needed; retry with `npm run build:native`');
  process.exit(1);
}
