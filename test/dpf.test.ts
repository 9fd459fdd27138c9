// The DPF (native/src/fss/dpf.h, dpfKeygen/dpfEval) against a plaintext reference, its key layout
// and randomness, chunking, a statistical privacy check with controls that it can fail, and
// refusals.
import { randomFillSync } from 'node:crypto';

import test from 'ava';

import { cpuInfo, dpfEval, dpfKeygen, dpfKeyWords, prgRing, setNumThreads } from '../lib/ring';
import { randomU64 } from './helpers/random';
import { chiCritical, chiSquare2, chiSquareUniform, histogram, maxBitZ, nonUniformBits } from './helpers/key_stats';
import { keyRows, tileRows } from './helpers/dcf_rows';
import { make, take } from './helpers/tensors';

const M = 1n << 64n;
type Impl = 'auto' | 'aesni' | 'portable';
const IMPLS: Impl[] = ['auto', 'portable', ...(cpuInfo().aes === 'aes-ni' ? (['aesni'] as const) : [])];

const u64 = (n: number) => [...randomU64(n, false)];
const randomSeed = () => randomFillSync(new Uint8Array(16));
const randomNonce = () => u64(1)[0];

/** The plaintext function: beta if x = alpha mod 2^bits, else 0. */
function reference(alpha: bigint, beta: bigint, x: bigint, bits: number): bigint {
  const mask = (1n << BigInt(bits)) - 1n;
  return (x & mask) === (alpha & mask) ? beta : 0n;
}

async function keys(alpha: bigint[], beta: bigint[], bits: number, o: { seed?: Uint8Array; nonce?: bigint; first?: number; impl?: Impl } = {}): Promise<[bigint[], bigint[]]> {
  const n = alpha.length;
  const [a, b] = [make(alpha, [n]), make(beta, [n])];
  try {
    const [k0, k1] = await dpfKeygen(a, b, { bits, seed: o.seed ?? randomSeed(), nonce: o.nonce ?? randomNonce(), first: o.first, impl: o.impl });
    // As rows (keys are stored tiled: native/src/fss/dcf.h "Tiles"); evalPoint tiles them back.
    const K = dpfKeyWords(bits);
    return [keyRows(take(k0), K), keyRows(take(k1), K)];
  } finally {
    a.dispose();
    b.dispose();
  }
}

async function evalPoint(key: bigint[], x: bigint[], bits: number, party: 0 | 1, impl: Impl = 'auto'): Promise<bigint[]> {
  const n = x.length, K = dpfKeyWords(bits);
  const [k, xt] = [make(tileRows(key, K), [n, K]), make(x, [n])];
  try {
    return take(await dpfEval(k, xt, { bits, party, impl }));
  } finally {
    k.dispose();
    xt.dispose();
  }
}

const sum = (y0: bigint[], y1: bigint[]) => y0.map((v, i) => (v + y1[i]) % M);

/** Alphas at the edges and at random, each against x at and around alpha (one bit off, too), at the
 * domain's ends, at random and with garbage above the domain. */
function edgeCases(bits: number, randomAlphas: number): { alpha: bigint[]; x: bigint[] } {
  const top = (1n << BigInt(bits)) - 1n, high = bits < 64 ? (M - 1n) ^ top : 0n;
  const alphas = [0n, 1n, top, top - 1n, ...u64(randomAlphas).map((a) => a & top), ...u64(randomAlphas)];
  const alpha: bigint[] = [], x: bigint[] = [];
  for (const a of alphas) {
    const r = u64(4);
    const flip = 1n << (r[3] % BigInt(bits));
    for (const v of [a, a + 1n, a - 1n, a ^ flip, a ^ 1n, 0n, top, r[0], r[1] & top, (a & top) | (r[2] & high)]) {
      alpha.push(a);
      x.push(((v % M) + M) % M);
    }
  }
  return { alpha, x };
}

test('dpf: exhaustive over every alpha and x for bits 1..4 and 8, random betas, every implementation', async (t) => {
  for (const impl of IMPLS)
    for (const bits of [1, 2, 3, 4, 8]) {
      const alpha: bigint[] = [], x: bigint[] = [];
      for (let a = 0n; a < 1n << BigInt(bits); a++) for (let v = 0n; v < 1n << BigInt(bits); v++) {
        alpha.push(a);
        x.push(v);
      }
      const beta = u64(alpha.length);
      const [k0, k1] = await keys(alpha, beta, bits, { impl });
      const y = sum(await evalPoint(k0, x, bits, 0, impl), await evalPoint(k1, x, bits, 1, impl));
      const wrong = x.findIndex((v, i) => y[i] !== reference(alpha[i], beta[i], v, bits));
      t.is(wrong, -1, `${impl}, bits ${bits}: wrong at alpha ${alpha[wrong]}, x ${x[wrong]}`);
    }
});

