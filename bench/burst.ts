// FSS 'auto' after a burst (docs/fss.md, "Under load"): one model deployed with 'auto', its pool
// left to fill, then a burst (K clients, each sending its queries back to back), a pause past the
// pressure hold, and one client's queries spaced apart. Prints each query's online rounds and
// latency (compact gates take more rounds than one-round ones) and server2's counts, so a build's
// handling of the recordings a burst leaves shows in the queries after it.
//
//   npm run bench:burst -- [--net wan|lan | --rtt MS --rate MBIT] [--model C_max] [--clients 4]
//                          [--burst 4] [--after 8] [--gap-ms 1500] [--json]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { PredictionClient } from '../lib/serve/client';
import { spawnCluster, stopCluster, waitReady, writeLocalConfig } from '../lib/serve/local_cluster';
import { PRESSURE_HOLD_MS } from '../lib/serve/gate_form';
import { checkOptions, numberOption } from './lib/args';
import { MODELS } from './lib/b1_nets';
import { describeCheck, emulateNetwork, parseNetArgs } from './lib/net_cluster';
import { nowMs } from './lib/timing';

const USAGE = `
npm run bench:burst -- [--net wan|lan | --rtt MS --rate MBIT] [--model NET] [--clients K] [--burst N] [--after N] [--gap-ms MS] [--json]
  --net / --rtt --rate  the emulated links (default: loopback)
  --model    one of bench/models (default C_max)
  --clients  clients sending the burst at once (default 4), --burst queries each, back to back (default 4)
  --after    queries of one client after the burst and a pause past the hold, --gap-ms apart (default 8, 1500)
`;

interface Sample {
  ms: number;
  rounds: number;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkOptions(argv, { flags: ['--json'], values: ['--net', '--rtt', '--rate', '--model', '--clients', '--burst', '--after', '--gap-ms'], usage: USAGE });
  const net = parseNetArgs(argv);
  const arg = (k: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : undefined);
  const model = arg('--model') ?? 'C_max';
  const file = path.join(MODELS, model, 'model.json');
  if (!fs.existsSync(file)) throw new Error(`--model: no ${file}`);
  const k = numberOption(argv, '--clients', 4, 1), burst = numberOption(argv, '--burst', 4, 1), after = numberOption(argv, '--after', 8, 1), gapMs = numberOption(argv, '--gap-ms', 1500);
  const config = await writeLocalConfig(fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-burst-')), {});
  const em = net ? await emulateNetwork(config, net) : undefined;
  if (em && net) process.stderr.write(`${describeCheck(net.name, em.check)}\n`);
  const procs = spawnCluster(config, () => undefined);
  try {
    await waitReady(config, undefined, procs);
    const owner = await PredictionClient.connect(config, { asOwner: true });
    await owner.deploy(file, { name: 'auto', protocol: 'fss' });
    const clients = await Promise.all(Array.from({ length: k }, () => PredictionClient.connect(config)));
    // MNIST's images: flat for network A, 28 x 28 x 1 for the convolutional ones (as bench:b1).
    const shape = model.startsWith('A') ? [1, 784] : [1, 28, 28, 1];
    const query = async (c: PredictionClient): Promise<Sample> => {
      const t0 = nowMs();
      const p = await c.predict('auto', { data: Float64Array.from({ length: 784 }, () => Math.random()), shape });
      return { ms: nowMs() - t0, rounds: p.serverTraffic?.[0]?.rounds ?? -1 };
    };
    // The pool fills and the setup's own pressure passes.
    for (let i = 0; i < 100 && ((await owner.status())[2].pool?.making ?? 1) > 0; i++) await sleep(200);
    await sleep(PRESSURE_HOLD_MS + 1000);
    const inBurst: Sample[] = [];
    await Promise.all(clients.map(async (c) => { for (let i = 0; i < burst; i++) inBurst.push(await query(c)); }));
    await sleep(PRESSURE_HOLD_MS + 2000);
    const later: Sample[] = [];
    for (let i = 0; i < after; i++) {
      later.push(await query(clients[0]));
      await sleep(gapMs);
    }
    const pool = (await owner.status())[2].pool;
    const mean = later.reduce((s, x) => s + x.ms, 0) / later.length;
    const out = { model, net: net?.name ?? 'loopback', clients: k, burst: inBurst, after: later, afterMeanMs: mean, compactUnderLoad: pool?.compactUnderLoad, redealt: pool?.redealt };
    if (argv.includes('--json')) console.log(JSON.stringify(out));
    else {
      const f = (l: Sample[]) => l.map((x) => `${x.rounds}:${x.ms.toFixed(0)}`).join(' ');
      console.log(`${model}, ${out.net}, ${k} clients (rounds:ms per query)\n burst  ${f(inBurst)}\n after  ${f(later)}\n after: mean ${mean.toFixed(0)} ms; server2 dealt ${pool?.compactUnderLoad} queries compact under load, ${pool?.redealt ?? '-'} dealt again`);
    }
    await Promise.all([owner, ...clients].map((c) => c.close()));
  } finally {
    await stopCluster(procs);
    em?.stop();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
