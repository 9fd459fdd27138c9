// The DCF kernels (native/src/fss, lib/ops/fss.ts) against a plaintext BigInt reference, their
// key layout and determinism, a statistical privacy check with a control that it can fail, and
// refusals of bad arguments at both the TypeScript and the native layer.
import test from 'ava';

import { cpuInfo, dcfEval, dcfEval2, dcfKeygen, dcfKeygen2, dcfKeyWords, getBackend, prgRing, RingTensor, setNumThreads } from '../lib/ring';
import { chiCritical, chiSquare2, chiSquareUniform, highBits, histogram, maxBitZ as maxBitZRows, nonUniformBits } from './helpers/key_stats';
import { edgeCases, randomNonce, randomSeed, randomU64 } from './helpers/dcf_cases';
import { keyRows } from './helpers/dcf_rows';
import { make, take } from './helpers/tensors';

const M = 1n << 64n;
const MAX = M - 1n;
const IMPLS: ('portable' | 'aesni')[] = ['portable', ...(cpuInfo().aes === 'aes-ni' ? (['aesni'] as const) : [])];


/** The plaintext function: beta if (x mod 2^bits) < (alpha mod 2^bits) as unsigned integers, else 0. */
function reference(alpha: bigint, beta: bigint, x: bigint, bits: number): bigint {
  const mask = (1n << BigInt(bits)) - 1n;
  return (x & mask) < (alpha & mask) ? beta : 0n;
}

/** Keys for (alpha, beta), both parties' evaluations at x, and their sum mod 2^64. */
async function reconstruct(alpha: bigint[], beta: bigint[], x: bigint[], bits: number, impl: 'auto' | 'aesni' | 'portable' = 'auto'): Promise<bigint[]> {
  const n = alpha.length;
  const [k0, k1] = await dcfKeygen(make(alpha, [n]), make(beta, [n]), { bits, seed: randomSeed(), nonce: randomNonce(), impl });
  const xt = make(x, [n]);
  const y0 = take(await dcfEval(k0, xt, { bits, party: 0, impl }));
  const y1 = take(await dcfEval(k1, xt, { bits, party: 1, impl }));
  k0.dispose();
  k1.dispose();
  xt.dispose();
  return y0.map((v, i) => (v + y1[i]) % M);
}


for (const impl of IMPLS) {
  // 48 and 49: what FSS's gates compare after a product and in a max pool over products (lib/api/bounds.ts).
  for (const bits of [1, 8, 32, 48, 49, 63, 64]) {
    test(`dcf: x < alpha shares beta, edge values and random inputs (bits ${bits}, ${impl})`, async (t) => {
      const { alpha, beta, x } = edgeCases(bits, 60);
      const got = await reconstruct(alpha, beta, x, bits, impl);
      let bad = 0;
      for (let i = 0; i < alpha.length; i++) if (got[i] !== reference(alpha[i], beta[i], x[i], bits)) bad++;
      t.is(bad, 0, `${bad} of ${alpha.length} elements wrong`);
      // The test is not vacuous: both outcomes occur with nonzero beta.
      t.true(alpha.some((a, i) => beta[i] !== 0n && reference(a, beta[i], x[i], bits) !== 0n));
      t.true(alpha.some((a, i) => beta[i] !== 0n && reference(a, beta[i], x[i], bits) === 0n));
    });
  }
}

test('dcf: exhaustive over every alpha and x for bits 1..5', async (t) => {
  for (let bits = 1; bits <= 5; bits++) {
    const size = 1n << BigInt(bits);
    const alpha: bigint[] = [], x: bigint[] = [];
    for (let a = 0n; a < size; a++)
      for (let v = 0n; v < size; v++) {
        alpha.push(a);
        x.push(v);
      }
    const beta = randomU64(alpha.length);
    const got = await reconstruct(alpha, beta, x, bits);
    t.deepEqual(got, alpha.map((a, i) => reference(a, beta[i], x[i], bits)), `bits ${bits}`);
  }
});

