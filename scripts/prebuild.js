#!/usr/bin/env node
// `npm run prebuild`: the binaries that `npm pack` ships, made with prebuildify (Node-API, one
// build for every Node >= 20 on this platform), driven through scripts/cmake-js-shim.js because
// prebuildify knows only node-gyp:
//   prebuilds/<platform>-<arch>/tfjs-encrypted.node   the CPU module (prebuildify 6 names a Node-API
//                                                      build after the package, no abi tag)
//   prebuilds/<platform>-<arch>/cuda/tfe_cuda.node    the CUDA module, when nvcc is found
//   prebuilds/<platform>-<arch>/prebuild.json         the manifest: tag, sources hash, commit,
//                                                      architectures, sha256 of each module
// Both modules stripped. TFE_CUDA=OFF skips the CUDA module; TFE_CUDA_ARCHS="90" (default
// "75;80;86;89;90") picks its architectures. The cmake-js build directory is build/prebuild,
// configured afresh each time (its object files are reused); TFE_PREBUILD_BUILD_DIR=build reuses
// the build of `npm install` instead, with its options (scripts/check-pack.sh does: relink only),
// and the manifest then says `"release": false`.
// In a checkout, a source build in build/Release still comes before prebuilds/ at load time.
//
//   node scripts/prebuild.js              build (always)
//   node scripts/prebuild.js --if-stale   `npm pack`/`npm publish` (prepack): keep prebuilds/ when its
//                                         manifest matches the sources, the files and the wanted
//                                         configuration, else build; a failed build fails the pack
//   node scripts/prebuild.js --check      exit 1, saying why, unless prebuilds/ is up to date
//   node scripts/prebuild.js --release-archs   print the release architecture list
'use strict';
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const RELEASE_CUDA_ARCHS = '75;80;86;89;90';
const MANIFEST = 'prebuild.json';
const CPU_FILE = 'tfjs-encrypted.node';
const CUDA_FILE = 'cuda/tfe_cuda.node';

