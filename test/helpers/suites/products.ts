// Products: mul, square, matmul, conv2d (grouped too), depthwiseConv2d, conv3d and conv3dTranspose (Beaver, or local with a public operand) and avgPool2d
// (a local window sum times a public reciprocal). Each result is one truncated sum of products
// of encodings, so two checks apply (../fixed.ts):
//  - against the plaintext fixed-point value sum_p X_p Y_p * U^2 (exact in float64 here: every
//    |X Y| < 2^42): off by less than one unit, the truncation alone;
//  - against float64: sum_p (|x_p| + |y_p|) U/2 + k U^2/4 + U for k products (productBound).
import test, { type ExecutionContext } from 'ava';

import * as tfe from '../../../lib';
import { conv2dRef, conv3dRef, enc, encInt, matmulRef, poolRef, prodErr, productBound, rand, rint, U, within, withEdges, type Padding } from '../fixed';
import { open, priv, type Protocol, pub, TRAITS, withCluster } from './harness';

// Edge operands: a unit, half-unit rounding, and larger magnitudes (paired with operands below
// 4, every product stays far below 2^15, so local truncation fails with probability < 2^-16).
const EDGES = [U, -U, 1.5 * U + 1e-9, 1 - U, -1, 100.3, -77.7, 0.5 + U];

/** Elementwise-product checks: the encodings' product (one unit) and the float64 bound. */
function checkProduct(t: ExecutionContext, got: Float64Array, a: (i: number) => number, b: (i: number) => number, what: string): void {
  const n = got.length;
  const fixed = Array.from({ length: n }, (_, i) => encInt(a(i)) * encInt(b(i)) * U * U);
  const real = Array.from({ length: n }, (_, i) => a(i) * b(i));
  within(t, got, fixed, U, `${what} vs the fixed-point product`);
  within(t, got, real, (i) => productBound(Math.abs(a(i)) + Math.abs(b(i)), 1, Math.abs(real[i])), `${what} vs float64`);
}

