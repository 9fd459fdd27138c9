// The seed paper's table (Pond vs SecureNN on MNIST networks A, B, C), reproduced over the real
// service: three server processes, mutual TLS on loopback, the same code path as `npm start`.
//   npm run bench:table              full 10k test set; prints the table, saves each entry in
//                                    bench/results/table/ and redraws the RESULTS.md section and
//                                    the SVG from every saved entry (also after --only/--protocol)
//   npm run bench:table -- --quick   200 test images (CI smoke)
//   npm run bench:table -- --json    one JSON object on stdout
//   npm run bench:table -- --only A,B_max
//   npm run bench:table -- --protocol pond
//   npm run bench:table -- --net lan|wan   links through an emulating proxy (bench/lib/net_proxy.ts):
//                                    lan 0.2 ms RTT 10 Gbit/s, wan 60 ms RTT 300 Mbit/s; or
//                                    --rtt MS --rate MBIT. Prints the proxy's measured delay; saves nothing
//   npm run bench:table -- --no-leases   clients do not lease session indices ahead (the plain path)
//   npm run bench:table -- --fss-bits 32   deploy the FSS models with comparisons of this width
//                                    (docs/fss.md "Narrower comparisons"); saves nothing
//   npm run bench:table -- --fss-gate compact   deploy the FSS models with this gate form
//                                    (auto | one-round | compact | folded | compact-folded; docs/fss.md); saves nothing
//   npm run bench:table -- --b1-gap-ms MS   wait MS between batch-1 queries (light load: the offline
//                                    pool refills between them, so the latency is the online
//                                    phase's alone); saves nothing
//   npm run bench:table -- --redraw  no run: redraw RESULTS.md's section and the SVG from the saved
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadMnist } from '../lib/data/mnist';
import { checkFssBits, checkFssGate, checkProtocol, PROTOCOLS } from '../lib/protocol/protocols';
import { PredictionClient } from '../lib/serve/client';
import { spawnCluster, stopCluster, waitReady, writeLocalConfig } from '../lib/serve/local_cluster';
import { describeCheck, type EmulatedNetwork, emulateNetwork, parseNetArgs } from './lib/net_cluster';
import { cpuSeconds } from './lib/proc_cpu';
import { type Entry, type Measured, evaluate } from './lib/table_eval';
import { markdownTable, writeResults, writeSvg } from './lib/table_report';
import { loadEntries, mergedMeta, saveEntries } from './lib/table_store';
import { checkOptions } from './lib/args';

const MODELS = path.join(__dirname, '..', '..', 'bench', 'models');

// Pond runs the model's Pond variant when there is one (bench/models/<net>_pond: polynomial
// activations made for Pond, see bench/calibrate.ts), measured against the original's plaintext.
const pondModel = (net: string) => (fs.existsSync(path.join(MODELS, `${net}_pond`, 'model.json')) ? `${net}_pond` : net);

