// Measures what a query of a given batch really costs a server (peak resident memory over the
// idle process, from /proc VmHWM) next to the service's estimate (lib/serve/limits.ts), for the
// "Hostile clients (issue 12)" table of bench/RESULTS.md. Run after `npx tsc -p tsconfig.json`:
//   node dist/test/helpers/hostile_measure.js B_pond:100,300 B:10,30
// Each model/batch runs on a fresh plain-ws local cluster (loopback), so peaks do not mix.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import * as tfe from '../../lib';
import { estimateQueryBytes } from '../../lib/serve/limits';
import { spawnCluster, waitReady } from '../../lib/serve/local_cluster';

const hwm = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
const MiB = (b: number) => (b / 2 ** 20).toFixed(0);

async function measure(model: string, batch: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-measure-'));
  const config = await tfe.writeLocalConfig(dir, { tls: false, extra: { maxQueryBytes: 2 ** 40, maxTotalQueryBytes: 2 ** 40, maxPendingBytesPerServer: 2 ** 40, maxBatch: 1 << 20, maxInputBytes: 2 ** 31, precomputePool: 0 } });
  const procs = spawnCluster(config, () => undefined);
  try {
    await waitReady(config);
    const file = path.join(__dirname, '..', '..', '..', 'bench', 'models', model, 'model.json');
    const client = await tfe.PredictionClient.connect(config, { requestTimeoutMs: 600_000 });
    await client.deploy(file, { name: 'x' });
    const info = (await client.models())[0];
    const shape = [batch, ...info.inputShape];
    const one = info.inputShape.reduce((a, b) => a * b, 1);
    await client.predict('x', { data: new Float64Array(one).fill(0.1), shape: [1, ...info.inputShape] }); // warm-up
    const before = procs.map((p) => hwm(p.child.pid!));
    await client.predict('x', { data: new Float64Array(one * batch).fill(0.1), shape });
    const peak = procs.map((p, i) => hwm(p.child.pid!) - before[i]);
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    const est = estimateQueryBytes({ topology: json.modelTopology, protocol: info.protocol, inputShape: info.inputShape }, batch);
    console.log(`${model} (${info.protocol}) batch ${batch}: peak growth ${peak.map(MiB).join(' / ')} MiB (server0/1/2), estimate ${MiB(est)} MiB`);
    await client.close();
  } finally {
    await tfe.stopCluster(procs);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void (async () => {
  for (const arg of process.argv.slice(2)) {
    const [model, batches] = arg.split(':');
    for (const b of batches.split(',')) await measure(model, Number(b));
  }
})();
