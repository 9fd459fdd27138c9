import { createCipheriv, randomBytes, randomInt } from 'node:crypto';

import test from 'ava';

import { aes128CtrKeystream, cpuInfo, prgBits, prgField, prgRing, randomSeed, setNumThreads } from '../lib/ring';
import { take } from './helpers/tensors';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const IMPLS: ('portable' | 'aesni')[] = ['portable', ...(cpuInfo().aes === 'aes-ni' ? (['aesni'] as const) : [])];

/** OpenSSL's AES-128-CTR through node:crypto: an independent implementation to compare against. */
function opensslKeystream(key: Uint8Array, iv: Uint8Array, n: number): Uint8Array {
  const c = createCipheriv('aes-128-ctr', key, iv);
  return Uint8Array.from(Buffer.concat([c.update(Buffer.alloc(n)), c.final()]));
}

for (const impl of IMPLS) {
  test(`AES-128 known answers: FIPS-197 C.1 and SP 800-38A F.5.1 (${impl})`, (t) => {
    // FIPS-197 appendix C.1: a single block is the CTR keystream with iv = plaintext.
    const fips = aes128CtrKeystream(hex('000102030405060708090a0b0c0d0e0f'), hex('00112233445566778899aabbccddeeff'), 0, 16, impl);
    t.is(Buffer.from(fips).toString('hex'), '69c4e0d86a7b0430d8cdb78070b4c55a');
    // SP 800-38A F.5.1 CTR-AES128.Encrypt: keystream = plaintext xor ciphertext.
    const key = hex('2b7e151628aed2a6abf7158809cf4f3c');
    const iv = hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff');
    const pt = hex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710');
    const ct = '874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee';
    const ks = aes128CtrKeystream(key, iv, 0, 64, impl);
    t.is(Buffer.from(pt.map((b, i) => b ^ ks[i])).toString('hex'), ct);
    // Random access: the third block alone equals the third block of the whole stream.
    t.deepEqual(aes128CtrKeystream(key, iv, 37, 20, impl), ks.slice(37, 57));
  });

  test(`AES-128-CTR equals OpenSSL on random keys, counters near a 64-bit carry, and offsets (${impl})`, (t) => {
    for (let trial = 0; trial < 20; trial++) {
      const key = randomBytes(16);
      const iv = randomBytes(16);
      if (trial % 3 === 1) iv.fill(0xff, 8, 16); // the low half carries into the high half after one block
      if (trial % 3 === 2) iv.fill(0xff, 8, 15); // ... after up to 256 blocks, inside a run the 512-bit VAES loop would take
      // Up to 20000 bytes: runs of 64 blocks or more take the VAES loop where the CPU has it.
      const n = randomInt(1, 20000);
      const ref = opensslKeystream(key, iv, n + 100);
      t.deepEqual(aes128CtrKeystream(key, iv, 0, n, impl), ref.slice(0, n));
      const off = randomInt(0, 100);
      t.deepEqual(aes128CtrKeystream(key, iv, off, n, impl), ref.slice(off, off + n));
    }
  });
}

/** The documented PRG layout: iv = nonce (big-endian) || 0; ring element j = bytes [8j, 8j+8) little-endian. */
function ivFor(nonce: bigint): Uint8Array {
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(nonce, 0);
  return iv;
}

test('prgRing and prgBits follow the documented AES-CTR stream layout', async (t) => {
  const seed = randomSeed();
  const nonce = 0x0123456789abcdefn;
  const ks = opensslKeystream(seed, ivFor(nonce), 8 * 1000);
  const ring = take(await prgRing(seed, [10, 100], { nonce }));
  t.deepEqual(ring, [...new BigUint64Array(ks.buffer, ks.byteOffset, 1000)]);
  const bits = take(await prgBits(seed, [5000], { nonce }));
  t.deepEqual(bits, [...Array(5000).keys()].map((j) => BigInt((ks[j >> 3] >> (j & 7)) & 1)));
});

