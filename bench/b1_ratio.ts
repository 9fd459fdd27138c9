// Batch-1 latency ratios over the service, measured paired: one cluster (three server processes,
// mutual TLS on loopback), each network deployed under every protocol, and the protocols' queries
// interleaved in a fresh random order each round, so that a slow stretch of a shared machine
// falls on all of them alike. The table (bench/table.ts) times one protocol after another, minutes
// apart; on the benchmark VMs its batch-1 ratios moved by 10-30% between runs.
//   npm run bench:b1                    networks A, B, C, B_max, C_max; 40 rounds, 400 ms apart
//   npm run bench:b1 -- --only A,C_max --rounds 80 --gap-ms 600
//   npm run bench:b1 -- --json          one JSON object on stdout
//   npm run bench:b1 -- --cpu           also each process's CPU time per query (client, server0-2)
//   npm run bench:b1 -- --floor         first A1 and A1R: network A's first layer alone (no round
//                                       between the servers: the fixed cost of a query) and with its
//                                       ReLU (one gate), random weights (bench/lib/model_files.ts);
//                                       then also each net's median above A1's, per protocol
//   npm run bench:b1 -- --fss-bits 32   the FSS deployments with comparisons of that width
//                                       (docs/fss.md "Narrower comparisons")
//   npm run bench:b1 -- --fss-gate folded   the FSS deployments in that gate form (docs/fss.md)
//   npm run bench:b1 -- --net wan       links through bench:table's emulating proxies (lan 0.2 ms
//                                       RTT 10 Gbit/s, wan 60 ms RTT 300 Mbit/s, or --rtt MS --rate MBIT)
//   npm run bench:b1 -- --back-to-back 30   steady load: each round's sample for a protocol is a
//                                       block of 30 queries sent back to back (ms per query), the
//                                       gap between blocks; the pools refill during the blocks
// A round is one query per protocol, each followed by the gap (the FSS and Pond pools refill in
// it, so their latency is the online phase's). Reported per network: each protocol's median and
// p90, and FSS / SecureNN and FSS / Pond as the ratio of the medians and as the median of the
// rounds' own ratios (issue 14's targets: <= 0.5 and <= 1.5).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { checkFssBits, checkFssGate, isExact, type ProtocolName as Protocol } from '../lib/protocol/protocols';
import { PredictionClient } from '../lib/serve/client';
import { type ServerProcess, spawnCluster, startLocalCluster, stopCluster, waitReady, writeLocalConfig } from '../lib/serve/local_cluster';
import { checkOptions, numberOption } from './lib/args';
import { describeCheck, emulateNetwork, parseNetArgs } from './lib/net_cluster';
import { percentile } from './lib/percentile';
import { cpuNs } from './lib/proc_cpu';
import { FLOOR_NETS, MODELS, modelFile, NETS, removeFloorFiles, shuffled } from './lib/b1_nets';

interface Ratio {
  of_medians: number;
  median_of_rounds: number;
}

interface NetResult {
  network: string;
  rounds: number;
  median_ms: Partial<Record<Protocol, number>>;
  p90_ms: Partial<Record<Protocol, number>>;
  fss_over_securenn: Ratio;
  fss_over_pond?: Ratio;
  /** --cpu: mean CPU ms per query while it ran, per process (client, server0, server1, server2). */
  cpu_ms?: Partial<Record<Protocol, number[]>>;
}