test('dcf: key layout: K = 3 * bits + 4, root seeds from the PRG stream, correction words shared, unused control bits zero', async (t) => {
  t.is(dcfKeyWords(63), 193);
  t.is(dcfKeyWords(1), 7);
  t.is(dcfKeyWords(64), 196);
  for (const bits of [5, 63, 64]) {
    const n = 100, K = dcfKeyWords(bits);
    const seed = randomSeed(), nonce = randomNonce();
    const [k0, k1] = await dcfKeygen(make(randomU64(n), [n]), make(randomU64(n), [n]), { bits, seed, nonce });
    t.deepEqual(k0.shape, [n, K]);
    t.deepEqual(k1.shape, [n, K]);
    const a = keyRows(take(k0), K), b = keyRows(take(k1), K);
    // Element j's root seeds are ring words 4j..4j+1 (party 0) and 4j+2..4j+3 (party 1) of PrgRing(seed, nonce).
    const stream = take(await prgRing(seed, [4 * n], { nonce }));
    for (let j = 0; j < n; j++) {
      t.deepEqual([a[j * K], a[j * K + 1]], [stream[4 * j], stream[4 * j + 1]]);
      t.deepEqual([b[j * K], b[j * K + 1]], [stream[4 * j + 2], stream[4 * j + 3]]);
      for (let w = 2; w < K; w++) if (a[j * K + w] !== b[j * K + w]) t.fail(`element ${j} word ${w} differs between the parties`);
      const tRight = a[j * K + 2 + 3 * bits];
      if (bits < 64) t.is(tRight >> BigInt(bits), 0n);
    }
  }
});

test('dcf: determinism: the same seed and nonce give the same keys; another nonce or seed gives other keys', async (t) => {
  const n = 64, bits = 63;
  const alpha = make(randomU64(n), [n]), beta = make(randomU64(n), [n]);
  const seed = randomSeed(), nonce = randomNonce();
  const gen = async (s: Uint8Array, nc: bigint, impl: 'auto' | 'portable' = 'auto') => (await dcfKeygen(alpha, beta, { bits, seed: s, nonce: nc, impl })).map((k) => keyRows(take(k), dcfKeyWords(bits)));
  const [a0, a1] = await gen(seed, nonce);
  const [b0, b1] = await gen(seed, nonce);
  t.deepEqual(a0, b0);
  t.deepEqual(a1, b1);
  const K = dcfKeyWords(bits);
  const rowsSharingAWord = (u: bigint[], v: bigint[]) => {
    let same = 0;
    for (let j = 0; j < n; j++) if (u.slice(j * K, (j + 1) * K).some((w, i) => w === v[j * K + i])) same++;
    return same;
  };
  const [c0] = await gen(seed, nonce ^ 1n);
  const [d0] = await gen(randomSeed(), nonce);
  // No word of any element repeats under another nonce or seed (a repeated 64-bit word would
  // mean shared randomness; the chance of one by accident is about n * K^2 / 2^64).
  t.is(rowsSharingAWord(a0, c0), 0);
  t.is(rowsSharingAWord(a0, d0), 0);
  // The portable AES and AES-NI paths give the same keys bit for bit.
  const [p0, p1] = await gen(seed, nonce, 'portable');
  t.deepEqual(p0, a0);
  t.deepEqual(p1, a1);
  alpha.dispose();
  beta.dispose();
});

