// SecureNN's exact non-linear ops, bit-exact against the same fixed-point computation in plaintext.
import test from 'ava';

import * as tfe from '../lib';

const U = 2 ** -16;
// Comparisons are exact while differences stay below 2^(62 - f) = 2^46 (docs/securenn.md).
const BIG = 2 ** 45 - U;

function fixed(values: number[]): Float64Array {
  return tfe.RingTensor.fromFloat64Array(values).toFloat64Array(); // what the encoding represents
}

function randomFixed(n: number, scale: number): number[] {
  return Array.from({ length: n }, () => Math.round((Math.random() * 2 - 1) * scale / U) * U || U);
}

const EDGES = [0, U, -U, 2 * U, -2 * U, BIG, -BIG, 1, -1];

async function run(c: tfe.Cluster, data: number[], shape: number[], f: (x: tfe.PrivateTensor) => tfe.AnyTensor): Promise<Float64Array> {
  const x = tfe.definePrivateInput('input-provider', () => ({ data, shape }), c);
  return (await tfe.defineOutput('output-receiver', f(x))).data;
}

test('exact relu on edge values (0, +-1 ulp, the largest magnitudes) and random values', async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  const data = [...EDGES, ...randomFixed(500, 1000)];
  const got = await run(c, data, [data.length], (x) => tfe.relu(x));
  t.deepEqual([...got], [...fixed(data)].map((v) => Math.max(v, 0)));
  await c.close();
});

test('relu after a product is exact up to the product\'s truncation only', async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  const a = randomFixed(200, 4), b = randomFixed(200, 4);
  const x = tfe.definePrivateInput('input-provider', () => ({ data: a, shape: [200] }), c);
  const y = tfe.definePrivateInput('input-provider', () => ({ data: b, shape: [200] }), c);
  const prod = tfe.mul(x, y);
  const [p, r] = await Promise.all([tfe.defineOutput('output-receiver', prod), tfe.defineOutput('output-receiver', tfe.relu(prod))]);
  t.deepEqual([...r.data], [...p.data].map((v) => Math.max(v, 0)), 'relu of the (truncated) product, exactly');
  await c.close();
});

test('maxPool2d: 2x2 stride 2 and 3x3 stride 2 windows, with runs of equal values, match plaintext exactly', async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  const [n, h, w, ch] = [2, 7, 7, 3];
  const data = randomFixed(n * h * w * ch, 50);
  for (let i = 0; i < 30; i++) data[i] = 1.5; // a run of equal values across several windows
  data[40] = -BIG;
  data[41] = BIG;
  const enc = fixed(data);
  for (const [k, s] of [[2, 2], [3, 2], [3, 1]]) {
    const got = await run(c, data, [n, h, w, ch], (x) => tfe.maxPool2d(x, { poolSize: k, strides: s }));
    const oh = Math.floor((h - k) / s) + 1, ow = Math.floor((w - k) / s) + 1;
    const want: number[] = [];
    for (let b = 0; b < n; b++) for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) for (let cc = 0; cc < ch; cc++) {
      let m = -Infinity;
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) m = Math.max(m, enc[((b * h + y * s + i) * w + x * s + j) * ch + cc]);
      want.push(m);
    }
    t.deepEqual([...got], want, `${k}x${k} stride ${s}`);
  }
  await c.close();
});

test('maxPool2d with SAME padding ignores the padding, as TensorFlow does (all-negative inputs)', async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  const [h, w] = [5, 5];
  const data = randomFixed(h * w, 50).map((v) => -Math.abs(v) - 1); // zero padding would win
  const enc = fixed(data);
  const got = await run(c, data, [1, h, w, 1], (x) => tfe.maxPool2d(x, { poolSize: 2, strides: 2, padding: 'SAME' }));
  const want: number[] = [];
  for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) {
    let m = -Infinity;
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) if (2 * y + i < h && 2 * x + j < w) m = Math.max(m, enc[(2 * y + i) * w + 2 * x + j]);
    want.push(m);
  }
  t.deepEqual([...got], want);
  await c.close();
});

test('reduceMax and argmax along each axis (ties go to the first index)', async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  const [r, k] = [6, 9];
  const data = randomFixed(r * k, 20);
  data[3] = data[7] = 100; // a tie in row 0
  const enc = fixed(data);
  const mx = await run(c, data, [r, k], (x) => tfe.reduceMax(x, 1));
  const am = await run(c, data, [r, k], (x) => tfe.argmax(x, 1));
  const am0 = await run(c, data, [r, k], (x) => tfe.argmax(x, 0));
  for (let i = 0; i < r; i++) {
    const row = [...enc.slice(i * k, i * k + k)];
    const m = Math.max(...row);
    t.is(mx[i], m);
    t.is(am[i], row.indexOf(m), `row ${i}`);
  }
  for (let j = 0; j < k; j++) {
    const col = Array.from({ length: r }, (_, i) => enc[i * k + j]);
    t.is(am0[j], col.indexOf(Math.max(...col)), `column ${j}`);
  }
  await c.close();
});

test('less, greater, greaterEqual and equalZero on edges and random values', async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  const a = [...EDGES, ...randomFixed(100, 10), 3, 3];
  const b = [...EDGES.map((v) => (v === 0 ? U : 0)), ...randomFixed(100, 10), 3, 2];
  const x = tfe.definePrivateInput('input-provider', () => ({ data: a, shape: [a.length] }), c);
  const y = tfe.definePrivateInput('input-provider', () => ({ data: b, shape: [b.length] }), c);
  const [ea, eb] = [fixed(a), fixed(b)];
  const out = async (v: tfe.AnyTensor) => [...(await tfe.defineOutput('output-receiver', v)).data];
  t.deepEqual(await out(tfe.less(x, y)), [...ea].map((v, i) => (v < eb[i] ? 1 : 0)));
  t.deepEqual(await out(tfe.greater(x, y)), [...ea].map((v, i) => (v > eb[i] ? 1 : 0)));
  t.deepEqual(await out(tfe.greaterEqual(x, y)), [...ea].map((v, i) => (v >= eb[i] ? 1 : 0)));
  t.deepEqual(await out(tfe.equalZero(x)), [...ea].map((v) => (v === 0 ? 1 : 0)));
  await c.close();
});

test('comparison ops need an exact protocol, and maxPool2d refuses SAME padding, with clear errors', async (t) => {
  const pond = new tfe.Cluster({ protocol: 'pond' });
  const x = tfe.definePrivateInput('input-provider', () => [[1, 2], [3, 4]], pond);
  t.throws(() => tfe.maxPool2d(x, { poolSize: 2 }), { message: /maxPool2d needs comparisons: use an exact protocol, 'securenn' \(the default\) or 'fss'/ });
  t.throws(() => tfe.less(x, x), { message: /less needs comparisons/ });
  await pond.close();
  const c = new tfe.Cluster({ protocol: 'securenn' });
  const img = tfe.definePrivateInput('input-provider', () => ({ data: new Float64Array(16).fill(1), shape: [1, 4, 4, 1] }), c);
  t.throws(() => tfe.argmax(img, 4), { message: 'argmax: axis 4 is out of range for shape [1,4,4,1]' });
  await c.close();
});
