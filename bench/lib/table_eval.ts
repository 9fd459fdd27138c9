// One row of the table: a deployed model measured over the service against its plaintext
// forward pass: batch-1 latency (median, p90), batch-128 throughput, accuracy and mean KL
// divergence over the test set, bytes and rounds per batch-1 prediction.
import type { MnistData } from '../../lib/data/mnist';
import type { ProtocolName } from '../../lib/protocol/protocols';
import type { PredictionClient } from '../../lib/serve/client';
import { plainModel } from './plain_forward';
import { Progress } from './progress';
import { percentile } from './percentile';

export interface Entry {
  protocol: ProtocolName;
  /** The table's column: A, B, C, B_max, C_max. */
  key: string;
  /** The directory under bench/models of the model deployed. */
  model: string;
  /** The model whose plaintext outputs are the reference (default: `model`). */
  reference?: string;
}

export interface Measured {
  protocol: ProtocolName;
  key: string;
  ms_b1_median: number;
  ms_b1_p90: number;
  b128_per_s: number;
  accuracy: number;
  tf_accuracy: number;
  kl: number;
  bytes_b1: number;
  rounds_b1: number;
  /**
   * Of the timed batch-1 queries, the fraction that found server2's side shipped ahead by the
   * offline pool (the rest were dealt on the spot): whether the pool keeps up with back-to-back
   * queries. Absent in entries saved before it was measured.
   */
  b1_pooled?: number;
  /** Each server's CPU milliseconds per batch-1 query (server0, server1, server2), from /proc. */
  cpu_ms_b1?: number[];
}

const PIXELS = 784;

function softmax(row: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) m = Math.max(m, row[i]);
  const e = Float64Array.from({ length: row.length }, (_, i) => Math.exp(row[i] - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

const argmax = (r: ArrayLike<number>) => {
  let b = 0;
  for (let i = 1; i < r.length; i++) if (r[i] > r[b]) b = i;
  return b;
};

/** KL(p || q) with q floored so a zero probability cannot make it infinite. */
function kl(p: Float64Array, q: Float64Array): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) s += p[i] * Math.log(p[i] / Math.max(q[i], 1e-300));
  return s;
}


export async function evaluate(client: PredictionClient, name: string, referencePath: string, e: Entry, test: MnistData, opts: { quick: boolean; b1GapMs?: number; settle?: () => Promise<void>; cpu?: () => number[] }): Promise<Measured> {
  const plain = plainModel(referencePath);
  const shape = plain.inputShape;
  const image = (i: number, n = 1) => Float64Array.from(test.images.subarray(i * PIXELS, (i + n) * PIXELS));

  // Batch-1 latency: warm-up (first runs excluded), then at least 100 predictions.
  const runs = opts.quick ? 20 : 100;
  const lat: number[] = [];
  let bytes = 0, rounds = 0, pooled = 0;
  const p1 = new Progress(`${e.protocol} ${e.key} batch 1`, runs);
  for (let i = 0; i < 3; i++) await client.predict(name, { data: image(i), shape: [1, ...shape] });
  // With gaps, time queries against a full pool: right after a deploy, server2 is still making
  // the pool's first recordings, which the first timed queries would otherwise compete with.
  if (opts.b1GapMs) await opts.settle?.();
  const cpu0 = opts.cpu?.();
  for (let i = 0; i < runs; i++) {
    if (opts.b1GapMs) await new Promise((r) => setTimeout(r, opts.b1GapMs));
    const p = await client.predict(name, { data: image(i % test.n), shape: [1, ...shape] });
    lat.push(p.latencyMs);
    if (p.offlineBytes > 0) pooled++;
    bytes = p.traffic.total.bytes + p.serverTraffic.reduce((a, t) => a + t.bytes, 0);
    rounds = Math.max(...p.serverTraffic.map((t) => t.rounds));
    p1.tick(i + 1);
  }
  // Each server's CPU per query, with what the queries had server2 deal for the pool meanwhile.
  const cpu = cpu0 && opts.cpu!().map((s, i) => (1000 * (s - cpu0[i])) / runs);

  // Accuracy and KL over the test set in batches of 128; full batches also give throughput.
  let correct = 0, plainCorrect = 0, klSum = 0;
  const batchSeconds: number[] = [];
  const p2 = new Progress(`${e.protocol} ${e.key} test set`, test.n);
  for (let start = 0; start < test.n; start += 128) {
    const n = Math.min(128, test.n - start);
    const x = image(start, n);
    const t0 = performance.now();
    const p = await client.predict(name, { data: x, shape: [n, ...shape] });
    if (n === 128) batchSeconds.push((performance.now() - t0) / 1000);
    const ref = plain.forward(x, n);
    const k = p.data.length / n;
    for (let r = 0; r < n; r++) {
      const mine = p.data.subarray(r * k, (r + 1) * k), theirs = ref.subarray(r * k, (r + 1) * k);
      const label = test.labels[start + r];
      if (argmax(mine) === label) correct++;
      if (argmax(theirs) === label) plainCorrect++;
      klSum += kl(softmax(theirs), softmax(mine));
    }
    p2.tick(start + n);
  }
  return {
    protocol: e.protocol,
    key: e.key,
    ms_b1_median: percentile(lat, 0.5),
    ms_b1_p90: percentile(lat, 0.9),
    b128_per_s: batchSeconds.length ? 128 / percentile(batchSeconds, 0.5) : Number.NaN,
    accuracy: correct / test.n,
    tf_accuracy: plainCorrect / test.n,
    kl: klSum / test.n,
    bytes_b1: bytes,
    rounds_b1: rounds,
    b1_pooled: pooled / runs,
    ...(cpu && cpu.every(Number.isFinite) ? { cpu_ms_b1: cpu } : {}),
  };
}