test('dcf: results do not depend on batch boundaries or the thread count', async (t) => {
  const n = 1000, bits = 32;
  const alpha = randomU64(n), beta = randomU64(n), x = alpha.map((a, i) => (i % 2 ? a : randomU64(1)[0]));
  const seed = randomSeed(), nonce = randomNonce();
  const run = async () => {
    const [k0, k1] = await dcfKeygen(make(alpha, [n]), make(beta, [n]), { bits, seed, nonce });
    const xt = make(x, [n]);
    const y = take(await dcfEval(k0, xt, { bits, party: 0 }));
    xt.dispose();
    return [keyRows(take(k0), dcfKeyWords(bits)), keyRows(take(k1), dcfKeyWords(bits)), y];
  };
  const many = await run();
  const threads = cpuInfo().threads;
  setNumThreads(1);
  try {
    t.deepEqual(await run(), many);
  } finally {
    setNumThreads(threads);
  }
  // One element alone (a batch of 1) has the same key as in the batch of 1000.
  const K = dcfKeyWords(bits);
  const [k0] = await dcfKeygen(make(alpha.slice(0, 1), [1]), make(beta.slice(0, 1), [1]), { bits, seed, nonce });
  t.deepEqual(take(k0), many[0].slice(0, K));
  // The same element as the last of a tile of 3 (the last tile of a key may be short).
  const [k3] = await dcfKeygen(make(alpha.slice(0, 3), [3]), make(beta.slice(0, 3), [3]), { bits, seed, nonce });
  t.deepEqual(keyRows(take(k3), K), many[0].slice(0, 3 * K));
});

// ---- privacy: one party's keys look the same whatever alpha is ----

/** Bytes of one party's keys, leaving out the structurally fixed bits (the unused top control bits for bits < 64). */
function keyBytes(words: bigint[], bits: number, payloads: 1 | 2 = 1): Uint8Array {
  const K = dcfKeyWords(bits, payloads), n = words.length / K;
  const raw = new Uint8Array(BigUint64Array.from(words).buffer); // little-endian words
  const out: number[] = [];
  const tRight = 2 + (2 + payloads) * bits;
  for (let j = 0; j < n; j++)
    for (let w = 0; w < K; w++) {
      const usable = w === tRight ? Math.floor(bits / 8) : 8; // whole bytes below bit `bits`
      for (let b = 0; b < usable; b++) out.push(raw[(j * K + w) * 8 + b]);
    }
  return Uint8Array.from(out);
}

/** maxBitZ over rows of this DCF's keys. */
const maxBitZ = (a: bigint[], b: bigint[], bits: number, payloads: 1 | 2 = 1) => maxBitZRows(a, b, dcfKeyWords(bits, payloads));

