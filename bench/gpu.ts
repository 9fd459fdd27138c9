// Networks A, B and C under Pond and SecureNN with all three parties in this process on one
// device (each on its own CUDA stream): batch-1 latency and batch-1024 throughput. The issue's
// GPU benchmark; `--device cpu` runs the same program on the CPU (for comparison, or to check the
// script on a machine without a GPU).
//
//   npm run bench:gpu                     CUDA (an error saying why when it cannot be had)
//   npm run bench:gpu -- --device cpu     the same on the CPU
//   npm run bench:gpu -- --quick          5 batch-1 runs and batch 64 instead of 30 and 1024
//   npm run bench:gpu -- --json           one JSON object on stdout
import * as path from 'node:path';

import * as tfe from '../lib';
import { isExact, PROTOCOLS } from '../lib/protocol/protocols';
import { percentile } from './lib/percentile';
import { nowMs } from './lib/timing';
import { checkOptions } from './lib/args';

const MODELS = path.join(__dirname, '..', '..', 'bench', 'models');

interface Row {
  protocol: tfe.ProtocolName;
  net: string;
  model: string;
  ms_b1_median: number;
  ms_b1_p90: number;
  /** Bytes and rounds of one batch-1 prediction, all parties together. */
  b1_bytes: number;
  b1_rounds: number;
  batch: number;
  per_s: number;
}

function inputShape(net: string, batch: number): number[] {
  return net === 'A' ? [batch, 784] : [batch, 28, 28, 1];
}

async function predictOnce(cluster: tfe.Cluster, model: tfe.PrivateModel, shape: number[]): Promise<void> {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float64Array.from({ length: n }, () => Math.random());
  const x = tfe.definePrivateInput('input-provider', () => ({ data, shape }), cluster);
  await tfe.defineOutput('output-receiver', model.predict(x));
}

async function run(protocol: tfe.ProtocolName, net: string, device: tfe.DeviceOption, runs: number, batch: number): Promise<Row> {
  // A protocol that is not exact runs the paper's Pond models (relu as a fitted polynomial).
  const model = isExact(protocol) ? net : `${net}_pond`;
  const cluster = new tfe.Cluster({ protocol, device });
  try {
    const m = tfe.loadLayersModel(path.join(MODELS, model, 'model.json'), { cluster });
    for (let i = 0; i < 3; i++) await predictOnce(cluster, m, inputShape(net, 1)); // warm-up: masks, caches, allocator
    const before = cluster.transport.traffic().total;
    await predictOnce(cluster, m, inputShape(net, 1));
    const after = cluster.transport.traffic().total;
    const b1 = { bytes: after.bytes - before.bytes, rounds: after.rounds - before.rounds };
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = nowMs();
      await predictOnce(cluster, m, inputShape(net, 1));
      times.push(nowMs() - t0);
    }
    await predictOnce(cluster, m, inputShape(net, batch));
    const t0 = nowMs();
    await predictOnce(cluster, m, inputShape(net, batch));
    const perS = batch / ((nowMs() - t0) / 1000);
    return { protocol, net, model, ms_b1_median: percentile(times, 0.5), ms_b1_p90: percentile(times, 0.9), b1_bytes: b1.bytes, b1_rounds: b1.rounds, batch, per_s: perS };
  } finally {
    await cluster.close();
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkOptions(argv, { flags: ['--quick', '--json'], values: ['--device'], usage: 'npm run bench:gpu [-- --device cuda|cpu] [--quick] [--json]' });
  const at = argv.indexOf('--device');
  const device = (at >= 0 ? argv[at + 1] : 'cuda') as tfe.DeviceOption;
  const quick = argv.includes('--quick');
  const json = argv.includes('--json');
  const backend = tfe.ring.setBackend(tfe.resolveDevice(device));
  const i = tfe.info(backend);
  const say = (m: string) => (json ? process.stderr : process.stdout).write(`${m}\n`);
  say(`device: ${i.backend}, ${i.device}, ${(i.memoryBytes / 2 ** 30).toFixed(1)} GiB${i.computeCapability ? `, compute ${i.computeCapability}` : ''}`);
  const runs = quick ? 5 : 30, batch = quick ? 64 : 1024;
  const rows: Row[] = [];
  for (const protocol of PROTOCOLS)
    for (const net of ['A', 'B', 'C']) {
      rows.push(await run(protocol, net, device, runs, batch));
      const r = rows.at(-1)!;
      say(`${protocol.padEnd(8)} ${net}  b1 ${r.ms_b1_median.toFixed(1)} ms (p90 ${r.ms_b1_p90.toFixed(1)}), batch ${batch}: ${r.per_s.toFixed(0)} predictions/s`);
    }
  const meta = { device: i.device, backend: i.backend, date: new Date().toISOString().slice(0, 10), command: `npm run bench:gpu${argv.length ? ` -- ${argv.join(' ')}` : ''}` };
  if (json) {
    console.log(JSON.stringify({ rows, meta }));
    return;
  }
  say('');
  say(`| protocol | net | b1 median ms | b1 p90 ms | b1 MB | b1 rounds | batch ${batch} predictions/s |`);
  say('|---|---|---|---|---|---|---|');
  for (const r of rows) say(`| ${r.protocol} | ${r.net} | ${r.ms_b1_median.toFixed(1)} | ${r.ms_b1_p90.toFixed(1)} | ${(r.b1_bytes / 1e6).toFixed(2)} | ${r.b1_rounds} | ${r.per_s.toFixed(0)} |`);
  say('');
  say(`${meta.backend} (${meta.device}), ${meta.date}, \`${meta.command}\`; all parties in one process${meta.backend === 'cuda' ? ', each on its own stream of the one GPU' : ''}.`);
}

main().catch((e: Error) => {
  console.error(`bench:gpu: ${e.message}`);
  process.exit(1);
});