test('same seed gives the same stream across thread counts, offsets and implementations', async (t) => {
  const seed = randomSeed();
  const n = 300_001;
  const whole = take(await prgRing(seed, [n], { nonce: 5n }));
  const wholeBits = take(await prgBits(seed, [n], { nonce: 5n }));
  const wholeField = take(await prgField(seed, 67, [n], { nonce: 5n }));
  const before = cpuInfo().threads;
  try {
    for (const threads of [1, 3, 2]) {
      setNumThreads(threads);
      t.deepEqual(take(await prgRing(seed, [n], { nonce: 5n })), whole, `ring, ${threads} threads`);
      t.deepEqual(take(await prgField(seed, 67, [n], { nonce: 5n })), wholeField, `field, ${threads} threads`);
    }
  } finally {
    setNumThreads(before);
  }
  for (const impl of IMPLS) t.deepEqual(take(await prgRing(seed, [1000], { nonce: 5n, impl })), whole.slice(0, 1000), impl);
  // Slices generated separately with offsets reassemble the whole stream.
  for (const [off, len] of [[0, 7], [7, 1000], [12345, 3], [n - 5, 5]]) {
    t.deepEqual(take(await prgRing(seed, [len], { nonce: 5n, offset: off })), whole.slice(off, off + len));
    t.deepEqual(take(await prgBits(seed, [len], { nonce: 5n, offset: off })), wholeBits.slice(off, off + len));
    t.deepEqual(take(await prgField(seed, 67, [len], { nonce: 5n, offset: off })), wholeField.slice(off, off + len));
  }
  // Different nonce or seed: different stream.
  t.notDeepEqual(take(await prgRing(seed, [8], { nonce: 6n })), whole.slice(0, 8));
  t.notDeepEqual(take(await prgRing(randomSeed(), [8], { nonce: 5n })), whole.slice(0, 8));
});

/** Pearson chi-square statistic of observed counts against equal expected counts. */
function chiSquare(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const e = total / counts.length;
  return counts.reduce((acc, c) => acc + (c - e) ** 2 / e, 0);
}
// About six standard deviations above the mean of chi-square(df): a false alarm is ~1e-7.
const critical = (df: number) => df + 6 * Math.sqrt(2 * df);

function histogram(values: Iterable<number>, buckets: number): number[] {
  const h = new Array<number>(buckets).fill(0);
  for (const v of values) h[v]++;
  return h;
}

test('chi-square: ring bytes, bits and z67 elements are uniform; the test catches modulo bias', async (t) => {
  const ring = await prgRing(randomSeed(), [1 << 17]);
  const bytes = new Uint8Array(ring.toBigUint64Array().buffer);
  ring.dispose();
  // Low byte and top byte of every element, 255 degrees of freedom each.
  const lo = histogram([...Array(1 << 17).keys()].map((i) => bytes[8 * i]), 256);
  const hi = histogram([...Array(1 << 17).keys()].map((i) => bytes[8 * i + 7]), 256);
  t.true(chiSquare(lo) < critical(255), `low byte chi2 ${chiSquare(lo)}`);
  t.true(chiSquare(hi) < critical(255), `high byte chi2 ${chiSquare(hi)}`);
  const bits = take(await prgBits(randomSeed(), [1 << 18]));
  t.true(chiSquare(histogram(bits.map(Number), 2)) < critical(1), 'bits');
  const field = take(await prgField(randomSeed(), 67, [1 << 18]));
  t.true(field.every((v) => v < 67n));
  const fieldChi = chiSquare(histogram(field.map(Number), 67));
  t.true(fieldChi < critical(66), `z67 chi2 ${fieldChi}`);
  // Control: reducing uniform bytes mod 67 without rejection is biased, and the same test sees it.
  const biased = histogram([...randomBytes(1 << 18)].map((b) => b % 67), 67);
  t.true(chiSquare(biased) > critical(66), `biased chi2 ${chiSquare(biased)}`);
});

test('randomSeed draws 128 fresh bits from the OS CSPRNG', (t) => {
  const a = randomSeed();
  const b = randomSeed();
  t.is(a.length, 16);
  t.notDeepEqual(a, b);
});

test('PRG argument errors', async (t) => {
  await t.throwsAsync(() => prgRing(new Uint8Array(8), [4]), { message: 'prgRing: seed must be a Uint8Array of 16 bytes' });
  await t.throwsAsync(() => prgRing(randomSeed(), [4], { nonce: -1n }), { message: /nonce must be a bigint in \[0, 2\^64\)/ });
  await t.throwsAsync(() => prgField(randomSeed(), 64, [4]), { message: /prime in \(2, 256\), got 64/ });
  await t.throwsAsync(() => prgRing(randomSeed(), [4], { offset: -3 }), { message: /offset must be an integer/ });
});
