// The fused SecureNN kernels (native/src/kernels/securenn_fused.cc) and the batched PRG streams
// they share with PrgField/PrgPermutation (native/src/prg/streams.cc), against references built
// from OpenSSL's AES-128-CTR and BigInt arithmetic, and against the separate kernels they replace
// (a fused server must send exactly what an unfused one would: the CUDA module keeps the latter).
import { createCipheriv, randomBytes, randomFillSync, randomInt } from 'node:crypto';

import test from 'ava';

import {
  add, addScalar, anyZeroLastAxis, bitDecompose, bitExtract, bitsMinusPrgField, cast, cpuInfo, msbUnmask, mul, mulScalar, oddAdd, oddSub,
  prgField, prgPermutation, privateCompareMasked, privateCompareReveal, privateCompareShares, randomSeed, RingTensor, setNumThreads,
  shareConvertFinish, sub, wrapBit,
} from '../lib/ring';
import { take } from './helpers/tensors';

const MAX = (1n << 64n) - 1n;
const P = 67;
const IMPLS: ('portable' | 'aesni')[] = ['portable', ...(cpuInfo().aes === 'aes-ni' ? (['aesni'] as const) : [])];

function randomU64(n: number): bigint[] {
  const a = new BigUint64Array(n);
  randomFillSync(new Uint8Array(a.buffer));
  return [...a];
}

/** Keystream block `index` of AES-128-CTR under seed with counter block nonce (BE) || 0, by OpenSSL. */
function block(seed: Uint8Array, nonce: bigint, index: bigint): Uint8Array {
  const ctr = ((nonce << 64n) + index) & ((1n << 128n) - 1n);
  const iv = Buffer.from(ctr.toString(16).padStart(32, '0'), 'hex');
  const c = createCipheriv('aes-128-ctr', seed, iv);
  return Uint8Array.from(c.update(Buffer.alloc(16)));
}

/**
 * The documented z<p> stream (prg_kernels.cc), element by element, from OpenSSL blocks: element j
 * is the little-endian 16-bit word j mod range if it is below 2^16 - 2^16 mod range, else the first
 * such word of its retry blocks attempt * 2^56 + j. `retries` counts the elements that took one.
 */
function referenceField(seed: Uint8Array, nonce: bigint, p: number, n: number, nonzero: boolean, offset = 0, retries = { n: 0 }): number[] {
  const range = nonzero ? p - 1 : p, base = nonzero ? 1 : 0, limit = 65536 - (65536 % range);
  const word = (b: Uint8Array, i: number) => b[2 * i] | (b[2 * i + 1] << 8);
  const out: number[] = [];
  let cur = -1n;
  let bytes: Uint8Array = new Uint8Array(16);
  for (let j = offset; j < offset + n; j++) {
    const bi = BigInt(j >> 3);
    if (bi !== cur) {
      bytes = block(seed, nonce, bi);
      cur = bi;
    }
    let w = word(bytes, j & 7);
    if (w >= limit) retries.n++;
    for (let attempt = 1n; w >= limit; attempt++) {
      const retry = block(seed, nonce, (attempt << 56n) + BigInt(j));
      w = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => word(retry, i)).find((v) => v < limit) ?? 65536;
    }
    out.push((w % range) + base);
  }
  return out;
}

/** The documented permutation stream: Fisher-Yates, row g drawing from blocks g * 2^40 on. */
function referencePermutation(seed: Uint8Array, nonce: bigint, row: number, len: number): number[] {
  const p = Array.from({ length: len }, (_, i) => i);
  let next = BigInt(row) << 40n, buf: number[] = [];
  const byte = () => {
    if (buf.length === 0) {
      for (let k = 0; k < 5; k++) buf.push(...block(seed, nonce, next + BigInt(k)));
      next += 5n;
    }
    return buf.shift()!;
  };
  for (let i = len - 1; i > 0; i--) {
    const range = i + 1, limit = 256 - (256 % range);
    let b;
    do b = byte(); while (b >= limit);
    [p[i], p[b % range]] = [p[b % range], p[i]];
  }
  return p;
}

