// The many-payload DCF (DcfKeygenMany / DcfEvalMany, native/src/fss/dcf_many.cc; dcf.h "Many
// payloads"): one tree, P payloads. Against a plaintext BigInt reference on edge values and random
// inputs, against the two-payload kernels it generalises (P = 2 must give DcfKeygen2's keys),
// made in chunks, one party's keys for two secrets (with a leaky control), and refusals.
import test from 'ava';

import { cpuInfo, DCF_MAX_PAYLOADS, dcfEval2, dcfEvalMany, dcfKeygen2, dcfKeygenMany, dcfKeyWords, getBackend, RingTensor } from '../lib/ring';
import { edgeCases, randomNonce, randomSeed, randomU64 } from './helpers/dcf_cases';
import { keyRows } from './helpers/dcf_rows';
import { chiCritical, chiSquare2, highBits, histogram, maxBitZ, nonUniformBits } from './helpers/key_stats';
import { make, take } from './helpers/tensors';

const M = 1n << 64n;
const MAX = M - 1n;
const IMPLS: ('portable' | 'aesni' | 'auto')[] = ['portable', ...(cpuInfo().aes === 'aes-ni' ? (['aesni', 'auto'] as const) : [])];


/** beta [n, P] with 0 and 2^64 - 1 among random payloads. */
function payloads(n: number, P: number): bigint[] {
  const beta = randomU64(n * P);
  for (let i = 0; i < beta.length; i += 11) beta[i] = i % 2 ? MAX : 0n;
  return beta;
}

/** Both parties' shares summed, [n * P] row-major. */
async function reconstruct(alpha: bigint[], beta: bigint[], x: bigint[], bits: number, P: number, impl: 'auto' | 'aesni' | 'portable'): Promise<bigint[]> {
  const n = alpha.length;
  const [k0, k1] = await dcfKeygenMany(make(alpha, [n]), make(beta, [n, P]), { bits, seed: randomSeed(), nonce: randomNonce(), impl });
  const xt = make(x, [n]);
  const y0 = take(await dcfEvalMany(k0, xt, { bits, party: 0, payloads: P, impl }));
  const y1 = take(await dcfEvalMany(k1, xt, { bits, party: 1, payloads: P, impl }));
  for (const t of [k0, k1, xt]) t.dispose();
  return y0.map((v, i) => (v + y1[i]) % M);
}

function wrong(alpha: bigint[], beta: bigint[], x: bigint[], got: bigint[], bits: number, P: number): number {
  const mask = (1n << BigInt(bits)) - 1n;
  let bad = 0;
  for (let e = 0; e < alpha.length; e++)
    for (let p = 0; p < P; p++) if (got[e * P + p] !== ((x[e] & mask) < (alpha[e] & mask) ? beta[e * P + p] : 0n)) bad++;
  return bad;
}

for (const impl of IMPLS)
  test(`dcf many: one tree shares beta_p [x < alpha] for every payload p (P 1, 2, 3, 20; bits 1, 8, 48, 49, 64; ${impl})`, async (t) => {
    for (const P of [1, 2, 3, 20])
      for (const bits of [1, 8, 48, 49, 64]) {
        const { alpha, x } = edgeCases(bits, P === 20 ? 8 : 20);
        const beta = payloads(alpha.length, P);
        const got = await reconstruct(alpha, beta, x, bits, P, impl);
        t.is(wrong(alpha, beta, x, got, bits, P), 0, `P ${P}, bits ${bits}`);
      }
  });

test('dcf many: exhaustive over every alpha and x for bits 4 (P 3), and P = 256 (the most) on random elements', async (t) => {
  const alpha: bigint[] = [], x: bigint[] = [];
  for (let a = 0n; a < 16n; a++) for (let v = 0n; v < 16n; v++) (alpha.push(a), x.push(v));
  let beta = payloads(256, 3);
  t.is(wrong(alpha, beta, x, await reconstruct(alpha, beta, x, 4, 3, 'auto'), 4, 3), 0, 'exhaustive, bits 4');
  const { alpha: a2, x: x2 } = edgeCases(48, 2);
  beta = payloads(a2.length, DCF_MAX_PAYLOADS);
  t.is(wrong(a2, beta, x2, await reconstruct(a2, beta, x2, 48, DCF_MAX_PAYLOADS, 'auto'), 48, DCF_MAX_PAYLOADS), 0, 'P = 256');
  // Not vacuous: both outcomes occur.
  const mask = (1n << 48n) - 1n;
  t.true(a2.some((a, i) => (x2[i] & mask) < (a & mask)) && a2.some((a, i) => !((x2[i] & mask) < (a & mask))));
});

