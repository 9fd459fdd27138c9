import test from 'ava';

import { oddAdd, oddSub, RingTensor } from '../lib/ring';
import { EDGES, randomU64 } from './helpers/random';
import { take } from './helpers/tensors';

const M = (1n << 64n) - 1n;

test('odd-ring add and sub match BigInt mod 2^64 - 1, with edge values and broadcasting', async (t) => {
  const a = [...randomU64(300), ...EDGES, M - 1n];
  const b = [...randomU64(300), ...EDGES.slice().reverse(), 1n];
  const ta = RingTensor.fromBigInts(a);
  const tb = RingTensor.fromBigInts(b);
  t.deepEqual(take(await oddAdd(ta, tb)), a.map((x, i) => (x + b[i]) % M));
  t.deepEqual(take(await oddSub(ta, tb)), a.map((x, i) => (((x - b[i]) % M) + M) % M));
  const one = RingTensor.fromBigInts([M - 1n], [1]);
  t.deepEqual(take(await oddAdd(ta, one)), a.map((x) => (x + M - 1n) % M));
  for (const x of [ta, tb, one]) x.dispose();
});