for (const impl of IMPLS) {
  test(`prgField follows the documented stream, retry blocks included (${impl})`, async (t) => {
    const seed = randomSeed(), nonce = BigInt(randomInt(2 ** 40)) << 20n;
    // Words are rejected rarely (z67*: 64 in 65536, z67: 10, z3: 1), so the first window is long
    // enough for z67* to take about 20 retries, asserted below; the others check the mapping
    // (3 and 5 small ranges, 251 the largest) and offsets that start mid-block.
    const retries = { n: 0 };
    const long = referenceField(seed, nonce, 67, 20_000, true, 0, retries);
    t.deepEqual(take(await prgField(seed, 67, [20_000], { nonce, nonzero: true, impl })).map(Number), long, 'z67* long');
    t.true(retries.n > 0, 'the window took retry blocks');
    for (const [p, nonzero] of [[67, false], [67, true], [3, false], [5, true], [251, false]] as const) {
      const want = referenceField(seed, nonce, p, 1000, nonzero);
      t.deepEqual(take(await prgField(seed, p, [1000], { nonce, nonzero, impl })).map(Number), want, `z${p}${nonzero ? '*' : ''}`);
      t.deepEqual(take(await prgField(seed, p, [500], { nonce, nonzero, impl, offset: 333 })).map(Number), want.slice(333, 833));
    }
  });

  test(`prgPermutation follows the documented stream and gives permutations (${impl})`, async (t) => {
    const seed = randomSeed(), nonce = 77n;
    for (const len of [64, 2, 1, 200, 256]) {
      const got = take(await prgPermutation(seed, [9, len], { nonce, impl })).map(Number);
      for (let r = 0; r < 9; r++) t.deepEqual(got.slice(r * len, (r + 1) * len), referencePermutation(seed, nonce, r, len), `len ${len} row ${r}`);
    }
    // Row offsets: rows 5.. of a longer stream.
    const tail = take(await prgPermutation(seed, [3, 64], { nonce, impl, offset: 5 })).map(Number);
    t.deepEqual(tail.slice(0, 64), referencePermutation(seed, nonce, 5, 64));
  });
}

test('prgField and prgPermutation agree across thread counts (per-thread chunks draw the same stream)', async (t) => {
  const seed = randomSeed();
  const field = take(await prgField(seed, 67, [100_003], { nonce: 9n, nonzero: true }));
  const perm = take(await prgPermutation(seed, [1001, 64], { nonce: 9n }));
  const threads = cpuInfo().threads;
  try {
    setNumThreads(1);
    t.deepEqual(take(await prgField(seed, 67, [100_003], { nonce: 9n, nonzero: true })), field);
    t.deepEqual(take(await prgPermutation(seed, [1001, 64], { nonce: 9n })), perm);
  } finally {
    setNumThreads(threads);
  }
});

/** Rows of (x, r, beta) with random values and every edge PrivateCompare distinguishes. */
function compareCases(n: number): { x: bigint[]; r: bigint[]; beta: number[] } {
  const rnd = randomU64(2 * n);
  const x = rnd.slice(0, n), r = rnd.slice(n);
  const edges: [bigint, bigint][] = [[0n, 0n], [1n, 0n], [0n, 1n], [MAX, MAX], [MAX, MAX - 1n], [0n, MAX], [MAX, 0n], [1n << 63n, (1n << 63n) - 1n], [(1n << 63n) - 1n, 1n << 63n]];
  for (const [a, b] of edges) for (let k = 0; k < 2; k++) x.push(a), r.push(b);
  for (let k = 0; k < 20; k++) {
    const v = rnd[k];
    x.push(v, v | 1n, rnd[k + 20]);
    r.push(v, (v | 1n) - 1n, MAX); // equal, x = r + 1, and r = 2^64 - 1 (case 3 with beta = 1)
  }
  return { x, r, beta: x.map(() => randomInt(2)) };
}

async function bitShares(x: bigint[]): Promise<[RingTensor, RingTensor]> {
  const bits = await cast(await bitDecompose(RingTensor.fromBigInts(x, [x.length])), 'z67');
  const s0 = await prgField(randomSeed(), P, [x.length, 64]);
  return [s0, await sub(bits, s0)];
}

