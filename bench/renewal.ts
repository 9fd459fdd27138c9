// What a setup renewal costs the queries around it (lib/serve/epoch_setup.ts): three servers on
// loopback (mutual TLS) with A, C and C_max deployed under FSS and a small sessionsPerSetup, so
// that a client's back-to-back batch-1 queries on C cross several renewals. Reports how long each
// renewal's setup took on server0 (announce to set up), and the latency of the queries that
// overlapped a renewal's setup against the others, in the same run.
//   npm run bench:renewal [-- --queries 600] [--sessions 200]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { PredictionClient } from '../lib/serve/client';
import { startLocalCluster, stopCluster } from '../lib/serve/local_cluster';
import { checkOptions } from './lib/args';
import { writeNetwork } from './lib/model_files';
import { percentile } from './lib/percentile';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkOptions(argv, { flags: [], values: ['--queries', '--sessions'], usage: 'npm run bench:renewal [-- --queries 600] [--sessions 200]' });
  const value = (flag: string, dflt: number) => (argv.includes(flag) ? Number(argv[argv.indexOf(flag) + 1]) : dflt);
  const queries = value('--queries', 600), sessions = value('--sessions', 200);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-bench-renewal-'));
  // server0's renewals: when each was announced and when its setup was ready (ms, this clock).
  const renewals: { at: number; ready?: number }[] = [];
  const onLine = (line: string) => {
    if (!line.includes('server0')) return;
    if (line.includes('renewing the setup')) renewals.push({ at: performance.now() });
    else if (line.includes('cluster set up') && renewals.length && renewals.at(-1)!.ready === undefined) renewals.at(-1)!.ready = performance.now();
  };
  const { config, procs } = await startLocalCluster(dir, { extra: { sessionsPerSetup: sessions, maxPoolRecordings: Math.floor(sessions / 4) }, onLine });
  try {
    const owner = await PredictionClient.connect(config, { asOwner: true });
    for (const [net, pool] of [['A', 'avg'], ['C', 'avg'], ['C', 'max']] as const) {
      await owner.deploy(writeNetwork(net, pool), { name: `${net}${pool === 'max' ? '_max' : ''}`, protocol: 'fss' });
    }
    const client = await PredictionClient.connect(config);
    const input = () => ({ data: Float64Array.from({ length: 784 }, () => Math.random()), shape: [1, 28, 28, 1] });
    for (let i = 0; i < 5; i++) await client.predict('C', input());
    const times: { start: number; ms: number }[] = [];
    for (let i = 0; i < queries; i++) {
      const start = performance.now();
      await client.predict('C', input());
      times.push({ start, ms: performance.now() - start });
    }
    await client.close();
    await owner.close();
    const overlaps = (q: { start: number; ms: number }) => renewals.some((r) => q.start < (r.ready ?? Infinity) && q.start + q.ms > r.at);
    const during = times.filter(overlaps).map((q) => q.ms), rest = times.filter((q) => !overlaps(q)).map((q) => q.ms);
    const setups = renewals.filter((r) => r.ready !== undefined).map((r) => r.ready! - r.at);
    const f = (x: number) => x.toFixed(1);
    console.log(`${queries} batch-1 queries on C (FSS), sessionsPerSetup ${sessions}, models A, C, C_max deployed`);
    console.log(`renewals: ${renewals.length}; setup (server0, announce to ready) ms: p50 ${f(percentile(setups, 0.5))}, max ${f(Math.max(...setups))}`);
    console.log(`queries overlapping a renewal's setup: ${during.length}, p50 ${f(percentile(during, 0.5))} ms, max ${f(Math.max(...during))} ms`);
    console.log(`other queries: ${rest.length}, p50 ${f(percentile(rest, 0.5))} ms, p99 ${f(percentile(rest, 0.99))} ms`);
    // After a renewal the new setup's pool starts empty: the next queries run while server2 deals it.
    for (const r of renewals) {
      const after = times.filter((q) => r.ready !== undefined && q.start >= r.at).slice(0, 12).map((q) => f(q.ms));
      console.log(`queries from the renewal at ${f(r.at)} ms on: ${after.join(' ')}`);
    }
    const slow = times.filter((q) => q.ms > 3 * percentile(rest, 0.5));
    console.log(`queries over 3x the p50: ${slow.length}, at ${slow.map((q) => f(q.start)).join(' ')} ms`);
  } finally {
    await stopCluster(procs);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
