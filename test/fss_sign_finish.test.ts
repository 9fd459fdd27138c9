// FssSignFinish (native/src/fss/sign_gate.cc): the one-round FSS gate's local steps after the DCF
// evaluation, one kernel. Checked against the gate's formulas written out with BigInt here
// (lib/protocol/fss/drelu.ts, steps 5-7), on random words and on the edge values of each input;
// the gate itself against plaintext in the protocol suites.
import { randomFillSync } from 'node:crypto';

import test from 'ava';

import { fssSignFinish } from '../lib/ops/fss';
import { make, take } from './helpers/tensors';

const M = 1n << 64n;
const mod = (v: bigint) => ((v % M) + M) % M;

function words(n: number): bigint[] {
  const a = new BigUint64Array(n);
  randomFillSync(new Uint8Array(a.buffer));
  const edges = [0n, 1n, (1n << 63n) - 1n, 1n << 63n, M - 1n, 2n];
  return [...a].map((v, i) => (i < edges.length * 3 && i % 3 === 0 ? edges[i / 3] : v));
}

/** The reference: d_j = [j = 0](1 - A) - (c + b)(1 - 2A); relu_j = x^ d_j - (r (1 - A) - (rb + e)(1 - 2A)). */
function reference(x: bigint, c: bigint, b: bigint, j: 0 | 1, relu?: { e: bigint; r: bigint; rb: bigint }): { d: bigint; relu?: bigint } {
  const A = x >> 63n;
  const d = mod((j === 0 ? 1n - A : 0n) - (c + b) * (1n - 2n * A));
  if (!relu) return { d };
  const rd = relu.r * (1n - A) - (relu.rb + relu.e) * (1n - 2n * A);
  return { d, relu: mod(x * d - rd) };
}

for (const n of [1, 7, 130, 20000]) {
  test(`fssSignFinish equals the gate's formulas, n = ${n}, both parties, DReLU, relu and [relu; d]`, async (t) => {
    const [x, c, b, e, r, rb] = Array.from({ length: 6 }, () => words(n));
    for (const j of [0, 1] as const) {
      const T = (v: bigint[]) => make(v, [n]);
      const d = take(await fssSignFinish(T(x), T(c), T(b), j));
      const relu = take(await fssSignFinish(T(x), T(c), T(b), j, { e: T(e), r: T(r), rb: T(rb) }));
      const both = take(await fssSignFinish(T(x), T(c), T(b), j, { e: T(e), r: T(r), rb: T(rb), bit: true }));
      t.is(both.length, 2 * n);
      for (let i = 0; i < n; i++) {
        const want = reference(x[i], c[i], b[i], j, { e: e[i], r: r[i], rb: rb[i] });
        if (d[i] !== want.d || relu[i] !== want.relu || both[i] !== want.relu || both[n + i] !== want.d) {
          t.fail(`party ${j}, element ${i}: got d ${d[i]}, relu ${relu[i]}, [${both[i]}; ${both[n + i]}], want d ${want.d}, relu ${want.relu}`);
          return;
        }
      }
    }
    t.pass();
  });
}

test('fssSignFinish: shares of both parties sum to DReLU and relu of a value masked as the gate masks it', async (t) => {
  // The dealer's view: r, b = MSB(r), and the DCF payloads for x^ = a + r, split into shares at random.
  const n = 64;
  const a = words(n).map((v, i) => (i % 4 === 0 ? 0n : v));
  const r = words(n), xHat = a.map((v, i) => mod(v + r[i]));
  const low = (v: bigint) => v & ((1n << 63n) - 1n);
  const bBit = r.map((v) => v >> 63n);
  const lt = xHat.map((v, i) => (low(v) < low(r[i]) ? 1n : 0n));
  const split = (v: bigint[]) => {
    const s0 = words(n);
    return [s0, v.map((x, i) => mod(x - s0[i]))];
  };
  const [c0, c1] = split(lt.map((l, i) => mod((1n - 2n * bBit[i]) * l)));
  const [e0, e1] = split(lt.map((l, i) => mod(r[i] * (1n - 2n * bBit[i]) * l)));
  const [b0, b1] = split(bBit), [r0, r1] = split(r), [rb0, rb1] = split(r.map((v, i) => mod(v * bBit[i])));
  const T = (v: bigint[]) => make(v, [n]);
  const y0 = take(await fssSignFinish(T(xHat), T(c0), T(b0), 0, { e: T(e0), r: T(r0), rb: T(rb0), bit: true }));
  const y1 = take(await fssSignFinish(T(xHat), T(c1), T(b1), 1, { e: T(e1), r: T(r1), rb: T(rb1), bit: true }));
  const signed = (v: bigint) => (v >= 1n << 63n ? v - M : v);
  for (let i = 0; i < n; i++) {
    const pos = signed(a[i]) >= 0n;
    t.is(mod(y0[n + i] + y1[n + i]), pos ? 1n : 0n, `DReLU of element ${i}`);
    t.is(mod(y0[i] + y1[i]), pos ? a[i] : 0n, `relu of element ${i}`);
  }
});

test('fssSignFinish refuses mismatched shapes and a bad party, naming them', async (t) => {
  const v = make([1n, 2n], [2]), w = make([1n, 2n, 3n], [3]);
  await t.throwsAsync(fssSignFinish(v, w, v, 0), { message: /fssSignFinish: c \[3\] and xhat \[2\] must have one shape/ });
  await t.throwsAsync(fssSignFinish(v, v, v, 2 as 0), { message: /party must be 0 or 1, got 2/ });
  await t.throwsAsync(fssSignFinish(v, v, v, 0, { e: v, r: w, rb: v }), { message: /r \[3\] and xhat \[2\]/ });
});
