// One protocol's measurements of CIFAR-10 ResNet-20 over the service (bench/resnet20.ts): batch-1
// latency with its online bytes and rounds (and what server2 dealt ahead, offline), throughput
// at a larger batch, and agreement of the private argmax with the float64 plaintext's on the
// sample images, with the largest |logit difference| and the mean KL over the same images.
import type { PredictionClient } from '../../lib/serve/client';
import { percentile } from './percentile';
import { Progress } from './progress';
import { IMAGE } from './resnet20_plain';

export interface Resnet20Options {
  /** Batch-1 predictions timed (after 2 warm-ups). */
  b1Runs: number;
  /**
   * A pause before each timed batch-1 prediction, so that server2's refill of the offline pool
   * (FSS: about 0.75 GB of keys per query, dealt on the same two cores) is not running beside it.
   */
  b1GapMs: number;
  /** The batch size of the throughput and agreement queries. */
  batch: number;
  /** Images compared with plaintext (a multiple of `batch` is timed; the rest runs untimed). */
  images: number;
}

export interface Resnet20Measured {
  protocol: string;
  b1_ms_median: number;
  b1_ms_p90: number;
  b1_runs: number;
  b1_gap_ms: number;
  /** Online: what the client and the servers sent while the query ran. */
  b1_bytes: number;
  b1_rounds: number;
  /** What server2 sent ahead of the query from its pool (FSS keys); 0 under SecureNN. */
  b1_offline_bytes: number;
  batch: number;
  batch_s_median: number;
  batches_timed: number;
  images_per_s: number;
  batch_bytes: number;
  batch_offline_bytes: number;
  images: number;
  agreed: number;
  private_correct: number;
  plain_correct: number;
  max_abs_logit_diff: number;
  mean_kl: number;
}

const argmax = (r: ArrayLike<number>) => {
  let b = 0;
  for (let i = 1; i < r.length; i++) if (r[i] > r[b]) b = i;
  return b;
};

function softmax(r: ArrayLike<number>): Float64Array {
  const m = Math.max(...Array.from(r));
  const e = Float64Array.from(r, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

function kl(p: Float64Array, q: Float64Array): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) s += p[i] * Math.log(p[i] / Math.max(q[i], 1e-300));
  return s;
}

/**
 * `pixels`: the images as the model takes them ([n, 32, 32, 3] in [0, 1]); `plainLogits`: the
 * float64 plaintext's logits for them ([n, 10]); `labels`: the true classes.
 */
export async function measureResnet20(client: PredictionClient, name: string, protocol: string, pixels: Float64Array, plainLogits: Float64Array, labels: Uint8Array, o: Resnet20Options, say: (m: string) => void): Promise<Resnet20Measured> {
  const image = (i: number, n = 1) => pixels.subarray(i * IMAGE, (i + n) * IMAGE);
  const lat: number[] = [];
  let bytes = 0, rounds = 0, offline = 0;
  const p1 = new Progress(`${protocol} batch 1`, o.b1Runs);
  for (let i = 0; i < 2; i++) await client.predict(name, { data: image(i), shape: [1, 32, 32, 3] });
  for (let i = 0; i < o.b1Runs; i++) {
    if (o.b1GapMs) await new Promise((r) => setTimeout(r, o.b1GapMs));
    const p = await client.predict(name, { data: image(i % o.images), shape: [1, 32, 32, 3] });
    lat.push(p.latencyMs);
    bytes = p.traffic.total.bytes + p.serverTraffic.reduce((a, t) => a + t.bytes, 0);
    rounds = Math.max(...p.serverTraffic.map((t) => t.rounds));
    offline = p.offlineBytes;
    p1.tick(i + 1);
  }
  say(`${protocol}: batch 1 median ${percentile(lat, 0.5).toFixed(0)} ms over ${o.b1Runs} runs, ${(bytes / 2 ** 20).toFixed(1)} MiB online in ${rounds} rounds, ${(offline / 2 ** 20).toFixed(1)} MiB offline`);

  let agreed = 0, privateCorrect = 0, plainCorrect = 0, maxDiff = 0, klSum = 0, batchBytes = 0, batchOffline = 0;
  const secs: number[] = [];
  const p2 = new Progress(`${protocol} batch ${o.batch}`, o.images);
  for (let start = 0; start < o.images; start += o.batch) {
    const n = Math.min(o.batch, o.images - start);
    const t0 = performance.now();
    const p = await client.predict(name, { data: image(start, n), shape: [n, 32, 32, 3] });
    if (n === o.batch) {
      secs.push((performance.now() - t0) / 1000);
      batchBytes = p.traffic.total.bytes + p.serverTraffic.reduce((a, t) => a + t.bytes, 0);
      batchOffline = p.offlineBytes;
    }
    for (let r = 0; r < n; r++) {
      const mine = p.data.subarray(r * 10, (r + 1) * 10), ref = plainLogits.subarray((start + r) * 10, (start + r + 1) * 10);
      for (let k = 0; k < 10; k++) maxDiff = Math.max(maxDiff, Math.abs(mine[k] - ref[k]));
      const [a, b] = [argmax(mine), argmax(ref)];
      if (a === b) agreed++;
      if (a === labels[start + r]) privateCorrect++;
      if (b === labels[start + r]) plainCorrect++;
      klSum += kl(softmax(ref), softmax(mine));
    }
    p2.tick(start + n);
  }
  const batchS = secs.length ? percentile(secs, 0.5) : Number.NaN;
  say(`${protocol}: batch ${o.batch} median ${batchS.toFixed(1)} s (${(o.batch / batchS).toFixed(2)} images/s); agreement ${agreed}/${o.images}, max |dlogit| ${maxDiff.toExponential(2)}`);
  return {
    protocol,
    b1_ms_median: percentile(lat, 0.5),
    b1_ms_p90: percentile(lat, 0.9),
    b1_runs: o.b1Runs,
    b1_gap_ms: o.b1GapMs,
    b1_bytes: bytes,
    b1_rounds: rounds,
    b1_offline_bytes: offline,
    batch: o.batch,
    batch_s_median: batchS,
    batches_timed: secs.length,
    images_per_s: o.batch / batchS,
    batch_bytes: batchBytes,
    batch_offline_bytes: batchOffline,
    images: o.images,
    agreed,
    private_correct: privateCorrect,
    plain_correct: plainCorrect,
    max_abs_logit_diff: maxDiff,
    mean_kl: klSum / o.images,
  };
}
