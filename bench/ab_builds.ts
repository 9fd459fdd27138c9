// Batch-1 latency of two builds of this repository, paired: a change's effect told apart from a
// shared machine's drift (on the benchmark VMs the same code's medians move by 10-40% between
// runs). One cluster per build (three server processes each, mutual TLS on loopback), each network
// deployed under each protocol on both, and every (build, protocol) query alternated in a fresh
// random order each round, each followed by the gap. What bench:b1 does for protocols, for builds.
//   scripts/build_base.sh HEAD~1 /tmp/base        the old build: that commit's TypeScript, compiled
//                                                 beside this checkout's node_modules and native build
//   npm run bench:ab -- --old /tmp/base           A and C, 40 rounds, 300 ms apart, against this checkout
//   npm run bench:ab -- --old /tmp/base --new /tmp/other --only A1,A --rounds 80 --protocols fss
//   npm run bench:ab -- --old /tmp/base --only C_max --protocols fss --back-to-back 10 --rounds 6 --gap-ms 1500
//                                                 steady load: each round, blocks of 10 queries back to
//                                                 back per (build, protocol); ms per query over the block
//   --fss-gate compact                            the FSS deployments in that gate form
// Reported per network and protocol: each build's median (p90), new / old of the medians, and CPU
// per query: this process's (the client's; the other build's client idles meanwhile) plus the
// build's three servers' (all threads). Only the TypeScript differs between builds made by build_base.sh: a
// native change needs the old tree's own addon build (npm run build:native there, no symlink).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { checkFssGate, FSS_GATES, isExact, PROTOCOLS as ALL_PROTOCOLS, type ProtocolName as Protocol } from '../lib/protocol/protocols';
import type { PredictionClient } from '../lib/serve/client';
import type * as LocalCluster from '../lib/serve/local_cluster';
import { checkOptions, numberOption } from './lib/args';
import { FLOOR_NETS, MODELS, modelFile, NETS, removeFloorFiles, shuffled } from './lib/b1_nets';
import { percentile } from './lib/percentile';
import { cpuNs } from './lib/proc_cpu';

/** Every protocol the library has (protocols.ts), unless --protocols names some. */
const PROTOCOLS: readonly Protocol[] = ALL_PROTOCOLS;

interface Build {
  name: 'old' | 'new';
  lc: typeof LocalCluster;
  procs: ReturnType<typeof LocalCluster.spawnCluster>;
  owner: PredictionClient;
  client: PredictionClient;
  dir: string;
}

/** A build's dist/ (a tree holding dist/, or dist itself), checked before anything starts. */
function distOf(tree: string): string {
  const dist = fs.existsSync(path.join(tree, 'dist', 'lib', 'serve', 'local_cluster.js')) ? path.join(tree, 'dist') : tree;
  if (!fs.existsSync(path.join(dist, 'lib', 'serve', 'local_cluster.js'))) throw new Error(`${tree}: no built tree here (no dist/lib/serve/local_cluster.js); make one with scripts/build_base.sh <commit> ${tree}`);
  return path.resolve(dist);
}