test('dcf many with P = 2 gives the two-payload kernel\'s keys word for word, and the same shares', async (t) => {
  for (const bits of [1, 48, 63, 64]) {
    const n = 77; // two batches of 32 and a short one, a short last tile
    const alpha = randomU64(n), b0 = randomU64(n), b1 = randomU64(n);
    const seed = randomSeed(), nonce = randomNonce();
    const rows = b0.flatMap((v, i) => [v, b1[i]]);
    const many = await dcfKeygenMany(make(alpha, [n]), make(rows, [n, 2]), { bits, seed, nonce, first: 5 });
    const two = await dcfKeygen2(make(alpha, [n]), make(b0, [n]), make(b1, [n]), { bits, seed, nonce, first: 5 });
    const xt = make(randomU64(n), [n]);
    const y = take(await dcfEvalMany(many[1], xt, { bits, party: 1, payloads: 2 }));
    const [y0, y1] = (await dcfEval2(two[1], xt, { bits, party: 1 })).map(take);
    xt.dispose();
    t.deepEqual(y, y0.flatMap((v, i) => [v, y1[i]]), `bits ${bits}: server1's shares`);
    t.deepEqual(take(many[0]), take(two[0]), `bits ${bits}: server0's keys`);
    t.deepEqual(take(many[1]), take(two[1]), `bits ${bits}: server1's keys`);
  }
});

test('dcf many: keys made in chunks (first) equal one call; results do not depend on the thread count', async (t) => {
  const n = 300, bits = 48, P = 5;
  const alpha = randomU64(n), beta = payloads(n, P), seed = randomSeed(), nonce = randomNonce();
  const K = dcfKeyWords(bits, P);
  const gen = async (lo: number, len: number) =>
    (await dcfKeygenMany(make(alpha.slice(lo, lo + len), [len]), make(beta.slice(lo * P, (lo + len) * P), [len, P]), { bits, seed, nonce, first: lo })).map((k) => keyRows(take(k), K));
  const whole = await gen(0, n);
  for (const [lo, len] of [[0, 33], [33, 67], [100, 200]]) {
    const part = await gen(lo, len);
    t.deepEqual(part[0], whole[0].slice(lo * K, (lo + len) * K), `chunk at ${lo}: server0`);
    t.deepEqual(part[1], whole[1].slice(lo * K, (lo + len) * K), `chunk at ${lo}: server1`);
  }
  const { setNumThreads } = await import('../lib/ring');
  const threads = cpuInfo().threads;
  const x = make(randomU64(n), [n]);
  const key = RingTensor.fromBigInts(randomU64(n * K), [n, K]);
  try {
    setNumThreads(1);
    const one = take(await dcfEvalMany(key, x, { bits, party: 0, payloads: P }));
    setNumThreads(Math.max(2, threads));
    t.deepEqual(take(await dcfEvalMany(key, x, { bits, party: 0, payloads: P })), one);
  } finally {
    setNumThreads(threads);
    key.dispose();
    x.dispose();
  }
});