test('dpf: edge and random values for bits 17, 47, 48, 63 and 64, beta 1 and random, keys and evaluations across implementations', async (t) => {
  for (const bits of [17, 47, 48, 63, 64]) {
    const { alpha, x } = edgeCases(bits, 60);
    for (const beta of [alpha.map(() => 1n), u64(alpha.length)])
      for (const impl of IMPLS) {
        const [k0, k1] = await keys(alpha, beta, bits, { impl });
        const other: Impl = IMPLS[(IMPLS.indexOf(impl) + 1) % IMPLS.length];
        const [y0, y1] = [await evalPoint(k0, x, bits, 0, other), await evalPoint(k1, x, bits, 1, impl)];
        const y = sum(y0, y1);
        const wrong = x.findIndex((v, i) => y[i] !== reference(alpha[i], beta[i], v, bits));
        t.is(wrong, -1, `keys ${impl}, bits ${bits}: wrong at alpha ${alpha[wrong]}, x ${x[wrong]}`);
        // A party's outputs on their own are not the answer: no value repeats among a few hundred.
        t.true(new Set(y0).size > y0.length - 3, `${impl}, bits ${bits}: party 0's outputs repeat`);
      }
  }
});

test('dpf: every implementation makes the same keys and outputs, word for word (full and short batches, one thread and several)', async (t) => {
  for (const n of [1000, 37]) {
    const bits = 64, seed = randomSeed(), nonce = randomNonce(), alpha = u64(n), beta = u64(n), x = u64(n);
    const [ref0, ref1] = await keys(alpha, beta, bits, { seed, nonce, impl: 'portable' });
    const want = await evalPoint(ref1, x, bits, 1, 'portable');
    for (const impl of IMPLS) {
      const [k0, k1] = await keys(alpha, beta, bits, { seed, nonce, impl });
      t.deepEqual(k0, ref0, `${impl}: party 0's keys`);
      t.deepEqual(k1, ref1, `${impl}: party 1's keys`);
      t.deepEqual(await evalPoint(ref1, x, bits, 1, impl), want, `${impl}: outputs`);
    }
    const threads = cpuInfo().threads;
    setNumThreads(1);
    try {
      t.deepEqual(await keys(alpha, beta, bits, { seed, nonce }), [ref0, ref1], 'keys on one thread');
      t.deepEqual(await evalPoint(ref1, x, bits, 1), want, 'evaluation on one thread');
    } finally {
      setNumThreads(threads);
    }
  }
});

test('dpf: layout: K = 2 bits + 3, roots the PRG stream\'s blocks, corrections shared; chunks with `first` equal one call', async (t) => {
  t.deepEqual([1, 48, 64].map(dpfKeyWords), [5, 99, 131]);
  const n = 300, bits = 48, K = dpfKeyWords(bits), seed = randomSeed(), nonce = randomNonce(), first = 777;
  const alpha = u64(n), beta = u64(n);
  const [k0, k1] = await keys(alpha, beta, bits, { seed, nonce, first });
  const stream = take(await prgRing(seed, [4 * (first + n)], { nonce }));
  for (let j = 0; j < 9; j++) {
    const r0 = k0.slice(j * K, (j + 1) * K), r1 = k1.slice(j * K, (j + 1) * K);
    t.deepEqual([r0[0], r0[1], r1[0], r1[1]], stream.slice(4 * (first + j), 4 * (first + j) + 4), 'both roots as drawn');
    t.deepEqual(r0.slice(2), r1.slice(2), 'every correction word is shared');
  }
  const whole = await keys(alpha, beta, bits, { seed, nonce });
  const cuts = [0, 1, 33, 100, 257, 300];
  for (let c = 0; c + 1 < cuts.length; c++) {
    const [lo, hi] = [cuts[c], cuts[c + 1]];
    const part = await keys(alpha.slice(lo, hi), beta.slice(lo, hi), bits, { seed, nonce, first: lo });
    t.deepEqual(part[0], whole[0].slice(lo * K, hi * K), `chunk [${lo}, ${hi}) party 0`);
    t.deepEqual(part[1], whole[1].slice(lo * K, hi * K), `chunk [${lo}, ${hi}) party 1`);
  }
});

