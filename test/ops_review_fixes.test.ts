// Ops that gave wrong answers silently, found by a review, each against plaintext now: concat's
// axis below -rank, argmax's ties, a public tensor times a number, tanh under a narrowed fssBits,
// average pooling's defaults and its too-large windows, a polynomial's constant term, verify's
// agreement for one-output models, and a list given as one private variable.
import test from 'ava';

import * as tfe from '../lib';
import { polynomial } from '../lib/api/ops_nonlinear';
import { newCluster } from './helpers/suites/harness';

async function withCluster<T>(protocol: 'securenn' | 'fss' | 'pond', f: (c: tfe.Cluster) => Promise<T>, opts: tfe.ClusterOptions = {}): Promise<T> {
  const c = newCluster(protocol, opts);
  try {
    return await f(c);
  } finally {
    await c.close();
  }
}
const input = (c: tfe.Cluster, data: number[], shape = [data.length]) => tfe.definePrivateInput('input-provider', () => ({ data, shape }), c);
const out = async (t: tfe.AnyTensor) => [...(await tfe.defineOutput('output-receiver', t)).data];

test('concat refuses an axis below -rank (it built a tensor whose values and shape disagreed)', async (t) => {
  await withCluster('securenn', async (c) => {
    const x = input(c, [1, 2, 3, 4, 5, 6], [2, 3]);
    t.throws(() => tfe.concat([x, x], -3), { message: /concat: axis -3 is out of range for rank 2/ });
    t.deepEqual(await out(tfe.concat([x, x], -2)), [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);
  });
});

for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: argmax takes the first of tied maxima, as tfjs does, on fresh rows with ties`, async (t) => {
    await withCluster(protocol, async (c) => {
      const rows = [[1, 5, 5, 1], [0, 2, 0, 2], [3, 1, 3, 3, 3], [2, 9, 9, 9, 1, 9]];
      for (let i = 0; i < 6; i++) rows.push(Array.from({ length: 3 + i }, () => Math.floor(Math.random() * 3)));
      for (const row of rows) {
        const want = row.indexOf(Math.max(...row));
        t.deepEqual(await out(tfe.argmax(input(c, row, [1, row.length]), 1)), [want], row.join(','));
      }
    });
  });

test('a public tensor times a number takes the private path\'s steps: no overflow where the private product fits', async (t) => {
  await withCluster('securenn', async (c) => {
    const pub = (v: number[]) => tfe.definePublicInput('input-provider', () => ({ data: v, shape: [v.length] }), c);
    t.deepEqual(await out(tfe.add(tfe.mul(pub([3e6, -7]), 1024), input(c, [0, 0]))), [3072000000, -7168]);
    t.deepEqual(await out(tfe.add(tfe.mul(pub([5e9, 3]), 0.5), input(c, [0, 0]))), [2500000000, 1.5]);
  });
});

test('fss, fssBits 32: tanh of values within the width keeps its sign (its comparisons take 2x)', async (t) => {
  await withCluster('fss', async (c) => {
    const xs = [20000, -20000, 0.5, -3, 16000];
    const got = await out(tfe.tanh(input(c, xs)));
    xs.forEach((x, i) => t.true(Math.abs(got[i] - Math.tanh(x)) < 2e-3, `${x}: ${got[i]}`));
  }, { fssBits: 32 });
});

test('avgPool2d: strides default to the window (both sides), the window to 2x2; a large window averages to its reciprocal\'s extra bits', async (t) => {
  await withCluster('pond', async (c) => {
    const img = Array.from({ length: 12 }, (_, i) => i);
    const got = await out(tfe.avgPool2d(input(c, img, [1, 2, 6, 1]), { poolSize: [2, 3] }));
    const want = [(0 + 1 + 2 + 6 + 7 + 8) / 6, (3 + 4 + 5 + 9 + 10 + 11) / 6];
    got.forEach((v, i) => t.true(Math.abs(v - want[i]) < 1e-3, `${v} vs ${want[i]}`));
    t.deepEqual((await tfe.defineOutput('output-receiver', tfe.avgPool2d(input(c, new Array(16).fill(1), [1, 4, 4, 1]), { poolSize: 2 }))).shape, [1, 2, 2, 1]);
    // 1/90000 at 16 fractional bits rounded to 1/65536 (refused then); with the reciprocal's extra bits, 2 to 2^-13 of itself.
    const big = await out(tfe.avgPool2d(input(c, new Array(300 * 300).fill(2), [1, 300, 300, 1]), { poolSize: 300 }));
    t.true(Math.abs(big[0] - 2) < 2 * 2 ** -12, `${big[0]}`);
  });
});

test('a polynomial refuses coefficients its fixed point cannot hold (a constant of 2.5e9 wrapped), and NaN, naming them', async (t) => {
  await withCluster('pond', async (c) => {
    const x = input(c, [1, 2]);
    t.throws(() => polynomial(x, { coeffs: [2.5e9, 1], interval: [-1, 1], maxError: 0 }), { message: /coefficient 0 \(2500000000\) is outside what 32 fractional bits of the ring hold/ });
    t.throws(() => polynomial(x, { coeffs: [0, Number.NaN], interval: [-1, 1], maxError: 0 }), { message: /coefficient 1 \(NaN\)/ });
    t.deepEqual(await out(polynomial(x, { coeffs: [1000, 2], interval: [-1, 1], maxError: 0 })), [1002, 1004]);
  });
});

test("verify's agreement for one output per row is by its sign; a rank-1 output is one value per sample", (t) => {
  const plain = { data: Float64Array.from([0.3, -2, 1]), shape: [3, 1] };
  const opposite = { data: Float64Array.from([-0.3, 2, -1]), shape: [3, 1] };
  t.like(tfe.compareOutputs(plain, opposite, 'sigmoid').agreement, { agreed: 0, rows: 3 });
  t.like(tfe.compareOutputs(plain, plain, 'sigmoid').agreement, { agreed: 3, rows: 3 });
  const r = tfe.compareOutputs({ data: Float64Array.from([0.3, -2]), shape: [2] }, { data: Float64Array.from([0.3, 2]), shape: [2] });
  t.like(r.agreement, { agreed: 1, rows: 2 });
  t.deepEqual(r.disagreements, [1]);
  // A NaN row has no class: it agreed with a class-0 row before (its argmax was 0).
  const nan = tfe.compareOutputs({ data: Float64Array.from([1, 0, 0, 1]), shape: [2, 2] }, { data: Float64Array.from([NaN, NaN, 0, 1]), shape: [2, 2] });
  t.like(nan.agreement, { agreed: 1, rows: 2 });
  t.deepEqual(nan.disagreements, [0]);
});

test('definePrivateVariable refuses a list (it kept the first tensor)', async (t) => {
  await withCluster('securenn', async (c) => {
    t.throws(() => tfe.definePrivateVariable([{ data: [1, 2], shape: [2] }, { data: [3, 4, 5], shape: [3] }] as never, { cluster: c }), { message: /definePrivateVariable: takes one tensor, got a list of 2/ });
  });
});

test('comparisons take a number on either side (greater(x, 2) failed with "x.sub is not a function", less(2, x) with an undefined read)', async (t) => {
  await withCluster('securenn', async (c) => {
    const xs = [1, 2, 3, -0.5];
    const x = input(c, xs);
    t.deepEqual(await out(tfe.greater(x, 2)), xs.map((v) => (v > 2 ? 1 : 0)));
    t.deepEqual(await out(tfe.less(2, x)), xs.map((v) => (2 < v ? 1 : 0)));
    t.deepEqual(await out(tfe.greaterEqual(2, x)), xs.map((v) => (2 >= v ? 1 : 0)));
    t.deepEqual(await out(tfe.less(x, 2)), xs.map((v) => (v < 2 ? 1 : 0)));
    t.throws(() => tfe.less(2 as never, 3 as never), { message: /at least one operand must be a private tensor/ });
  });
});

test('a number constant rounds as an input does, halves to even (-1.5 units was -1 as a constant, -2 as an input)', async (t) => {
  await withCluster('securenn', async (c) => {
    const U = 2 ** -16, vals = [-1.5, 2.5, 0.5, -0.5, 3.5, -2.5].map((k) => k * U);
    const asInput = await out(input(c, vals));
    const zero = input(c, [0]);
    const asConstant: number[] = [];
    for (const v of vals) asConstant.push(...(await out(tfe.add(zero, v))));
    t.deepEqual(asConstant, asInput);
    t.deepEqual(asInput.map((v) => v / U + 0), [-2, 2, 0, 0, 4, -2]);
  });
});
