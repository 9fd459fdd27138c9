// The install step's choice (scripts/build-native.js): a prebuilt CPU module is kept only once it
// loads on this host (one built against a newer glibc, or for glibc on musl, installed and then
// failed at the first `tfe` command); in a git checkout prebuilds/ is never used (left by `npm
// run prebuild`, it hid later source changes). Run on a copy of the script in a scratch package,
// with no cmake on PATH, so that the source build it falls back to fails at once.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { cpuModulePath } from '../lib/backend/backends';

const script = path.join(__dirname, '..', '..', 'scripts', 'build-native.js');

function scratch(prebuild: 'loads' | 'broken', checkout = false): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-install-'));
  fs.mkdirSync(path.join(dir, 'scripts'));
  fs.copyFileSync(script, path.join(dir, 'scripts', 'build-native.js'));
  const pre = path.join(dir, 'prebuilds', `${process.platform}-${process.arch}`);
  fs.mkdirSync(pre, { recursive: true });
  if (prebuild === 'loads') fs.copyFileSync(cpuModulePath(), path.join(pre, 'tfjs-encrypted.node'));
  else fs.writeFileSync(path.join(pre, 'tfjs-encrypted.node'), 'not an ELF file');
  // Built from the sources beside it (none here: a package without native/ skips the hash check).
  fs.writeFileSync(path.join(pre, 'prebuild.json'), JSON.stringify({ sources: 'x' }));
  if (checkout) fs.mkdirSync(path.join(dir, '.git'));
  return dir;
}

function install(dir: string): { status: number | null; out: string } {
  // A PATH with node alone (no cmake, no compiler).
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'build-native.js')], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    // No cmake, no npm-provided node-gyp: a source build fails at once.
    env: { PATH: bin, HOME: dir, npm_config_node_gyp: path.join(dir, 'no-node-gyp.js') },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

test('a prebuilt binary that loads is used', (t) => {
  const r = install(scratch('loads'));
  t.is(r.status, 0, r.out);
  t.regex(r.out, /using prebuilt binaries in prebuilds\//);
});

test('a prebuilt binary that does not load here is not used: the install builds from source', (t) => {
  const r = install(scratch('broken'));
  t.regex(r.out, /the prebuilt binary is not used \(it does not load on this host: .+\); building from source instead/);
  t.notRegex(r.out, /using prebuilt binaries/);
  t.not(r.status, 0, 'the source build (no toolchain here) fails and says so');
  t.regex(r.out, /native build failed: .* retry with `node .*build-native\.js --force`/);
});

test('in a git checkout prebuilds/ is ignored: the install builds from source', (t) => {
  const r = install(scratch('loads', true));
  t.notRegex(r.out, /using prebuilt binaries|not used/);
  t.regex(r.out, /cmake not found; building with node-gyp instead/);
});

test('a prebuild made from other native sources than those beside it is not used', (t) => {
  const dir = scratch('loads');
  fs.mkdirSync(path.join(dir, 'native'));
  fs.mkdirSync(path.join(dir, 'cmake'));
  fs.writeFileSync(path.join(dir, 'native', 'a.cc'), 'int a;');
  fs.writeFileSync(path.join(dir, 'CMakeLists.txt'), '');
  fs.copyFileSync(path.join(__dirname, '..', '..', 'scripts', 'sources_hash.js'), path.join(dir, 'scripts', 'sources_hash.js'));
  const r = install(dir);
  t.regex(r.out, /the prebuilt binary is not used \(it was built from other native sources than these\); building from source instead/);
  // And with the hash of the sources beside it, it is.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { sourcesHash } = require(path.join(dir, 'scripts', 'sources_hash.js')) as { sourcesHash(root: string): string };
  fs.writeFileSync(path.join(dir, 'prebuilds', `${process.platform}-${process.arch}`, 'prebuild.json'), JSON.stringify({ sources: sourcesHash(dir) }));
  fs.rmSync(path.join(dir, 'bin'), { recursive: true });
  t.regex(install(dir).out, /using prebuilt binaries/);
});

test('a CUDA prebuild that does not load is said, and the CPU prebuild kept', (t) => {
  const dir = scratch('loads');
  const cuda = path.join(dir, 'prebuilds', `${process.platform}-${process.arch}`, 'cuda');
  fs.mkdirSync(cuda);
  fs.writeFileSync(path.join(cuda, 'tfe_cuda.node'), 'not an ELF file');
  const r = install(dir);
  t.is(r.status, 0, r.out);
  t.regex(r.out, /the CUDA prebuild does not load on this host/);
  t.regex(r.out, /using prebuilt binaries in prebuilds\/\S+ \(its CUDA module does not load here: /);
});

// Without cmake and without Node's headers beside the node binary, node-gyp would download the
// headers; the install says what to install instead (nothing is downloaded at install).
test('no cmake and no Node headers: the install refuses to let node-gyp download them', (t) => {
  const dir = scratch('broken');
  const prefix = path.join(dir, 'nodeprefix');
  fs.mkdirSync(path.join(prefix, 'bin'), { recursive: true });
  const node = path.join(prefix, 'bin', 'node');
  fs.copyFileSync(process.execPath, node); // a node whose prefix has no include/node
  fs.chmodSync(node, 0o755);
  const r = spawnSync(node, [path.join(dir, 'scripts', 'build-native.js')], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: path.join(prefix, 'bin'), HOME: dir },
  });
  const out = `${r.stdout}${r.stderr}`;
  t.not(r.status, 0, out);
  t.regex(out, /no cmake, and no Node headers at .* for node-gyp \(it would download them\): install cmake/);
  fs.rmSync(prefix, { recursive: true, force: true });
});
