// Linear ops: each server applies them to its share with no communication, so in Z_2^64 they
// are exact. The decoded result must therefore equal the same op on the encodings bit for bit
// (fact 1 in ../fixed.ts), and differ from the float64 result only by the encoding error:
// U/2 per operand element that enters a result element.
import test from 'ava';

import * as tfe from '../../../lib';
import { enc, f64, rand, U, within, withEdges } from '../fixed';
import { sliceRef, transposeRef } from '../reference';
import { newCluster, open, priv, type Protocol, pub, withCluster } from './harness';
import { resizeImage } from '../../../lib/api/ops_resize';
import type { AxisTaps } from '../../../lib/api/image_resize';

// Large values stay below 2^36 so that sums of encodings are exact in float64; the rest probe
// rounding (one unit, half a unit, a value that encodes to zero).
const EDGES = [U, -U, 0.75 * U, 1e-7, 2 ** 30 + 0.3, -(2 ** 30 + 0.7), 1 - U / 3, -12345.678];

function strides(shape: readonly number[]): number[] {
  const s = shape.map(() => 1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

function padRef(a: ArrayLike<number>, shape: readonly number[], pads: readonly (readonly [number, number])[]): number[] {
  const outShape = shape.map((d, i) => d + pads[i][0] + pads[i][1]);
  const out = new Array<number>(outShape.reduce((x, y) => x * y, 1)).fill(0);
  const si = strides(shape), so = strides(outShape);
  for (let i = 0; i < a.length; i++) out[shape.reduce((o, _, d) => o + (Math.floor(i / si[d]) % shape[d] + pads[d][0]) * so[d], 0)] = a[i];
  return out;
}

/** Concatenation along `axis` of row-major parts (outer blocks interleaved). */
function concatRef(parts: { data: ArrayLike<number>; shape: readonly number[] }[], axis: number): number[] {
  const outer = parts[0].shape.slice(0, axis).reduce((x, y) => x * y, 1);
  const out: number[] = [];
  for (let o = 0; o < outer; o++)
    for (const p of parts) {
      const block = p.shape.slice(axis).reduce((x, y) => x * y, 1);
      for (let i = 0; i < block; i++) out.push(p.data[o * block + i]);
    }
  return out;
}

function reduceRef(a: ArrayLike<number>, shape: readonly number[], axes: readonly number[]): number[] {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out = new Array<number>(outShape.reduce((x, y) => x * y, 1)).fill(0);
  const si = strides(shape), so = strides(outShape);
  for (let i = 0; i < a.length; i++) out[shape.reduce((o, d, k) => o + (axes.includes(k) ? 0 : (Math.floor(i / si[k]) % d) * so[k]), 0)] += a[i];
  return out;
}

/** [n, h, w, c] interpolated at given taps in float64: each output sum_a sum_b wr_a wc_b x[r_a, c_b]. */
function resizeRef(a: ArrayLike<number>, [n, h, w, ch]: readonly number[], rows: AxisTaps, cols: AxisTaps): number[] {
  const at = (b: number, i: number, j: number, k: number) => a[((b * h + i) * w + j) * ch + k];
  const out: number[] = [];
  for (let b = 0; b < n; b++)
    for (let i = 0; i < rows.index[0].length; i++)
      for (let j = 0; j < cols.index[0].length; j++)
        for (let k = 0; k < ch; k++) {
          let v = 0;
          rows.index.forEach((r, ka) => cols.index.forEach((cc, kb) => (v += rows.weight[ka][i] * cols.weight[kb][j] * at(b, r[i], cc[j], k))));
          out.push(v);
        }
  return out;
}

/** Two taps per output: lo with weight 1 - frac, hi with frac (bilinear's). */
const two = (lo: number[], hi: number[], frac: number[]): AxisTaps => ({ index: [lo, hi], weight: [frac.map((v) => 1 - v), frac] });

export function linearSuite(protocol: Protocol): void {
  // Resizing and UpSampling2D (ops_resize.ts): copies, or per axis public integer weights at f bits
  // summing to 2^f and one truncation. The taps are written out here (image_resize.ts, which makes
  // them from a layer, is checked against Keras and tfjs in their own tests).
  test(`${protocol}: resizeImage: nearest copies encodings exactly; bilinear and four-tap resizes are within their weights' rounding and a truncation per axis of float64`, (t) =>
    withCluster(protocol, async (c) => {
      const shape = [2, 3, 4, 2];
      const xa = withEdges(rand(48, 50), EDGES), ya = rand(48, 50);
      const copies = (idx: number[]): AxisTaps => ({ index: [idx], weight: [idx.map(() => 1)] });
      const near: [AxisTaps, AxisTaps] = [copies([2, 0, 1, 1, 0]), copies([3, 0, 2])];
      // Rows 3 -> 5 with edges clamped (lo = hi) and a weight that does not encode (0.1); columns 4 -> 3 with 1/3.
      const rows = two([0, 0, 1, 1, 2], [0, 1, 2, 2, 2], [0, 0.25, 0.75, 0.1, 0]);
      const cols = two([0, 1, 3], [1, 2, 3], [1 / 3, 0.5, 0]);
      // An upsampling by 2 (half-pixel): weights 1/4 and 3/4 per axis, exact at f bits.
      const up = two([0, 0, 0, 1, 1, 2], [0, 1, 1, 2, 2, 2], [0, 0.25, 0.75, 0.25, 0.75, 0]);
      const upCols = two([0, 0, 0, 1, 1, 2, 2, 3], [0, 1, 1, 2, 2, 3, 3, 3], [0, 0.25, 0.75, 0.25, 0.75, 0.25, 0.75, 0]);
      // Four taps with negative weights (bicubic's form), one output with three (a tap of weight 0).
      const cubic: AxisTaps = { index: [[0, 0, 1], [1, 1, 2], [2, 2, 3], [3, 3, 0]], weight: [[-0.0703, -0.1, 0.2], [0.8672, 0.7, 0.9], [0.2734, 0.5, -0.1], [-0.0703, -0.1, 0]] };
      const x = priv(c, xa, shape), y = priv(c, ya, shape), p = pub(c, ya, shape);
      const nx = resizeImage(x, ...near);
      t.deepEqual([...nx.shape], [2, 5, 3, 2]);
      within(t, await open(nx), resizeRef(Array.from(xa, enc), shape, ...near), 0, 'nearest vs the encodings');
      // Per axis each output is off by the truncation (a unit) and the weights' rounding: all but
      // one rounded by up to 2^-(f+1) each, the last 2^f minus them, on inputs up to 50; the
      // rows' error passes through the columns' weights (their |sum| below 1.4), plus the encodings (U / 2).
      const pass = (k: number) => U + (k - 1) * U * 50;
      const bilinear = pass(2) * 2 + U / 2 + f64(50, 4);
      for (const [name, z, want, bound] of [
        ['bilinear, private', resizeImage(y, rows, cols), resizeRef(ya, shape, rows, cols), bilinear],
        ['bilinear, public', resizeImage(p, rows, cols), resizeRef(ya, shape, rows, cols), bilinear],
        ['bilinear upsampling by 2 (exact weights)', resizeImage(y, up, upCols), resizeRef(ya, shape, up, upCols), 2.5 * U + f64(50, 4)],
        ['four taps with negative weights on the columns', resizeImage(y, rows, cubic), resizeRef(ya, shape, rows, cubic), pass(2) * 1.4 + pass(4) + U / 2 + f64(50, 8)],
      ] as [string, tfe.AnyTensor, number[], number][]) {
        t.is(z.kind, name.includes('public') ? 'public' : 'private', name);
        within(t, await open(z), want, bound, name);
      }
      // A constant image stays constant: the weights sum to exactly 2^f.
      const k = resizeImage(priv(c, Array<number>(48).fill(37.123), shape), rows, cols);
      within(t, await open(k), Array<number>(30 * 2).fill(enc(37.123)), 2 * U, 'a constant image');
      t.throws(() => resizeImage(x, copies([3]), cols), { message: /resizeImage: the taps of axis 1 do not fit \[2,3,4,2\]/ });
      t.throws(() => resizeImage(tfe.reshape(x, [6, 8, 1]), rows, cols), { message: /resizeImage: expects \[batch, height, width, channels\]/ });
    }));


  test(`${protocol}: add, sub and neg on private, public and number operands, with broadcasting`, (t) =>
    withCluster(protocol, async (c) => {
      const xa = withEdges(rand(12, 8), EDGES), ya = rand(12, 8), ba = rand(4, 3), pa = rand(4, 1000);
      const [k, k2] = [-2.75, 0.1]; // 0.1 does not encode exactly
      const x = priv(c, xa, [3, 4]), y = priv(c, ya, [3, 4], 'model-owner'), b = priv(c, ba, [4]);
      const p = pub(c, pa, [1, 4]);
      type V = { x: number; y: number; b: number; p: number; k: number; k2: number };
      // [name, tensor, the op on scalars, how many encoded operands enter each element]; results
      // with only public and [4]-shaped operands have shape [1, 4], all others [3, 4].
      const cases: [string, tfe.AnyTensor, (v: V) => number, number][] = [
        ['x + y', tfe.add(x, y), (v) => v.x + v.y, 2],
        ['x + b (broadcast)', tfe.add(x, b), (v) => v.x + v.b, 2],
        ['b + x (broadcast)', tfe.add(b, x), (v) => v.b + v.x, 2],
        ['x + public', tfe.add(x, p), (v) => v.x + v.p, 2],
        ['p + x (public first)', tfe.add(p, x), (v) => v.p + v.x, 2],
        ['x + number', tfe.add(x, k2), (v) => v.x + v.k2, 2],
        ['x - y', tfe.sub(x, y), (v) => v.x - v.y, 2],
        ['x - public', tfe.sub(x, p), (v) => v.x - v.p, 2],
        ['p - x (public first)', tfe.sub(p, x), (v) => v.p - v.x, 2],
        ['x - number', tfe.sub(x, k), (v) => v.x - v.k, 1],
        ['-x', tfe.neg(x), (v) => -v.x, 1],
        ['public + public', tfe.add(p, tfe.neg(p)).add(p), (v) => v.p - v.p + v.p, 3],
        ['public - number', tfe.sub(p, k2), (v) => v.p - v.k2, 2],
        ['chained', x.add(y).sub(p).neg().add(b), (v) => -(v.x + v.y - v.p) + v.b, 4],
      ];
      for (const [name, z, f, operands] of cases) {
        t.deepEqual([...z.shape], name.startsWith('public') ? [1, 4] : [3, 4], name);
        if (name.startsWith('public')) t.is(z.kind, 'public', name);
        const got = await open(z);
        const at = (i: number, e: (v: number) => number): V => ({ x: e(xa[i]), y: e(ya[i]), b: e(ba[i % 4]), p: e(pa[i % 4]), k: e(k), k2: e(k2) });
        const exact = Array.from(got, (_, i) => f(at(i, enc)));
        const real = Array.from(got, (_, i) => f(at(i, (v) => v)));
        within(t, got, exact, 0, `${name} vs the same op on the encodings`);
        within(t, got, real, (i) => (operands * U) / 2 + f64(Math.abs(real[i]) + 2 ** 31, operands), `${name} vs float64`);
      }
    }));

  test(`${protocol}: reshape, flatten, transpose, slice, pad and concat (private with public) move encodings exactly`, (t) =>
    withCluster(protocol, async (c) => {
      const shape = [2, 3, 4];
      const xa = withEdges(rand(24, 50), EDGES), pa = rand(24, 50), qa = rand(8, 50);
      const x = priv(c, xa, shape), p = pub(c, pa, shape), q = priv(c, qa, [2, 1, 4], 'model-owner');
      const ex = Array.from(xa, enc), ep = Array.from(pa, enc), eq = Array.from(qa, enc);
      const pads: [number, number][] = [[1, 0], [0, 2], [1, 1]];
      const cases: [string, tfe.AnyTensor, number[], number[], number[]][] = [
        // [name, result, expected shape, expected on encodings, expected on float64]
        ['reshape [4,-1]', tfe.reshape(x, [4, -1]), [4, 6], ex, [...xa]],
        ['chained reshape to rank 1', x.reshape([24]), [24], ex, [...xa]],
        ['flatten', tfe.flatten(x), [2, 12], ex, [...xa]],
        ['transpose (reversed axes)', tfe.transpose(x), [4, 3, 2], transposeRef(ex, shape, [2, 1, 0]), transposeRef([...xa], shape, [2, 1, 0])],
        ['transpose [1,0,2]', x.transpose([1, 0, 2]), [3, 2, 4], transposeRef(ex, shape, [1, 0, 2]), transposeRef([...xa], shape, [1, 0, 2])],
        ['slice with size -1', tfe.slice(x, [1, 1, 2], [-1, 2, 2]), [1, 2, 2], sliceRef(ex, shape, [1, 1, 2], [1, 2, 2]), sliceRef([...xa], shape, [1, 1, 2], [1, 2, 2])],
        ['pad', tfe.pad(x, pads), [3, 5, 6], padRef(ex, shape, pads), padRef(xa, shape, pads)],
        ['pad of a public tensor', tfe.pad(p, pads), [3, 5, 6], padRef(ep, shape, pads), padRef(pa, shape, pads)],
        ['concat private, public, private on axis 1', tfe.concat([x, p, q], 1), [2, 7, 4],
          concatRef([{ data: ex, shape }, { data: ep, shape }, { data: eq, shape: [2, 1, 4] }], 1),
          concatRef([{ data: xa, shape }, { data: pa, shape }, { data: qa, shape: [2, 1, 4] }], 1)],
        ['concat public then private on axis -1', tfe.concat([p, x], -1), [2, 3, 8],
          concatRef([{ data: ep, shape }, { data: ex, shape }], 2), concatRef([{ data: pa, shape }, { data: xa, shape }], 2)],
        ['concat of public tensors', tfe.concat([p, p], 0), [4, 3, 4], [...ep, ...ep], [...pa, ...pa]],
      ];
      for (const [name, z, zs, exact, real] of cases) {
        t.deepEqual([...z.shape], zs, name);
        const got = await open(z);
        within(t, got, exact, 0, `${name} vs the encodings`);
        within(t, got, real, U / 2, `${name} vs float64`);
      }
      t.is((tfe.concat([p, p], 0) as tfe.AnyTensor).kind, 'public', 'only public parts give a public result');
      t.is(tfe.concat([p, x], 0).kind, 'private');
    }));

  test(`${protocol}: reduceSum over all, one, several and negative axes, with keepDims`, (t) =>
    withCluster(protocol, async (c) => {
      const shape = [3, 4, 5];
      const xa = withEdges(rand(60, 20), EDGES.slice(0, 6));
      const x = priv(c, xa, shape);
      const cases: [string, tfe.AnyTensor, number[], number[]][] = [
        ['all axes', tfe.reduceSum(x), [], [0, 1, 2]],
        ['axis 1', tfe.reduceSum(x, 1), [3, 5], [1]],
        ['axes [0,2] keepDims', tfe.reduceSum(x, [0, 2], true), [1, 4, 1], [0, 2]],
        ['axis -1', x.reduceSum(-1), [3, 4], [2]],
        ['public, axis 0', tfe.reduceSum(tfe.reveal(x), 0), [4, 5], [0]],
      ];
      for (const [name, z, zs, axes] of cases) {
        t.deepEqual([...z.shape], zs, name);
        const got = await open(z);
        const terms = axes.reduce((n, a) => n * shape[a], 1);
        const real = reduceRef(xa, shape, axes);
        within(t, got, reduceRef(Array.from(xa, enc), shape, axes), 0, `${name} vs the sum of encodings`);
        // A sum of `terms` encodings is off by at most terms * U/2.
        within(t, got, real, (terms * U) / 2 + f64(2 ** 31 * terms, terms), `${name} vs float64`);
      }
    }));

  test.serial(`${protocol}: the default cluster from tfe.local follows setProtocol, and chaining works on it`, async (t) => {
    tfe.setProtocol(protocol);
    const c = tfe.local({ fixedPoint: { fracBits: 16 } });
    try {
      t.is(tfe.getProtocol(), protocol);
      t.is(tfe.getCluster(), c);
      t.is(c.protocol, protocol);
      const xa = rand(6, 4), va = rand(6, 4);
      const x = tfe.definePrivateInput('prediction-client', () => ({ data: xa, shape: [2, 3] }));
      const v = tfe.definePrivateVariable({ data: va, shape: [2, 3] });
      t.is(x.cluster, c);
      t.is(v.cluster, c);
      const z = x.add(v).reshape([3, 2]).transpose().neg();
      const got = (await tfe.defineOutput('prediction-client', z)).data;
      const want = transposeRef(Array.from(xa, (a, i) => -(enc(a) + enc(va[i]))), [3, 2], [1, 0]);
      within(t, got, want, 0, 'default-cluster chain');
    } finally {
      await c.close();
    }
  });

  test(`${protocol}: a second cluster is independent of the first`, (t) =>
    withCluster(protocol, async (c1) => {
      const c2 = newCluster(protocol);
      const a = rand(5, 3);
      const twice = Array.from(a, (v) => 2 * enc(v));
      const x1 = priv(c1, a, [5]);
      try {
        const x2 = priv(c2, a, [5]);
        within(t, await open(x1.add(x1)), twice, 0, 'the first cluster');
        within(t, await open(x2.add(x2)), twice, 0, 'the second cluster');
        t.throws(() => tfe.add(x1, x2), { message: 'add: tensors belong to different clusters' });
      } finally {
        await c2.close();
      }
      // The first computes on after the second is closed.
      within(t, await open(x1.add(priv(c1, a, [5]))), twice, 0, 'the first cluster after the second closed');
    }));
}
