// Pond op benchmark (not a test): per-op latency and bytes, and network A at batch 1 and 128,
// all parties in this process.
//
//   npm run bench:ops            markdown table
//   npm run bench:ops -- --json  one JSON object on stdout
import * as tfe from '../lib';
import { forwardA, networkA, randomImages } from './lib/networks';
import { profileNative, type Profile } from './lib/kernel_profile';
import { REFERENCE_MB, secureNNNetworks, secureNNOps } from './lib/securenn_bench';
import { nowMs } from './lib/timing';
import { percentile } from './lib/percentile';
import { checkOptions } from './lib/args';

interface Sample {
  medianMs: number;
  p90Ms: number;
  runs: number;
  bytes: number;
  rounds: number;
}

/**
 * Runs `once` `warmup` times (the first run, which masks weights and warms caches, is excluded
 * with the rest of the warm-up), then `runs` times; traffic is that of the last timed run.
 */
async function measure(cluster: tfe.Cluster, once: () => Promise<void>, runs: number, warmup = 5): Promise<Sample> {
  for (let i = 0; i < warmup; i++) await once();
  const times: number[] = [];
  let traffic = cluster.transport.traffic().total;
  for (let i = 0; i < runs; i++) {
    cluster.transport.resetTraffic();
    const t0 = nowMs();
    await once();
    times.push(nowMs() - t0);
    traffic = cluster.transport.traffic().total;
  }
  return { medianMs: percentile(times, 0.5), p90Ms: percentile(times, 0.9), runs, bytes: traffic.bytes, rounds: traffic.rounds };
}

function privateInput(cluster: tfe.Cluster, shape: number[], scale = 1): tfe.PrivateTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float64Array.from({ length: n }, () => (Math.random() * 2 - 1) * scale);
  return tfe.definePrivateInput('input-provider', () => ({ data, shape }), cluster);
}

async function consume(t: tfe.AnyTensor): Promise<void> {
  if (t.kind === 'private') await t.shares;
  else await t.values;
  await t.dispose();
}

type OpCase = { name: string; shape: string; run: (c: tfe.Cluster) => () => Promise<void> };

// Fresh private inputs each run (their input sharing is part of the op's cost, as in a query);
// weights are defined once, so their masked form is reused as in serving.
const OPS: OpCase[] = [
  { name: 'mul', shape: '[1000] * [1000]', run: (c) => async () => consume(tfe.mul(privateInput(c, [1000]), privateInput(c, [1000]))) },
  { name: 'square', shape: '[1000]', run: (c) => async () => consume(tfe.square(privateInput(c, [1000]))) },
  { name: 'relu (poly)', shape: '[1,128]', run: (c) => async () => consume(tfe.relu(privateInput(c, [1, 128]))) },
  { name: 'sigmoid (poly)', shape: '[1,128]', run: (c) => async () => consume(tfe.sigmoid(privateInput(c, [1, 128]))) },
  {
    name: 'matmul',
    shape: '[1,784] x [784,128] (weight masked once)',
    run: (c) => {
      const w = privateInput(c, [784, 128], 0.05);
      return async () => consume(tfe.matmul(privateInput(c, [1, 784]), w));
    },
  },
  {
    name: 'matmul',
    shape: '[128,784] x [784,128] (weight masked once)',
    run: (c) => {
      const w = privateInput(c, [784, 128], 0.05);
      return async () => consume(tfe.matmul(privateInput(c, [128, 784]), w));
    },
  },
  {
    name: 'conv2d',
    shape: '[1,28,28,1] * [5,5,1,16] VALID',
    run: (c) => {
      const f = privateInput(c, [5, 5, 1, 16], 0.2);
      return async () => consume(tfe.conv2d(privateInput(c, [1, 28, 28, 1]), f));
    },
  },
  { name: 'avgPool2d', shape: '[1,24,24,16] 2x2', run: (c) => async () => consume(tfe.avgPool2d(privateInput(c, [1, 24, 24, 16]), { poolSize: 2 })) },
  { name: 'reveal', shape: '[1000]', run: (c) => async () => consume(tfe.reveal(privateInput(c, [1000]))) },
];

async function netA(cluster: tfe.Cluster, batch: number, runs: number): Promise<Sample & { profile: Profile }> {
  const layers = networkA(cluster);
  const images = randomImages(batch);
  const once = async () => {
    const logits = tfe.tidy(() => forwardA(layers, tfe.definePrivateInput('prediction-client', () => images, cluster)));
    await tfe.defineOutput('prediction-client', logits);
    await logits.dispose();
  };
  const sample = await measure(cluster, once, runs);
  // A separate, instrumented pass: how much of a prediction is kernels and wire copies.
  return { ...sample, profile: await profileNative(Math.min(runs, 50), once) };
}

