// The browser's WebCrypto PRG (lib/browser/prg.ts) must produce exactly the native PRG's stream:
// server0 expands the browser's seed natively, and a single differing bit would make the shares
// add up to something other than the input. Known answers first (NIST vectors, so both sides are
// also checked against the standard), then the native prgRing on random seeds, nonces and offsets.
import { randomBytes } from 'node:crypto';

import test from 'ava';

import * as B from '../lib/browser/prg';
import { aes128CtrKeystream, prgRing } from '../lib/ring';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('WebCrypto AES-128-CTR: FIPS-197 C.1 and SP 800-38A F.5.1 known answers', async (t) => {
  const fips = await B.aes128CtrKeystream(hex('000102030405060708090a0b0c0d0e0f'), hex('00112233445566778899aabbccddeeff'), 0, 16);
  t.is(toHex(fips), '69c4e0d86a7b0430d8cdb78070b4c55a');
  const pt = hex('6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710');
  const ks = await B.aes128CtrKeystream(hex('2b7e151628aed2a6abf7158809cf4f3c'), hex('f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff'), 0, 64);
  t.is(toHex(pt.map((b, i) => b ^ ks[i])), '874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03eab1e031dda2fbe03d1792170a0f3009cee');
});

test('WebCrypto keystream equals the native one, across a 64-bit counter carry', async (t) => {
  for (let trial = 0; trial < 8; trial++) {
    const key = new Uint8Array(randomBytes(16));
    const iv = new Uint8Array(randomBytes(16));
    if (trial % 2) iv.fill(0xff, 8, 16); // the block index carries into the nonce half after one block
    const skip = trial * 5;
    const n = 1 + trial * 37;
    t.is(toHex(await B.aes128CtrKeystream(key, iv, skip, n)), toHex(aes128CtrKeystream(key, iv, skip, n)), `trial ${trial}`);
  }
});

test('browser prgRing equals native prgRing: fixed seed, random seeds, nonces, sizes and offsets', async (t) => {
  const cases: { seed: Uint8Array; nonce: bigint; n: number; offset: number }[] = [
    { seed: new Uint8Array(16), nonce: 0n, n: 4, offset: 0 },
    { seed: hex('000102030405060708090a0b0c0d0e0f'), nonce: 1n, n: 784, offset: 0 }, // a shared MNIST input
    { seed: hex('ffffffffffffffffffffffffffffffff'), nonce: (1n << 64n) - 1n, n: 33, offset: 0 },
  ];
  for (let i = 0; i < 12; i++)
    cases.push({ seed: new Uint8Array(randomBytes(16)), nonce: BigInt(`0x${randomBytes(8).toString('hex')}`), n: 1 + Math.floor(Math.random() * 3000), offset: i % 3 === 0 ? Math.floor(Math.random() * 1000) : 0 });
  for (const c of cases) {
    const native = await prgRing(c.seed, [c.n], { nonce: c.nonce, offset: c.offset });
    const want = native.toBigUint64Array();
    native.dispose();
    const got = await B.prgRing(c.seed, c.n, c.nonce, c.offset);
    t.deepEqual([...got], [...want], `seed ${toHex(c.seed)} nonce ${c.nonce} n ${c.n} offset ${c.offset}`);
  }
  // The check can fail: another nonce gives another stream.
  const other = await B.prgRing(cases[1].seed, 784, 2n);
  const native = await prgRing(cases[1].seed, [784], { nonce: 1n });
  t.notDeepEqual([...other], [...native.toBigUint64Array()]);
  native.dispose();
});

test('browser PRG refuses bad seeds and nonces with clear errors', async (t) => {
  await t.throwsAsync(B.prgRing(new Uint8Array(15), 4), { message: /16 bytes/ });
  await t.throwsAsync(B.prgRing(new Uint8Array(16), 4, -1n), { message: /nonce/ });
  await t.throwsAsync(B.prgRing(new Uint8Array(16), 4, 1n << 64n), { message: /nonce/ });
  t.is(B.randomSeed().byteLength, 16);
  t.notDeepEqual(B.randomSeed(), B.randomSeed());
});