const ENTRIES: Entry[] = [
  { protocol: 'pond', key: 'A', model: pondModel('A'), reference: 'A' },
  { protocol: 'pond', key: 'B', model: pondModel('B'), reference: 'B' },
  { protocol: 'pond', key: 'C', model: pondModel('C'), reference: 'C' },
  { protocol: 'securenn', key: 'A', model: 'A' },
  { protocol: 'securenn', key: 'B', model: 'B' },
  { protocol: 'securenn', key: 'C', model: 'C' },
  { protocol: 'securenn', key: 'B_max', model: 'B_max' },
  { protocol: 'securenn', key: 'C_max', model: 'C_max' },
  { protocol: 'fss', key: 'A', model: 'A' },
  { protocol: 'fss', key: 'B', model: 'B' },
  { protocol: 'fss', key: 'C', model: 'C' },
  { protocol: 'fss', key: 'B_max', model: 'B_max' },
  { protocol: 'fss', key: 'C_max', model: 'C_max' },
];

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  checkOptions(argv, {
    flags: ['--redraw', '--json', '--quick', '--no-leases'],
    values: ['--only', '--protocol', '--b1-gap-ms', '--fss-gate', '--fss-bits', '--net', '--rtt', '--rate'],
    usage: `npm run bench:table [-- --quick] [--json] [--only A,B_max] [--protocol ${PROTOCOLS.join('|')}] [--net lan|wan | --rtt MS --rate MBIT] [--no-leases] [--fss-gate auto|one-round|compact|folded|compact-folded] [--fss-bits N] [--b1-gap-ms MS] [--redraw]`,
  });
  if (argv.includes('--redraw')) return redraw((m) => console.log(m));
  const json = argv.includes('--json');
  const quick = argv.includes('--quick');
  const onlyArg = argv.indexOf('--only');
  const only = onlyArg >= 0 ? new Set(argv[onlyArg + 1].split(',')) : undefined;
  const protocolArg = argv.indexOf('--protocol');
  const protocol = protocolArg >= 0 ? checkProtocol(argv[protocolArg + 1], '--protocol') : undefined;
  // A typo ran nothing, printed an empty table, exited 0 and, without --quick, rewrote RESULTS.md.
  const nets = [...new Set(ENTRIES.map((e) => e.key))];
  for (const k of only ?? []) if (!nets.includes(k)) throw new Error(`--only: no network '${k.slice(0, 40)}' in the table (its networks: ${nets.join(', ')})`);
  if (protocol && !ENTRIES.some((e) => e.protocol === protocol && (!only || only.has(e.key))))
    throw new Error(`the table has no ${protocol} entry${only ? ` for ${[...only].join(', ')}` : ''} (bench/table.ts ENTRIES: ${[...new Set(ENTRIES.map((e) => e.protocol))].join(', ')})`);
  const netSetting = parseNetArgs(argv);
  const gapArg = argv.indexOf('--b1-gap-ms');
  const b1GapMs = gapArg >= 0 ? Number(argv[gapArg + 1]) : 0;
  if (!(Number.isFinite(b1GapMs) && b1GapMs >= 0)) throw new Error(`--b1-gap-ms wants milliseconds >= 0, got ${argv[gapArg + 1]}`);
  const gateArg = argv.indexOf('--fss-gate');
  const fssGate = gateArg >= 0 ? checkFssGate(argv[gateArg + 1], '--fss-gate') : undefined;
  const bitsArg = argv.indexOf('--fss-bits');
  const fssBits = bitsArg >= 0 ? checkFssBits(Number(argv[bitsArg + 1]), '--fss-bits') : undefined;
  const say = (m: string) => (json ? process.stderr : process.stdout).write(`${m}\n`);
  const entries = ENTRIES.filter((e) => (!only || only.has(e.key)) && (!protocol || e.protocol === protocol) && fs.existsSync(path.join(MODELS, e.model, 'model.json')));
  for (const e of ENTRIES) if (!entries.includes(e) && (!only || only.has(e.key)) && (!protocol || e.protocol === protocol)) say(`(skipping ${e.protocol} ${e.key}: bench/models/${e.model} is missing; run npm run train)`);
  if (!entries.length) throw new Error('nothing to run: every model asked for is missing (npm run train makes them)');
  const test = loadMnist('test', { limit: quick ? 200 : undefined });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-table-'));
  // Batch 128 under FSS holds a DCF key of 936 bytes per relu element (the compact gate: about
  // 0.5 GiB per server for B and C, 1.2-1.7 GiB for B_max and C_max): above the default
  // maxQueryBytes, so the benchmark allows 8 GiB (and a server link 16 GiB).
  const config = await writeLocalConfig(dir, { queryTimeoutMs: 3_600_000, extra: { maxQueryBytes: 8 * 2 ** 30, maxTotalQueryBytes: 16 * 2 ** 30, maxPendingBytesPerServer: 16 * 2 ** 30 } });
  let emulated: EmulatedNetwork | undefined;
  if (netSetting) {
    emulated = await emulateNetwork(config, netSetting);
    say(describeCheck(netSetting.name, emulated.check));
  }
  const procs = spawnCluster(config, (l) => { if (process.env.TFE_BENCH_SERVER_LOG) process.stderr.write(`${l}\n`); });
  const results: Measured[] = [];
  try {
    await waitReady(config, undefined, procs);
    const owner = await PredictionClient.connect(config, { asOwner: true });
    const client = await PredictionClient.connect(config, { leases: !argv.includes('--no-leases') });
    for (const e of entries) {
      const name = `${e.key}-${e.protocol}`;
      if (e.model !== (e.reference ?? e.model)) say(`(${e.protocol} ${e.key} runs ${e.model}, against ${e.reference}'s plaintext)`);
      await owner.deploy(path.join(MODELS, e.model, 'model.json'), { name, protocol: e.protocol, ...(fssGate && e.protocol === 'fss' ? { fssGate } : {}), ...(fssBits !== undefined && e.protocol === 'fss' ? { fssBits } : {}) });
      results.push(await evaluate(client, name, path.join(MODELS, e.reference ?? e.model, 'model.json'), e, test, { quick, b1GapMs, settle: () => poolIdle(owner), cpu: () => procs.map((pr) => cpuSeconds(pr.child.pid)) }));
      say(`${e.protocol.padEnd(8)} ${e.key.padEnd(5)} b1 ${results.at(-1)!.ms_b1_median.toFixed(1)} ms (p90 ${results.at(-1)!.ms_b1_p90.toFixed(1)}), acc ${(100 * results.at(-1)!.accuracy).toFixed(2)}% (plain ${(100 * results.at(-1)!.tf_accuracy).toFixed(2)}%), KL ${results.at(-1)!.kl.toExponential(2)}, ${results.at(-1)!.rounds_b1} rounds, ${(100 * (results.at(-1)!.b1_pooled ?? 0)).toFixed(0)}% pooled, CPU ms/query ${results.at(-1)!.cpu_ms_b1?.map((v) => v.toFixed(1)).join('/') ?? '-'} (server0/1/2), b128 ${results.at(-1)!.b128_per_s.toFixed(1)}/s`);
    }
    await Promise.all([owner.close(), client.close()]);
  } finally {
    await stopCluster(procs);
    emulated?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} vCPUs`;
  const meta = { machine, date: new Date().toISOString().slice(0, 10), images: test.n, command: `npm run bench:table${argv.length ? ` -- ${argv.join(' ')}` : ''}` };
  if (json) {
    const out: Record<string, Record<string, Omit<Measured, 'protocol' | 'key'>>> = { pond: {}, securenn: {}, fss: {} };
    for (const { protocol, key, ...rest } of results) out[protocol][key] = rest;
    console.log(JSON.stringify({ ...out, meta, ...(emulated ? { network: emulated.check } : {}) }));
    return;
  }
  say('');
  say(markdownTable(results, meta));
  if (!quick && !netSetting && !b1GapMs && !fssGate && fssBits === undefined) {
    saveEntries(results, meta);
    say(`saved ${results.length} entries in bench/results/table/`);
    redraw(say);
  }
}

/** Waits until server2 has had no pooled recording in the making for 200 ms (at most a minute). */
async function poolIdle(owner: PredictionClient): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (let idle = 0; idle < 4 && Date.now() < deadline; ) {
    idle = ((await owner.status())[2].pool?.making ?? 0) > 0 ? 0 : idle + 1;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function redraw(say: (m: string) => void): void {
  const all = loadEntries();
  writeResults(all, mergedMeta(all));
  writeSvg(all, path.join(__dirname, '..', '..', 'bench', 'table.svg'));
  say(`redrew bench/RESULTS.md (table section) and bench/table.svg from the ${all.length} saved entries`);
}

main().catch((e: Error) => {
  console.error(`bench:table: ${e.stack ?? e.message}`);
  process.exit(1);
});
