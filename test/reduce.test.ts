import test from 'ava';

import { type DType, reduceSum } from '../lib/ring';
import { randomSmall, randomU64, sizeOf } from './helpers/random';
import { reduceSumRef } from './helpers/reference';
import { make, modOf, randomValues, take } from './helpers/tensors';

const AXES: number[][] = [[0], [1], [2], [0, 2], [1, 2], [0, 1, 2], []];

for (const dtype of ['ring64', 'z67', 'bit'] as DType[])
  test(`reduceSum ${dtype} over every axis set, with and without keepDims`, async (t) => {
    const shape = [5, 6, 7];
    const v = randomValues(sizeOf(shape), dtype, randomU64, randomSmall);
    const a = make(v, shape, dtype);
    for (const axes of AXES) {
      const want = reduceSumRef(v, shape, axes, modOf(dtype));
      const kept = await reduceSum(a, axes, true);
      t.deepEqual(kept.shape, shape.map((d, i) => (axes.includes(i) ? 1 : d)));
      t.deepEqual(take(kept), want, `${axes}`);
      const dropped = await reduceSum(a, axes);
      t.deepEqual(dropped.shape, shape.filter((_, i) => !axes.includes(i)));
      t.deepEqual(take(dropped), want);
    }
    const all = await reduceSum(a);
    t.deepEqual(all.shape, []);
    t.deepEqual(take(all), reduceSumRef(v, shape, [0, 1, 2], modOf(dtype)));
    a.dispose();
  });

test('reduceSum of empty axes and zero-size inputs', async (t) => {
  const z = make([], [3, 0, 2], 'ring64');
  t.deepEqual(take(await reduceSum(z, [1])), [0n, 0n, 0n, 0n, 0n, 0n]);
  t.deepEqual((await reduceSum(z, [0])).shape, [0, 2]);
  await t.throwsAsync(() => reduceSum(z, [3]), { message: 'reduceSum: axis 3 is out of range for shape [3,0,2]' });
  await t.throwsAsync(() => reduceSum(z, [1, -2]), { message: /repeat an axis/ });
  z.dispose();
});
