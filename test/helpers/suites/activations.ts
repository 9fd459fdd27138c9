// Activations. Pond has no comparisons: relu, sigmoid and tanh are polynomials (degree 2 and 3)
// evaluated on shares. Two separate claims are checked:
//  - the protocol evaluates the SAME polynomial as tfe.evalPolynomial in float64, within the
//    fixed-point bound polyBound (../fixed.ts: each power is one more truncated product, the
//    weighted sum is truncated once);
//  - the polynomial is within its stated maxError of the true function on its interval (so
//    the private result is within maxError + polyBound of it there).
// Where a protocol computes relu exactly (TRAITS.exactRelu), relu must instead equal
// max(x, 0) on the encoding bit for bit, and sigmoid and tanh are piecewise cubics selected by
// exact comparisons, within their stated bound of the true function on the whole line.
import test, { type ExecutionContext } from 'ava';

import * as tfe from '../../../lib';
import { softmaxErrorBound } from '../../../lib/api/ops_softmax';
import { exactProtocolsText } from '../../../lib/protocol/protocols';
import { reluAndBitOp } from '../../../lib/api/comparison_ops';
import { softsignErrorBound } from '../../../lib/api/ops_softsign';
import { eluErrorBound, geluErrorBound, mishErrorBound, seluErrorBound, sigmoidErrorBound, softplusErrorBound, swishErrorBound, tanhErrorBound } from '../../../lib/api/ops_smooth';
import { normalCdf } from '../../../lib/math/erf';
import { enc, polyBound, rand, U, within, withEdges } from '../fixed';
import { open, priv, type Protocol, TRAITS, withCluster } from './harness';

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
const reluF = (v: number) => Math.max(v, 0);

/** n inputs mostly inside [lo, hi], with its endpoints, zero, +-U and a few values outside. */
function inputs(n: number, [lo, hi]: [number, number]): Float64Array {
  const a = rand(n, hi);
  return withEdges(a, [lo, hi, 0, U, -U, lo + U, hi - U, 1.25 * hi, 1.25 * lo, 0.5 * U + 1e-9]);
}

/** The private result against the float64 polynomial, and the true function on the interval. */
function checkPoly(t: ExecutionContext, got: Float64Array, xa: Float64Array, poly: tfe.Polynomial, f: (v: number) => number, what: string): void {
  within(t, got, Array.from(xa, (v) => tfe.evalPolynomial(poly, v)), (i) => polyBound(poly.coeffs, xa[i]), `${what} vs its float64 polynomial`);
  const [lo, hi] = poly.interval;
  const inside = [...xa.keys()].filter((i) => xa[i] >= lo && xa[i] <= hi);
  t.true(inside.length > xa.length / 2, `${what}: most inputs inside the interval`);
  within(t, inside.map((i) => got[i]), inside.map((i) => f(xa[i])), (j) => poly.maxError + polyBound(poly.coeffs, xa[inside[j]]), `${what} vs the true function on [${lo}, ${hi}]`);
  // And the polynomial itself, on a dense grid of the interval (not only at random points).
  let worst = 0;
  for (let i = 0; i <= 20000; i++) {
    const v = lo + ((hi - lo) * i) / 20000;
    worst = Math.max(worst, Math.abs(tfe.evalPolynomial(poly, v) - f(v)));
  }
  t.true(worst <= poly.maxError, `${what}: stated maxError ${poly.maxError} < fit error ${worst}`);
}

