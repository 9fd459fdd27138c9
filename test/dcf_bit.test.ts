// The one-bit DCF (native/src/fss/dcf_bit.h, dcfBitKeygen/dcfBitEval) against a plaintext
// reference, its key layout and randomness, chunking, a statistical privacy check with controls
// that it can fail, and refusals.
import { randomFillSync } from 'node:crypto';

import test from 'ava';

import { cpuInfo, dcfBitEval, dcfBitKeygen, dcfBitKeyWords, prgRing, type RingTensor, setNumThreads } from '../lib/ring';
import { randomU64 } from './helpers/random';
import { chiCritical, chiSquare2, chiSquareUniform, highBits, histogram, maxBitZ, nonUniformBits } from './helpers/key_stats';
import { keyRows, tileRows } from './helpers/dcf_rows';
import { make, take } from './helpers/tensors';

const M = 1n << 64n;
type Impl = 'auto' | 'aesni' | 'portable';
const IMPLS: Impl[] = ['auto', 'portable', ...(cpuInfo().aes === 'aes-ni' ? (['aesni'] as const) : [])];

const u64 = (n: number) => [...randomU64(n, false)];
const randomSeed = () => randomFillSync(new Uint8Array(16));
const randomNonce = () => u64(1)[0];
const randomBits = (n: number) => u64(n).map((v) => v & 1n);

/** The plaintext function: [(x mod 2^bits) < (alpha mod 2^bits)] xor w. */
function reference(alpha: bigint, w: bigint, x: bigint, bits: number): bigint {
  const mask = (1n << BigInt(bits)) - 1n;
  return ((x & mask) < (alpha & mask) ? 1n : 0n) ^ w;
}

async function keys(alpha: bigint[], w: bigint[], bits: number, o: { seed?: Uint8Array; nonce?: bigint; first?: number; impl?: Impl } = {}): Promise<[bigint[], bigint[]]> {
  const n = alpha.length;
  const [a, b] = [make(alpha, [n]), make(w, [n])];
  try {
    const [k0, k1] = await dcfBitKeygen(a, b, { bits, seed: o.seed ?? randomSeed(), nonce: o.nonce ?? randomNonce(), first: o.first, impl: o.impl });
    // As rows (keys are stored tiled: native/src/fss/dcf.h "Tiles"); evalBits tiles them back.
    const K = dcfBitKeyWords(bits);
    return [keyRows(take(k0), K), keyRows(take(k1), K)];
  } finally {
    a.dispose();
    b.dispose();
  }
}

async function evalBits(key: bigint[], x: bigint[], bits: number, party: 0 | 1, impl: Impl = 'auto'): Promise<bigint[]> {
  const n = x.length;
  const [k, xt] = [make(tileRows(key, dcfBitKeyWords(bits)), [n, dcfBitKeyWords(bits)]), make(x, [n])];
  try {
    const y = await dcfBitEval(k, xt, { bits, party, impl });
    assertBit(y);
    return take(y);
  } finally {
    k.dispose();
    xt.dispose();
  }
}
function assertBit(y: RingTensor): void {
  if (y.dtype !== 'bit') throw new Error(`dcfBitEval returned ${y.dtype}, expected bit`);
}

/** Alphas at the edges and at random, each against x at and around alpha, at the domain's ends,
 * at random and with garbage above the domain. */
function edgeCases(bits: number, randomAlphas: number): { alpha: bigint[]; x: bigint[] } {
  const top = (1n << BigInt(bits)) - 1n, high = bits < 64 ? (M - 1n) ^ top : 0n;
  const alphas = [0n, 1n, top, top - 1n, ...u64(randomAlphas).map((a) => a & top), ...u64(randomAlphas)];
  const alpha: bigint[] = [], x: bigint[] = [];
  for (const a of alphas) {
    const r = u64(3);
    for (const v of [a, a + 1n, a - 1n, (a + 1n) & top, (a - 1n) & top, 0n, top, r[0], r[1] & top, (a & top) | (r[2] & high)]) {
      alpha.push(a);
      x.push(((v % M) + M) % M);
    }
  }
  return { alpha, x };
}