const root = path.resolve(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const stage = path.join(root, 'build', 'prebuildify'); // prebuildify's working directory
const artifacts = path.join(stage, 'artifacts');
const shim = path.join(__dirname, 'cmake-js-shim.js');
const plat = `${process.platform}-${process.arch}`;
const rel = (f) => path.relative(root, f) || '.';
const log = (m) => console.log(`[prebuild] ${m}`);
function die(m) {
  console.error(`[prebuild] error: ${m}`);
  process.exit(1);
}

const args = process.argv.slice(2);
const known = ['--if-stale', '--check', '--release-archs', '--prebuilds=<dir>'];
for (const a of args) if (!known.includes(a) && !a.startsWith('--prebuilds=')) die(`unknown option ${a} (expected ${known.join(', ')})`);
if (args.includes('--release-archs')) {
  console.log(RELEASE_CUDA_ARCHS);
  process.exit(0);
}
const ifStale = args.includes('--if-stale');
const checkOnly = args.includes('--check');
// --check --prebuilds=<dir>: check another prebuilds/ directory (scripts/check-pack.sh checks a tampered copy).
const otherDir = args.find((a) => a.startsWith('--prebuilds='));
if (otherDir && !checkOnly) die('--prebuilds=<dir> goes with --check only');
const builds = otherDir ? path.join(path.resolve(otherDir.slice('--prebuilds='.length)), plat) : path.join(root, 'prebuilds', plat);

const reuse = Boolean(process.env.TFE_PREBUILD_BUILD_DIR);
const buildDir = reuse ? path.resolve(process.env.TFE_PREBUILD_BUILD_DIR) : path.join(root, 'build', 'prebuild');
const cudaSetting = (process.env.TFE_CUDA || '').toUpperCase();
if (cudaSetting && !['ON', 'OFF', '1', '0', 'TRUE', 'FALSE', 'YES', 'NO'].includes(cudaSetting)) {
  die(`TFE_CUDA=${process.env.TFE_CUDA}: expected ON or OFF`);
}
const cudaOff = ['OFF', '0', 'FALSE', 'NO'].includes(cudaSetting);
// "75;80", "75,80" and "75 80" are the same list (cmake/cuda.cmake accepts all three).
const normArchs = (s) => String(s).split(/[;, ]+/).filter(Boolean).join(',');
// Release binaries cover every supported GPU generation (a source build defaults to the GPU it
// finds, or to one architecture plus PTX: see cmake/cuda.cmake). A reused build directory keeps
// its own list unless TFE_CUDA_ARCHS says otherwise.
const wantArchs = process.env.TFE_CUDA_ARCHS ? normArchs(process.env.TFE_CUDA_ARCHS) : reuse ? null : normArchs(RELEASE_CUDA_ARCHS);

// What the binaries are built from (scripts/sources_hash.js).
const sourcesHash = () => require('./sources_hash').sourcesHash(root);

const sha256 = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

// Where CMake's check_language(CUDA) would find nvcc.
function nvccFound() {
  if (process.env.CUDACXX) return fs.existsSync(process.env.CUDACXX);
  if (spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status === 0) return true;
  return fs.existsSync('/usr/local/cuda/bin/nvcc');
}

function git(...argv) {
  const r = spawnSync('git', argv, { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

function readManifest() {
  const f = path.join(builds, MANIFEST);
  if (!fs.existsSync(f)) return null;
  try {
    return JSON.parse(fs.readFileSync(f, 'utf8'));
  } catch (e) {
    return { invalid: e.message };
  }
}

// Why prebuilds/<plat> cannot be packed as it is, or null when it can.
function staleReason(hash) {
  const m = readManifest();
  if (!fs.existsSync(builds)) return `there is no ${rel(builds)}`;
  if (!m) return `${rel(builds)} has no ${MANIFEST} (made by an older scripts/prebuild.js, or by hand)`;
  if (m.invalid) return `${rel(path.join(builds, MANIFEST))} is not valid JSON (${m.invalid})`;
  if (m.sources !== hash) return `the native sources changed since the prebuild (sources ${String(m.sources).slice(0, 12)}, now ${hash.slice(0, 12)})`;
  const listed = Object.keys(m.files || {});
  for (const f of listed) {
    const p = path.join(builds, f);
    if (!fs.existsSync(p)) return `${rel(p)} is missing`;
    if (sha256(p) !== m.files[f]) return `${rel(p)} is not the file the manifest names (sha256 differs)`;
  }
  const present = [CPU_FILE, CUDA_FILE].filter((f) => fs.existsSync(path.join(builds, f)));
  for (const f of present) if (!listed.includes(f)) return `${rel(path.join(builds, f))} is not in the manifest`;
  if (!listed.includes(CPU_FILE)) return `the manifest lists no CPU module (${CPU_FILE})`;
  if (!reuse && !m.release) return `it was built from ${m.buildDir} with that directory's options, not the release configuration`;
  if (cudaOff && m.cuda) return 'TFE_CUDA=OFF but it has a CUDA module';
  if (!cudaOff && !m.cuda && nvccFound()) return 'nvcc is installed here but it has no CUDA module (TFE_CUDA=OFF packs the CPU module alone)';
  if (m.cuda && wantArchs && normArchs(m.cuda.architectures) !== wantArchs) {
    return `its CUDA module is built for ${m.cuda.architectures}, wanted ${wantArchs}`;
  }
  return null;
}

const hash = sourcesHash();
if (ifStale || checkOnly) {
  const why = staleReason(hash);
  if (!why) {
    const m = readManifest();
    log(`${rel(builds)} is up to date: ${m.tag}${m.cuda ? `, CUDA sm ${m.cuda.architectures}` : ', no CUDA module'}`);
    process.exit(0);
  }
  if (checkOnly) die(`${rel(builds)} cannot be packed: ${why}; run \`npm run prebuild\``);
  log(`building the prebuilds: ${why}`);
}

let prebuildify;
try {
  prebuildify = require('prebuildify');
} catch {
  die('prebuildify is missing: run `npm install` (it is a devDependency)');
}

const strip = spawnSync('strip', ['--version'], { stdio: 'ignore' }).status === 0;
if (!strip) console.warn('[prebuild] warning: `strip` not found (binutils): the prebuilds keep their symbols');

// Start clean: a CUDA module left from an earlier run must not ship with a build that has none.
fs.rmSync(builds, { recursive: true, force: true });
fs.rmSync(stage, { recursive: true, force: true });
fs.mkdirSync(artifacts, { recursive: true });
fs.chmodSync(shim, 0o755); // prebuildify executes it directly

if (!reuse && !process.env.TFE_CUDA_ARCHS) process.env.TFE_CUDA_ARCHS = RELEASE_CUDA_ARCHS;
if (!reuse && !process.env.TFE_CUDA_TESTS) process.env.TFE_CUDA_TESTS = 'OFF'; // no test programs in a release build
if (!reuse) fs.rmSync(path.join(buildDir, 'CMakeCache.txt'), { force: true }); // no options left from a previous run
fs.rmSync(path.join(buildDir, 'tfe_build_info.json'), { force: true }); // written by this configure

const started = Date.now();
process.env.TFE_PREBUILD_ROOT = root;
process.env.TFE_PREBUILD_BUILD_DIR = buildDir;
process.env.TFE_PREBUILD_ARTIFACTS = artifacts;
prebuildify(
  { cwd: stage, out: root, name: pkg.name, napi: true, strip, nodeGyp: shim, artifacts },
  (err) => {
    if (err) {
      fs.rmSync(builds, { recursive: true, force: true }); // nothing half-made is left to pack
      die(`the build failed (${err.message || err}; the cmake-js output is above); nothing was written to ${rel(builds)}`);
    }
    fs.rmSync(stage, { recursive: true, force: true });
    writeManifest();
    const list = (dir) =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? list(path.join(dir, e.name)) : [path.join(dir, e.name)],
      );
    for (const f of list(builds)) log(`${rel(f)}  ${(fs.statSync(f).size / 1048576).toFixed(2)} MiB`);
    log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  },
);

function writeManifest() {
  const cpu = path.join(builds, CPU_FILE);
  if (!fs.existsSync(cpu)) die(`prebuildify wrote no ${rel(cpu)}`);
  const infoFile = path.join(buildDir, 'tfe_build_info.json');
  if (!fs.existsSync(infoFile)) die(`${rel(infoFile)} is missing: CMakeLists.txt writes it at configure time`);
  const b = JSON.parse(fs.readFileSync(infoFile, 'utf8'));
  const cudaModule = path.join(builds, CUDA_FILE);
  if (b.cuda && !fs.existsSync(cudaModule)) die(`the CUDA module was built but ${rel(cudaModule)} is missing`);
  if (!b.cuda && fs.existsSync(cudaModule)) die(`${rel(cudaModule)} exists but this build has no CUDA module`);
  const files = { [CPU_FILE]: sha256(cpu) };
  if (b.cuda) files[CUDA_FILE] = sha256(cudaModule);
  const commit = git('rev-parse', 'HEAD');
  const dirty = commit !== null && git('status', '--porcelain', '--', 'native', 'cmake', 'CMakeLists.txt') !== '';
  const napi = (pkg.binary && pkg.binary.napi_versions && pkg.binary.napi_versions[0]) || 8;
  const manifest = {
    tag: `${pkg.name}-${pkg.version}-${plat}-napi${napi}-src.${hash.slice(0, 12)}`,
    package: pkg.name,
    version: pkg.version,
    platform: plat,
    napi,
    sources: hash,
    commit: commit ? `${commit.slice(0, 12)}${dirty ? '+dirty' : ''}` : null,
    release: !reuse,
    buildDir: rel(buildDir),
    builtAt: new Date().toISOString(),
    compiler: b.cxx,
    cuda: b.cuda ? { architectures: b.cudaArchitectures, version: b.cudaVersion } : null,
    files,
  };
  fs.writeFileSync(path.join(builds, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  if (!b.cuda) console.warn(`[prebuild] warning: no CUDA module (${cudaOff ? 'TFE_CUDA=OFF' : 'no nvcc found'}): a package made from ${rel(builds)} computes on CPUs only`);
  log(`${rel(path.join(builds, MANIFEST))}: ${manifest.tag}${manifest.release ? '' : ` (not a release build: ${manifest.buildDir})`}`);
}
