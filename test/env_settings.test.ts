// The environment the native modules read is checked before one loads (from a new user's walk
// through the README): a garbage TFE_HOST_CACHE_MB was read by the C++ side as 0 (no cache),
// TFE_NUM_THREADS=0 as unset, and TFE_SYNC_KERNEL_MACS=x as "never inline", all without a word.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import test from 'ava';

import { checkNativeEnv, wholeNumberEnv } from '../lib/backend/env_settings';

test('wholeNumberEnv takes a whole number in range or the default, and names the variable otherwise', (t) => {
  t.is(wholeNumberEnv('X', 7, 0, 10, {}), 7);
  t.is(wholeNumberEnv('X', 7, 0, 10, { X: '' }), 7);
  t.is(wholeNumberEnv('X', 7, 0, 10, { X: ' 3 ' }), 3);
  for (const bad of ['lots', '-1', '2.5', '1e3', '11', '0x4'])
    t.throws(() => wholeNumberEnv('X', 7, 0, 10, { X: bad }), { message: `X must be a whole number in [0, 10], got '${bad}'` }, bad);
});

test('checkNativeEnv refuses a bad cache size, thread count or idle time', (t) => {
  t.notThrows(() => checkNativeEnv({ TFE_HOST_CACHE_MB: '0', TFE_NUM_THREADS: '2', TFE_HOST_CACHE_IDLE_MS: '0' }));
  t.throws(() => checkNativeEnv({ TFE_HOST_CACHE_MB: 'lots' }), { message: /^TFE_HOST_CACHE_MB must be a whole number in \[0, 1048576\], got 'lots'/ });
  t.throws(() => checkNativeEnv({ TFE_NUM_THREADS: '0' }), { message: /^TFE_NUM_THREADS must be a whole number in \[1, 1024\]/ });
  t.throws(() => checkNativeEnv({ TFE_HOST_CACHE_IDLE_MS: '5' }), { message: /^TFE_HOST_CACHE_IDLE_MS must be 0/ });
});

test('the CLI reports a bad setting by name and exits 1', (t) => {
  const tfe = path.join(__dirname, '..', 'lib', 'cli', 'tfe.js');
  const models = path.join(__dirname, '..', '..', 'bench', 'models');
  // `tfe info` loads the CPU module; `tfe verify` also runs kernels from JavaScript (where the
  // inline-kernel bounds are read).
  const info = [tfe, 'info', '--json'], verify = [tfe, 'verify', '--model', path.join(models, 'A', 'model.json'), '--input', path.join(models, 'sample-digits.json'), '--frac-bits', '16'];
  for (const [name, value, args] of [['TFE_HOST_CACHE_MB', 'lots', info], ['TFE_SYNC_KERNEL_MACS', 'x', verify]] as const) {
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, TFE_DEVICE: 'cpu', [name]: value } });
    t.is(r.status, 1, `${name}: ${r.stdout.slice(0, 200)} ${r.stderr.slice(0, 400)}`);
    t.regex(r.stderr, new RegExp(`^tfe: ${name} must be a whole number in \\[0, \\d+\\], got '${value}'`, 'm'), name);
  }
});
