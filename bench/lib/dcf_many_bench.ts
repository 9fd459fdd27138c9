// A folded product's keys for bench:kernels: a classifier head of `elements` gate elements by k
// columns at the 48 bits a gate after a Dense layer compares, keyed as folded_product.ts keys it
// (one many-payload DCF key per gate element, 2k payloads) beside the two-payload key per cell it
// took before, in the same run, one thread. Both spot-checked against the plaintext comparison.

import { dcfEval2, dcfEvalMany, dcfKeygen2, dcfKeygenMany } from '../../lib/ops/fss';
import { randomSeed } from '../../lib/prg/prg';
import { setNumThreads } from '../../lib/ring';
import { RingTensor } from '../../lib/tensor/ring_tensor';
import { randomWords } from './random_words';
import { type Timing, timeAsync } from './timing';

const BITS = 48;
const M = (1n << 64n) - 1n;

export interface FoldKeyTimings {
  elements: number;
  k: number;
  /** One key per gate element (2k payloads): keygen (both parties), one party's eval, one party's key bytes. */
  many: { keygen: Timing; evaluation: Timing; keyBytes: number };
  /** A two-payload key per cell (gate element x column), as before. */
  perCell: { keygen: Timing; evaluation: Timing; keyBytes: number };
}

export async function benchFoldKeys(elements: number, k: number, threads: number, note: (s: string) => void): Promise<FoldKeyTimings> {
  const cells = elements * k, P = 2 * k;
  const alpha = randomWords(elements), x = randomWords(elements), beta = randomWords(elements * P);
  for (let i = 0; i < elements; i += 5) x[i] = alpha[i];
  // The same comparisons per cell: alpha and x repeated over the columns, payloads split in two.
  const rep = (v: BigUint64Array) => BigUint64Array.from({ length: cells }, (_, c) => v[Math.floor(c / k)]);
  const half = (h: number) => BigUint64Array.from({ length: cells }, (_, c) => beta[Math.floor(c / k) * P + h * k + (c % k)]);
  const [a, xs, b] = [RingTensor.fromBigUint64Array(alpha, [elements]), RingTensor.fromBigUint64Array(x, [elements]), RingTensor.fromBigUint64Array(beta, [elements, P])];
  const [ac, xc, b0, b1] = [rep(alpha), rep(x), half(0), half(1)].map((v) => RingTensor.fromBigUint64Array(v, [cells]));
  let nonce = 1n;
  setNumThreads(1);
  try {
    const many = () => dcfKeygenMany(a, b, { bits: BITS, seed: randomSeed(), nonce: nonce++ });
    const perCell = () => dcfKeygen2(ac, b0, b1, { bits: BITS, seed: randomSeed(), nonce: nonce++ });
    const [m0, m1] = await many();
    const [p0, p1] = await perCell();
    const hostOf = (t: RingTensor) => {
      const v = t.toBigUint64Array();
      t.dispose();
      return v;
    };
    const y0 = hostOf(await dcfEvalMany(m0, xs, { bits: BITS, party: 0, payloads: P }));
    const y1 = hostOf(await dcfEvalMany(m1, xs, { bits: BITS, party: 1, payloads: P }));
    const dom = (1n << BigInt(BITS)) - 1n;
    for (let e = 0; e < elements; e += 7)
      for (let p = 0; p < P; p++)
        if (((y0[e * P + p] + y1[e * P + p]) & M) !== ((x[e] & dom) < (alpha[e] & dom) ? beta[e * P + p] : 0n)) {
          note(`DcfEvalMany spot check failed at element ${e}, payload ${p}`);
          e = elements;
          break;
        }
    const z0 = await dcfEval2(p0, xc, { bits: BITS, party: 0 });
    const z1 = await dcfEval2(p1, xc, { bits: BITS, party: 1 });
    const w0 = z0[0].toBigUint64Array(), w1 = z1[0].toBigUint64Array(), xcs = xc.toBigUint64Array(), b0s = b0.toBigUint64Array();
    for (const t of [...z0, ...z1]) t.dispose();
    for (let c = 0; c < cells; c += 13)
      if (((w0[c] + w1[c]) & M) !== ((xcs[c] & dom) < (alpha[Math.floor(c / k)] & dom) ? b0s[c] : 0n)) {
        note(`DcfEval2 spot check failed at cell ${c}`);
        break;
      }
    const opts = { warmup: 1, minRuns: 7, minTotalMs: 0 };
    const result: FoldKeyTimings = {
      elements,
      k,
      many: {
        keygen: await timeAsync(async () => (await many()).forEach((t) => t.dispose()), opts),
        evaluation: await timeAsync(async () => (await dcfEvalMany(m0, xs, { bits: BITS, party: 0, payloads: P })).dispose(), opts),
        keyBytes: m0.size * 8,
      },
      perCell: {
        keygen: await timeAsync(async () => (await perCell()).forEach((t) => t.dispose()), opts),
        evaluation: await timeAsync(async () => (await dcfEval2(p0, xc, { bits: BITS, party: 0 })).forEach((t) => t.dispose()), opts),
        keyBytes: p0.size * 8,
      },
    };
    for (const t of [m0, m1, p0, p1]) t.dispose();
    return result;
  } finally {
    setNumThreads(threads);
    for (const t of [a, xs, b, ac, xc, b0, b1]) t.dispose();
  }
}