test('dpf privacy: one party\'s keys have the same statistics for two alphas, every bit a fair coin; leaky variants are caught', async (t) => {
  const n = 2048, bits = 64, K = dpfKeyWords(bits), ones = new Array<bigint>(n).fill(1n);
  const [a0, a1] = await keys(new Array<bigint>(n).fill(0n), ones, bits);
  const [b0, b1] = await keys(new Array<bigint>(n).fill((1n << 62n) + 12345n), ones, bits);
  const bytes = (words: bigint[]) => new Uint8Array(BigUint64Array.from(words).buffer);
  const critical = chiCritical(255);
  for (const [party, a, b] of [[0, a0, b0], [1, a1, b1]] as const) {
    const [ha, hb] = [histogram(bytes(a)), histogram(bytes(b))];
    const stat = chiSquare2(ha, hb), z = maxBitZ(a, b, K);
    t.log(`party ${party}: two-sample chi-square ${stat.toFixed(1)} (critical ${critical.toFixed(1)}), max bit z ${z.toFixed(2)}`);
    t.true(stat < critical, `party ${party}: key bytes differ between the secrets`);
    t.true(chiSquareUniform(ha) < critical && chiSquareUniform(hb) < critical, `party ${party}: key bytes are not uniform`);
    t.true(z < 7.5, `party ${party}: some key bit's frequency depends on the secret`);
    for (const k of [a, b]) t.deepEqual(nonUniformBits(k, K), [], `party ${party}: bits fixed or biased`);
  }
  // Controls: a root stored as its seed (bits 0..1 cleared) shows as fixed bits; alpha's lowest bit
  // in the final word's top bit, and a control correction without the control bits' masks (level
  // 1's tCW^L as alpha's bit 62 xor 1 alone), are caught by the two-secret bit test.
  t.deepEqual(nonUniformBits(a0.map((v, i) => (i % K === 0 ? v & ~3n : v)), K), ['0.0', '0.1'], 'the bit test failed to find fixed bits');
  const subtle = (words: bigint[], bit: bigint) => words.map((v, i) => (i % K === K - 1 ? (v & ~(1n << 63n)) | (bit << 63n) : v));
  t.true(maxBitZ(subtle(a0, 0n), subtle(b0, 1n), K) > 7.5, 'the bit test failed to catch one leaked bit');
  const plainControl = (words: bigint[], alphaBit: bigint) => words.map((v, i) => (i % K === 4 ? (v & ~1n) | (alphaBit ^ 1n) : v));
  t.true(maxBitZ(plainControl(a1, 0n), plainControl(b1, 1n), K) > 7.5, 'the bit test failed to catch an unmasked control correction');
});

test('dpf refuses bad arguments, in TypeScript and in the kernel', async (t) => {
  const v = make([1n, 2n, 3n], [3]), seed = randomSeed();
  const opts = { bits: 64, seed, nonce: 1n };
  await t.throwsAsync(dpfKeygen(v, make([0n, 1n], [2]), opts), { message: /alpha \[3\] and beta \[2\] must have one shape/ });
  await t.throwsAsync(dpfKeygen(v, v, { ...opts, bits: 65 }), { message: /bits/ });
  await t.throwsAsync(dpfKeygen(v, v, { ...opts, nonce: -1n }), { message: /nonce/ });
  const [k0] = await dpfKeygen(v, v, opts);
  await t.throwsAsync(dpfEval(k0, v, { bits: 63, party: 0 }), { message: /key must be \[3, 129\] \(n, 2 \* bits \+ 3\)/ });
  await t.throwsAsync(dpfEval(k0, v, { bits: 64, party: 2 as 0 }), { message: /party must be 0 or 1/ });
  await t.throwsAsync(dpfEval(k0, make([1n, 2n], [2]), { bits: 64, party: 0 }), { message: /key must be \[2, 131\]/ });
  const empty = await dpfKeygen(make([], [0]), make([], [0]), opts);
  t.deepEqual(empty.map((k) => k.shape), [[0, 131], [0, 131]]);
  t.deepEqual((await dpfEval(empty[0], make([], [0]), { bits: 64, party: 0 })).shape, [0]);
});
