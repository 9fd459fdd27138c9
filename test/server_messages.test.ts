// The forms the servers accept (lib/serve/messages.ts): a client's request is refused naming the
// problem; a malformed notice from another server is recognised as such (and ignored, logged).
import test from 'ava';

import { validateNotice, validateRequest } from '../lib/serve/messages';

const LEASE = '0123abcd-0000-4000-8000-00000000beef'; // a lease id is a UUID

test('well-formed notices of every type pass as they are', (t) => {
  const good = [
    { type: 'epoch', epoch: 'e1', models: [{ name: 'm', digest: 'd' }] },
    { type: 'epoch', epoch: 'e1', models: [] },
    { type: 'start', epoch: 'e1', index: 3, request: '["predict","m",[1,4],false,false]' },
    { type: 'start', epoch: 'e1', index: 3, pooled: true, request: '["predict","m",[1,4],false,false]' },
    { type: 'pool', epoch: 'e1', model: 'm', indices: [4, 5] },
    { type: 'pool', epoch: 'e1', model: 'm', batch: 16, indices: [4] },
    { type: 'unpool', epoch: 'e1', indices: [4] },
    { type: 'redeal', epoch: 'e1', model: 'm', indices: [4, 7] },
    { type: 'redeal', epoch: 'e1', model: 'm', batch: 16, indices: [4] },
    { type: 'setup-failed', epoch: 'e1' },
    { type: 'lease', epoch: 'e1', id: LEASE, model: 'm', index: 9, pooled: false, ttlMs: 5000 },
    { type: 'lease', epoch: 'e1', id: LEASE, model: 'm', index: 9, pooled: true, ttlMs: 5000, owner: 'client#12' },
    { type: 'unlease', epoch: 'e1', ids: [LEASE] },
    { type: 'unlease', epoch: 'e1', ids: Array(64).fill(LEASE) },
    // At the ends of the ranges.
    { type: 'start', epoch: 'e'.repeat(64), index: 2 ** 24 - 1, request: '[]' },
    { type: 'epoch', epoch: 'e1', models: [{ name: 'm', digest: 'd'.repeat(128) }] },
    { type: 'unpool', epoch: 'e1', indices: Array.from({ length: 100_000 }, (_, i) => i + 1) },
    { type: 'lease', epoch: 'e1', id: LEASE, model: 'm', index: 1, pooled: false, ttlMs: 600_000 },
  ];
  for (const n of good) t.is(validateNotice(n, 128), n as never, JSON.stringify(n));
});

test('malformed notices are recognised: wrong types, missing fields, out-of-range numbers', (t) => {
  const bad: unknown[] = [
    null,
    'start',
    [],
    { type: 'start', index: 3, request: '[]' },
    { type: 'start', epoch: 'e1', index: 3 },
    { type: 'start', epoch: 'e1', index: 3, request: 7 },
    { type: 'start', epoch: 'e1', index: 3, request: 'x'.repeat(4097) },
    { type: 'start', epoch: 'e1', index: 1.5 },
    { type: 'start', epoch: 'e1', index: '3' },
    { type: 'epoch', epoch: 'e1', models: 'm' },
    { type: 'epoch', epoch: 'e1', models: [{ name: 'm' }] },
    { type: 'epoch', epoch: 'e1', models: [null] },
    { type: 'pool', epoch: 'e1', model: 'm', indices: [0] },
    { type: 'pool', epoch: 'e1', model: 'm', indices: [4], batch: 129 },
    { type: 'pool', epoch: 'e1', model: 'm', indices: [4], batch: 0 },
    { type: 'pool', epoch: 'e1', indices: [4] },
    { type: 'unpool', epoch: 'e1', indices: [-1] },
    { type: 'unpool', epoch: 'e1', indices: 4 },
    { type: 'redeal', epoch: 'e1', indices: [4] },
    { type: 'redeal', epoch: 'e1', model: 'm', indices: [1.5] },
    { type: 'redeal', epoch: 'e1', model: 'm', indices: [4], batch: 129 },
    { type: 'lease', epoch: 'e1', id: 'short', model: 'm', index: 9, ttlMs: 5000 },
    { type: 'lease', epoch: 'e1', id: LEASE, model: 'm', index: 9, ttlMs: 0 },
    { type: 'lease', epoch: 'e1', id: LEASE, model: 'm', index: 9, ttlMs: 5000, owner: 'x'.repeat(65) },
    { type: 'lease', epoch: 'e1', id: LEASE, model: 'm', index: 9, ttlMs: 5000, owner: 12 },
    { type: 'unlease', epoch: 'e1', ids: LEASE },
    { type: 'unlease', epoch: 'e1', ids: ['short'] },
    { type: 'unlease', epoch: 'e1', ids: Array(65).fill(LEASE) },
    // Out of the ranges the servers use (a bug in server0 could send them; they are ignored).
    { type: 'start', epoch: 'e1', index: 0, request: '[]' },
    { type: 'start', epoch: 'e1', index: 2 ** 24, request: '[]' },
    { type: 'start', epoch: 'x'.repeat(65), index: 3, request: '[]' },
    { type: 'epoch', epoch: 'e1', models: [{ name: '../m', digest: 'd' }] },
    { type: 'epoch', epoch: 'e1', models: [{ name: 'm', digest: 'd'.repeat(129) }] },
    { type: 'pool', epoch: 'e1', model: 'm', indices: Array.from({ length: 100_001 }, (_, i) => i + 1) },
    { type: 'pool', epoch: 'e1', model: '../m', indices: [4] },
    { type: 'pool', epoch: 'e1', model: 'm', indices: [2 ** 24] },
    { type: 'unpool', epoch: 'e1', indices: Array.from({ length: 100_001 }, (_, i) => i + 1) },
    { type: 'redeal', epoch: 'e1', model: 'm', indices: [0] },
    { type: 'lease', epoch: 'e1', id: LEASE, model: 'm', index: 0, pooled: false, ttlMs: 5000 },
    { type: 'lease', epoch: 'e1', id: LEASE, model: 'm', index: 9, pooled: false, ttlMs: 600_001 },
    { type: 'lease', epoch: 'e1', id: LEASE, model: '', index: 9, pooled: false, ttlMs: 5000 },
    { type: 'teardown', epoch: 'e1' },
    { epoch: 'e1' },
  ];
  for (const n of bad) t.is(validateNotice(n, 128), undefined, JSON.stringify(n));
});

