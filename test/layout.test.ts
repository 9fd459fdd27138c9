import test from 'ava';

import { concat, flatten, gather, pad, RingTensor, reshape, slice, transpose } from '../lib/ring';
import { randomSmall, randomU64, sizeOf } from './helpers/random';
import { sliceRef, transposeRef } from './helpers/reference';
import { make, take } from './helpers/tensors';

test('reshape shares memory, infers -1 and rejects a size change naming both shapes', (t) => {
  const v = [...randomU64(24)];
  const a = RingTensor.fromBigInts(v, [2, 3, 4]);
  const b = reshape(a, [4, -1]);
  t.deepEqual(b.shape, [4, 6]);
  t.deepEqual(b.toBigInts(), v);
  t.deepEqual(flatten(a).shape, [2, 12]);
  t.throws(() => reshape(a, [5, 5]), { message: 'reshape: cannot reshape [2,3,4] (24 elements) to [5,5] (25 elements)' });
  a.dispose();
  t.deepEqual(take(b), v, 'a reshape outlives the tensor it came from');
});

test('transpose with every permutation of a rank-4 tensor, for ring64 and z<p>', async (t) => {
  const shape = [2, 3, 4, 5];
  const perms: number[][] = [];
  const permute = (rest: number[], acc: number[]) => {
    if (!rest.length) perms.push(acc);
    rest.forEach((r, i) => permute([...rest.slice(0, i), ...rest.slice(i + 1)], [...acc, r]));
  };
  permute([0, 1, 2, 3], []);
  t.is(perms.length, 24);
  for (const dtype of ['ring64', 'z67'] as const) {
    const v = dtype === 'ring64' ? [...randomU64(sizeOf(shape))] : [...randomSmall(sizeOf(shape), 67)].map(BigInt);
    const a = make(v, shape, dtype);
    for (const p of perms) {
      const out = await transpose(a, p);
      t.deepEqual(out.shape, p.map((i) => shape[i]));
      t.deepEqual(take(out), transposeRef(v, shape, p), `${dtype} ${p}`);
    }
    t.deepEqual(take(await transpose(a)), transposeRef(v, shape, [3, 2, 1, 0]));
    a.dispose();
  }
  const big = RingTensor.fromBigInts([...randomU64(300 * 200)], [300, 200]);
  const bt = await transpose(big);
  t.deepEqual(take(bt), transposeRef(big.toBigInts(), [300, 200], [1, 0]));
  big.dispose();
  const z = make([], [0, 3], 'ring64');
  t.deepEqual((await transpose(z)).shape, [3, 0]);
});

test('slice, including -1 sizes, empty slices and bit tensors', async (t) => {
  const shape = [4, 5, 6];
  const v = [...randomU64(sizeOf(shape))];
  const a = RingTensor.fromBigInts(v, shape);
  for (const [b, s] of [[[0, 0, 0], [4, 5, 6]], [[1, 2, 3], [2, 2, 2]], [[3, 0, 5], [1, -1, 1]], [[2, 2, 2], [0, 3, 1]]]) {
    const want = s.map((d, i) => (d === -1 ? shape[i] - b[i] : d));
    t.deepEqual(take(await slice(a, b, s)), sliceRef(v, shape, b, want), `${b} ${s}`);
  }
  await t.throwsAsync(() => slice(a, [3, 0, 0], [2, 1, 1]), { message: 'slice: begin [3,0,0] size [2,1,1] is out of bounds for shape [4,5,6]' });
  a.dispose();
  const bv = [...randomSmall(24, 2)].map(BigInt);
  const bits = make(bv, [4, 6], 'bit');
  t.deepEqual(take(await slice(bits, [1, 1], [2, 3])), sliceRef(bv, [4, 6], [1, 1], [2, 3]));
  bits.dispose();
});

test('concat along each axis matches a reference built from slices', async (t) => {
  const s1 = [2, 3, 4];
  for (const axis of [0, 1, 2, -1]) {
    const ax = axis < 0 ? axis + 3 : axis;
    const s2 = s1.map((d, i) => (i === ax ? d + 2 : d));
    const s3 = s1.map((d, i) => (i === ax ? 0 : d));
    const [v1, v2] = [[...randomU64(sizeOf(s1))], [...randomU64(sizeOf(s2))]];
    const [a, b, e] = [RingTensor.fromBigInts(v1, s1), RingTensor.fromBigInts(v2, s2), RingTensor.fromBigInts([], s3)];
    const out = await concat([a, e, b], axis);
    const os = s1.map((d, i) => (i === ax ? d + s2[ax] : d));
    t.deepEqual(out.shape, os);
    const got = out.toBigInts();
    const begin2 = os.map((_, i) => (i === ax ? s1[ax] : 0));
    t.deepEqual(sliceRef(got, os, [0, 0, 0], s1), v1);
    t.deepEqual(sliceRef(got, os, begin2, s2), v2);
    for (const x of [a, b, e, out]) x.dispose();
  }
  const a = RingTensor.fromBigInts([1n, 2n], [1, 2]);
  const b = RingTensor.fromBigInts([1n, 2n, 3n], [1, 3]);
  await t.throwsAsync(() => concat([a, b], 0), { message: 'concat: shapes [1,2] and [1,3] differ outside axis 0' });
  a.dispose();
  b.dispose();
});

test('pad with zero and with a constant', async (t) => {
  const shape = [2, 3];
  const v = [...randomU64(6)];
  const a = RingTensor.fromBigInts(v, shape);
  for (const value of [0n, 7n, -1n]) {
    const out = await pad(a, [[1, 0], [2, 1]], value);
    t.deepEqual(out.shape, [3, 6]);
    const got = take(out);
    const fill = BigInt.asUintN(64, value);
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 6; j++) {
        const inside = i >= 1 && j >= 2 && j < 5;
        t.is(got[i * 6 + j], inside ? v[(i - 1) * 3 + (j - 2)] : fill);
      }
  }
  await t.throwsAsync(() => pad(a, [[1, 0]]), { message: 'pad: paddings must hold one [before, after] pair per axis of [2,3]' });
  a.dispose();
});

test('gather along an axis, with repeats, and out-of-range indices named', async (t) => {
  const shape = [4, 3, 2];
  const v = [...randomU64(24)];
  const a = RingTensor.fromBigInts(v, shape);
  const idx = [3, 0, 3, 1];
  const out = await gather(a, idx, 0);
  t.deepEqual(out.shape, [4, 3, 2]);
  t.deepEqual(take(out), idx.flatMap((i) => v.slice(i * 6, i * 6 + 6)));
  const out1 = await gather(a, [2, 2], 1);
  t.deepEqual(take(out1), [0, 1, 2, 3].flatMap((o) => [2, 2].flatMap((i) => v.slice(o * 6 + i * 2, o * 6 + i * 2 + 2))));
  t.deepEqual(take(await gather(a, [], 2)), []);
  await t.throwsAsync(() => gather(a, [0, 3], 1), { message: 'gather: index 3 at position 1 is out of range [0, 3) for axis 1 of [4,3,2]' });
  a.dispose();
});