export function activationSuite(protocol: Protocol): void {
  const { exactRelu } = TRAITS[protocol];

  test(`${protocol}: relu ${exactRelu ? 'is exact on the encoding' : 'is the degree-2 polynomial on [-4, 4] within its bounds'}`, (t) =>
    withCluster(protocol, async (c) => {
      const xa = inputs(3000, [-4, 4]);
      const x = priv(c, xa, [30, 100]);
      for (const [name, z] of [['tfe.relu', tfe.relu(x)], ['x.relu()', x.relu()]] as const) {
        t.deepEqual([...z.shape], [30, 100]);
        const got = await open(z);
        if (exactRelu) within(t, got, Array.from(xa, (v) => Math.max(enc(v), 0)), 0, `${name} vs max(x, 0) on the encoding`);
        else checkPoly(t, got, xa, tfe.reluPolynomial(), reluF, name);
      }
    }));

  if (!exactRelu)
    test(`${protocol}: relu with a wider interval uses reluPolynomial(interval)`, (t) =>
      withCluster(protocol, async (c) => {
        const xa = inputs(2000, [-8, 8]);
        const got = await open(tfe.relu(priv(c, xa, [2000]), { interval: 8 }));
        const poly = tfe.reluPolynomial(8);
        checkPoly(t, got, xa, poly, reluF, 'relu on [-8, 8]');
        // The default polynomial would be far off at the ends of [-8, 8]: the option matters.
        const def = tfe.reluPolynomial();
        t.true(Math.abs(tfe.evalPolynomial(def, 8) - tfe.evalPolynomial(poly, 8)) > 100 * polyBound(poly.coeffs, 8));
      }));

  if (exactRelu)
    test(`${protocol}: relu and its sign bit from one comparison: both bit-exact, and no more traffic than relu alone`, (t) =>
      withCluster(protocol, async (c) => {
        // Both signs, zero, one unit either side of it, and far out.
        const xa = withEdges(rand(600, 50), [0, U, -U, 2 * U, -2 * U, 1e6, -1e6, 2 ** 40, -(2 ** 40)]);
        const { relu, bit } = reluAndBitOp(priv(c, xa, [20, 30]));
        const [r, b] = [await open(relu), await open(bit)];
        const fixed = Array.from(xa, enc);
        t.deepEqual(Array.from(r), fixed.map((v) => Math.max(v, 0)), 'relu, bit for bit');
        t.deepEqual(Array.from(b), fixed.map((v) => (v >= 0 ? 1 : 0)), 'the bit, [x >= 0]');
        const traffic = async (f: () => Promise<unknown>) => {
          c.transport.resetTraffic();
          await f();
          const { bytes, messages, rounds } = c.transport.traffic().total;
          return { bytes, messages, rounds };
        };
        const alone = await traffic(() => open(tfe.relu(priv(c, rand(600, 50), [20, 30]))));
        const both = await traffic(async () => {
          const o = reluAndBitOp(priv(c, rand(600, 50), [20, 30]));
          return Promise.all([open(o.relu), open(o.bit)]);
        });
        // The same relu messages; opening the bit adds one output's bytes (2 shares of 600 words).
        t.deepEqual(both, { bytes: alone.bytes + 2 * 8 * 600, messages: alone.messages + 2, rounds: alone.rounds + 1 }, 'traffic');
      }));

  if (exactRelu)
    test(`${protocol}: sigmoid and tanh are within their stated bound of the true functions on the whole line`, (t) =>
      withCluster(protocol, async (c) => {
        // Mostly [-12, 12] (every piece and both signs), the knots and their neighbours, and far out.
        const knots = [0, 1, 2, 3, 4.5, 6.5, 10].flatMap((k) => [k, -k, k + U, k - U, -k + U, -k - U]);
        const xa = withEdges(rand(4000, 12), [...knots, 1e3, -1e3, 1e6, -1e6, 2 ** 40, -(2 ** 40)]);
        for (const [name, op, f, bound] of [
          ['tfe.sigmoid', tfe.sigmoid, sigmoid, sigmoidErrorBound(16)],
          ['x.tanh()', (x: tfe.AnyTensor) => x.tanh(), Math.tanh, tanhErrorBound(16)],
        ] as const) {
          const got = await open(op(priv(c, xa, [xa.length])));
          within(t, got, Array.from(xa, f), bound, `${name} vs the true function`);
        }
        t.true(sigmoidErrorBound(16) < 5e-4, `the bound itself is useful: ${sigmoidErrorBound(16)}`);
      }));

  if (exactRelu)
    test(`${protocol}: sigmoid and tanh near 0 carry no bias from either side (a LayerNormalization after small activations multiplies it)`, (t) =>
      withCluster(protocol, async (c) => {
        // 2000 inputs each side of 0 within 0.01. Rounding alone leaves a mean error of a unit
        // or less; the freely fitted first piece gave sigmoid 3.6 units low above 0 and 3.6 high
        // below (tanh 7), the same at every such input.
        const xa = Float64Array.from(rand(4000, 0.01), (v, i) => (i % 2 ? 1 : -1) * Math.max(Math.abs(v), U));
        for (const [name, op, f, limit] of [
          ['tfe.sigmoid', tfe.sigmoid, sigmoid, 1.5],
          ['tfe.tanh', tfe.tanh, Math.tanh, 2],
        ] as const) {
          const got = await open(op(priv(c, xa, [xa.length])));
          for (const side of [1, -1]) {
            const at = [...xa.keys()].filter((i) => Math.sign(xa[i]) === side);
            const mean = at.reduce((a, i) => a + got[i] - f(xa[i]), 0) / at.length / U;
            t.true(Math.abs(mean) < limit, `${name}: mean error ${mean.toFixed(2)} units where x ${side > 0 ? '>' : '<'} 0`);
          }
        }
      }));

  if (exactRelu)
    test(`${protocol}: swish, softplus and elu are within their stated bounds of the true functions on the whole line`, (t) =>
      withCluster(protocol, async (c) => {
        const knots = [0, 1, 2, 3, 4.5, 6.5, 10].flatMap((k) => [k, -k, k + U, k - U, -k + U, -k - U]);
        const xa = withEdges(rand(3000, 14), [...knots, 1e3, -1e3, 1e6, -1e6]);
        const cases = [
          ['tfe.swish', (x: tfe.AnyTensor) => tfe.swish(x), (v: number) => v * sigmoid(v), swishErrorBound(16)],
          ['tfe.softplus', (x: tfe.AnyTensor) => tfe.softplus(x), (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))), softplusErrorBound(16)],
          ['tfe.elu', (x: tfe.AnyTensor) => tfe.elu(x), (v: number) => (v > 0 ? v : Math.expm1(v)), eluErrorBound(16)],
          ['tfe.elu alpha 0.3', (x: tfe.AnyTensor) => tfe.elu(x, 0.3), (v: number) => (v > 0 ? v : 0.3 * Math.expm1(v)), eluErrorBound(16, 0.3)],
        ] as const;
        for (const [name, op, f, bound] of cases) {
          const got = await open(op(priv(c, xa, [xa.length])));
          within(t, got, Array.from(xa, f), bound, `${name} vs the true function`);
          t.true(bound < 1e-3, `${name}: the bound itself is useful: ${bound}`);
        }
      }));

  if (exactRelu)
    test(`${protocol}: softsign is within its stated bound of x / (1 + |x|) on the whole line, where the reciprocal's scale changes and past its clamp`, (t) =>
      withCluster(protocol, async (c) => {
        // 1 + |x| at the powers of four (the reciprocal's thresholds) and either side; the clamp at 2^16 - 1.
        const edges = [0, U, -U, ...[1, 4, 16, 64, 256, 1024, 4096, 16384].flatMap((p) => [p - 1, p - 1 - U, p - 1 + U, 1 - p]), 65535, -65535, 65536, 1e6, -1e6, 1e7, -3e8, 2 ** 40];
        const xa = withEdges(Float64Array.from({ length: 3000 }, () => (Math.random() * 2 - 1) * 10 ** (Math.random() * 6 - 2)), edges);
        const got = await open(tfe.softsign(priv(c, xa, [xa.length])));
        within(t, got, Array.from(xa, (v) => v / (1 + Math.abs(v))), softsignErrorBound(16), 'tfe.softsign vs the true function');
        t.true(softsignErrorBound(16) < 1e-4, `the bound itself is useful: ${softsignErrorBound(16)}`);
      }));

  if (exactRelu)
    test(`${protocol}: selu, gelu (both forms) and mish are within their stated bounds of the true functions on the whole line`, (t) =>
      withCluster(protocol, async (c) => {
        const knots = [0, 1, 2, 3, 4.5, 6.5, 10].flatMap((k) => [k, -k, k + U, k - U, -k + U, -k - U]);
        // Where the two gelu forms differ most (3.5e-4 to 4.7e-4): each must be near its own form.
        const apart = Float64Array.from({ length: 400 }, (_, i) => (i % 2 ? -1 : 1) * (2.45 + Math.random() * 0.7));
        const xa = withEdges(Float64Array.of(...rand(3000, 14), ...apart), [...knots, 1e3, -1e3, 1e6, -1e6]);
        const geluExact = (v: number) => v * normalCdf(v);
        const geluTanh = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
        const softplusF = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
        const cases = [
          // (selu's bound grows with |x|: its scale is rounded to fixed point.)
          ['tfe.selu', tfe.selu, (v: number) => 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * Math.expm1(v)), (i: number) => seluErrorBound(16, xa[i]), 1.5e-3],
          ['tfe.gelu', (x: tfe.AnyTensor) => tfe.gelu(x), geluExact, geluErrorBound(16), 1e-3],
          ['tfe.gelu approximate', (x: tfe.AnyTensor) => tfe.gelu(x, { approximate: true }), geluTanh, geluErrorBound(16, true), 1e-3],
          ['tfe.mish', tfe.mish, (v: number) => v * Math.tanh(softplusF(v)), mishErrorBound(16), 1.5e-3],
        ] as const;
        const meanAbs = (xs: number[]) => xs.reduce((a, b) => a + Math.abs(b), 0) / xs.length;
        const apartIdx = [...xa.keys()].filter((i) => Math.abs(Math.abs(xa[i]) - 2.8) <= 0.35);
        for (const [name, op, f, bound, useful] of cases) {
          const got = await open(op(priv(c, xa, [xa.length])));
          within(t, got, Array.from(xa, f), bound, `${name} vs the true function`);
          const near = typeof bound === 'number' ? bound : bound(xa.indexOf(1));
          t.true(near < useful, `${name}: the bound itself is useful: ${near} (at x = 1)`);
          if (name.startsWith('tfe.gelu')) {
            const other = name === 'tfe.gelu' ? geluTanh : geluExact;
            const own = meanAbs(apartIdx.map((i) => got[i] - f(xa[i]))), gap = meanAbs(apartIdx.map((i) => f(xa[i]) - other(xa[i])));
            t.true(own < gap / 4, `${name}: mean error ${own} where the forms differ by ${gap} on average`);
          }
        }
      }));

  if (exactRelu)
    test(`${protocol}: softmax over the last axis is within its stated bound, on flat, spread and far-apart rows`, (t) =>
      withCluster(protocol, async (c) => {
        // Rows of 9: equal values, one far above the rest, spreads from 0.1 to 40, and values
        // near 2^20; then rows of 1 (softmax 1) and a rank-3 input (rows along the last axis).
        const n = 9, rows: number[][] = [new Array(n).fill(3), [30, ...new Array(n - 1).fill(-5)], [1e6, 1e6 - 0.5, ...new Array(n - 2).fill(1e6 - 2)]];
        for (const spread of [0.1, 1, 4, 12, 40]) for (let r = 0; r < 3; r++) rows.push(Array.from(rand(n, spread)));
        const ref = (row: number[]) => {
          const m = Math.max(...row), e = row.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
          return e.map((v) => v / s);
        };
        const xa = Float64Array.from(rows.flat());
        const got = await open(tfe.softmax(priv(c, xa, [rows.length, n])));
        const want = rows.flatMap(ref);
        within(t, got, want, (i) => softmaxErrorBound(n, want[i], 16), 'softmax vs float64');
        t.true(softmaxErrorBound(n, 1 / n, 16) < 2e-3, `the bound itself is useful: ${softmaxErrorBound(n, 1 / n, 16)}`);
        const single = await open(tfe.softmax(priv(c, Float64Array.of(-7, 0, 12), [3, 1])));
        within(t, single, [1, 1, 1], softmaxErrorBound(1, 1, 16), 'rows of one');
        // Long rows: the sum reaches 300 (a flat row) and the scale s = 2^-4.
        const long = Float64Array.of(...new Array(300).fill(0.5), ...rand(300, 3));
        const gotLong = await open(tfe.softmax(priv(c, long, [2, 300])));
        const wantLong = [...ref(Array.from(long.subarray(0, 300))), ...ref(Array.from(long.subarray(300)))];
        within(t, gotLong, wantLong, (i) => softmaxErrorBound(300, wantLong[i], 16), 'rows of 300');
        const cube = Float64Array.from(rand(2 * 3 * 4, 3));
        const got3 = await open(tfe.softmax(priv(c, cube, [2, 3, 4])));
        const want3 = Array.from({ length: 6 }, (_, r) => ref(Array.from(cube.subarray(4 * r, 4 * r + 4)))).flat();
        within(t, got3, want3, (i) => softmaxErrorBound(4, want3[i], 16), 'rank 3');
      }));

  if (exactRelu)
    test(`${protocol}: a causal softmax gives the later positions weight 0 and the rest plaintext's, even where the later scores are far larger`, (t) =>
      withCluster(protocol, async (c) => {
        // [2, 40, 40]: row i keeps j <= i. The hidden scores are 30 above the kept ones (in
        // [-3, 3]): without the penalty they would set the maximum and the kept exponentials
        // would all clamp at e^-10; without the mask's product the 39 hidden ones would add
        // 39 e^-10 to row 0's sum (its one weight 1.8e-3 below 1, past the bound).
        const T = 40;
        const xa = Float64Array.from({ length: 2 * T * T }, (_, k) => ((k % T) > Math.floor(k / T) % T ? 30 : Math.random() * 6 - 3));
        const got = await open(tfe.softmax(priv(c, xa, [2, T, T]), { causal: true }));
        const want: number[] = [], kept: number[] = [];
        for (let r = 0; r < 2 * T; r++) {
          const i = r % T, row = Array.from(xa.subarray(r * T, r * T + i + 1));
          const m = Math.max(...row), e = row.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
          for (let j = 0; j < T; j++) want.push(j <= i ? e[j] / s : 0), kept.push(i + 1);
        }
        within(t, got, want, (k) => softmaxErrorBound(kept[k], want[k], 16), 'causal softmax vs float64 with the later steps hidden');
        t.throws(() => tfe.softmax(priv(c, Float64Array.of(1, 2), [2]), { causal: true }), { message: /two axes for a causal mask/ });
      }));

  if (exactRelu)
    test(`${protocol}: a padding mask in a self-attention's softmax: padded keys weigh 0, a padded query row weighs every key alike (Keras's), even where padded scores are far larger`, (t) =>
      withCluster(protocol, async (c) => {
        // Scores [2 examples, 2 heads, T, T] and a private 0/1 mask per example's steps: example 0
        // post-padded, example 1 interleaved. Padded keys' scores are 30 above the kept ones, so
        // without the penalty they would set the maximum; without the keep product they would
        // weigh; a padded query row must come out uniform (1/T), whatever its scores.
        const T = 12, B = 2, H = 2;
        const m = [Array.from({ length: T }, (_, j) => (j < 7 ? 1 : 0)), Array.from({ length: T }, (_, j) => (j % 3 === 1 ? 0 : 1))];
        const xa = Float64Array.from({ length: B * H * T * T }, (_, k) => (m[Math.floor(k / (H * T * T))][k % T] ? Math.random() * 6 - 3 : 30));
        const mask = priv(c, Float64Array.from(m.flat()), [B, T]);
        for (const causal of [false, true]) {
          const got = await open(tfe.softmax(priv(c, xa, [B, H, T, T]), { padding: mask, causal }));
          const want: number[] = [], kept: number[] = [];
          for (let r = 0; r < B * H * T; r++) {
            const b = Math.floor(r / (H * T)), i = r % T, row = xa.subarray(r * T, r * T + T);
            const keep = (j: number) => m[b][j] === 1 && (!causal || j <= i);
            if (m[b][i] === 0) {
              for (let j = 0; j < T; j++) want.push(1 / T), kept.push(T);
              continue;
            }
            const e = Array.from(row, (v, j) => (keep(j) ? Math.exp(v - Math.max(...Array.from(row).filter((_, q) => keep(q)))) : 0));
            const sum = e.reduce((a, v) => a + v, 0);
            for (let j = 0; j < T; j++) want.push(e[j] / sum), kept.push(e.filter((v) => v > 0).length);
          }
          within(t, got, want, (k) => softmaxErrorBound(kept[k], want[k], 16), `padded softmax vs float64${causal ? ', causal' : ''}`);
        }
        t.throws(() => tfe.softmax(priv(c, xa.subarray(0, B * T * T), [B, T, T]), { padding: mask }), { message: /a padding mask \[2,12\] needs self-attention scores \[batch, heads, T, T\]/ });
      }));

  if (!exactRelu)
    test(`${protocol}: softmax is refused: it needs comparisons`, (t) =>
      withCluster(protocol, async (c) => {
        t.throws(() => tfe.softmax(priv(c, Float64Array.of(1, -1), [1, 2])), { message: /softmax needs comparisons: use an exact protocol/ });
      }));

  if (!exactRelu)
    test(`${protocol}: swish, softplus, elu, selu, gelu and mish are refused: they need comparisons`, (t) =>
      withCluster(protocol, async (c) => {
        const x = priv(c, Float64Array.of(1, -1), [2]);
        for (const op of [tfe.swish, tfe.softplus, tfe.elu, tfe.selu, tfe.gelu, tfe.mish]) t.throws(() => op(x), { message: new RegExp(`needs an exact protocol \\(${exactProtocolsText().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`) });
      }));

  if (!exactRelu)
  test(`${protocol}: sigmoid and tanh are their degree-3 polynomials within their bounds`, (t) =>
    withCluster(protocol, async (c) => {
      const cases: [string, (x: tfe.AnyTensor) => tfe.PrivateTensor, tfe.Polynomial, (v: number) => number][] = [
        ['tfe.sigmoid', tfe.sigmoid, tfe.SIGMOID_POLY, sigmoid],
        ['x.sigmoid()', (x) => x.sigmoid(), tfe.SIGMOID_POLY, sigmoid],
        ['tfe.tanh', tfe.tanh, tfe.TANH_POLY, Math.tanh],
        ['x.tanh()', (x) => x.tanh(), tfe.TANH_POLY, Math.tanh],
      ];
      for (const [name, op, poly, f] of cases) {
        const xa = inputs(3000, poly.interval);
        const got = await open(op(priv(c, xa, [3000])));
        checkPoly(t, got, xa, poly, f, name);
      }
    }));

  test(`${protocol}: tfe.polynomial of degree 1 to 3, and a composition with a propagated bound`, (t) =>
    withCluster(protocol, async (c) => {
      const xa = withEdges(rand(1000, 3), [U, -U, 3, -3]);
      const x = priv(c, xa, [10, 100]);
      const polys: tfe.Polynomial[] = [
        { coeffs: [0.3, -1.2], interval: [-3, 3], maxError: 0 },
        { coeffs: [-0.7, 0, 0.45], interval: [-3, 3], maxError: 0 },
        { coeffs: [0.25, -1.1, 0.7, 0.05], interval: [-3, 3], maxError: 0 },
      ];
      for (const poly of polys) {
        const got = await open(tfe.polynomial(x, poly));
        within(t, got, Array.from(xa, (v) => tfe.evalPolynomial(poly, v)), (i) => polyBound(poly.coeffs, xa[i]), `degree ${poly.coeffs.length - 1}`);
      }
      // tanh(sigmoid(x)): the inner result is known within polyBound, which becomes the outer
      // polynomial's input error. Under exact protocols each is within its own bound (tanh' <= 1).
      const got = await open(tfe.tanh(tfe.sigmoid(x)));
      if (exactRelu) {
        within(t, got, Array.from(xa, (v) => Math.tanh(sigmoid(v))), tanhErrorBound(16) + sigmoidErrorBound(16), 'tanh(sigmoid(x))');
        return;
      }
      const inner = Array.from(xa, (v) => tfe.evalPolynomial(tfe.SIGMOID_POLY, v));
      within(t, got, inner.map((v) => tfe.evalPolynomial(tfe.TANH_POLY, v)), (i) => polyBound(tfe.TANH_POLY.coeffs, inner[i], polyBound(tfe.SIGMOID_POLY.coeffs, xa[i])), 'tanh(sigmoid(x))');
    }));
}