test('dcf privacy: one party\'s keys have the same byte and bit statistics for alpha = 0 and alpha = 2^62 + 12345; a leaky variant is caught', async (t) => {
  const n = 2048, bits = 63;
  const beta = make(randomU64(n), [n]);
  const alphaA = new Array<bigint>(n).fill(0n), alphaB = new Array<bigint>(n).fill((1n << 62n) + 12345n);
  const keys = async (alpha: bigint[]) => (await dcfKeygen(make(alpha, [n]), beta, { bits, seed: randomSeed(), nonce: randomNonce() })).map((k) => keyRows(take(k), dcfKeyWords(bits)));
  const [a0, a1] = await keys(alphaA);
  const [b0, b1] = await keys(alphaB);
  const critical = chiCritical(255);
  // Bonferroni over K * 64 bit positions at the same ~2e-8 overall rate.
  const zCritical = 7.5;
  for (const [party, a, b] of [[0, a0, b0], [1, a1, b1]] as const) {
    const ha = histogram(keyBytes(a, bits)), hb = histogram(keyBytes(b, bits));
    const stat = chiSquare2(ha, hb);
    t.log(`party ${party}: two-sample chi-square ${stat.toFixed(1)} (critical ${critical.toFixed(1)}), uniform fit ${chiSquareUniform(ha).toFixed(1)} / ${chiSquareUniform(hb).toFixed(1)}, max bit z ${maxBitZ(a, b, bits).toFixed(2)}`);
    t.true(stat < critical, `party ${party}: key bytes differ between the alphas (chi-square ${stat})`);
    t.true(chiSquareUniform(ha) < critical && chiSquareUniform(hb) < critical, `party ${party}: key bytes are not uniform`);
    t.true(maxBitZ(a, b, bits) < zCritical, `party ${party}: some key bit's frequency depends on alpha`);
    // On its own a key is pseudorandom: every bit a fair coin but the right control word's top one.
    for (const k of [a, b]) t.deepEqual(nonUniformBits(k, dcfKeyWords(bits)), highBits(2 + 3 * bits, bits), `party ${party}: bits fixed or biased`);
  }
  // Control: the same statistics on a deliberately leaky key (alpha's 8 raw bytes appended) must reject.
  const leak = (words: bigint[], alpha: bigint) => {
    const K = dcfKeyWords(bits), out: bigint[] = [];
    for (let j = 0; j < n; j++) out.push(...words.slice(j * K, (j + 1) * K), alpha);
    return out;
  };
  const la = leak(a0, alphaA[0]), lb = leak(b0, alphaB[0]);
  const leakyBytes = (w: bigint[]) => {
    const K = dcfKeyWords(bits) + 1, out: number[] = [];
    for (let j = 0; j < n; j++) {
      out.push(...keyBytes(w.slice(j * K, j * K + K - 1), bits));
      for (let b = 0; b < 8; b++) out.push(Number((w[j * K + K - 1] >> BigInt(8 * b)) & 0xffn));
    }
    return Uint8Array.from(out);
  };
  const leakyStat = chiSquare2(histogram(leakyBytes(la)), histogram(leakyBytes(lb)));
  t.log(`leaky control: two-sample chi-square ${leakyStat.toFixed(1)}`);
  t.true(leakyStat > critical, `the chi-square test failed to catch raw alpha bytes (${leakyStat})`);
  // A subtler leak: only alpha's lowest bit, hidden in one key word's bit 0 (a uniform-looking byte histogram).
  const K = dcfKeyWords(bits);
  const subtle = (w: bigint[], alpha: bigint) => w.map((v, i) => (i % K === K - 1 ? (v & ~1n) | (alpha & 1n) : v));
  const subtleZ = maxBitZ(subtle(a0, alphaA[0]), subtle(b0, alphaB[0]), bits);
  t.log(`subtle leak control: max bit z ${subtleZ.toFixed(1)}`);
  t.true(subtleZ > zCritical, 'the bit test failed to catch one leaked bit');
  beta.dispose();
});

test('dcf privacy, two payloads: one party\'s keys have the same statistics for two alphas whose second payload depends on alpha (as the ReLU gate\'s r (1 - 2b) does)', async (t) => {
  const n = 2048, bits = 63;
  const keys = async (a: bigint) => {
    const alpha = make(new Array<bigint>(n).fill(a), [n]);
    const beta0 = make(new Array<bigint>(n).fill(1n), [n]);
    const k = (await dcfKeygen2(alpha, beta0, alpha, { bits, seed: randomSeed(), nonce: randomNonce() })).map((key) => keyRows(take(key), dcfKeyWords(bits, 2)));
    for (const x of [alpha, beta0]) x.dispose();
    return k;
  };
  const [a0, a1] = await keys(0n), [b0, b1] = await keys((1n << 62n) + 12345n);
  const critical = chiCritical(255);
  for (const [party, a, b] of [[0, a0, b0], [1, a1, b1]] as const) {
    const stat = chiSquare2(histogram(keyBytes(a, bits, 2)), histogram(keyBytes(b, bits, 2)));
    t.true(stat < critical, `party ${party}: key bytes differ between the alphas (chi-square ${stat.toFixed(1)} >= ${critical.toFixed(1)})`);
    t.true(maxBitZ(a, b, bits, 2) < 7.5, `party ${party}: some key bit's frequency depends on alpha`);
    for (const k of [a, b]) t.deepEqual(nonUniformBits(k, dcfKeyWords(bits, 2)), highBits(2 + 4 * bits, bits), `party ${party}: bits fixed or biased`);
  }
  // Control: the bit test catches alpha's lowest bit hidden in a final correction word.
  const K = dcfKeyWords(bits, 2);
  const subtle = (w: bigint[], alpha: bigint) => w.map((v, i) => (i % K === K - 1 ? (v & ~1n) | (alpha & 1n) : v));
  t.true(maxBitZ(subtle(a0, 0n), subtle(b0, (1n << 62n) + 12345n), bits, 2) > 7.5, 'the bit test failed to catch one leaked bit');
});