test('a client request is refused naming what is wrong with it', (t) => {
  t.deepEqual(validateRequest({ type: 'predict', model: 'm', shape: [1, 4] }), { type: 'predict', model: 'm', shape: [1, 4] });
  t.deepEqual(validateRequest({ type: 'status', extra: 1 }), { type: 'status' });
  // The final activations a client applies; names this release does not know pass (a newer client's).
  const finals = { type: 'predict', model: 'm', shape: [1, 4], finals: ['softmax', 'exponential', 'some_later_one'] };
  t.deepEqual(validateRequest(finals), finals);
  // A scalar weight (Keras's Normalization keeps its count as shape []) is a weight like any other.
  const deploy = { type: 'deploy', model: 'm', protocol: 'securenn', topology: {}, weights: [{ name: 'n/count', shape: [] }, { name: 'd/kernel', shape: [3, 2] }] };
  t.deepEqual(validateRequest(deploy), deploy);
  const refusals: [unknown, RegExp][] = [
    [null, /must be an object/],
    [{ type: 'drop-tables' }, /unknown request type "drop-tables"/],
    [{ type: 'predict', model: '../etc', shape: [1] }, /model name "..\/etc" is not allowed/],
    [{ type: 'predict', model: 'm', shape: [1, -4] }, /input shape \[1,-4\] must be a list of positive integers/],
    [{ type: 'predict', model: 'm', shape: [2, 4], lease: { id: LEASE, index: 3 } }, /a lease is for a batch-1 query; this one has batch 2/],
    [{ type: 'predict', model: 'm', shape: [1, 4], lease: { id: 'x', index: 3 } }, /lease must be/],
    [{ type: 'predict', model: 'm', shape: [1, 4], finals: 'softmax' }, /finals must be a list of at most 16 activation names/],
    [{ type: 'predict', model: 'm', shape: [1, 4], finals: ['soft max'] }, /finals must be/],
    [{ type: 'predict', model: 'm', shape: [1, 4], finals: new Array(17).fill('softmax') }, /finals must be/],
    [{ type: 'deploy', model: 'm', protocol: 'magic', topology: {}, weights: [] }, /magic/],
    [{ type: 'deploy', model: 'm', protocol: 'pond', weights: [] }, /topology is missing/],
    [{ type: 'deploy', model: 'm', protocol: 'pond', topology: {}, weights: [{ name: 'w' }] }, /weights must be a list of \{ name, shape \}/],
    [{ type: 'deploy', model: 'm', protocol: 'pond', topology: {}, weights: [{ name: 'w', shape: [0] }] }, /weights must be a list of \{ name, shape \}/],
  ];
  for (const [raw, why] of refusals) t.throws(() => validateRequest(raw), { message: why }, JSON.stringify(raw));
});
