// Pond's linear, convolution, pooling and activation ops against float64 references.
import test from 'ava';

import * as tfe from '../lib';
import { sigmoidErrorBound, tanhErrorBound } from '../lib/api/ops_smooth';

const U = 2 ** -16;
// The same bodies run under both protocols (SecureNN is Pond plus exact comparisons).
const PROTOCOLS: tfe.ProtocolName[] = ['pond', 'securenn'];

function rand(n: number, scale: number): Float64Array {
  return Float64Array.from({ length: n }, () => (Math.random() * 2 - 1) * scale || 0.5);
}
const input = (c: tfe.Cluster, data: Float64Array, shape: number[]) => tfe.definePrivateInput('input-provider', () => ({ data, shape }), c);
const open = async (t: tfe.AnyTensor) => (await tfe.defineOutput('output-receiver', t)).data;

function close(t: { true(v: boolean, m?: string): void }, got: Float64Array, want: ArrayLike<number>, bound: number | ((i: number) => number), what: string): void {
  t.true(got.length === want.length, `${what}: length ${got.length} vs ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const b = typeof bound === 'number' ? bound : bound(i);
    if (!(Math.abs(got[i] - want[i]) <= b)) {
      t.true(false, `${what}[${i}]: ${got[i]} vs ${want[i]} (bound ${b})`);
      return;
    }
  }
  t.true(true);
}

/** Direct NHWC convolution in float64. */
function conv(x: Float64Array, [n, h, w, ci]: number[], f: Float64Array, [kh, kw, , co]: number[], s: number, pad: 'SAME' | 'VALID') {
  const oh = pad === 'VALID' ? Math.floor((h - kh) / s) + 1 : Math.ceil(h / s);
  const ow = pad === 'VALID' ? Math.floor((w - kw) / s) + 1 : Math.ceil(w / s);
  const pt = pad === 'SAME' ? Math.floor(Math.max((oh - 1) * s + kh - h, 0) / 2) : 0;
  const pl = pad === 'SAME' ? Math.floor(Math.max((ow - 1) * s + kw - w, 0) / 2) : 0;
  const out = new Float64Array(n * oh * ow * co);
  const abs = new Float64Array(out.length);
  for (let b = 0; b < n; b++) for (let y = 0; y < oh; y++) for (let x0 = 0; x0 < ow; x0++) for (let o = 0; o < co; o++) {
    let acc = 0, a = 0;
    for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) {
      const yy = y * s + i - pt, xx = x0 * s + j - pl;
      if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
      for (let c = 0; c < ci; c++) {
        const xv = x[((b * h + yy) * w + xx) * ci + c], fv = f[((i * kw + j) * ci + c) * co + o];
        acc += xv * fv;
        a += Math.abs(xv) + Math.abs(fv);
      }
    }
    out[((b * oh + y) * ow + x0) * co + o] = acc;
    abs[((b * oh + y) * ow + x0) * co + o] = a;
  }
  return { out, abs, shape: [n, oh, ow, co] };
}

for (const protocol of PROTOCOLS) {
  test(`${protocol}: linear ops on private and public tensors are exact up to encoding`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    const a = rand(24, 5), b = rand(6, 5);
    const x = input(c, a, [4, 6]);
    const p = tfe.definePublicInput('input-provider', () => ({ data: b, shape: [6] }), c);
    const enc = U; // each encoded operand is within U/2
    close(t, await open(tfe.add(x, p)), a.map((v, i) => v + b[i % 6]), enc, 'add public');
    close(t, await open(tfe.sub(p, x)), a.map((v, i) => b[i % 6] - v), enc, 'public - private');
    close(t, await open(tfe.sub(x, 2.5)), a.map((v) => v - 2.5), enc, 'sub number');
    close(t, await open(tfe.neg(x).add(x).add(x)), a, 2 * enc, 'neg');
    close(t, await open(tfe.transpose(x)), Array.from({ length: 24 }, (_, i) => a[(i % 4) * 6 + Math.floor(i / 4)]), enc, 'transpose');
    close(t, await open(tfe.reshape(x, [2, 12])), a, enc, 'reshape');
    close(t, await open(tfe.slice(x, [1, 2], [2, 3])), [a[8], a[9], a[10], a[14], a[15], a[16]], enc, 'slice');
    const padded = await open(tfe.pad(x, [[1, 0], [0, 1]]));
    t.is(padded.length, 5 * 7);
    t.is(padded[0], 0);
    t.true(Math.abs(padded[7] - a[0]) <= enc);
    close(t, await open(tfe.reduceSum(x, 1)), [0, 1, 2, 3].map((r) => a.slice(r * 6, r * 6 + 6).reduce((s, v) => s + v, 0)), 6 * enc, 'reduceSum');
    const pub2 = tfe.definePublicInput('input-provider', () => ({ data: b, shape: [1, 6] }), c);
    close(t, await open(tfe.concat([x, pub2], 0)), [...a, ...b], enc, 'concat private and public');
    close(t, await open(tfe.flatten(tfe.reshape(x, [2, 3, 4]))), a, enc, 'flatten');
    await c.close();
  });

  test(`${protocol}: conv2d (VALID and SAME, strides) and avgPool2d (TensorFlow's SAME divisor)`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    const xs = [2, 7, 6, 2], fs = [3, 3, 2, 4];
    const xa = rand(2 * 7 * 6 * 2, 2), fa = rand(3 * 3 * 2 * 4, 0.5);
    const x = input(c, xa, xs);
    const f = tfe.definePrivateInput('model-owner', () => ({ data: fa, shape: fs }), c);
    for (const [s, pad] of [[1, 'VALID'], [2, 'SAME'], [1, 'SAME']] as [number, 'SAME' | 'VALID'][]) {
      const ref = conv(xa, xs, fa, fs, s, pad);
      const y = tfe.conv2d(x, f, { strides: s, padding: pad });
      t.deepEqual([...y.shape], ref.shape);
      close(t, await open(y), ref.out, (i) => ref.abs[i] * (U / 2) + 18 * U * U + U, `conv2d ${s} ${pad}`);
    }
    for (const pad of ['VALID', 'SAME'] as const) {
      // Average pooling as a convolution with a ones filter per channel, divided by the count.
      const ones = new Float64Array(2 * 2 * 2 * 2).map((_, i) => (Math.floor(i / 2) % 2 === i % 2 ? 1 : 0));
      const sums = conv(xa, xs, ones, [2, 2, 2, 2], 2, pad);
      const counts = conv(new Float64Array(xa.length).fill(1), xs, ones, [2, 2, 2, 2], 2, pad).out;
      const y = tfe.avgPool2d(x, { poolSize: 2, padding: pad });
      t.deepEqual([...y.shape], sums.shape);
      // Sum of up to 4 encodings, times an encoded reciprocal, then one truncation.
      close(t, await open(y), sums.out.map((v, i) => v / counts[i]), (i) => (Math.abs(sums.out[i]) + 4) * U + U, `avgPool2d ${pad}`);
    }
    await c.close();
  });

  test(`${protocol}: ${protocol === 'pond' ? 'relu, sigmoid and tanh equal their polynomials, which stay within the stated error' : 'relu is exact; sigmoid and tanh are piecewise, within their bound of the true functions'}`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    const n = 2000;
    const a = rand(n, 3.9);
    a[0] = 0;
    a[1] = -3.9;
    a[2] = 3.9;
    const x = input(c, a, [n]);
    if (protocol === 'securenn') {
      // SecureNN's relu is exact: bit-exact with the fixed-point input.
      const got = await open(tfe.relu(x));
      const enc = tfe.RingTensor.fromFloat64Array(a).toFloat64Array();
      close(t, got, enc.map((v) => Math.max(v, 0)), 0, 'exact relu');
    }
    if (protocol !== 'pond') {
      // Exact protocols: piecewise cubics selected by comparisons (test/helpers/suites/activations.ts
      // checks them on the whole line; here the same inputs as Pond's).
      close(t, await open(tfe.sigmoid(x)), a.map((v) => 1 / (1 + Math.exp(-v))), sigmoidErrorBound(16), 'sigmoid');
      close(t, await open(tfe.tanh(x)), a.map(Math.tanh), tanhErrorBound(16), 'tanh');
      await c.close();
      return;
    }
    const cases: [string, tfe.AnyTensor, tfe.Polynomial, (v: number) => number][] = [
      ...(protocol === 'pond' ? [['relu', tfe.relu(x), tfe.reluPolynomial(4), (v: number) => Math.max(v, 0)] as [string, tfe.AnyTensor, tfe.Polynomial, (v: number) => number]] : []),
      ['sigmoid', tfe.sigmoid(x), tfe.SIGMOID_POLY, (v) => 1 / (1 + Math.exp(-v))],
      ['tanh', tfe.tanh(x), tfe.TANH_POLY, Math.tanh],
    ];
    for (const [name, y, poly, f] of cases) {
      const got = await open(y);
      // Powers up to x^3 of |x| < 4: each Beaver product and the final truncation add a few units,
      // scaled by the coefficients; 64 units is a loose but protocol-error-catching bound.
      close(t, got, a.map((v) => tfe.evalPolynomial(poly, v)), 64 * U, `${name} vs its polynomial`);
      for (let i = 0; i < n; i++) if (a[i] >= poly.interval[0] && a[i] <= poly.interval[1]) t.true(Math.abs(tfe.evalPolynomial(poly, a[i]) - f(a[i])) <= poly.maxError, `${name} fit at ${a[i]}`);
    }
    await c.close();
  });

  test(`${protocol}: reveal opens to both servers, and TensorFlow.js-like providers work`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    const a = rand(12, 3);
    const tfjsLike = { shape: [3, 4], dataSync: () => Float32Array.from(a) };
    const x = tfe.definePrivateInput('input-provider', () => tfjsLike, c);
    const r = tfe.reveal(x);
    const values = await r.values;
    const v0 = values.get('server0')!.toFloat64Array();
    const v1 = values.get('server1')!.toFloat64Array();
    t.deepEqual(v0, v1);
    close(t, v0, Float32Array.from(a), U, 'reveal');
    t.is(values.get('server2'), null);
    await c.close();
  });
}
