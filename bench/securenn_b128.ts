// SecureNN at batch 128 over the service (issue 16): three server processes on loopback with
// mutual TLS, as bench:table runs them, timing only batch-128 predictions of A, B_max and C_max
// (bench:table also measures batch 1 and accuracy over the test set, which takes much longer).
//   node dist/bench/securenn_b128.js                 3 timed batches per model (after one warm-up)
//   node dist/bench/securenn_b128.js --runs 5 --only C_max --protocol securenn --json
//   node dist/bench/securenn_b128.js --protocol fss --pooled   online time: each batch waits until
//     server2's side of it was shipped ahead (the offline pool, lib/serve/pool.ts; Pond and FSS)
//   node dist/bench/securenn_b128.js --protocol fss --fss-gate one-round   deploy with that FSS gate form
//   node dist/bench/securenn_b128.js --protocol fss --fss-bits 32   with FSS comparisons of that width
//   node dist/bench/securenn_b128.js --no-lanes   server links without their lanes (lib/net/lane.ts)
//   node dist/bench/securenn_b128.js --keras-order   the models with each ReLU moved before the
//     MaxPooling2D it follows (Keras's usual Conv2D(relu) then pool), same weights
// Also prints each server's CPU seconds per batch (from /proc), which other load on a shared machine
// moves far less than wall time.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadMnist } from '../lib/data/mnist';
import { PredictionClient } from '../lib/serve/client';
import { startLocalCluster, stopCluster } from '../lib/serve/local_cluster';
import { percentile } from './lib/percentile';
import { cpuSeconds } from './lib/proc_cpu';
import { plainModel } from './lib/plain_forward';
import { checkOptions } from './lib/args';
import { checkFssBits, checkFssGate, checkProtocol, DEFAULT_PROTOCOL, PROTOCOL_TRAITS, PROTOCOLS } from '../lib/protocol/protocols';

const MODELS = path.join(__dirname, '..', '..', 'bench', 'models');
const PIXELS = 784;

