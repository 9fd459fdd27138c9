// Networks A, B and C over the prediction service: three server processes on loopback (mutual
// TLS), a client process (this one). Per network and protocol: batch-1 latency p50/p99 over
// sequential queries, and throughput with 8 concurrent clients.
//   npm run bench:service                 table
//   npm run bench:service -- --json       one JSON object on stdout
//   npm run bench:service -- --quick      fewer queries (smoke)
//   npm run bench:service -- --plain      plain ws on loopback instead of mutual TLS
//   npm run bench:service -- --only A     some networks
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { PredictionClient } from '../lib/serve/client';
import { startLocalCluster, stopCluster } from '../lib/serve/local_cluster';
import { type NetName, writeNetwork } from './lib/model_files';
import { percentile } from './lib/percentile';
import { checkOptions } from './lib/args';

interface Row {
  network: NetName;
  protocol: 'pond' | 'securenn';
  p50_ms: number;
  p99_ms: number;
  queries_per_s: number;
  bytes_per_query: number;
  rounds_per_query: number;
}


async function main(): Promise<void> {
  checkOptions(process.argv.slice(2), { flags: ['--json', '--quick', '--plain'], values: ['--only'], usage: 'npm run bench:service [-- --only A,B,C] [--json] [--quick] [--plain]' });
  const json = process.argv.includes('--json');
  const quick = process.argv.includes('--quick');
  const say = (m: string) => (json ? process.stderr : process.stdout).write(`${m}\n`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-bench-service-'));
  const onlyAt = process.argv.indexOf('--only');
  const nets = (onlyAt >= 0 ? process.argv[onlyAt + 1].split(',') : ['A', 'B', 'C']) as NetName[];
  const { config, procs } = await startLocalCluster(dir, { tls: !process.argv.includes('--plain'), onLine: () => undefined });
  const rows: Row[] = [];
  let roundTrip = Number.NaN;
  try {
    const owner = await PredictionClient.connect(config, { asOwner: true });
    const clients = await Promise.all(Array.from({ length: 8 }, () => PredictionClient.connect(config)));
    // The floor every round pays: a request to the three servers and their answers (one hop each way).
    const pings: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      await clients[0].status();
      if (i >= 5) pings.push(performance.now() - t0);
    }
    const ping = (roundTrip = percentile(pings, 0.5));
    say(`round trip client -> servers -> client (status request): p50 ${ping.toFixed(2)} ms`);
    for (const network of nets) {
      for (const protocol of ['pond', 'securenn'] as const) {
        const name = `${network}-${protocol}`;
        // The polynomial relu on [-4, 4] (uncalibrated): this bench times, it does not score.
        await owner.deploy(writeNetwork(network), { name, protocol, ...(protocol === 'pond' ? { uncalibrated: true } : {}) });
        const shape = network === 'A' ? [1, 784] : [1, 28, 28, 1];
        const input = () => ({ data: Float64Array.from({ length: 784 }, () => Math.random()), shape });
        for (let i = 0; i < 3; i++) await clients[0].predict(name, input()); // warm-up, first run excluded
        const n = quick ? 10 : network === 'A' ? 200 : 50;
        const lat: number[] = [];
        let bytes = 0;
        let rounds = 0;
        for (let i = 0; i < n; i++) {
          const p = await clients[0].predict(name, input());
          lat.push(p.latencyMs);
          bytes = p.traffic.total.bytes + p.serverTraffic.reduce((a, t) => a + t.bytes, 0);
          rounds = Math.max(...p.serverTraffic.map((t) => t.rounds));
        }
        const perClient = quick ? 3 : network === 'A' ? 50 : 10;
        const t0 = performance.now();
        await Promise.all(clients.map(async (c) => {
          for (let i = 0; i < perClient; i++) await c.predict(name, input());
        }));
        const qps = (clients.length * perClient) / ((performance.now() - t0) / 1000);
        const row = { network, protocol, p50_ms: percentile(lat, 0.5), p99_ms: percentile(lat, 0.99), queries_per_s: qps, bytes_per_query: bytes, rounds_per_query: rounds };
        rows.push(row);
        say(`${network} ${protocol.padEnd(8)} p50 ${row.p50_ms.toFixed(1).padStart(7)} ms  p99 ${row.p99_ms.toFixed(1).padStart(7)} ms  ${qps.toFixed(1).padStart(7)} q/s (8 clients)  ${(bytes / 2 ** 20).toFixed(2)} MB/query, ${rounds} rounds (busiest server)`);
      }
    }
    await Promise.all([owner.close(), ...clients.map((c) => c.close())]);
  } finally {
    await stopCluster(procs);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (json) console.log(JSON.stringify({ machine: `${os.cpus()[0]?.model} x${os.cpus().length}`, date: new Date().toISOString(), round_trip_ms: roundTrip, rows }));
}

main().catch((e: Error) => {
  console.error(`bench:service: ${e.stack ?? e.message}`);
  process.exit(1);
});
