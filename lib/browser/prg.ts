// The PRG of lib/prg/prg.ts in the browser, with WebCrypto only: AES-128 keyed by the 16-byte
// seed in CTR mode, counter block = nonce (8 bytes, big-endian) || block index (8 bytes,
// big-endian), and ring element j = keystream bytes [8j, 8j + 8) read little-endian (the layout
// native/src/prg/prg_kernels.cc documents). server0 expands the seed it receives with the native
// kernel; both must produce the same x0 bit for bit, or the shares would not add up to the input
// (test/browser_prg.test.ts compares the two streams).

import { platformCrypto, type SubtleLike } from './platform';

export const SEED_BYTES = 16;

/** WebCrypto's SubtleCrypto, or a clear error where the page cannot have it. */
export function subtle(): SubtleLike {
  const c = platformCrypto();
  // Browsers expose crypto.subtle only in secure contexts (https, or http on localhost).
  if (!c?.subtle) throw new Error('WebCrypto (crypto.subtle) is unavailable: serve the page over https (or from localhost)');
  return c.subtle;
}

/** A fresh 128-bit seed from the platform CSPRNG. */
export function randomSeed(): Uint8Array {
  const c = platformCrypto();
  if (!c?.getRandomValues) throw new Error('crypto.getRandomValues is unavailable in this environment');
  return c.getRandomValues(new Uint8Array(SEED_BYTES));
}

/**
 * AES-128-CTR keystream bytes [skip, skip + n) from a 16-byte initial counter block (NIST SP
 * 800-38A: the whole block counts up, as OpenSSL and the native kernel count).
 */
export async function aes128CtrKeystream(key: Uint8Array, counterBlock: Uint8Array, skip: number, n: number): Promise<Uint8Array> {
  if (!(key instanceof Uint8Array) || key.byteLength !== SEED_BYTES) throw new TypeError(`the seed must be a Uint8Array of ${SEED_BYTES} bytes`);
  if (!(counterBlock instanceof Uint8Array) || counterBlock.byteLength !== 16) throw new TypeError('the counter block must be 16 bytes');
  if (!Number.isSafeInteger(skip) || skip < 0 || !Number.isSafeInteger(n) || n < 0) throw new RangeError('offset and length must be non-negative integers');
  const s = subtle();
  // Copies: WebCrypto must not see the neighbours of a view into a larger buffer.
  const k = await s.importKey('raw', key.slice(), { name: 'AES-CTR' }, false, ['encrypt']);
  // Encrypting zeros yields the keystream itself.
  const ks = await s.encrypt({ name: 'AES-CTR', counter: counterBlock.slice(), length: 128 }, k, new Uint8Array(skip + n));
  return new Uint8Array(ks, skip, n);
}

/** The PRG's keystream bytes [byteOffset, byteOffset + n) for `seed` and `nonce`. */
export function keystream(seed: Uint8Array, nonce: bigint, byteOffset: number, n: number): Promise<Uint8Array> {
  if (typeof nonce !== 'bigint' || nonce < 0n || nonce >= 1n << 64n) return Promise.reject(new RangeError('the nonce must be a bigint in [0, 2^64)'));
  if (!Number.isSafeInteger(byteOffset) || byteOffset < 0) return Promise.reject(new RangeError('the offset must be a non-negative integer'));
  const first = Math.floor(byteOffset / 16);
  const counter = new Uint8Array(16);
  const view = new DataView(counter.buffer);
  view.setBigUint64(0, nonce, false);
  view.setBigUint64(8, BigInt(first), false);
  return aes128CtrKeystream(seed, counter, byteOffset - first * 16, n);
}

/** Uniform elements of Z_2^64: element j of the stream, for j in [offset, offset + count). */
export async function prgRing(seed: Uint8Array, count: number, nonce = 0n, offset = 0): Promise<BigUint64Array> {
  const bytes = await keystream(seed, nonce, offset * 8, count * 8);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new BigUint64Array(count);
  for (let j = 0; j < count; j++) out[j] = view.getBigUint64(8 * j, true);
  return out;
}
