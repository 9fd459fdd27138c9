// The ops every exact protocol builds on its DReLU (lib/protocol/exact/): relu, maxPool2d,
// reduceMax, argmax and the comparisons, bit-exact against the same fixed-point computation in
// plaintext, on edge values and fresh random ones; a protocol without comparisons refuses them
// naming the exact ones. (These ran under SecureNN alone; a new exact protocol got none of them.)
import test from 'ava';

import * as tfe from '../../../lib';
import { exactProtocolsText } from '../../../lib/protocol/protocols';
import { F, maxPoolRef } from '../fixed';
import { open, priv, type Protocol, TRAITS, withCluster } from './harness';

const U = 2 ** -F;
// Every exact protocol compares exactly while differences stay below 2^(62 - f) (SecureNN's
// bound; FSS holds on the whole ring): the largest magnitude tested stays below half of it.
const BIG = 2 ** (61 - F) - U;
const EDGES = [0, U, -U, 2 * U, -2 * U, BIG, -BIG, 1, -1];

/** What the encoding represents: the plaintext reference's inputs. */
const fixed = (values: number[]): Float64Array => tfe.RingTensor.fromFloat64Array(values).toFloat64Array();
const randomFixed = (n: number, scale: number): number[] => Array.from({ length: n }, () => Math.round(((Math.random() * 2 - 1) * scale) / U) * U || U);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function comparisonSuite(protocol: Protocol): void {
  if (!TRAITS[protocol].exactRelu) {
    test(`${protocol}: comparison ops are refused, naming the exact protocols`, (t) =>
      withCluster(protocol, async (c) => {
        const x = priv(c, [1, 2, 3, 4], [2, 2]), img = priv(c, new Float64Array(16), [1, 4, 4, 1]);
        t.throws(() => tfe.maxPool2d(img, { poolSize: 2 }), { message: new RegExp(`maxPool2d needs comparisons: use an exact protocol, ${escape(exactProtocolsText())}`) });
        for (const [name, f] of [['less', () => tfe.less(x, x)], ['reduceMax', () => tfe.reduceMax(x, 1)], ['argmax', () => tfe.argmax(x, 1)]] as const)
          t.throws(f, { message: new RegExp(`${name} needs comparisons`) }, name);
      }));
    return;
  }

  test(`${protocol}: exact relu on edge values (0, +-1 ulp, the largest magnitudes) and random values`, (t) =>
    withCluster(protocol, async (c) => {
      const data = [...EDGES, ...randomFixed(500, 1000)];
      const got = await open(tfe.relu(priv(c, data, [data.length])));
      t.deepEqual([...got], [...fixed(data)].map((v) => Math.max(v, 0)));
    }));

  test(`${protocol}: relu after a product is exact up to the product's truncation only`, (t) =>
    withCluster(protocol, async (c) => {
      const prod = tfe.mul(priv(c, randomFixed(200, 4), [200]), priv(c, randomFixed(200, 4), [200]));
      const [p, r] = await Promise.all([open(prod), open(tfe.relu(prod))]);
      t.deepEqual([...r], [...p].map((v) => Math.max(v, 0)), 'relu of the (truncated) product, exactly');
    }));

  test(`${protocol}: maxPool2d windows 2x2/2, 3x3/2 and 3x3/1, with runs of equal values, match plaintext exactly`, (t) =>
    withCluster(protocol, async (c) => {
      const [n, h, w, ch] = [2, 7, 7, 3];
      const data = randomFixed(n * h * w * ch, 50);
      for (let i = 0; i < 30; i++) data[i] = 1.5; // a run of equal values across several windows
      data[40] = -BIG;
      data[41] = BIG;
      const enc = fixed(data);
      for (const [k, s] of [[2, 2], [3, 2], [3, 1]]) {
        const got = await open(tfe.maxPool2d(priv(c, data, [n, h, w, ch]), { poolSize: k, strides: s }));
        t.deepEqual([...got], maxPoolRef(enc, [n, h, w, ch], k, s), `${k}x${k} stride ${s}`);
      }
    }));

  test(`${protocol}: maxPool2d with SAME padding ignores the padding, as TensorFlow does (all-negative inputs)`, (t) =>
    withCluster(protocol, async (c) => {
      const [h, w] = [5, 5];
      const data = randomFixed(h * w, 50).map((v) => -Math.abs(v) - 1); // zero padding would win
      const enc = fixed(data);
      const got = await open(tfe.maxPool2d(priv(c, data, [1, h, w, 1]), { poolSize: 2, strides: 2, padding: 'SAME' }));
      t.deepEqual([...got], maxPoolRef(enc, [1, h, w, 1], 2, 2, 'SAME'));
    }));

  test(`${protocol}: reduceMax and argmax along each axis (ties go to the first index)`, (t) =>
    withCluster(protocol, async (c) => {
      const [r, k] = [6, 9];
      const data = randomFixed(r * k, 20);
      data[3] = data[7] = 100; // a tie in row 0
      const enc = fixed(data);
      const [mx, am, am0] = await Promise.all([tfe.reduceMax(priv(c, data, [r, k]), 1), tfe.argmax(priv(c, data, [r, k]), 1), tfe.argmax(priv(c, data, [r, k]), 0)].map(open));
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
      t.throws(() => tfe.argmax(priv(c, data, [1, r, k, 1]), 4), { message: 'argmax: axis 4 is out of range for shape [1,6,9,1]' });
    }));

  test(`${protocol}: less, greater, greaterEqual and equalZero on edges and random values`, (t) =>
    withCluster(protocol, async (c) => {
      const a = [...EDGES, ...randomFixed(100, 10), 3, 3];
      const b = [...EDGES.map((v) => (v === 0 ? U : 0)), ...randomFixed(100, 10), 3, 2];
      const x = priv(c, a, [a.length]), y = priv(c, b, [b.length]);
      const [ea, eb] = [fixed(a), fixed(b)];
      const out = async (v: tfe.AnyTensor) => [...(await open(v))];
      t.deepEqual(await out(tfe.less(x, y)), [...ea].map((v, i) => (v < eb[i] ? 1 : 0)));
      t.deepEqual(await out(tfe.greater(x, y)), [...ea].map((v, i) => (v > eb[i] ? 1 : 0)));
      t.deepEqual(await out(tfe.greaterEqual(x, y)), [...ea].map((v, i) => (v >= eb[i] ? 1 : 0)));
      t.deepEqual(await out(tfe.equalZero(x)), [...ea].map((v) => (v === 0 ? 1 : 0)));
    }));
}
