import test from 'ava';

import { and, bitDecompose, bitExtract, cast, prefixSumReverseExclusive, RingTensor, xor } from '../lib/ring';
import { randomSmall, randomU64, sizeOf } from './helpers/random';
import { broadcastMap } from './helpers/reference';
import { make, take } from './helpers/tensors';

test('bitExtract and bitDecompose match BigInt, including edge values', async (t) => {
  for (const shape of [[257], [3, 5], [], [0, 4]]) {
    const av = [...randomU64(sizeOf(shape))];
    const a = RingTensor.fromBigInts(av, shape);
    for (const k of [0, 1, 31, 32, 62, 63]) {
      const bits = await bitExtract(a, k);
      t.is(bits.dtype, 'bit');
      t.deepEqual(take(bits), av.map((x) => (x >> BigInt(k)) & 1n));
    }
    const planes = await bitDecompose(a);
    t.deepEqual(planes.shape, [...shape, 64]);
    t.deepEqual(take(planes), av.flatMap((x) => [...Array(64).keys()].map((i) => (x >> BigInt(i)) & 1n)));
    a.dispose();
  }
});

test('xor and and on bit tensors, with broadcasting', async (t) => {
  for (const [as, bs] of [[[100], [100]], [[4, 8], [8]], [[3, 1], [1, 6]], [[0], [1]]] as [number[], number[]][]) {
    const av = [...randomSmall(sizeOf(as), 2)].map(BigInt);
    const bv = [...randomSmall(sizeOf(bs), 2)].map(BigInt);
    const a = make(av, as, 'bit');
    const b = make(bv, bs, 'bit');
    t.deepEqual(take(await xor(a, b)), broadcastMap(av, as, bv, bs, (x, y) => x ^ y).data);
    t.deepEqual(take(await and(a, b)), broadcastMap(av, as, bv, bs, (x, y) => x & y).data);
    a.dispose();
    b.dispose();
  }
});

test('cast between bit, z<p> and ring64', async (t) => {
  const bv = [...randomSmall(64, 2)].map(BigInt);
  const bits = make(bv, [64], 'bit');
  t.deepEqual(take(await cast(bits, 'ring64')), bv);
  const asField = await cast(bits, 'z67');
  t.is(asField.dtype, 'z67');
  t.deepEqual(take(asField), bv);
  const rv = [...randomU64(64)];
  const ring = RingTensor.fromBigInts(rv, [64]);
  t.deepEqual(take(await cast(ring, 'z67')), rv.map((x) => x % 67n));
  t.deepEqual(take(await cast(ring, 'bit')), rv.map((x) => x & 1n));
  const fv = [...randomSmall(10, 67)].map(BigInt);
  const field = make(fv, [10], 'z67');
  t.deepEqual(take(await cast(field, 'ring64')), fv);
  await t.throwsAsync(() => cast(field, 'bit'), { message: 'cast: no cast from z67 to bit' });
  await t.throwsAsync(() => cast(field, 'z66' as 'z67'), { message: /prime in \(2, 256\), got 66/ });
  for (const x of [bits, ring, field]) x.dispose();
});

test('prefixSumReverseExclusive sums the more significant positions, mod p and mod 2^64', async (t) => {
  for (const [dtype, mod] of [['z67', 67n], ['z251', 251n], ['ring64', 1n << 64n]] as const) {
    const shape = [7, 64];
    const v = dtype === 'ring64' ? [...randomU64(sizeOf(shape))] : [...randomSmall(sizeOf(shape), Number(mod))].map(BigInt);
    const a = make(v, shape, dtype);
    const want: bigint[] = [];
    for (let r = 0; r < 7; r++)
      for (let i = 0; i < 64; i++) {
        let s = 0n;
        for (let k = i + 1; k < 64; k++) s += v[r * 64 + k];
        want.push(s % mod);
      }
    t.deepEqual(take(await prefixSumReverseExclusive(a)), want, dtype);
    a.dispose();
  }
  const empty = make([], [3, 0], 'z67');
  t.deepEqual((await prefixSumReverseExclusive(empty)).shape, [3, 0]);
});

test('field tensors refuse elements outside [0, p)', (t) => {
  t.throws(() => RingTensor.fromUint8Array(new Uint8Array([1, 67]), [2], 'z67'), { message: /element 1 = 67 is not in \[0, 67\) for dtype z67/ });
  t.throws(() => RingTensor.fromUint8Array(new Uint8Array([2]), [1], 'bit'), { message: /element 0 = 2 is not in \[0, 2\)/ });
});