export function productSuite(protocol: Protocol): void {
  test(`${protocol}: mul (private, public, broadcast, number operands) and square within one unit of fixed point`, (t) =>
    withCluster(protocol, async (c) => {
      const xa = withEdges(rand(24, 3), EDGES), ya = rand(24, 3), ba = rand(6, 2), pa = rand(24, 3);
      const x = priv(c, xa, [4, 6]), y = priv(c, ya, [4, 6], 'model-owner'), b = priv(c, ba, [6]);
      const p = pub(c, pa, [4, 6]);
      const k = 1.7; // Math.round(1.7 * 2^16) is not a tie
      const X = (i: number) => xa[i], Y = (i: number) => ya[i], B = (i: number) => ba[i % 6], P = (i: number) => pa[i];
      const cases: [string, tfe.AnyTensor, (i: number) => number, (i: number) => number][] = [
        ['private x private', tfe.mul(x, y), X, Y],
        ['private x broadcast private', tfe.mul(x, b), X, B],
        ['broadcast private x private', b.mul(x), B, X],
        ['private x public', tfe.mul(x, p), X, P],
        ['public x private', tfe.mul(p, x), P, X],
        ['public x public', tfe.mul(p, p), P, P],
        ['public x number', p.mul(k), P, () => k],
        ['square of a public tensor', tfe.square(p), P, P],
        ['private x number', tfe.mul(x, k), X, () => k],
        ['private x negative number', x.mul(-0.3), X, () => -0.3],
        ['square', tfe.square(y), Y, Y],
        ['square reusing the mask of x', x.square(), X, X],
        ['private x itself', tfe.mul(x, x), X, X],
      ];
      for (const [name, z, a, bb] of cases) {
        t.deepEqual([...z.shape], [4, 6], name);
        checkProduct(t, await open(z), a, bb, name);
      }
    }));

  test(`${protocol}: inputs disposed as soon as the ops that read them are built (as in TensorFlow.js): the ops still complete within one unit, and each dispose waits for them`, (t) =>
    withCluster(protocol, async (c) => {
      const [m, k, n] = [3, 8, 5];
      const xa = withEdges(rand(m * k, 2), EDGES.slice(0, 5)), wa = rand(k * n, 0.5), va = rand(k, 2);
      const x = priv(c, xa, [m, k]), w = priv(c, wa, [k, n], 'model-owner'), v = priv(c, va, [1, k], 'model-owner');
      // Under the exact protocols a relu first, so that the product may fold into its gate (the
      // folding forms read the gate's openings when the product runs); under Pond the input itself.
      const exact = TRAITS[protocol].exactRelu;
      const h = exact ? tfe.relu(x) : x;
      const ha = exact ? xa.map((e) => Math.max(enc(e), 0)) : xa;
      const y = tfe.matmul(h, w);
      const z = h.mul(v);
      let built = 0;
      for (const out of [y, z]) (out as tfe.PrivateTensor).shares.then(() => built++, () => built++);
      // Disposed at once, not awaited: each dispose frees only once the ops built before it ran.
      const disposed = [h, x, w, v].map((d) => d.dispose().then(() => t.is(built, 2, 'a dispose finished before an op that read the tensor')));
      const eW = Array.from(wa, encInt);
      const fixed = matmulRef(Array.from(ha, encInt), eW, m, k, n).out.map((e) => e * U * U);
      within(t, await open(y), fixed, U, 'matmul of disposed operands vs fixed point');
      const zWant = Array.from({ length: m * k }, (_, i) => encInt(ha[i]) * encInt(va[i % k]) * U * U);
      within(t, await open(z), zWant, U, 'broadcast mul of disposed operands vs fixed point');
      await Promise.all(disposed);
      // Once disposed, a tensor cannot start a new op.
      await t.throwsAsync(() => open(x.mul(2)), { message: /after dispose/ });
    }));

  test(`${protocol}: matmul private x private, with public operands, and with a reused weight`, (t) =>
    withCluster(protocol, async (c) => {
      const [m, k, n] = [3, 50, 4];
      const xa = withEdges(rand(m * k, 2), EDGES.slice(0, 5)), wa = rand(k * n, 0.5);
      const x = priv(c, xa, [m, k]), w = priv(c, wa, [k, n], 'model-owner');
      const wPub = pub(c, wa, [k, n], 'model-owner'), xPub = pub(c, xa, [m, k]);
      const others = [rand(m * k, 2), rand(m * k, 2), rand(m * k, 2)];
      const cases: [string, tfe.AnyTensor, Float64Array][] = [
        ['private x private', tfe.matmul(x, w), xa],
        ['private x public', tfe.matmul(x, wPub), xa],
        ['public x private', tfe.matmul(xPub, w), xa],
        ['public x public', xPub.matmul(wPub), xa],
        // Issued together: the weight's masked form is made once and shared by all three.
        ...others.map((o, i): [string, tfe.AnyTensor, Float64Array] => [`new input ${i} x the same weight`, priv(c, o, [m, k], 'prediction-client').matmul(w), o]),
      ];
      const eW = Array.from(wa, encInt);
      for (const [name, z, a] of cases) {
        t.deepEqual([...z.shape], [m, n], name);
        const got = await open(z);
        const fixed = matmulRef(Array.from(a, encInt), eW, m, k, n).out.map((v) => v * U * U);
        const real = matmulRef(a, wa, m, k, n);
        within(t, got, fixed, U, `${name} vs fixed point`);
        within(t, got, real.out, (i) => productBound(real.abs[i], k, real.absProd[i]), `${name} vs float64`);
      }
      // Degenerate inner dimensions: an outer product (k = 1) and a dot product to [1, 1].
      const [ua, va] = [rand(5, 3), rand(5, 3)];
      const u = priv(c, ua, [5, 1]), v = priv(c, va, [1, 5]);
      const outer = await open(tfe.matmul(u, v));
      checkProduct(t, outer, (i) => ua[Math.floor(i / 5)], (i) => va[i % 5], 'outer product');
      const dot = tfe.matmul(v, u);
      t.deepEqual([...dot.shape], [1, 1]);
      const ref = matmulRef(va, ua, 1, 5, 1);
      within(t, await open(dot), ref.out, productBound(ref.abs[0], 5, ref.absProd[0]), 'dot product');
    }));

  test(`${protocol}: batched matmul: stacks of matrices (private x private, private x public), and a stack times one matrix`, (t) =>
    withCluster(protocol, async (c) => {
      const [b, m, k, n] = [3, 2, 7, 4];
      const xa = withEdges(rand(b * m * k, 2), EDGES.slice(0, 5)), ya = rand(b * k * n, 1), wa = rand(k * n, 1);
      const x = priv(c, xa, [b, m, k]), y = priv(c, ya, [b, k, n]), w = priv(c, wa, [k, n], 'model-owner');
      const cases: [string, tfe.AnyTensor, (i: number) => Float64Array][] = [
        ['stack x stack, private', tfe.matmul(x, y), (i) => ya.subarray(i * k * n, (i + 1) * k * n)],
        ['stack x stack, public right', tfe.matmul(x, pub(c, ya, [b, k, n])), (i) => ya.subarray(i * k * n, (i + 1) * k * n)],
        ['stack x one matrix, private', tfe.matmul(x, w), () => wa],
      ];
      for (const [name, z, right] of cases) {
        t.deepEqual([...z.shape], [b, m, n], name);
        const got = await open(z);
        for (let i = 0; i < b; i++) {
          const a = xa.subarray(i * m * k, (i + 1) * m * k), r = right(i), slice = got.subarray(i * m * n, (i + 1) * m * n);
          const fixed = matmulRef(Array.from(a, encInt), Array.from(r, encInt), m, k, n).out.map((v) => v * U * U);
          const real = matmulRef(a, r, m, k, n);
          within(t, slice, fixed, U, `${name}, matrix ${i} vs fixed point`);
          within(t, slice, real.out, (j) => productBound(real.abs[j], k, real.absProd[j]), `${name}, matrix ${i} vs float64`);
        }
      }
      t.throws(() => tfe.matmul(x, priv(c, rand(2 * k * n, 1), [2, k, n])), { message: 'matmul: [3,2,7] x [2,7,4]: batch dimensions [3] and [2] differ' });
    }));

  test(`${protocol}: conv2d with VALID and SAME padding, strides, and private or public filters`, (t) =>
    withCluster(protocol, async (c) => {
      const xs = [2, 7, 6, 3], fs = [3, 3, 3, 4];
      const xa = withEdges(rand(2 * 7 * 6 * 3, 2), EDGES.slice(0, 5)), fa = rand(3 * 3 * 3 * 4, 0.5);
      const x = priv(c, xa, xs), f = priv(c, fa, fs, 'model-owner'), fPub = pub(c, fa, fs, 'model-owner');
      const eX = Array.from(xa, encInt), eF = Array.from(fa, encInt);
      const geometries: [Padding, [number, number]][] = [['VALID', [1, 1]], ['VALID', [2, 1]], ['SAME', [1, 1]], ['SAME', [2, 2]], ['SAME', [1, 2]]];
      for (const [pad, strides] of geometries)
        for (const [kind, filter] of [['private', f], ['public', fPub]] as const) {
          const name = `conv2d ${pad} strides ${strides} ${kind} filter`;
          const z = tfe.conv2d(x, filter, { strides, padding: pad });
          const real = conv2dRef(xa, xs, fa, fs, strides, pad);
          t.deepEqual([...z.shape], real.shape, name);
          const got = await open(z);
          within(t, got, conv2dRef(eX, xs, eF, fs, strides, pad).out.map((v) => v * U * U), U, `${name} vs fixed point`);
          // Padding taps add nothing; k is the number of real taps of each output.
          within(t, got, real.out, (i) => productBound(real.abs[i], real.terms[i], real.absProd[i]), `${name} vs float64`);
        }
      // Even filter sizes: TensorFlow's SAME pads the extra row and column after the image.
      const ga = rand(2 * 4 * 3 * 2, 0.5), gs = [2, 4, 3, 2];
      const g = priv(c, ga, gs, 'model-owner');
      for (const [pad, strides] of [['SAME', [1, 1]], ['SAME', [2, 3]], ['VALID', [3, 2]]] as [Padding, [number, number]][]) {
        const ref = conv2dRef(xa, xs, ga, gs, strides, pad);
        const z = tfe.conv2d(x, g, { strides, padding: pad });
        t.deepEqual([...z.shape], ref.shape);
        within(t, await open(z), ref.out, (i) => productBound(ref.abs[i], ref.terms[i], ref.absProd[i]), `2x4 filter ${pad} strides ${strides}`);
      }
      // A 1x1 filter is a matmul over channels.
      const one = rand(3 * 2, 1);
      const z = tfe.conv2d(x, priv(c, one, [1, 1, 3, 2], 'model-owner'), { strides: 1, padding: 'SAME' });
      const ref = conv2dRef(xa, xs, one, [1, 1, 3, 2], [1, 1], 'SAME');
      within(t, await open(z), ref.out, (i) => productBound(ref.abs[i], 3, ref.absProd[i]), '1x1 conv2d');
    }));

  test(`${protocol}: conv3d and conv3dTranspose (VALID and SAME, strides, dilations; private or public filters) as TensorFlow defines them`, (t) =>
    withCluster(protocol, async (c) => {
      const xs = [2, 4, 5, 3, 2], fs = [2, 3, 2, 2, 3], ts = [2, 3, 2, 3, 2];
      const xa = withEdges(rand(2 * 4 * 5 * 3 * 2, 2), EDGES.slice(0, 5)), fa = rand(2 * 3 * 2 * 2 * 3, 0.5);
      const x = priv(c, xa, xs), f = priv(c, fa, fs, 'model-owner'), fPub = pub(c, fa, fs, 'model-owner'), tf = priv(c, fa, ts, 'model-owner');
      const cases: [Padding, number[], number[]][] = [['VALID', [1, 1, 1], [1, 1, 1]], ['SAME', [1, 1, 1], [1, 1, 1]], ['SAME', [2, 2, 1], [1, 1, 1]], ['VALID', [1, 1, 1], [2, 1, 1]], ['SAME', [1, 1, 1], [1, 2, 1]]];
      for (const [pad, strides, dilations] of cases)
        for (const [kind, filter] of [['private', f], ['public', fPub]] as const) {
          const name = `conv3d ${pad} strides ${strides} dilations ${dilations} ${kind} filter`;
          const z = tfe.conv3d(x, filter, { strides: strides as [number, number, number], padding: pad, dilations: dilations as [number, number, number] });
          const real = conv3dRef(xa, xs, fa, fs, strides, pad, dilations);
          t.deepEqual([...z.shape], real.shape, name);
          within(t, await open(z), real.out, (i) => productBound(real.abs[i], real.terms[i], real.absProd[i]), `${name} vs float64`);
        }
      // Transposed: a kernel shorter than its stride on the last axis (Keras's zeros between).
      for (const [pad, strides] of [['SAME', [2, 2, 2]], ['VALID', [1, 2, 3]]] as [Padding, number[]][]) {
        const z = tfe.conv3dTranspose(x, tf, { strides: strides as [number, number, number], padding: pad });
        const real = conv3dRef(xa, xs, fa, ts, strides, pad, [1, 1, 1], true);
        t.deepEqual([...z.shape], real.shape, `conv3dTranspose ${pad} ${strides}`);
        within(t, await open(z), real.out, (i) => productBound(real.abs[i], real.terms[i], real.absProd[i]), `conv3dTranspose ${pad} strides ${strides} vs float64`);
      }
      t.throws(() => tfe.conv3d(x, priv(c, rand(2 * 2 * 2 * 3 * 1, 1), [2, 2, 2, 3, 1], 'model-owner')), { message: /conv3d: filter \[2,2,2,3,1\] does not take x's 2 channels/ });
    }));

  test(`${protocol}: depthwiseConv2d with multipliers 1 and 2, VALID and SAME padding, strides, private or public filters`, (t) =>
    withCluster(protocol, async (c) => {
      const xs = [2, 7, 6, 3];
      const xa = withEdges(rand(2 * 7 * 6 * 3, 2), EDGES.slice(0, 5)), x = priv(c, xa, xs), eX = Array.from(xa, encInt);
      // The reference: a convolution with the filter expanded over every channel (zeros elsewhere).
      const expanded = (f: ArrayLike<number>, [kh, kw, ch, m]: number[]) => {
        const out = new Float64Array(kh * kw * ch * ch * m);
        for (let tap = 0; tap < kh * kw; tap++) for (let ci = 0; ci < ch; ci++) for (let j = 0; j < m; j++) out[(tap * ch + ci) * ch * m + ci * m + j] = f[(tap * ch + ci) * m + j];
        return out;
      };
      for (const fs of [[3, 3, 3, 1], [2, 4, 3, 2]]) {
        const fa = rand(fs.reduce((a, b) => a * b, 1), 0.5), full = [fs[0], fs[1], 3, 3 * fs[3]];
        const f = priv(c, fa, fs, 'model-owner'), fPub = pub(c, fa, fs, 'model-owner');
        for (const [pad, strides] of [['VALID', [1, 1]], ['SAME', [2, 2]], ['SAME', [1, 2]]] as [Padding, [number, number]][])
          for (const [kind, filter] of [['private', f], ['public', fPub]] as const) {
            const name = `depthwiseConv2d [${fs}] ${pad} strides ${strides} ${kind} filter`;
            const z = tfe.depthwiseConv2d(x, filter, { strides, padding: pad });
            const real = conv2dRef(xa, xs, expanded(fa, fs), full, strides, pad);
            t.deepEqual([...z.shape], real.shape, name);
            const got = await open(z);
            within(t, got, conv2dRef(eX, xs, expanded(Array.from(fa, encInt), fs), full, strides, pad).out.map((v) => v * U * U), U, `${name} vs fixed point`);
            within(t, got, real.out, (i) => productBound(real.abs[i], real.terms[i], real.absProd[i]), `${name} vs float64`);
          }
      }
    }));

  test(`${protocol}: conv2d in groups (2 and 3, several channels per group), VALID and SAME padding, strides, private or public filters; wrong groups refused`, (t) =>
    withCluster(protocol, async (c) => {
      const xs = [2, 6, 5, 6];
      const xa = withEdges(rand(2 * 6 * 5 * 6, 2), EDGES.slice(0, 5)), x = priv(c, xa, xs), eX = Array.from(xa, encInt);
      // The reference: an ordinary convolution with the filter expanded over every input channel,
      // zeros outside each output's group (written here independently of the library's code).
      const expanded = (f: ArrayLike<number>, [kh, kw, cg, o]: number[], groups: number) => {
        const ch = cg * groups, og = o / groups, out = new Float64Array(kh * kw * ch * o);
        for (let tap = 0; tap < kh * kw; tap++)
          for (let ci = 0; ci < ch; ci++)
            for (let j = 0; j < o; j++) if (Math.floor(j / og) === Math.floor(ci / cg)) out[(tap * ch + ci) * o + j] = f[(tap * cg + (ci % cg)) * o + j];
        return out;
      };
      for (const [groups, fs] of [[2, [3, 3, 3, 4]], [3, [2, 3, 2, 6]]] as [number, number[]][]) {
        const fa = rand(fs.reduce((a, b) => a * b, 1), 0.5), full = [fs[0], fs[1], 6, fs[3]];
        const f = priv(c, fa, fs, 'model-owner'), fPub = pub(c, fa, fs, 'model-owner');
        for (const [pad, strides] of [['VALID', [1, 1]], ['SAME', [2, 2]], ['SAME', [1, 2]]] as [Padding, [number, number]][])
          for (const [kind, filter] of [['private', f], ['public', fPub]] as const) {
            const name = `conv2d [${fs}] in ${groups} groups ${pad} strides ${strides} ${kind} filter`;
            const z = tfe.conv2d(x, filter, { strides, padding: pad, groups });
            const real = conv2dRef(xa, xs, expanded(fa, fs, groups), full, strides, pad);
            t.deepEqual([...z.shape], real.shape, name);
            const got = await open(z);
            within(t, got, conv2dRef(eX, xs, expanded(Array.from(fa, encInt), fs, groups), full, strides, pad).out.map((v) => v * U * U), U, `${name} vs fixed point`);
            within(t, got, real.out, (i) => productBound(real.abs[i], real.terms[i], real.absProd[i]), `${name} vs float64`);
          }
      }
      const f4 = priv(c, rand(3 * 3 * 3 * 4, 0.5), [3, 3, 3, 4], 'model-owner');
      t.throws(() => tfe.conv2d(x, f4, { groups: 3 }), { message: /conv2d: input \[2,6,5,6\] has 6 channels but filter \[3,3,3,4\] in 3 groups expects 9/ });
      t.throws(() => tfe.conv2d(x, priv(c, rand(3 * 3 * 2 * 4, 0.5), [3, 3, 2, 4], 'model-owner'), { groups: 3 }), { message: /conv2d: filter \[3,3,2,4\] has 4 outputs, which 3 groups do not divide/ });
      t.throws(() => tfe.conv2d(x, f4, { groups: 0 }), { message: /conv2d: groups must be a positive integer, got 0/ });
    }));

  test(`${protocol}: avgPool2d VALID and SAME, where TensorFlow divides by the count of real pixels`, (t) =>
    withCluster(protocol, async (c) => {
      const xs = [2, 7, 5, 2];
      const xa = withEdges(rand(2 * 7 * 5 * 2, 4), EDGES.slice(0, 6));
      const x = priv(c, xa, xs);
      const eX = Array.from(xa, encInt);
      type Case = [string, tfe.AnyTensor, [number, number], [number, number], Padding];
      const cases: Case[] = [
        ['2x2 VALID (strides default to the pool)', tfe.avgPool2d(x, { poolSize: 2 }), [2, 2], [2, 2], 'VALID'],
        ['3x3 SAME stride 2 (border counts 4 and 6)', tfe.avgPool2d(x, { poolSize: 3, strides: 2, padding: 'SAME' }), [3, 3], [2, 2], 'SAME'],
        ['3x3 SAME stride 1', tfe.avgPool2d(x, { poolSize: [3, 3], strides: 1, padding: 'SAME' }), [3, 3], [1, 1], 'SAME'],
        ['2x2 SAME stride 1 (padding after the image)', tfe.avgPool2d(x, { poolSize: 2, strides: 1, padding: 'SAME' }), [2, 2], [1, 1], 'SAME'],
        ['2x3 VALID strides [1,2]', tfe.avgPool2d(x, { poolSize: [2, 3], strides: [1, 2] }), [2, 3], [1, 2], 'VALID'],
        ['public 3x3 SAME stride 2', tfe.avgPool2d(tfe.reveal(x), { poolSize: 3, strides: 2, padding: 'SAME' }), [3, 3], [2, 2], 'SAME'],
      ];
      for (const [name, z, k, s, pad] of cases) {
        const real = poolRef(xa, xs, k, s, pad);
        const sums = poolRef(eX, xs, k, s, pad).sum;
        t.deepEqual([...z.shape], real.shape, name);
        if (pad === 'SAME') t.true(real.count.some((n) => n < k[0] * k[1]), `${name}: some windows overlap the padding`);
        const got = await open(z);
        // The ring computes trunc(S * R) with S the window sum of encodings and R = round(2^16 / n):
        // within one unit of S * R * U^2.
        within(t, got, sums.map((v, i) => v * rint(2 ** 16 / real.count[i]) * U * U), U, `${name} vs fixed point`);
        // Against the mean: the sum is off by n U/2, the reciprocal by its encoding error (fact 3),
        // plus one unit of truncation.
        const mean = real.sum.map((v, i) => v / real.count[i]);
        within(t, got, mean, (i) => prodErr(real.sum[i], (real.count[i] * U) / 2, 1 / real.count[i], Math.abs(enc(1 / real.count[i]) - 1 / real.count[i])) + U + 1e-12, `${name} vs float64 mean`);
      }
    }));
}