function arg(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  if (i < 0) return undefined;
  const v = argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkOptions(argv, {
    flags: ['--json', '--pooled', '--keras-order', '--no-lanes'],
    values: ['--runs', '--only', '--protocol', '--fss-gate', '--fss-bits'],
    usage: `node dist/bench/securenn_b128.js [--only A,B_max,C_max] [--runs N] [--protocol ${PROTOCOLS.join('|')}] [--fss-gate G] [--fss-bits N] [--pooled] [--keras-order] [--no-lanes] [--json]`,
  });
  const runs = Number(arg(argv, '--runs') ?? 3);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  const only = (arg(argv, '--only') ?? 'A,B_max,C_max').split(',');
  const protocol = checkProtocol(arg(argv, '--protocol') ?? DEFAULT_PROTOCOL, '--protocol');
  for (const m of only) if (!fs.existsSync(path.join(MODELS, m, 'model.json'))) throw new Error(`bench/models/${m} is missing (npm run train)`);
  const json = argv.includes('--json');
  const pooled = argv.includes('--pooled');
  const gateText = arg(argv, '--fss-gate');
  const fssGate = gateText === undefined ? undefined : checkFssGate(gateText, '--fss-gate');
  const bitsText = arg(argv, '--fss-bits');
  const fssBits = bitsText === undefined ? undefined : checkFssBits(Number(bitsText), '--fss-bits');
  if (pooled && PROTOCOL_TRAITS[protocol].server2Online) throw new Error(`--pooled: ${protocol}'s server2 works online, nothing is pooled`);
  const say = (m: string) => (json ? process.stderr : process.stdout).write(`${m}\n`);

  const test = loadMnist('test', { limit: 128 * (runs + 1) });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-b128-'));
  const modelFile = (m: string) => (argv.includes('--keras-order') ? kerasOrder(path.join(MODELS, m), path.join(dir, m)) : path.join(MODELS, m, 'model.json'));
  const { config, procs } = await startLocalCluster(dir, { queryTimeoutMs: 3_600_000, extra: { ...(argv.includes('--no-lanes') ? { lanes: false } : {}), maxQueryBytes: 8 * 2 ** 30, maxTotalQueryBytes: 16 * 2 ** 30, maxPendingBytesPerServer: 16 * 2 ** 30 }, onLine: () => undefined });
  const out: Record<string, { seconds: number[]; median: number; cpuSeconds: Record<string, number>; onlineBytes: number; offlineBytes: number }> = {};
  try {
    const owner = await PredictionClient.connect(config, { asOwner: true });
    const client = await PredictionClient.connect(config);
    for (const m of only) {
      const name = `${m}-${protocol}`;
      const file = modelFile(m);
      await owner.deploy(file, { name, protocol, ...(fssGate ? { fssGate } : {}), ...(fssBits !== undefined ? { fssBits } : {}) });
      const shape = plainModel(file).inputShape;
      const batch = (b: number) => ({ data: Float64Array.from(test.images.subarray(b * 128 * PIXELS, (b + 1) * 128 * PIXELS)), shape: [128, ...shape] });
      let shipped = await shippedSoFar(owner);
      await client.predict(name, batch(0)); // warm-up: masks the weights, warms caches
      const seconds: number[] = [];
      const cpu = Object.fromEntries(procs.map((pr) => [pr.party, 0]));
      let onlineBytes = 0, offlineBytes = 0;
      for (let r = 0; r < runs; r++) {
        if (pooled) await untilShipped(owner, shipped);
        const cpu0 = procs.map((pr) => cpuSeconds(pr.child.pid));
        const t0 = performance.now();
        const p = await client.predict(name, batch(r + 1));
        seconds.push((performance.now() - t0) / 1000);
        if (pooled) shipped = await shippedSoFar(owner);
        procs.forEach((pr, i) => (cpu[pr.party] += (cpuSeconds(pr.child.pid) - cpu0[i]) / runs));
        if (pooled && !(p.offlineBytes > 0)) throw new Error(`${name}: batch ${r + 1} was not pooled (is its recording over maxQueryBytes?)`);
        onlineBytes += p.serverTraffic.reduce((a, s) => a + s.bytes, 0) / runs;
        offlineBytes += p.offlineBytes / runs;
      }
      // CPU time per batch on each server: unlike wall time, barely moved by other load on the machine.
      out[m] = { seconds, median: percentile(seconds, 0.5), cpuSeconds: cpu, onlineBytes, offlineBytes };
      const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
      say(`${protocol} ${m} batch 128${pooled ? ' (pooled: online time)' : ''}: median ${out[m].median.toFixed(3)} s (${seconds.map((s) => s.toFixed(3)).join(', ')}); CPU s per batch ${Object.entries(cpu).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}; servers sent ${mb(onlineBytes)} online, ${mb(offlineBytes)} ahead`);
    }
    await Promise.all([owner.close(), client.close()]);
  } finally {
    await stopCluster(procs);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} vCPUs`;
  if (json) console.log(JSON.stringify({ protocol, results: out, machine, date: new Date().toISOString() }));
}

/**
 * A copy of model directory `src` in `dst` with every ReLU layer that follows a MaxPooling2D moved
 * before it (the weights are the same files); returns its model.json.
 */
function kerasOrder(src: string, dst: string): string {
  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync(src)) if (f !== 'model.json') fs.copyFileSync(path.join(src, f), path.join(dst, f));
  const json = JSON.parse(fs.readFileSync(path.join(src, 'model.json'), 'utf8'));
  const topo = json.modelTopology.model_config ?? json.modelTopology;
  const layers: { class_name: string }[] = Array.isArray(topo.config) ? topo.config : topo.config.layers;
  for (let i = 0; i + 1 < layers.length; i++)
    if (layers[i].class_name === 'MaxPooling2D' && layers[i + 1].class_name === 'ReLU') [layers[i], layers[i + 1]] = [layers[i + 1], layers[i]];
  fs.writeFileSync(path.join(dst, 'model.json'), JSON.stringify(json));
  return path.join(dst, 'model.json');
}

/** What server2 has shipped ahead so far (its pool counter). */
const shippedSoFar = async (owner: PredictionClient): Promise<number> => (await owner.status())[2].pool!.offlineBytes;

/**
 * Waits until server2 has shipped more than `before` bytes ahead (the recording of the next
 * batch, made once the previous batch ended) and the compute servers hold all of it: what they
 * hold ahead stops growing.
 */
async function untilShipped(owner: PredictionClient, before: number): Promise<void> {
  const deadline = Date.now() + 600_000;
  let last = -1;
  for (;;) {
    const st = await owner.status();
    const held = st[0].prefetched!.bytes + st[1].prefetched!.bytes;
    if (st[2].pool!.offlineBytes > before && st[2].pool!.making === 0 && held === last) return;
    if (Date.now() > deadline) throw new Error('the pool did not fill within 10 minutes');
    last = held;
    await new Promise((r) => setTimeout(r, 500));
  }
}

main().catch((e: Error) => {
  console.error(`securenn_b128: ${e.stack ?? e.message}`);
  process.exit(1);
});
