// Reductions read their axes as tfjs does: none given (or null) means every axis, one axis or a
// list, negative axes from the end. reduceMax over several axes (with keepDims) is checked against
// plaintext on random values under both exact protocols; the refusals name the problem.
import test from 'ava';

import * as tfe from '../lib';

const U = 2 ** -16;

function randomFixed(n: number, scale: number): number[] {
  return Array.from({ length: n }, () => Math.round(((Math.random() * 2 - 1) * scale) / U) * U);
}

/** Plaintext max over `axes` of an array of `shape`, in row-major order, keeping them as size 1. */
function plainMax(data: number[], shape: number[], axes: number[]): number[] {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Array(outShape.reduce((a, b) => a * b, 1)).fill(-Infinity);
  data.forEach((v, flat) => {
    let rem = flat, o = 0, stride = 1;
    const idx = [...shape].reverse().map((d) => { const i = rem % d; rem = Math.floor(rem / d); return i; }).reverse();
    for (let i = shape.length - 1; i >= 0; i--) { o += (axes.includes(i) ? 0 : idx[i]) * stride; stride *= outShape[i]; }
    out[o] = Math.max(out[o], v);
  });
  return out;
}

for (const protocol of ['securenn', 'fss'] as const) {
  test(`${protocol}: reduceMax over every axis, over a list with keepDims, and negative axes, against plaintext`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    const shape = [3, 4, 5];
    const data = randomFixed(60, 100);
    data[17] = 200; // the whole tensor's maximum, away from axis 0's first slice
    const x = tfe.definePrivateInput('input-provider', () => ({ data, shape }), c);
    const cases: [tfe.AnyTensor, number[], number[]][] = [
      [tfe.reduceMax(x), [0, 1, 2], []],
      [tfe.reduceMax(x, null), [0, 1, 2], []],
      [tfe.reduceMax(x, [0, 2], true), [0, 2], [1, 4, 1]],
      [tfe.reduceMax(x, [-1, 0]), [0, 2], [4]],
      [tfe.reduceMax(x, 1), [1], [3, 5]],
    ];
    for (const [y, axes, outShape] of cases) {
      t.deepEqual(y.shape, outShape);
      const got = await tfe.defineOutput('output-receiver', y);
      t.deepEqual([...got.data], plainMax(data, shape, axes), `axes ${axes}`);
    }
    t.is((await tfe.defineOutput('output-receiver', tfe.reduceMax(x))).data[0], 200);
    await c.close();
  });
}

test('reduceSum: null means every axis; an empty list sums over nothing', async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  const data = randomFixed(12, 10);
  const x = tfe.definePrivateInput('input-provider', () => ({ data, shape: [3, 4] }), c);
  const all = await tfe.defineOutput('output-receiver', tfe.reduceSum(x, null));
  t.true(Math.abs(all.data[0] - data.reduce((a, b) => a + b, 0)) < 1e-9);
  t.deepEqual([...(await tfe.defineOutput('output-receiver', tfe.reduceSum(x, []))).data], data);
  await c.close();
});

test('reductions and reshape refuse bad axes and shapes with the reason', async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  const x = tfe.definePrivateInput('input-provider', () => ({ data: [1, 2, 3, 4, 5, 6], shape: [2, 3] }), c);
  t.throws(() => tfe.reduceMax(x, [0, -2]), { message: /reduceMax: axes \[0,-2\] repeat an axis/ });
  t.throws(() => tfe.reduceMax(x, 2), { message: /reduceMax: axis 2 is out of range for shape \[2,3\]/ });
  t.throws(() => tfe.reduceSum(x, '1' as unknown as number), { message: /reduceSum: axes must be a number, a list of numbers, or null/ });
  t.throws(() => tfe.argmax(x, null as unknown as number), { message: /argmax: axis must be one number/ });
  t.throws(() => tfe.reshape(x, [-1, -1]), { message: /more than one -1/ });
  t.throws(() => tfe.reshape(x, [1.5, 4]), { message: /must hold non-negative integers and at most one -1/ });
  t.throws(() => tfe.reshape(x, [4, -1]), { message: /cannot reshape \[2,3\] \(6 values\) to \[4,-1\]/ });
  await c.close();
});
