// info().binary: which file was loaded and where it came from (a prebuild with the tag of its
// prebuild.json, or a source build), on package layouts made in a temporary directory (nothing
// is loaded: only paths and the manifest are read).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { binaryInfo, describeBinary, info } from '../lib/info';

const plat = `${process.platform}-${process.arch}`;

function layout(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-binary-'));
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), text);
  }
  return root;
}

const manifest = (files: string[]) =>
  JSON.stringify({ tag: `tfjs-encrypted-0.1.0-${plat}-napi8-src.0123456789ab`, commit: 'abcdef012345', release: true, files: Object.fromEntries(files.map((f) => [f, '0'.repeat(64)])) });

test('a prebuild is named by the tag of its prebuild.json', (t) => {
  const root = layout({
    [`prebuilds/${plat}/tfjs-encrypted.node`]: '',
    [`prebuilds/${plat}/prebuild.json`]: manifest(['tfjs-encrypted.node']),
  });
  const b = binaryInfo('cpu', root);
  t.is(b.origin, 'prebuild');
  t.is(b.path, path.join(root, 'prebuilds', plat, 'tfjs-encrypted.node'));
  t.is(b.tag, `tfjs-encrypted-0.1.0-${plat}-napi8-src.0123456789ab`);
  t.is(b.commit, 'abcdef012345');
  t.regex(describeBinary(b), new RegExp(`^prebuild tfjs-encrypted-0\\.1\\.0-${plat}-napi8-src\\.0123456789ab, commit abcdef012345: `));
});

test('a prebuild without a manifest, or not listed in it, is reported untagged and says why', (t) => {
  const bare = binaryInfo('cpu', layout({ [`prebuilds/${plat}/tfjs-encrypted.node`]: '' }));
  t.is(bare.origin, 'prebuild');
  t.is(bare.tag, undefined);
  t.regex(bare.note ?? '', /no prebuild\.json/);
  const unlisted = binaryInfo('cpu', layout({ [`prebuilds/${plat}/tfjs-encrypted.node`]: '', [`prebuilds/${plat}/prebuild.json`]: manifest([]) }));
  t.regex(unlisted.note ?? '', /does not list tfjs-encrypted\.node/);
  t.regex(describeBinary(unlisted), /^prebuild untagged prebuild: /);
});

test('a source build in build/Release comes first and is reported as compiled from source', (t) => {
  const root = layout({
    'build/Release/tfe_native.node': '',
    [`prebuilds/${plat}/tfjs-encrypted.node`]: '',
    [`prebuilds/${plat}/prebuild.json`]: manifest(['tfjs-encrypted.node']),
  });
  const b = binaryInfo('cpu', root);
  t.deepEqual(b, { origin: 'source', path: path.join(root, 'build', 'Release', 'tfe_native.node') });
  t.is(describeBinary(b, 'cmake-js'), `compiled from source (cmake-js): ${b.path}`);
});

test('info() of this installation names the module it loaded', (t) => {
  const i = info();
  t.true(i.binary.origin === 'source' || i.binary.origin === 'prebuild', JSON.stringify(i.binary));
  t.true(fs.existsSync(i.binary.path), i.binary.path);
});
