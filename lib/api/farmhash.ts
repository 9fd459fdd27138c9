// FarmHash's Fingerprint64 (farmhashna's 64-bit hash), which TensorFlow's tf.fingerprint and
// tf.strings.to_hash_bucket_fast compute, and so Keras's Hashing layer without a salt: written
// from the algorithm's description, checked byte for byte against TensorFlow's own values on
// strings of every length class (test/hashing.test.ts). 64-bit arithmetic in BigInt, modulo
// 2^64. No Node module here: the browser bundle imports it.

const M64 = (1n << 64n) - 1n;
const K0 = 0xc3a5c85c97cb3127n, K1 = 0xb492b66fbe98f273n, K2 = 0x9ae16a3b2f90404fn;

const mul = (a: bigint, b: bigint) => (a * b) & M64;
const plus = (...xs: bigint[]) => xs.reduce((a, b) => (a + b) & M64, 0n);
const rotate = (v: bigint, s: bigint) => (s === 0n ? v : ((v >> s) | (v << (64n - s))) & M64);
const shiftMix = (v: bigint) => v ^ (v >> 47n);

/** Little-endian 64- and 32-bit words of the bytes at `i`. */
function fetch64(s: Uint8Array, i: number): bigint {
  let v = 0n;
  for (let k = 7; k >= 0; k--) v = (v << 8n) | BigInt(s[i + k]);
  return v;
}
function fetch32(s: Uint8Array, i: number): bigint {
  return BigInt((s[i] | (s[i + 1] << 8) | (s[i + 2] << 16) | (s[i + 3] << 24)) >>> 0);
}

function hashLen16(u: bigint, v: bigint, m: bigint): bigint {
  let a = mul(u ^ v, m);
  a ^= a >> 47n;
  let b = mul(v ^ a, m);
  b ^= b >> 47n;
  return mul(b, m);
}

function hashLen0to16(s: Uint8Array): bigint {
  const len = s.length, n = BigInt(len);
  if (len >= 8) {
    const m = plus(K2, n * 2n), a = plus(fetch64(s, 0), K2), b = fetch64(s, len - 8);
    return hashLen16(plus(mul(rotate(b, 37n), m), a), mul(plus(rotate(a, 25n), b), m), m);
  }
  if (len >= 4) {
    const m = plus(K2, n * 2n), a = fetch32(s, 0);
    return hashLen16(plus(n, (a << 3n) & M64), fetch32(s, len - 4), m);
  }
  if (len > 0) {
    const y = BigInt(s[0]) + (BigInt(s[len >> 1]) << 8n), z = n + (BigInt(s[len - 1]) << 2n);
    return mul(shiftMix(mul(y, K2) ^ mul(z, K0)), K2);
  }
  return K2;
}

function hashLen17to32(s: Uint8Array): bigint {
  const len = s.length, m = plus(K2, BigInt(len) * 2n);
  const a = mul(fetch64(s, 0), K1), b = fetch64(s, 8), c = mul(fetch64(s, len - 8), m), d = mul(fetch64(s, len - 16), K2);
  return hashLen16(plus(rotate(plus(a, b), 43n), rotate(c, 30n), d), plus(a, rotate(plus(b, K2), 18n), c), m);
}

function hashLen33to64(s: Uint8Array): bigint {
  const len = s.length, m = plus(K2, BigInt(len) * 2n);
  const a = mul(fetch64(s, 0), K2), b = fetch64(s, 8), c = mul(fetch64(s, len - 8), m), d = mul(fetch64(s, len - 16), K2);
  const y = plus(rotate(plus(a, b), 43n), rotate(c, 30n), d);
  const z = hashLen16(y, plus(a, rotate(plus(b, K2), 18n), c), m);
  const e = mul(fetch64(s, 16), m), f = fetch64(s, 24);
  const g = mul(plus(y, fetch64(s, len - 32)), m), h = mul(plus(z, fetch64(s, len - 24)), m);
  return hashLen16(plus(rotate(plus(e, f), 43n), rotate(g, 30n), h), plus(e, rotate(plus(f, a), 18n), g), m);
}