/** "median (p90)" of one protocol, or '-' where it did not run. */
const latency = (r: NetResult, p: Protocol) => (r.median_ms[p] === undefined ? '-' : `${r.median_ms[p]!.toFixed(1)} (${r.p90_ms[p]!.toFixed(1)})`);
/** "ratio of the medians (median of the rounds' ratios)". */
const ratioText = (x?: Ratio) => (x ? `${x.of_medians.toFixed(2)} (${x.median_of_rounds.toFixed(2)})` : '-');

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkOptions(argv, {
    flags: ['--json', '--cpu', '--floor'],
    values: ['--only', '--rounds', '--gap-ms', '--fss-bits', '--fss-gate', '--net', '--rtt', '--rate', '--back-to-back'],
    usage: `npm run bench:b1 [-- --only A,C_max] [--rounds N] [--gap-ms MS] [--back-to-back N] [--json] [--cpu] [--floor] [--fss-bits N] [--fss-gate auto|one-round|compact|folded|compact-folded] [--net lan|wan | --rtt MS --rate MBIT]`,
  });
  const json = argv.includes('--json'), withCpu = argv.includes('--cpu');
  const say = (m: string) => (json ? process.stderr : process.stdout).write(`${m}\n`);
  const onlyAt = argv.indexOf('--only');
  const nets = [...new Set([...(argv.includes('--floor') ? FLOOR_NETS : []), ...(onlyAt >= 0 ? argv[onlyAt + 1].split(',') : NETS)])];
  for (const n of nets) if (!NETS.includes(n) && !FLOOR_NETS.includes(n)) throw new Error(`--only: unknown network '${n}' (one of ${[...NETS, ...FLOOR_NETS].join(', ')})`);
  const rounds = numberOption(argv, '--rounds', 40), gapMs = numberOption(argv, '--gap-ms', 400);
  const block = numberOption(argv, '--back-to-back', 1, 1);
  if (!Number.isInteger(block)) throw new Error(`--back-to-back wants a whole number of queries, got ${block}`);
  const fssBits = argv.includes('--fss-bits') ? checkFssBits(numberOption(argv, '--fss-bits', 64), '--fss-bits') : undefined;
  const fssGate = argv.includes('--fss-gate') ? checkFssGate(argv[argv.indexOf('--fss-gate') + 1], '--fss-gate') : undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-b1-ratio-'));
  const netSetting = parseNetArgs(argv);
  // On loopback, startLocalCluster: it starts again on fresh ports when one was taken between
  // picking and listening (CI saw EADDRINUSE here); behind the emulated network, the proxies'
  // ports are in the config, so it is written, emulated, then started.
  let config: string, procs: ServerProcess[], emulated: Awaited<ReturnType<typeof emulateNetwork>> | undefined;
  if (netSetting) {
    config = await writeLocalConfig(dir, { queryTimeoutMs: 600_000 });
    emulated = await emulateNetwork(config, netSetting);
    say(describeCheck(netSetting.name, emulated.check));
    procs = spawnCluster(config, () => undefined);
  } else ({ config, procs } = await startLocalCluster(dir, { queryTimeoutMs: 600_000, onLine: () => undefined }));
  const results: NetResult[] = [];
  try {
    await waitReady(config, undefined, procs);
    const owner = await PredictionClient.connect(config, { asOwner: true });
    const client = await PredictionClient.connect(config);
    for (const net of nets) {
      if (!FLOOR_NETS.includes(net) && !fs.existsSync(path.join(MODELS, net, 'model.json'))) {
        say(`(skipping ${net}: bench/models/${net} is missing; run npm run train)`);
        continue;
      }
      const protocols = (['securenn', 'fss', 'pond'] as Protocol[]).filter((p) => modelFile(net, p));
      for (const p of protocols) await owner.deploy(modelFile(net, p)!, { name: `${net}-${p}`, protocol: p, ...(!isExact(p) && FLOOR_NETS.includes(net) ? { uncalibrated: true } : {}), ...(p === 'fss' && fssBits !== undefined ? { fssBits } : {}), ...(p === 'fss' && fssGate !== undefined ? { fssGate } : {}) });
      const shape = net.startsWith('A') ? [1, 784] : [1, 28, 28, 1];
      const input = () => ({ data: Float64Array.from({ length: 784 }, () => Math.random()), shape });
      const lat: Record<string, number[]> = Object.fromEntries(protocols.map((p) => [p, []]));
      const pids = [process.pid, ...procs.map((p) => p.child.pid!)];
      // Reading /proc costs the client about 0.7 ms per sample of four processes: its own clock is
      // read last before the query and first after it, so that cost falls outside its count.
      const cpuBefore = () => { const rest = pids.slice(1).map(cpuNs); return [cpuNs(pids[0]), ...rest]; };
      const cpuAfter = () => { const own = cpuNs(pids[0]); return [own, ...pids.slice(1).map(cpuNs)]; };
      const cpu: Record<string, number[]> = Object.fromEntries(protocols.map((p) => [p, pids.map(() => 0)]));
      const pause = () => new Promise((r) => setTimeout(r, gapMs));
      for (const p of protocols) for (let i = 0; i < 3; i++) { await client.predict(`${net}-${p}`, input()); await pause(); } // warm-up
      for (let r = 0; r < rounds; r++) {
        for (const p of shuffled(protocols)) {
          const c0 = withCpu ? cpuBefore() : [];
          if (block === 1) lat[p].push((await client.predict(`${net}-${p}`, input())).latencyMs);
          else {
            const t0 = performance.now();
            for (let q = 0; q < block; q++) await client.predict(`${net}-${p}`, input());
            lat[p].push((performance.now() - t0) / block);
          }
          if (withCpu) cpuAfter().forEach((v, i) => (cpu[p][i] += (v - c0[i]) / 1e6 / rounds / block));
          await pause();
        }
      }
      const ratio = (a: Protocol, b: Protocol) => ({
        of_medians: percentile(lat[a], 0.5) / percentile(lat[b], 0.5),
        median_of_rounds: percentile(lat[a].map((v, i) => v / lat[b][i]), 0.5),
      });
      const res: NetResult = {
        network: net,
        rounds,
        median_ms: Object.fromEntries(protocols.map((p) => [p, percentile(lat[p], 0.5)])),
        p90_ms: Object.fromEntries(protocols.map((p) => [p, percentile(lat[p], 0.9)])),
        fss_over_securenn: ratio('fss', 'securenn'),
        ...(protocols.includes('pond') ? { fss_over_pond: ratio('fss', 'pond') } : {}),
        ...(withCpu ? { cpu_ms: cpu } : {}),
      };
      results.push(res);
      say(`${net.padEnd(5)} SecureNN ${latency(res, 'securenn')}  FSS ${latency(res, 'fss')}  Pond ${latency(res, 'pond')} ms;  FSS/SecureNN ${ratioText(res.fss_over_securenn)}  FSS/Pond ${ratioText(res.fss_over_pond)}`);
    }
    await Promise.all([owner.close(), client.close()]);
  } finally {
    await stopCluster(procs);
    emulated?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    removeFloorFiles();
  }
  if (json) process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), cpu: os.cpus()[0]?.model, cores: os.cpus().length, rounds, gapMs, backToBack: block, ...(emulated ? { network: emulated.check } : {}), results })}\n`);
  else {
    say('\n| net | SecureNN ms | FSS ms | Pond ms | FSS / SecureNN (<= 0.5) | FSS / Pond (<= 1.5) |');
    say('|---|---|---|---|---|---|');
    for (const r of results) say(`| ${r.network} | ${latency(r, 'securenn')} | ${latency(r, 'fss')} | ${latency(r, 'pond')} | ${ratioText(r.fss_over_securenn)} | ${ratioText(r.fss_over_pond)} |`);
    if (withCpu) {
      say('\nCPU ms per query while it ran (all threads), client / server0 / server1 / server2 = total:\n');
      say('| net | SecureNN | FSS | Pond |');
      say('|---|---|---|---|');
      const cell = (r: NetResult, p: Protocol) => (r.cpu_ms?.[p] ? `${r.cpu_ms[p]!.map((v) => v.toFixed(1)).join(' / ')} = ${r.cpu_ms[p]!.reduce((a, b) => a + b, 0).toFixed(1)}` : '-');
      for (const r of results) say(`| ${r.network} | ${cell(r, 'securenn')} | ${cell(r, 'fss')} | ${cell(r, 'pond')} |`);
    }
    const floor = results.find((r) => r.network === 'A1');
    if (floor) {
      // What each protocol adds to a query with no round (A1): the part a protocol decides.
      say('\nAbove A1 (a query with no round between the servers), median ms:\n');
      say('| net | SecureNN | FSS | FSS / SecureNN |');
      say('|---|---|---|---|');
      const above = (r: NetResult, p: Protocol) => r.median_ms[p]! - floor.median_ms[p]!;
      for (const r of results) if (r !== floor) say(`| ${r.network} | ${above(r, 'securenn').toFixed(1)} | ${above(r, 'fss').toFixed(1)} | ${(above(r, 'fss') / above(r, 'securenn')).toFixed(2)} |`);
    }
    const what = block === 1 ? `${rounds} paired rounds ${gapMs} ms apart` : `${rounds} paired rounds of blocks of ${block} queries back to back (ms per query), ${gapMs} ms between blocks`;
    say(`\nMedians (p90), ${what}; ratios of the medians (median of the rounds' ratios). Command: \`npm run bench:b1 -- ${argv.join(' ')}\`.`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