for (const impl of IMPLS) {
  test(`privateCompareMasked equals PrivateCompareShares then +-z, and reveals beta xor (x > r) (${impl})`, async (t) => {
    const { x, r, beta } = compareCases(300);
    const n = x.length;
    const shares = await bitShares(x);
    const rt = RingTensor.fromBigInts(r, [n]), bt = RingTensor.fromUint8Array(Uint8Array.from(beta), [n], 'bit');
    const seed = randomSeed(), nonce = 1000n;
    for (const [permute, rerandomise] of [[true, true], [false, true], [true, false], [false, false]]) {
      const sent: RingTensor[] = [];
      for (const party of [0, 1] as const) {
        const fused = await privateCompareMasked(shares[party], rt, bt, { seed, nonce, party, permute, rerandomise, impl });
        // The unfused path, as lib/protocol/securenn/private_compare.ts runs it on other backends.
        const s = await prgField(seed, P, [n, 64], { nonce, nonzero: true, impl });
        const u = await prgField(seed, P, [n, 64], { nonce: nonce + 1n, nonzero: true, impl });
        const pi = permute ? await prgPermutation(seed, [n, 64], { nonce: nonce + 2n, impl }) : RingTensor.fromBigUint64Array(BigUint64Array.from({ length: n * 64 }, (_, i) => BigInt(i % 64)), [n, 64]);
        let d = await privateCompareShares(shares[party], rt, bt, s, u, pi, party);
        if (rerandomise) {
          const z = await prgField(seed, P, [n, 64], { nonce: nonce + 3n, impl });
          d = await (party === 0 ? add(d, z) : sub(d, z));
        }
        t.deepEqual(take(fused), take(d), `party ${party}, permute ${permute}, rerandomise ${rerandomise}`);
        sent.push(await privateCompareMasked(shares[party], rt, bt, { seed, nonce, party, permute, rerandomise, impl }));
      }
      // Plaintext reference: server2 finds a zero exactly when beta xor (x > r).
      const revealed = [...(await privateCompareReveal(sent[0], sent[1])).toUint8Array()];
      for (let i = 0; i < n; i++) t.is(revealed[i] ^ beta[i], x[i] > r[i] ? 1 : 0, `x=${x[i]} r=${r[i]} beta=${beta[i]}`);
    }
  });
}

test('privateCompareReveal equals Add then AnyZeroLastAxis (sums of 0 and of p included)', async (t) => {
  const n = 500, len = 64;
  const a = Uint8Array.from({ length: n * len }, () => randomInt(P));
  const b = Uint8Array.from({ length: n * len }, () => randomInt(P));
  // Rows 0-99 hold no zero sum; rows 100-199 one, at a random position, half as 0 + 0, half as a + (p - a).
  for (let e = 0; e < 200; e++)
    for (let i = 0; i < len; i++) if ((a[e * len + i] + b[e * len + i]) % P === 0) b[e * len + i] = (b[e * len + i] + 1) % P;
  for (let e = 100; e < 200; e++) {
    const i = randomInt(len), v = e % 2 ? 0 : 1 + randomInt(P - 1);
    a[e * len + i] = v;
    b[e * len + i] = (P - v) % P;
  }
  const ta = RingTensor.fromUint8Array(a, [n, len], 'z67'), tb = RingTensor.fromUint8Array(b, [n, len], 'z67');
  const want = take(await anyZeroLastAxis(await add(ta, tb)));
  const got = take(await privateCompareReveal(ta, tb));
  t.deepEqual(got, want);
  for (let e = 0; e < 200; e++) t.is(got[e], e < 100 ? 0n : 1n);
  await t.throwsAsync(() => privateCompareReveal(ta, RingTensor.fromUint8Array(b.subarray(0, 64), [1, 64], 'z67')), { message: /one shape/ });
});