test('dcf bit: exhaustive over every alpha, x and offset for bits 1..4 (one leaf block) and 8 (a level above it), every implementation', async (t) => {
  for (const impl of IMPLS)
    for (const bits of [1, 2, 3, 4, 8]) {
      const alpha: bigint[] = [], x: bigint[] = [], w: bigint[] = [];
      for (let a = 0n; a < 1n << BigInt(bits); a++) for (let v = 0n; v < 1n << BigInt(bits); v++) for (const o of [0n, 1n]) {
        alpha.push(a);
        x.push(v);
        w.push(o);
      }
      const [k0, k1] = await keys(alpha, w, bits, { impl });
      const [y0, y1] = [await evalBits(k0, x, bits, 0, impl), await evalBits(k1, x, bits, 1, impl)];
      const wrong = x.findIndex((v, i) => (y0[i] ^ y1[i]) !== reference(alpha[i], w[i], v, bits));
      t.is(wrong, -1, `${impl}, bits ${bits}: wrong at alpha ${alpha[wrong]}, x ${x[wrong]}, w ${w[wrong]}`);
    }
});

test('dcf bit: edge and random values for bits 17, 48, 49, 63 and 64 (48 and 49: FSS gates after products), against the plaintext comparison, every implementation', async (t) => {
  for (const bits of [17, 48, 49, 63, 64]) {
    const { alpha, x } = edgeCases(bits, 60);
    const w = randomBits(alpha.length);
    for (const impl of IMPLS) {
      // Keys from one implementation, evaluated by another: the implementations are one function.
      const [k0, k1] = await keys(alpha, w, bits, { impl });
      const other: Impl = IMPLS[(IMPLS.indexOf(impl) + 1) % IMPLS.length];
      const [y0, y1] = [await evalBits(k0, x, bits, 0, other), await evalBits(k1, x, bits, 1, impl)];
      const wrong = x.findIndex((v, i) => (y0[i] ^ y1[i]) !== reference(alpha[i], w[i], v, bits));
      t.is(wrong, -1, `keys ${impl}, bits ${bits}: wrong at alpha ${alpha[wrong]}, x ${x[wrong]}`);
      // Each party's output on its own is not the answer (a fresh offset hides it): both values occur.
      t.true(new Set(y0).size === 2 && new Set(y1).size === 2, `${impl}, bits ${bits}: a party's outputs are constant`);
    }
  }
});

test('dcf bit: every implementation makes the same keys and outputs, word for word (full and short batches)', async (t) => {
  for (const n of [1000, 37]) {
    const bits = 63, seed = randomSeed(), nonce = randomNonce(), alpha = u64(n), w = randomBits(n), x = u64(n);
    const [ref0, ref1] = await keys(alpha, w, bits, { seed, nonce, impl: 'portable' });
    const want = await evalBits(ref1, x, bits, 1, 'portable');
    for (const impl of IMPLS) {
      const [k0, k1] = await keys(alpha, w, bits, { seed, nonce, impl });
      t.deepEqual(k0, ref0, `${impl}: party 0's keys`);
      t.deepEqual(k1, ref1, `${impl}: party 1's keys`);
      t.deepEqual(await evalBits(ref1, x, bits, 1, impl), want, `${impl}: outputs`);
    }
  }
});

