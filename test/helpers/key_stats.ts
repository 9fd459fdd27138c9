// Statistics for "one party's keys look the same whatever the secret is": byte histograms, chi-
// square tests and a per-bit two-proportion z, used by the DCF key privacy tests.

export function histogram(bytes: Uint8Array): number[] {
  const h = new Array<number>(256).fill(0);
  for (const b of bytes) h[b]++;
  return h;
}

/** Two-sample chi-square (homogeneity) of two byte histograms with equal totals, 255 degrees of freedom. */
export function chiSquare2(a: number[], b: number[]): number {
  let s = 0;
  for (let i = 0; i < 256; i++) if (a[i] + b[i] > 0) s += (a[i] - b[i]) ** 2 / (a[i] + b[i]);
  return s;
}

/** Chi-square goodness of fit against uniform bytes. */
export function chiSquareUniform(h: number[]): number {
  const total = h.reduce((x, y) => x + y, 0), e = total / 256;
  return h.reduce((s, c) => s + (c - e) ** 2 / e, 0);
}

// Wilson-Hilferty: the chi-square(k) quantile at normal quantile z. z = 5.5 is a ~2e-8 false alarm rate.
export const chiCritical = (k: number, z = 5.5) => k * (1 - 2 / (9 * k) + z * Math.sqrt(2 / (9 * k))) ** 3;

/**
 * Rows of K 64-bit words (as bigints or as their little-endian bytes): their count n and, for
 * each bit position w * 64 + bit, how many rows have a one there.
 */
function bitOnes(words: bigint[] | Uint8Array, K: number): { n: number; ones: Uint32Array } {
  const u = words instanceof Uint8Array ? new Uint32Array(words.slice().buffer) : new Uint32Array(BigUint64Array.from(words).buffer);
  const n = u.length / (2 * K), ones = new Uint32Array(64 * K);
  for (let j = 0; j < n; j++)
    for (let half = 0; half < 2 * K; half++) // the 32-bit halves of each word: bit 32 (half & 1) + b
      for (let v = u[j * 2 * K + half], b = 0; v !== 0; v >>>= 1, b++) ones[32 * half + b] += v & 1;
  return { n, ones };
}

/** Largest two-proportion z statistic over every bit position of every key word of rows of K
 * words (catches a leak confined to one field, which the pooled byte histogram would dilute). */
export function maxBitZ(a: bigint[], b: bigint[], K: number): number {
  const { n, ones: ca } = bitOnes(a, K), cb = bitOnes(b, K).ones;
  let worst = 0;
  for (let i = 0; i < 64 * K; i++) {
    const p = (ca[i] + cb[i]) / (2 * n);
    if (p === 0 || p === 1) continue; // a structurally fixed bit, the same under both secrets
    worst = Math.max(worst, Math.abs(ca[i] - cb[i]) / n / Math.sqrt((2 * p * (1 - p)) / n));
  }
  return worst;
}

/**
 * The bit positions of rows of K words (one party's keys, row-major; as bigints or as their
 * little-endian bytes) whose frequency of ones is not that of a fair coin over the n rows:
 * `word.bit` for each with |ones - n/2| / sqrt(n/4) above z (7 by default: about 2.6e-12 per
 * position, 1e-7 over the 33 536 a 64-bit DPF test reads: two secrets' keys of 131 words for two
 * parties; at 6 that test failed once in CI on a bit just past it, about 7e-5 a run), a bit that
 * never changes among them (z = sqrt(n): 45 for 2048 rows). A key on its own must be pseudorandom,
 * so the only such bits may be the ones its layout fixes (documented with each layout,
 * native/src/fss/dcf.h, dcf_bit.h).
 */
export function nonUniformBits(words: bigint[] | Uint8Array, K: number, z = 7): string[] {
  const { n, ones } = bitOnes(words, K), out: string[] = [];
  ones.forEach((c, i) => {
    if (Math.abs(c - n / 2) / Math.sqrt(n / 4) > z) out.push(`${Math.floor(i / 64)}.${i % 64}`);
  });
  return out;
}

/** `word.bit` for bits from..63 of one word: a layout's fixed high bits, as nonUniformBits names them. */
export const highBits = (word: number, from: number): string[] => Array.from({ length: 64 - from }, (_, i) => `${word}.${from + i}`);