async function start(name: Build['name'], dist: string): Promise<Build> {
  // Each build's own modules: its cluster runs its servers, its client speaks its protocol.
  const lc = require(path.join(dist, 'lib', 'serve', 'local_cluster.js')) as typeof LocalCluster;
  const { PredictionClient: Client } = require(path.join(dist, 'lib', 'serve', 'client.js')) as { PredictionClient: typeof PredictionClient };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tfe-ab-${name}-`));
  // startLocalCluster starts again on fresh ports when one was taken before its server listened.
  const { config, procs } = await lc.startLocalCluster(dir, { queryTimeoutMs: 600_000, onLine: () => undefined });
  return { name, lc, procs, dir, owner: await Client.connect(config, { asOwner: true }), client: await Client.connect(config) };
}

const serverCpu = (b: Build) => b.procs.reduce((a, p) => a + cpuNs(p.child.pid), 0);

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkOptions(argv, {
    values: ['--old', '--new', '--only', '--rounds', '--gap-ms', '--protocols', '--back-to-back', '--fss-gate'],
    usage: `npm run bench:ab -- --old <built tree> [--new <built tree>] [--only A,C] [--rounds N] [--gap-ms MS] [--protocols ${PROTOCOLS.join(',')}] [--back-to-back N] [--fss-gate ${FSS_GATES.join('|')}]`,
  });
  const at = (k: string) => (argv.includes(k) ? argv[argv.indexOf(k) + 1] : undefined);
  const oldTree = at('--old');
  if (!oldTree) throw new Error('--old <built tree> is needed (scripts/build_base.sh <commit> <dir> makes one)');
  const dists = { old: distOf(oldTree), new: distOf(at('--new') ?? path.join(__dirname, '..', '..')) };
  const nets = (at('--only') ?? 'A,C').split(',');
  for (const n of nets) if (!NETS.includes(n) && !FLOOR_NETS.includes(n)) throw new Error(`--only: unknown network '${n}' (one of ${[...NETS, ...FLOOR_NETS].join(', ')})`);
  const protocols = (at('--protocols') ?? PROTOCOLS.join(',')).split(',') as Protocol[];
  for (const p of protocols) if (!PROTOCOLS.includes(p)) throw new Error(`--protocols: unknown protocol '${p}' (of ${PROTOCOLS.join(', ')})`);
  const rounds = numberOption(argv, '--rounds', 40, 1), gapMs = numberOption(argv, '--gap-ms', 300);
  // 0: one query per (build, protocol) and round; N: N back to back (steady load on one build).
  const block = numberOption(argv, '--back-to-back', 0, 0);
  if (!Number.isInteger(block)) throw new Error(`--back-to-back wants a whole number of queries, got ${block}`);
  const fssGate = at('--fss-gate') === undefined ? undefined : checkFssGate(at('--fss-gate'), '--fss-gate');
  console.log(`old ${dists.old}\nnew ${dists.new}`);
  const builds: Build[] = [];
  try {
    builds.push(await start('old', dists.old), await start('new', dists.new));
    for (const net of nets) {
      if (!FLOOR_NETS.includes(net) && !fs.existsSync(path.join(MODELS, net, 'model.json'))) {
        console.log(`(skipping ${net}: bench/models/${net} is missing; run npm run train)`);
        continue;
      }
      const here = protocols.filter((p) => modelFile(net, p));
      for (const b of builds) for (const p of here) await b.owner.deploy(modelFile(net, p)!, { name: `${net}-${p}`, protocol: p, ...(!isExact(p) && FLOOR_NETS.includes(net) ? { uncalibrated: true } : {}), ...(p === 'fss' && fssGate ? { fssGate } : {}) });
      const shape = net.startsWith('A') ? [1, 784] : [1, 28, 28, 1];
      const input = () => ({ data: Float64Array.from({ length: 784 }, () => Math.random()), shape });
      const jobs = builds.flatMap((b) => here.map((p) => ({ b, p, key: `${b.name}-${p}`, ms: [] as number[], cpuMs: 0, clientMs: 0 })));
      const pause = () => new Promise((r) => setTimeout(r, gapMs));
      for (const j of jobs) for (let i = 0; i < 3; i++) { await j.b.client.predict(`${net}-${j.p}`, input()); await pause(); } // warm-up
      for (let r = 0; r < rounds; r++) {
        for (const j of shuffled(jobs)) {
          const n = Math.max(1, block), c0 = serverCpu(j.b), u0 = process.cpuUsage(), t0 = performance.now();
          let latency = 0;
          for (let i = 0; i < n; i++) latency = (await j.b.client.predict(`${net}-${j.p}`, input())).latencyMs;
          j.ms.push(block ? (performance.now() - t0) / n : latency);
          const u = process.cpuUsage(u0);
          j.clientMs += (u.user + u.system) / 1e3 / rounds / n;
          j.cpuMs += (serverCpu(j.b) - c0) / 1e6 / rounds / n;
          await pause();
        }
      }
      const of = (name: string, p: Protocol) => jobs.find((j) => j.key === `${name}-${p}`)!;
      const cell = (ms: number[]) => `${percentile(ms, 0.5).toFixed(2)} (${percentile(ms, 0.9).toFixed(1)})`;
      const what = block ? `${rounds} rounds of ${block} queries back to back per build and protocol, ${gapMs} ms apart: median (p90) over the rounds of ms per query` : `${rounds} rounds ${gapMs} ms apart: median (p90) ms`;
      console.log(`\n${net}${fssGate ? ` (FSS gate ${fssGate})` : ''}, ${what}, new / old of the medians, CPU ms per query (client + servers; on a machine whose cores the query fills, steadier than the latency)`);
      console.log('| protocol | old | new | new / old | CPU old | CPU new | CPU new / old |\n|---|---|---|---|---|---|---|');
      for (const p of here) {
        const [o, n] = [of('old', p), of('new', p)];
        const cpu = (j: typeof o) => `${j.clientMs.toFixed(2)} + ${j.cpuMs.toFixed(2)}`;
        console.log(`| ${p} | ${cell(o.ms)} | ${cell(n.ms)} | ${(percentile(n.ms, 0.5) / percentile(o.ms, 0.5)).toFixed(3)} | ${cpu(o)} | ${cpu(n)} | ${((n.clientMs + n.cpuMs) / (o.clientMs + o.cpuMs)).toFixed(3)} |`);
      }
    }
  } finally {
    for (const b of builds) {
      await Promise.allSettled([b.owner.close(), b.client.close()]);
      await b.lc.stopCluster(b.procs);
      fs.rmSync(b.dir, { recursive: true, force: true });
    }
    removeFloorFiles();
  }
}

main().catch((e) => {
  console.error(`bench:ab: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
