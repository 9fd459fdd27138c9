// The FSS protocol's DCF kernels for bench:kernels: key generation (server2, per relu gate) and
// evaluation (server0 and server1) of the two-payload DCF (the one-round gate) and of the one-bit
// DCF (the compact gate), n = 2^16 elements on the 63-bit domain the gates use, one thread. Each
// result is spot-checked against the plaintext comparison first.

import { dcfBitEval, dcfBitKeygen, dcfEval2, dcfKeygen2 } from '../../lib/ops/fss';
import { randomSeed } from '../../lib/prg/prg';
import { RingTensor } from '../../lib/tensor/ring_tensor';
import { setNumThreads } from '../../lib/ring';
import { randomWords } from './random_words';
import { type Timing, timeAsync } from './timing';

const N = 1 << 16;
const BITS = 63;
const DOMAIN = (1n << BigInt(BITS)) - 1n;

/** Keygen and eval timings (one thread, restored to `threads` after); a failed spot check is a note. */
export async function benchDcf(threads: number, note: (s: string) => void): Promise<{ keygen: Timing; evaluation: Timing; bitKeygen: Timing; bitEvaluation: Timing; n: number }> {
  const alpha = randomWords(N), beta0 = randomWords(N), beta1 = randomWords(N), x = randomWords(N);
  for (let i = 0; i < N; i += 7) x[i] = alpha[i]; // the boundary, x = alpha, among the checked
  const [a, b0, b1, xs] = [alpha, beta0, beta1, x].map((v) => RingTensor.fromBigUint64Array(v, [N]));
  let nonce = 1n;
  const keygen = () => dcfKeygen2(a, b0, b1, { bits: BITS, seed: randomSeed(), nonce: nonce++ });
  setNumThreads(1);
  try {
    const [k0, k1] = await keygen();
    const host = (ts: RingTensor[]) => ts.map((t) => {
      const v = t.toBigUint64Array();
      t.dispose();
      return v;
    });
    const [y0, z0] = host(await dcfEval2(k0, xs, { bits: BITS, party: 0 }));
    const [y1, z1] = host(await dcfEval2(k1, xs, { bits: BITS, party: 1 }));
    const mask = (1n << 64n) - 1n;
    for (let i = 0; i < N; i += 97) {
      const less = (x[i] & DOMAIN) < (alpha[i] & DOMAIN);
      const want0 = less ? beta0[i] : 0n, want1 = less ? beta1[i] : 0n;
      if (((y0[i] + y1[i]) & mask) !== want0 || ((z0[i] + z1[i]) & mask) !== want1) {
        note(`DcfEval2 spot check failed at element ${i}`);
        break;
      }
    }
    const keygenT = await timeAsync(async () => (await keygen()).forEach((k) => k.dispose()), { warmup: 1, minRuns: 5, minTotalMs: 0 });
    const evaluation = await timeAsync(async () => (await dcfEval2(k0, xs, { bits: BITS, party: 0 })).forEach((y) => y.dispose()), { warmup: 1, minRuns: 5, minTotalMs: 0 });
    k0.dispose();
    k1.dispose();
    const bits = await benchBit(a, xs, alpha, x, note);
    return { keygen: keygenT, evaluation, ...bits, n: N };
  } finally {
    setNumThreads(threads);
    for (const t of [a, b0, b1, xs]) t.dispose();
  }
}

/** The one-bit DCF on the same alphas and xs (offsets from beta's low bits), one thread. */
async function benchBit(a: RingTensor, xs: RingTensor, alpha: BigUint64Array, x: BigUint64Array, note: (s: string) => void): Promise<{ bitKeygen: Timing; bitEvaluation: Timing }> {
  const w = randomWords(N).map((v) => v & 1n);
  const wt = RingTensor.fromBigUint64Array(w, [N]);
  let nonce = 1n;
  const keygen = () => dcfBitKeygen(a, wt, { bits: BITS, seed: randomSeed(), nonce: nonce++ });
  try {
    const [k0, k1] = await keygen();
    const [y0, y1] = [await dcfBitEval(k0, xs, { bits: BITS, party: 0 }), await dcfBitEval(k1, xs, { bits: BITS, party: 1 })].map((t) => {
      const v = t.toUint8Array();
      t.dispose();
      return v;
    });
    for (let i = 0; i < N; i += 97)
      if (BigInt(y0[i] ^ y1[i]) !== (((x[i] & DOMAIN) < (alpha[i] & DOMAIN) ? 1n : 0n) ^ w[i])) {
        note(`DcfBitEval spot check failed at element ${i}`);
        break;
      }
    const bitKeygen = await timeAsync(async () => (await keygen()).forEach((k) => k.dispose()), { warmup: 1, minRuns: 5, minTotalMs: 0 });
    const bitEvaluation = await timeAsync(async () => (await dcfBitEval(k0, xs, { bits: BITS, party: 0 })).dispose(), { warmup: 1, minRuns: 5, minTotalMs: 0 });
    k0.dispose();
    k1.dispose();
    return { bitKeygen, bitEvaluation };
  } finally {
    wt.dispose();
  }
}