// ---- refusals ----

test('dcf refuses bad arguments in TypeScript with clear messages', async (t) => {
  const v = make([1n, 2n, 3n], [3]);
  const seed = randomSeed();
  await t.throwsAsync(dcfKeygen(v, v, { bits: 0, seed, nonce: 1n }), { message: /bits must be an integer in \[1, 64\]/ });
  await t.throwsAsync(dcfKeygen(v, v, { bits: 65, seed, nonce: 1n }), { message: /bits must be an integer in \[1, 64\]/ });
  await t.throwsAsync(dcfKeygen(v, v, { bits: 8.5, seed, nonce: 1n }), { message: /bits/ });
  await t.throwsAsync(dcfKeygen(v, v, { bits: 8, seed: seed.subarray(0, 15), nonce: 1n }), { message: /seed must be a Uint8Array of 16 bytes/ });
  await t.throwsAsync(dcfKeygen(v, v, { bits: 8, seed } as never), { message: /nonce must be a bigint/ });
  await t.throwsAsync(dcfKeygen(v, make([1n, 2n], [2]), { bits: 8, seed, nonce: 1n }), { message: /must have one shape/ });
  await t.throwsAsync(dcfKeygen(make([1n, 2n, 3n, 4n], [2, 2]), make([1n, 2n, 3n, 4n], [2, 2]), { bits: 8, seed, nonce: 1n }), { message: /alpha must be a vector/ });
  await t.throwsAsync(dcfKeygen(make([1n, 0n, 1n], [3], 'bit'), v, { bits: 8, seed, nonce: 1n }), { message: /dtype bit/ });
  const [k0] = await dcfKeygen(v, v, { bits: 8, seed, nonce: 1n });
  await t.throwsAsync(dcfEval(k0, v, { bits: 9, party: 0 }), { message: /key must be \[3, 31\].*got \[3, 28\]/ });
  await t.throwsAsync(dcfEval(k0, v, { bits: 8, party: 2 as 0 }), { message: /party must be 0 or 1/ });
  await t.throwsAsync(dcfEval(k0, make([1n, 2n], [2]), { bits: 8, party: 0 }), { message: /key must be \[2, 28\]/ });
  await t.throwsAsync(dcfEval(k0, v, { bits: 0, party: 0 }), { message: /bits must be an integer/ });
  t.throws(() => dcfKeyWords(65), { message: /bits must be an integer in \[1, 64\]/ });
  k0.dispose();
  v.dispose();
});