test('dcf bit: layout: K = 2 (bits - 7) + 5, roots from the PRG stream carrying the offset shares, corrections shared, only the value word\'s unused bits zero', async (t) => {
  const n = 300, bits = 63, K = dcfBitKeyWords(bits), L = bits - 7;
  t.is(K, 117);
  t.deepEqual([1, 7, 8, 64].map(dcfBitKeyWords), [5, 5, 7, 119], 'domains of 7 bits or fewer are one leaf block');
  const seed = randomSeed(), nonce = randomNonce(), first = 777;
  const alpha = u64(n), w = randomBits(n);
  const [k0, k1] = await keys(alpha, w, bits, { seed, nonce, first });
  const stream = take(await prgRing(seed, [4 * (first + n)], { nonce }));
  for (let j = 0; j < n; j++) {
    const r0 = k0.slice(j * K, (j + 1) * K), r1 = k1.slice(j * K, (j + 1) * K);
    const s = stream.slice(4 * (first + j), 4 * (first + j) + 4);
    // Every bit of the root words but party 1's offset share is the drawn block's: bit 1, which
    // is no seed bit, too, so that no bit of a key is fixed but the value word's unused ones.
    t.is(r0[0], s[0], 'party 0 root lo, its bit 0 (the offset share) the drawn bit');
    t.is(r0[1], s[1], 'party 0 root hi');
    t.is(r1[0] & ~1n, s[2] & ~1n, 'party 1 root lo');
    t.is(r1[1], s[3], 'party 1 root hi');
    t.is((r0[0] ^ r1[0]) & 1n, w[j], 'the offset shares XOR to w');
    t.deepEqual(r0.slice(2), r1.slice(2), 'every correction word is shared');
    t.is(r0[2 + 2 * L] >> BigInt(L), 0n, 'value corrections above the last level are zero');
    if (j >= 8) break;
  }
});

test('dcf bit: keys made in chunks with `first` equal one call; thread count and batch edges do not matter', async (t) => {
  const n = 1000, bits = 63, K = dcfBitKeyWords(bits), seed = randomSeed(), nonce = randomNonce();
  const alpha = u64(n), w = randomBits(n);
  const whole = await keys(alpha, w, bits, { seed, nonce });
  const cuts = [0, 1, 33, 100, 257, 1000];
  for (let c = 0; c + 1 < cuts.length; c++) {
    const [lo, hi] = [cuts[c], cuts[c + 1]];
    const part = await keys(alpha.slice(lo, hi), w.slice(lo, hi), bits, { seed, nonce, first: lo });
    t.deepEqual(part[0], whole[0].slice(lo * K, hi * K), `chunk [${lo}, ${hi}) party 0`);
    t.deepEqual(part[1], whole[1].slice(lo * K, hi * K), `chunk [${lo}, ${hi}) party 1`);
  }
  const x = u64(n);
  const many = await evalBits(whole[0], x, bits, 0);
  const threads = cpuInfo().threads;
  setNumThreads(1);
  try {
    t.deepEqual(await keys(alpha, w, bits, { seed, nonce }), whole, 'keys on one thread');
    t.deepEqual(await evalBits(whole[0], x, bits, 0), many, 'evaluation on one thread');
  } finally {
    setNumThreads(threads);
  }
});