async function main(): Promise<void> {
  checkOptions(process.argv.slice(2), { flags: ['--json', '--quick'], usage: 'npm run bench:ops [-- --json] [--quick]' });
  const json = process.argv.includes('--json');
  const results: { name: string; shape: string; s: Sample }[] = [];
  for (const op of OPS) {
    const cluster = new tfe.Cluster({ protocol: 'pond' });
    results.push({ name: op.name, shape: op.shape, s: await measure(cluster, op.run(cluster), 50) });
    await cluster.close();
  }
  const c1 = new tfe.Cluster({ protocol: 'pond' });
  const b1 = await netA(c1, 1, 200);
  await c1.close();
  const c128 = new tfe.Cluster({ protocol: 'pond' });
  const b128 = await netA(c128, 128, 20);
  await c128.close();
  const quick = process.argv.includes('--quick');
  const snnOps = await secureNNOps();
  const snn = await secureNNNetworks(quick, (m) => process.stderr.write(`${m}\n`));
  const info = tfe.info();
  if (json) {
    const ops = Object.fromEntries(results.map((r) => [`${r.name} ${r.shape}`, { ms: r.s.medianMs, bytes: r.s.bytes, rounds: r.s.rounds }]));
    console.log(JSON.stringify({
      machine: { cpuFeatures: info.cpuFeatures, threads: info.threads, node: process.version, date: new Date().toISOString() },
      ops,
      netA_b1_ms: b1.medianMs, netA_b1_p90_ms: b1.p90Ms, netA_b1_bytes: b1.bytes, netA_b1_rounds: b1.rounds,
      netA_b1_profile: b1.profile,
      netA_b128_ms: b128.medianMs, netA_b128_per_s: (128 * 1000) / b128.medianMs, netA_b128_bytes: b128.bytes, netA_b128_rounds: b128.rounds,
      securenn_ops: snnOps,
      securenn: snn,
    }));
    return;
  }
  console.log(`# Pond ops, in-process (${info.cpuFeatures}, ${info.threads} threads, ${new Date().toISOString()})\n`);
  console.log('Median (and p90) over the timed runs after 5 warm-up runs; bytes and rounds of one run,');
  console.log('including the private inputs\' sharing. Fixed point with 16 fractional bits.\n');
  console.log('| op | shape | median ms | p90 ms | bytes | rounds |\n|---|---|--:|--:|--:|--:|');
  for (const r of results) console.log(`| ${r.name} | ${r.shape} | ${r.s.medianMs.toFixed(3)} | ${r.s.p90Ms.toFixed(3)} | ${r.s.bytes} | ${r.s.rounds} |`);
  console.log(`| network A (poly ReLU) | batch 1, ${b1.runs} runs | ${b1.medianMs.toFixed(3)} | ${b1.p90Ms.toFixed(3)} | ${b1.bytes} | ${b1.rounds} |`);
  console.log(`| network A (poly ReLU) | batch 128, ${b128.runs} runs | ${b128.medianMs.toFixed(3)} | ${b128.p90Ms.toFixed(3)} | ${b128.bytes} | ${b128.rounds} |`);
  const p = b1.profile;
  console.log(`\nWhere network A's batch-1 time goes (instrumented pass, per prediction, all three servers together):`);
  console.log(`${p.kernelCalls.toFixed(0)} kernel calls take ${p.kernelMs.toFixed(2)} ms of wall time (inline calls block the JS thread; pooled ones overlap),`);
  console.log(`${p.copyCalls.toFixed(0)} wire copies ${p.copyMs.toFixed(2)} ms, and ${b1.rounds} communication steps; the rest is JS scheduling.`);
  console.log(`Largest: ${p.top.map((t) => `${t.name} ${t.calls.toFixed(0)}x ${t.ms.toFixed(2)} ms`).join(', ')}.`);
  console.log('\n## SecureNN (exact non-linear layers), in-process\n');
  console.log('| op | median ms | bytes | rounds |\n|---|--:|--:|--:|');
  for (const [name, r] of Object.entries(snnOps)) console.log(`| ${name} | ${r.ms.toFixed(2)} | ${r.bytes} | ${r.rounds} |`);
  console.log('\n| network (max pool) | batch 1 ms | batch 1 bytes | SecureNN C++ reference bytes | rounds | batch 128 ms |\n|---|--:|--:|--:|--:|--:|');
  for (const k of ['A', 'B', 'C'] as const) {
    const r = snn[k];
    console.log(`| ${k} | ${r.b1.ms.toFixed(1)} | ${(r.b1.bytes / 1e6).toFixed(3)} MB | ${REFERENCE_MB[k]} MB | ${r.b1.rounds} | ${r.b128 ? r.b128.ms.toFixed(0) : 'skipped (--quick)'} |`);
  }
  console.log(`\nnetwork A, batch 1: ${b1.medianMs.toFixed(2)} ms (target <= 3 ms; the paper's Pond: 14 ms). Batch 128: ${((128 * 1000) / b128.medianMs).toFixed(0)} predictions/s.`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