test('dcf refuses bad arguments in the native kernels (KernelError), whatever the caller skips', (t) => {
  const native = getBackend().native;
  const v = make([1n, 2n, 3n], [3]);
  const seed = randomSeed();
  const keygen = (inputs: RingTensor[], attrs: Record<string, unknown>) => () => native.runSync('DcfKeygen', inputs.map((x) => x.handle), attrs as never);
  t.throws(keygen([v, v], { bits: 0, seed, nonce: 1n }), { message: /DcfKeygen: bits must be in \[1, 64\], got 0/ });
  t.throws(keygen([v, v], { bits: 65, seed, nonce: 1n }), { message: /bits must be in \[1, 64\], got 65/ });
  t.throws(keygen([v, v], { seed, nonce: 1n }), { message: /missing attribute 'bits'/ });
  t.throws(keygen([v, v], { bits: 8, seed: seed.subarray(0, 8), nonce: 1n }), { message: /seed must be 16 bytes/ });
  t.throws(keygen([v, v], { bits: 8, nonce: 1n }), { message: /missing attribute 'seed'/ });
  t.throws(keygen([v, v], { bits: 8, seed }), { message: /missing attribute 'nonce'/ });
  t.throws(keygen([v, v], { bits: 8, seed, nonce: 1n, impl: 'fast' }), { message: /unknown AES impl 'fast'/ });
  t.throws(keygen([v, make([1n, 2n], [2])], { bits: 8, seed, nonce: 1n }), { message: /beta \[2\] must have alpha's shape \[3\]/ });
  t.throws(keygen([make([1n, 2n, 3n, 4n], [2, 2]), make([1n, 2n, 3n, 4n], [2, 2])], { bits: 8, seed, nonce: 1n }), { message: /alpha must have rank 1/ });
  t.throws(keygen([make([1n, 0n, 1n], [3], 'bit'), v], { bits: 8, seed, nonce: 1n }), { message: /alpha has dtype bit, expected ring64/ });
  t.throws(() => native.runSync('DcfKeygen', [v.handle], { bits: 8, seed, nonce: 1n }), { message: /DcfKeygen/ });

  const [k0] = native.runSync('DcfKeygen', [v.handle, v.handle], { bits: 8, seed, nonce: 1n });
  const key = new RingTensor(k0, getBackend());
  const evalK = (inputs: RingTensor[], attrs: Record<string, unknown>) => () => native.runSync('DcfEval', inputs.map((x) => x.handle), attrs as never);
  t.throws(evalK([key, v], { bits: 9, party: 0 }), { message: /DcfEval: key has 28 words per element but bits = 9 needs 31 \(3 \* bits \+ 4\)/ });
  t.throws(evalK([key, v], { bits: 8, party: 2 }), { message: /party must be 0 or 1, got 2/ });
  t.throws(evalK([key, v], { bits: 8 }), { message: /missing attribute 'party'/ });
  t.throws(evalK([key, v], { bits: 64 + 1, party: 0 }), { message: /bits must be in \[1, 64\]/ });
  t.throws(evalK([key, make([1n, 2n], [2])], { bits: 8, party: 0 }), { message: /x \[2\] and key \[3,28\] must have the same number of elements/ });
  t.throws(evalK([v, v], { bits: 8, party: 0 }), { message: /key must have rank 2/ });
  t.throws(evalK([key, make([1n, 0n, 1n], [3], 'bit')], { bits: 8, party: 0 }), { message: /x has dtype bit, expected ring64/ });
  key.dispose();
  v.dispose();
});

test('dcf: empty batches give empty keys and outputs', async (t) => {
  const e = make([], [0]);
  const [k0, k1] = await dcfKeygen(e, e, { bits: 63, seed: randomSeed(), nonce: 0n });
  t.deepEqual(k0.shape, [0, 193]);
  const y = await dcfEval(k1, e, { bits: 63, party: 1 });
  t.deepEqual(y.shape, [0]);
  for (const x of [k0, k1, y, e]) x.dispose();
});

// ---- throughput (printed, not asserted) ----

test.serial('dcf throughput: keygen and eval, n = 2^16, bits = 63, one thread and all threads', async (t) => {
  const n = 1 << 16, bits = 63;
  const alpha = make(randomU64(n), [n]), beta = make(randomU64(n), [n]), x = make(randomU64(n), [n]);
  const threads = cpuInfo().threads;
  const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;
  try {
    for (const th of [...new Set([1, threads])]) {
      setNumThreads(th);
      // A warm-up round so that page faults on the 100 MB of fresh keys are not timed alone.
      for (let round = 0; round < 2; round++) {
        let t0 = process.hrtime.bigint();
        const [k0, k1] = await dcfKeygen(alpha, beta, { bits, seed: randomSeed(), nonce: 1n });
        const kg = ms(t0);
        t0 = process.hrtime.bigint();
        const y = await dcfEval(k0, x, { bits, party: 0 });
        const ev = ms(t0);
        if (round === 1)
          t.log(`threads ${th} (${cpuInfo().aes}): keygen ${kg.toFixed(0)} ms (${((n / kg) * 1e3).toExponential(2)} keys/s), eval ${ev.toFixed(0)} ms (${((n / ev) * 1e3).toExponential(2)} evals/s), key ${dcfKeyWords(bits) * 8} bytes per element and party`);
        for (const z of [k0, k1, y]) z.dispose();
      }
    }
  } finally {
    setNumThreads(threads);
  }
  for (const z of [alpha, beta, x]) z.dispose();
  t.pass();
});

for (const impl of IMPLS)
  test(`dcf with two payloads: one tree shares beta0 [x < alpha] and beta1 [x < alpha] (bits 1, 8, 48, 49, 63, 64; ${impl})`, async (t) => {
    for (const bits of [1, 8, 48, 49, 63, 64]) {
      const { alpha, beta, x } = edgeCases(bits, 40);
      const n = alpha.length;
      const beta1 = randomU64(n);
      beta1[2] = 0n;
      beta1[3] = MAX;
      const [k0, k1] = await dcfKeygen2(make(alpha, [n]), make(beta, [n]), make(beta1, [n]), { bits, seed: randomSeed(), nonce: randomNonce(), impl });
      t.deepEqual([...k0.shape], [n, 4 * bits + 5]);
      const xt = make(x, [n]);
      const [a0, a1] = (await dcfEval2(k0, xt, { bits, party: 0, impl })).map(take);
      const [b0, b1] = (await dcfEval2(k1, xt, { bits, party: 1, impl })).map(take);
      for (const k of [k0, k1, xt]) k.dispose();
      let bad = 0;
      for (let i = 0; i < n; i++) {
        if ((a0[i] + b0[i]) % M !== reference(alpha[i], beta[i], x[i], bits)) bad++;
        if ((a1[i] + b1[i]) % M !== reference(alpha[i], beta1[i], x[i], bits)) bad++;
      }
      t.is(bad, 0, `bits ${bits}: ${bad} of ${2 * n} outputs wrong`);
    }
    // Exhaustive on a small domain.
    const bits = 4, alpha: bigint[] = [], x: bigint[] = [];
    for (let a = 0n; a < 16n; a++) for (let v = 0n; v < 16n; v++) (alpha.push(a), x.push(v));
    const b0v = randomU64(alpha.length), b1v = randomU64(alpha.length);
    const [k0, k1] = await dcfKeygen2(make(alpha, [256]), make(b0v, [256]), make(b1v, [256]), { bits, seed: randomSeed(), nonce: randomNonce(), impl });
    const xt = make(x, [256]);
    const [p0, p1] = [(await dcfEval2(k0, xt, { bits, party: 0, impl })).map(take), (await dcfEval2(k1, xt, { bits, party: 1, impl })).map(take)];
    for (const k of [k0, k1, xt]) k.dispose();
    t.true(alpha.every((a, i) => (p0[0][i] + p1[0][i]) % M === reference(a, b0v[i], x[i], bits) && (p0[1][i] + p1[1][i]) % M === reference(a, b1v[i], x[i], bits)), 'exhaustive bits 4');
  });

test('dcf with two payloads: key size and refusals', async (t) => {
  t.is(dcfKeyWords(63, 2), 257);
  t.is(8 * dcfKeyWords(63, 2), 2056, 'bytes per element for the 63-bit domain (two single-payload keys: 3088)');
  const v = make([1n, 2n], [2]);
  const [k0] = await dcfKeygen2(v, v, v, { bits: 8, seed: randomSeed(), nonce: 1n });
  await t.throwsAsync(dcfEval(k0, v, { bits: 8, party: 0 }), { message: /key must be \[2, 28\]/ }, 'a two-payload key is not a one-payload key');
  await t.throwsAsync(dcfKeygen2(v, v, make([1n], [1]), { bits: 8, seed: randomSeed(), nonce: 1n }), { message: /alpha \[2\] and beta1 \[1\] must have one shape/ });
  k0.dispose();
  v.dispose();
});
