// The FSS equality gate's DPF kernels for bench:kernels: key generation (server2) and evaluation
// (server0 and server1), n = 2^16 elements, one thread, on the 63-bit domain the comparisons'
// keys in dcf_bench.ts use (so a row of each compares per element) and on the 47 bits strings'
// ids take (lib/protocol/fss/equality.ts). Spot-checked against the plaintext equality first.

import { dpfEval, dpfKeygen } from '../../lib/ops/fss';
import { randomSeed } from '../../lib/prg/prg';
import { RingTensor } from '../../lib/tensor/ring_tensor';
import { setNumThreads } from '../../lib/ring';
import { randomWords } from './random_words';
import { type Timing, timeAsync } from './timing';

const N = 1 << 16;

export interface DpfTimings {
  bits: number;
  keygen: Timing;
  evaluation: Timing;
  n: number;
}

/** Keygen and eval timings per domain (one thread, restored to `threads` after); a failed spot check is a note. */
export async function benchDpf(threads: number, note: (s: string) => void): Promise<DpfTimings[]> {
  const out: DpfTimings[] = [];
  const alpha = randomWords(N), x = randomWords(N), ones = new BigUint64Array(N).fill(1n);
  for (let i = 0; i < N; i += 7) x[i] = alpha[i]; // equal elements among the checked
  const [a, b, xs] = [alpha, ones, x].map((v) => RingTensor.fromBigUint64Array(v, [N]));
  setNumThreads(1);
  try {
    for (const bits of [63, 47]) {
      const domain = (1n << BigInt(bits)) - 1n;
      let nonce = 1n;
      const keygen = () => dpfKeygen(a, b, { bits, seed: randomSeed(), nonce: nonce++ });
      const [k0, k1] = await keygen();
      const [y0, y1] = [await dpfEval(k0, xs, { bits, party: 0 }), await dpfEval(k1, xs, { bits, party: 1 })].map((t) => {
        const v = t.toBigUint64Array();
        t.dispose();
        return v;
      });
      for (let i = 0; i < N; i += 97)
        if (((y0[i] + y1[i]) & ((1n << 64n) - 1n)) !== ((x[i] & domain) === (alpha[i] & domain) ? 1n : 0n)) {
          note(`DpfEval spot check failed at element ${i} (${bits} bits)`);
          break;
        }
      const keygenT = await timeAsync(async () => (await keygen()).forEach((k) => k.dispose()), { warmup: 1, minRuns: 5, minTotalMs: 0 });
      const evaluation = await timeAsync(async () => (await dpfEval(k0, xs, { bits, party: 0 })).dispose(), { warmup: 1, minRuns: 5, minTotalMs: 0 });
      k0.dispose();
      k1.dispose();
      out.push({ bits, keygen: keygenT, evaluation, n: N });
    }
    return out;
  } finally {
    setNumThreads(threads);
    for (const t of [a, b, xs]) t.dispose();
  }
}