test('bitsMinusPrgField plus prgField gives the bits of x over Z_p (and equals the unfused deal)', async (t) => {
  const x = [...randomU64(300), 0n, MAX, 1n, 1n << 63n, MAX - 1n];
  const xt = RingTensor.fromBigInts(x, [x.length]);
  const seed = randomSeed(), nonce = 31n;
  for (const p of [67, 5]) {
    const s1 = await bitsMinusPrgField(xt, seed, p, nonce);
    const s0 = await prgField(seed, p, [x.length, 64], { nonce });
    const unfused = await sub(await cast(await bitDecompose(xt), `z${p}` as 'z67'), s0);
    const v1 = take(s1), v0 = take(s0);
    t.deepEqual(take(unfused), v1);
    for (let e = 0; e < x.length; e++)
      for (let i = 0; i < 64; i++) t.is((v0[e * 64 + i] + v1[e * 64 + i]) % BigInt(p), (x[e] >> BigInt(i)) & 1n);
  }
  await t.throwsAsync(() => bitsMinusPrgField(RingTensor.fromUint8Array(new Uint8Array(4), [4], 'z67'), seed, 67, 0n), { message: /ring64/ });
  await t.throwsAsync(() => bitsMinusPrgField(xt, seed, 64, 0n), { message: /prime/ });
  await t.throwsAsync(() => bitsMinusPrgField(xt, randomBytes(8), 67, 0n), { message: /16 bytes/ });
});

test('wrapBit is the carry of a + b over Z_2^64', async (t) => {
  const a = [...randomU64(500), 0n, MAX, MAX, 1n, 1n << 63n, 1n << 63n, MAX, 0n];
  const b = [...randomU64(500), 0n, 1n, MAX, MAX, 1n << 63n, (1n << 63n) - 1n, 0n, MAX];
  const got = take(await wrapBit(RingTensor.fromBigInts(a, [a.length]), RingTensor.fromBigInts(b, [b.length])));
  t.deepEqual(got, a.map((v, i) => (v + b[i] > MAX ? 1n : 0n)));
  t.deepEqual(got.slice(500), [0n, 1n, 1n, 1n, 1n, 0n, 0n, 0n]);
  await t.throwsAsync(() => wrapBit(RingTensor.fromBigInts([1n], [1]), RingTensor.fromBigInts([1n, 2n], [2])), { message: /one shape/ });
});

test('privateCompareMasked refuses bad inputs with errors that name them', async (t) => {
  const xb = await prgField(randomSeed(), P, [4, 64]);
  const r = RingTensor.fromBigInts([1n, 2n, 3n, 4n], [4]), beta = RingTensor.fromUint8Array(new Uint8Array(4), [4], 'bit');
  const seed = randomSeed();
  await t.throwsAsync(() => privateCompareMasked(xb, r, beta, { seed, nonce: 0n, party: 2 as 0 }), { message: /party must be 0 or 1/ });
  await t.throwsAsync(() => privateCompareMasked(xb, r, beta, { seed: randomBytes(15), nonce: 0n, party: 0 }), { message: /16 bytes/ });
  await t.throwsAsync(() => privateCompareMasked(xb, r, beta, { seed, nonce: MAX - 2n, party: 0 }), { message: /nonce/ });
  await t.throwsAsync(() => privateCompareMasked(xb, RingTensor.fromBigInts([1n], [1]), beta, { seed, nonce: 0n, party: 0 }), { message: /r and beta must be \[n\]/ });
  await t.throwsAsync(async () => privateCompareMasked(await prgField(seed, 5, [4, 64]), r, beta, { seed, nonce: 0n, party: 0 }), { message: /must be z67/ });
  await t.throwsAsync(async () => privateCompareMasked(await prgField(seed, P, [4, 32]), r, beta, { seed, nonce: 0n, party: 0 }), { message: /\[n, 64\]/ });
});

/** Random ring64 values with the odd ring's edges (0, 1, 2^64 - 2, 2^64 - 1, which reads as 0). */
function ringWithEdges(n: number): bigint[] {
  const v = randomU64(n);
  const edges = [0n, 1n, 2n, MAX - 1n, MAX, 1n << 63n];
  for (let i = 0; i < v.length; i += 7) v[i] = edges[(i / 7) % edges.length];
  return v;
}