test('dcf many privacy: one party\'s keys have the same statistics for two alphas whose payloads depend on alpha (as a folded product\'s r B does); a leaked bit is caught', async (t) => {
  const n = 1024, bits = 48, P = 6;
  const K = dcfKeyWords(bits, P);
  const keys = async (a: bigint) => {
    const alpha = make(new Array<bigint>(n).fill(a), [n]);
    // Payloads as a folded product's: (1 - 2b) B and (1 - 2b) r B, here functions of alpha itself.
    const beta = make(Array.from({ length: n * P }, (_, i) => ((i % 2 ? a * BigInt(i + 1) : BigInt(i + 1)) * (a & 1n ? MAX : 1n)) % M), [n, P]);
    const k = (await dcfKeygenMany(alpha, beta, { bits, seed: randomSeed(), nonce: randomNonce() })).map((key) => keyRows(take(key), K));
    alpha.dispose();
    beta.dispose();
    return k;
  };
  const A = 0n, B = (1n << 47n) + 12345n;
  const [a0, a1] = await keys(A), [b0, b1] = await keys(B);
  const critical = chiCritical(255);
  const rightControl = 2 + (2 + P) * bits;
  // Whole bytes only: the right-control word's bits at and above `bits` are always zero.
  const bytes = (w: bigint[]) => {
    const raw = new Uint8Array(BigUint64Array.from(w).buffer), out: number[] = [];
    for (let j = 0; j < n; j++) for (let k = 0; k < K; k++) for (let b = 0; b < (k === rightControl ? bits / 8 : 8); b++) out.push(raw[(j * K + k) * 8 + b]);
    return Uint8Array.from(out);
  };
  for (const [party, a, b] of [[0, a0, b0], [1, a1, b1]] as const) {
    const stat = chiSquare2(histogram(bytes(a)), histogram(bytes(b)));
    t.true(stat < critical, `party ${party}: key bytes differ between the alphas (chi-square ${stat.toFixed(1)} >= ${critical.toFixed(1)})`);
    t.true(maxBitZ(a, b, K) < 7.5, `party ${party}: some key bit's frequency depends on alpha`);
    // On its own a key is pseudorandom: every bit a fair coin but the right control word's above `bits`.
    for (const k of [a, b]) t.deepEqual(nonUniformBits(k, K), highBits(rightControl, bits), `party ${party}: bits fixed or biased`);
  }
  // Control: alpha's lowest bit hidden in the last final correction word is caught.
  const subtle = (w: bigint[], alpha: bigint) => w.map((v, i) => (i % K === K - 1 ? (v & ~1n) | (alpha & 1n) : v));
  t.true(maxBitZ(subtle(a0, A), subtle(b0, B | 1n), K) > 7.5, 'the bit test failed to catch one leaked bit');
});

test('dcf many refuses bad arguments, in TypeScript and in the native kernels', async (t) => {
  const v = make([1n, 2n, 3n], [3]);
  const seed = randomSeed();
  const beta = (P: number) => make(randomU64(3 * P), [3, P]);
  await t.throwsAsync(dcfKeygenMany(v, v, { bits: 8, seed, nonce: 1n }), { message: /beta must be \[3, P\]/ });
  await t.throwsAsync(dcfKeygenMany(v, beta(DCF_MAX_PAYLOADS + 1), { bits: 8, seed, nonce: 1n }), { message: /1 to 256 payloads/ });
  await t.throwsAsync(dcfKeygenMany(v, make(randomU64(6), [2, 3]), { bits: 8, seed, nonce: 1n }), { message: /beta must be \[3, P\]/ });
  await t.throwsAsync(dcfKeygenMany(v, beta(3), { bits: 65, seed, nonce: 1n }), { message: /bits must be an integer in \[1, 64\]/ });
  const [k0] = await dcfKeygenMany(v, beta(3), { bits: 8, seed, nonce: 1n });
  t.deepEqual(k0.shape, [3, 5 * 8 + 6]);
  await t.throwsAsync(dcfEvalMany(k0, v, { bits: 8, party: 0, payloads: 4 }), { message: /key must be \[3, 55\]/ });
  await t.throwsAsync(dcfEvalMany(k0, v, { bits: 8, party: 0, payloads: 0 }), { message: /payloads must be an integer in \[1, 256\]/ });
  t.throws(() => dcfKeyWords(8, 257), { message: /payloads/ });
  const native = getBackend().native;
  const run = (name: string, inputs: RingTensor[], attrs: Record<string, unknown>) => () => native.runSync(name, inputs.map((x) => x.handle), attrs as never);
  t.throws(run('DcfKeygenMany', [v, v], { bits: 8, seed, nonce: 1n }), { message: /DcfKeygenMany: beta must have rank 2/ });
  t.throws(run('DcfKeygenMany', [v, make(randomU64(4), [2, 2])], { bits: 8, seed, nonce: 1n }), { message: /one row per element of alpha/ });
  t.throws(run('DcfKeygenMany', [v, beta(257)], { bits: 8, seed, nonce: 1n }), { message: /1 to 256 payloads per element, got 257/ });
  t.throws(run('DcfKeygenMany', [v, beta(2)], { bits: 8, nonce: 1n }), { message: /missing attribute 'seed'/ });
  t.throws(run('DcfEvalMany', [k0, v], { bits: 8, party: 0 }), { message: /missing attribute 'payloads'/ });
  t.throws(run('DcfEvalMany', [k0, v], { bits: 8, party: 0, payloads: 300 }), { message: /payloads must be in \[1, 256\], got 300/ });
  t.throws(run('DcfEvalMany', [k0, v], { bits: 8, party: 0, payloads: 4 }), { message: /key has 46 words per element but bits = 8 needs 55 \(\(2 \+ P\) \* bits \+ 3 \+ P for P = 4 payloads\)/ });
  k0.dispose();
  v.dispose();
});