test('dcf bit privacy: one party\'s keys have the same statistics for two alphas and offsets; leaky variants are caught', async (t) => {
  const n = 2048, bits = 63, K = dcfBitKeyWords(bits);
  const [a0, a1] = await keys(new Array<bigint>(n).fill(0n), new Array<bigint>(n).fill(0n), bits);
  const [b0, b1] = await keys(new Array<bigint>(n).fill((1n << 62n) + 12345n), new Array<bigint>(n).fill(1n), bits);
  // Bytes below the structurally zero bits (the value word's, K - 3, at and above the 56 levels).
  const keyBytes = (words: bigint[]) => {
    const raw = new Uint8Array(BigUint64Array.from(words).buffer), out: number[] = [];
    for (let j = 0; j < n; j++)
      for (let w = 0; w < K; w++) {
        const usable = w === K - 3 ? Math.floor((bits - 7) / 8) : 8;
        for (let b = 0; b < usable; b++) out.push(raw[(j * K + w) * 8 + b]);
      }
    return Uint8Array.from(out);
  };
  const critical = chiCritical(255);
  for (const [party, a, b] of [[0, a0, b0], [1, a1, b1]] as const) {
    const [ha, hb] = [histogram(keyBytes(a)), histogram(keyBytes(b))];
    const stat = chiSquare2(ha, hb), z = maxBitZ(a, b, K);
    t.log(`party ${party}: two-sample chi-square ${stat.toFixed(1)} (critical ${critical.toFixed(1)}), max bit z ${z.toFixed(2)}`);
    t.true(stat < critical, `party ${party}: key bytes differ between the secrets`);
    t.true(chiSquareUniform(ha) < critical && chiSquareUniform(hb) < critical, `party ${party}: key bytes are not uniform`);
    t.true(z < 7.5, `party ${party}: some key bit's frequency depends on the secret`);
    // On its own a key is pseudorandom: every bit a fair coin but the value word's above its L levels.
    for (const k of [a, b]) t.deepEqual(nonUniformBits(k, K), highBits(K - 3, bits - 7), `party ${party}: bits fixed or biased`);
  }
  // Control: a root word whose bit 1 (no seed bit) is left zero, as keys were before 2026-12-02.
  t.deepEqual(nonUniformBits(a0.map((v, i) => (i % K === 0 ? v & ~2n : v)), K), ['0.1', ...highBits(K - 3, bits - 7)], 'the bit test failed to find a fixed bit');
  // Controls: the bit test catches alpha's lowest bit in the value word's (unused) top bit, and the offset
  // w itself (not its share) in party 1's root bit.
  const subtle = (words: bigint[], bit: bigint) => words.map((v, i) => (i % K === K - 3 ? (v & ~(1n << 63n)) | (bit << 63n) : v));
  t.true(maxBitZ(subtle(a0, 0n), subtle(b0, 1n), K) > 7.5, 'the bit test failed to catch one leaked bit');
  const plainOffset = (words: bigint[], w: bigint) => words.map((v, i) => (i % K === 0 ? (v & ~1n) | w : v));
  t.true(maxBitZ(plainOffset(a1, 0n), plainOffset(b1, 1n), K) > 7.5, 'the bit test failed to catch an unshared offset');
});

test('dcf bit refuses bad arguments, in TypeScript and in the kernel', async (t) => {
  const v = make([1n, 2n, 3n], [3]), seed = randomSeed();
  const opts = { bits: 63, seed, nonce: 1n };
  await t.throwsAsync(dcfBitKeygen(v, make([0n, 1n], [2]), opts), { message: /alpha \[3\] and offset \[2\] must have one shape/ });
  await t.throwsAsync(dcfBitKeygen(v, make([0n, 2n, 1n], [3]), opts), { message: /offset must be 0 or 1 in every element, got 2 at 1/ });
  await t.throwsAsync(dcfBitKeygen(v, make([0n, 0n, 1n], [3]), { ...opts, bits: 65 }), { message: /bits/ });
  const [k0] = await dcfBitKeygen(v, make([0n, 0n, 1n], [3]), opts);
  await t.throwsAsync(dcfBitEval(k0, v, { bits: 62, party: 0 }), { message: /key must be \[3, 115\] \(n, 2 \* max\(bits - 7, 0\) \+ 5\)/ });
  await t.throwsAsync(dcfBitEval(k0, v, { bits: 63, party: 2 as 0 }), { message: /party must be 0 or 1/ });
  await t.throwsAsync(dcfBitEval(k0, make([1n, 2n], [2]), { bits: 63, party: 0 }), { message: /key must be \[2, 117\]/ });
  const empty = await dcfBitKeygen(make([], [0]), make([], [0]), opts);
  t.deepEqual(empty.map((k) => k.shape), [[0, 117], [0, 117]]);
  t.deepEqual((await dcfBitEval(empty[0], make([], [0]), { bits: 63, party: 0 })).shape, [0]);
});