const ring = (v: bigint[]) => RingTensor.fromBigInts(v, [v.length]);
const bits = (n: number) => RingTensor.fromUint8Array(Uint8Array.from({ length: n }, () => randomInt(2)), [n], 'bit');

test('shareConvertFinish equals ShareConvert\'s separate odd-ring steps, and BigInt, for both servers', async (t) => {
  const n = 600;
  const [a, etaP, beta, delta, alpha, u] = [ringWithEdges(n), ringWithEdges(n), ringWithEdges(n).map((v) => v & 1n), ringWithEdges(n), ringWithEdges(n).map((v) => v & 1n), ringWithEdges(n)];
  const etaPP = bits(n);
  const epp = [...etaPP.toUint8Array()];
  const O = MAX; // the odd modulus 2^64 - 1
  const m = (v: bigint) => ((v % O) + O) % O;
  for (const j of [0, 1] as const) {
    const got = take(await shareConvertFinish(ring(a), ring(etaP), etaPP, ring(beta), ring(delta), ring(alpha), ring(u), j));
    // The unfused ops, as lib/protocol/securenn/msb.ts runs them on other backends.
    const twoEta = await oddAdd(ring(etaP), ring(etaP));
    const flip = await oddSub(RingTensor.fromBigInts([BigInt(1 - j)], [1]), twoEta);
    const eta = await oddAdd(ring(etaP), await mul(await cast(etaPP, 'ring64'), flip));
    let theta = await oddAdd(await oddAdd(ring(beta), ring(delta)), eta);
    if (j === 0) theta = await oddSub(theta, await addScalar(ring(alpha), 1n));
    const y0 = await oddSub(ring(a), theta);
    t.deepEqual(got, take(j === 0 ? await oddAdd(y0, ring(u)) : await oddSub(y0, ring(u))), `server${j}`);
    // BigInt over Z_(2^64 - 1).
    const want = a.map((_, i) => {
      const e = m(etaP[i] + BigInt(epp[i]) * (BigInt(1 - j) - 2n * etaP[i]));
      const th = m(beta[i] + delta[i] + e - BigInt(1 - j) * (alpha[i] + 1n));
      return m(a[i] - th + (j === 0 ? u[i] : -u[i]));
    });
    t.deepEqual(got, want);
  }
  await t.throwsAsync(() => shareConvertFinish(ring(a), ring(etaP.slice(1)), etaPP, ring(beta), ring(delta), ring(alpha), ring(u), 0), { message: /eta' must have shape/ });
  await t.throwsAsync(() => shareConvertFinish(ring(a), ring(etaP), ring(a), ring(beta), ring(delta), ring(alpha), ring(u), 0), { message: /bit/ });
});

test('msbUnmask equals ComputeMSB\'s separate Z_2^64 steps, and BigInt, for both servers', async (t) => {
  const n = 600;
  const [betaP, x0, r] = [ringWithEdges(n), ringWithEdges(n), ringWithEdges(n)];
  const beta = bits(n);
  const bv = [...beta.toUint8Array()];
  const M64 = 1n << 64n;
  for (const j of [0, 1] as const) {
    const [g, d] = await msbUnmask(ring(betaP), beta, ring(x0), ring(r), j);
    const unmask = async (share: RingTensor, bit: RingTensor) => add(share, await mul(bit, await sub(RingTensor.fromBigInts([BigInt(j)], [1]), await mulScalar(share, 2n))));
    const gv = take(g), dv = take(d);
    t.deepEqual(gv, take(await unmask(ring(betaP), await cast(beta, 'ring64'))));
    t.deepEqual(dv, take(await unmask(ring(x0), await cast(await bitExtract(ring(r), 0), 'ring64'))));
    t.deepEqual(gv, betaP.map((v, i) => (((v + BigInt(bv[i]) * (BigInt(j) - 2n * v)) % M64) + M64) % M64));
    t.deepEqual(dv, x0.map((v, i) => (((v + (r[i] & 1n) * (BigInt(j) - 2n * v)) % M64) + M64) % M64));
  }
  await t.throwsAsync(() => msbUnmask(ring(betaP), beta, ring(x0), ring(r), 3 as 0), { message: /party must be 0 or 1/ });
});
