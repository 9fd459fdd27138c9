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

/** Largest two-proportion z statistic over every bit position of every key word of rows of K
 * words (catches a leak confined to one field, which the pooled byte histogram would dilute). */
export function maxBitZ(a: bigint[], b: bigint[], K: number): number {
  const n = a.length / K;
  const ua = new Uint32Array(BigUint64Array.from(a).buffer), ub = new Uint32Array(BigUint64Array.from(b).buffer);
  let worst = 0;
  for (let half = 0; half < 2 * K; half++) // the 32-bit halves of each word
    for (let bit = 0; bit < 32; bit++) {
      let ca = 0, cb = 0;
      for (let j = 0; j < n; j++) {
        ca += (ua[j * 2 * K + half] >>> bit) & 1;
        cb += (ub[j * 2 * K + half] >>> bit) & 1;
      }
      const p = (ca + cb) / (2 * n);
      if (p === 0 || p === 1) continue; // a structurally fixed bit, the same under both secrets
      worst = Math.max(worst, Math.abs(ca - cb) / n / Math.sqrt((2 * p * (1 - p)) / n));
    }
  return worst;
}