/** The 32 bytes at `i` folded with seeds a and b into a pair. */
function weakHash32(s: Uint8Array, i: number, a: bigint, b: bigint): [bigint, bigint] {
  const w = fetch64(s, i), x = fetch64(s, i + 8), y = fetch64(s, i + 16), z = fetch64(s, i + 24);
  a = plus(a, w);
  b = rotate(plus(b, a, z), 21n);
  const c = a;
  a = plus(a, x, y);
  b = plus(b, rotate(a, 44n));
  return [plus(a, z), plus(b, c)];
}

/** Fingerprint64 of `bytes`: TensorFlow's tf.fingerprint(x, 'farmhash64'), as an unsigned 64-bit BigInt. */
export function fingerprint64(s: Uint8Array): bigint {
  const len = s.length;
  if (len <= 16) return hashLen0to16(s);
  if (len <= 32) return hashLen17to32(s);
  if (len <= 64) return hashLen33to64(s);
  // Over 64 bytes: 64 at a time through a state of 56 bytes, then the last 64.
  const seed = 81n;
  let x = seed, y = plus(mul(seed, K1), 113n), z = mul(shiftMix(plus(mul(y, K2), 113n)), K2);
  let v: [bigint, bigint] = [0n, 0n], w: [bigint, bigint] = [0n, 0n];
  x = plus(mul(x, K2), fetch64(s, 0));
  const end = Math.floor((len - 1) / 64) * 64, last64 = end + ((len - 1) & 63) - 63;
  for (let i = 0; i !== end; i += 64) {
    x = mul(rotate(plus(x, y, v[0], fetch64(s, i + 8)), 37n), K1);
    y = mul(rotate(plus(y, v[1], fetch64(s, i + 48)), 42n), K1);
    x ^= w[1];
    y = plus(y, v[0], fetch64(s, i + 40));
    z = mul(rotate(plus(z, w[0]), 33n), K1);
    v = weakHash32(s, i, mul(v[1], K1), plus(x, w[0]));
    w = weakHash32(s, i + 32, plus(z, w[1]), plus(y, fetch64(s, i + 16)));
    [z, x] = [x, z];
  }
  const m = plus(K1, (z & 0xffn) << 1n);
  w[0] = plus(w[0], BigInt((len - 1) & 63));
  v[0] = plus(v[0], w[0]);
  w[0] = plus(w[0], v[0]);
  x = mul(rotate(plus(x, y, v[0], fetch64(s, last64 + 8)), 37n), m);
  y = mul(rotate(plus(y, v[1], fetch64(s, last64 + 48)), 42n), m);
  x ^= mul(w[1], 9n);
  y = plus(y, mul(v[0], 9n), fetch64(s, last64 + 40));
  z = mul(rotate(plus(z, w[0]), 33n), m);
  v = weakHash32(s, last64, mul(v[1], m), plus(x, w[0]));
  w = weakHash32(s, last64 + 32, plus(z, w[1]), plus(y, fetch64(s, last64 + 16)));
  [z, x] = [x, z];
  return hashLen16(plus(hashLen16(v[0], w[0], m), mul(shiftMix(y), K0), z), plus(hashLen16(v[1], w[1], m), x), m);
}

/**
 * TensorFlow's FingerprintCat64 (tensorflow/core/platform/fingerprint.h): two fingerprints
 * combined into one, as tf.sparse.cross_hashed (Keras's HashedCrossing) chains a crossed
 * feature's values. Its multiplier is MurmurHash2-64's.
 */
export function fingerprintCat64(fp1: bigint, fp2: bigint): bigint {
  const k = 0xc6a4a7935bd1e995n;
  let r = (fp1 & M64) ^ k;
  r ^= mul(shiftMix(mul(fp2 & M64, k)), k);
  r = mul(r, k);
  r = mul(shiftMix(r), k);
  return shiftMix(r);
}
