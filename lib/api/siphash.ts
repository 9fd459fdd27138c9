// SipHash-2-4 (Aumasson and Bernstein), keyed by two 64-bit words: TensorFlow's
// tf.strings.to_hash_bucket_strong, and so Keras's Hashing with a salt. Written from the
// algorithm's description, checked against TensorFlow's own values (test/hashing.test.ts). 64-bit
// arithmetic in BigInt, modulo 2^64. No Node module here: the browser bundle imports it.

const M64 = (1n << 64n) - 1n;
const rotl = (v: bigint, s: bigint) => ((v << s) | (v >> (64n - s))) & M64;

/** SipHash-2-4 of `s` under the key (k0, k1), as an unsigned 64-bit BigInt. */
export function sipHash24(k0: bigint, k1: bigint, s: Uint8Array): bigint {
  let v0 = k0 ^ 0x736f6d6570736575n, v1 = k1 ^ 0x646f72616e646f6dn, v2 = k0 ^ 0x6c7967656e657261n, v3 = k1 ^ 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & M64;
    v1 = rotl(v1, 13n) ^ v0;
    v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & M64;
    v3 = rotl(v3, 16n) ^ v2;
    v0 = (v0 + v3) & M64;
    v3 = rotl(v3, 21n) ^ v0;
    v2 = (v2 + v1) & M64;
    v1 = rotl(v1, 17n) ^ v2;
    v2 = rotl(v2, 32n);
  };
  const word = (at: number, n: number) => {
    let m = 0n;
    for (let k = n - 1; k >= 0; k--) m = (m << 8n) | BigInt(s[at + k]);
    return m;
  };
  const whole = s.length - (s.length % 8);
  for (let at = 0; at < whole; at += 8) {
    const m = word(at, 8);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  // The last block: the remaining bytes, the length's low byte on top.
  const b = ((BigInt(s.length) & 0xffn) << 56n) | word(whole, s.length - whole);
  v3 ^= b;
  round();
  round();
  v0 ^= b;
  v2 ^= 0xffn;
  for (let i = 0; i < 4; i++) round();
  return v0 ^ v1 ^ v2 ^ v3;
}
