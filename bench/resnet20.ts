// CIFAR-10 ResNet-20 (bench/models/resnet20, trained by scripts/train_resnet20.ts) over the real
// service: three server processes, mutual TLS on loopback, the path `tfe deploy` + `tfe predict`
// take. Per exact protocol: batch-1 latency, online bytes and rounds (and FSS's keys dealt
// ahead), throughput at --batch, and agreement of the private argmax with the float64 plaintext
// forward pass (lib/api/plain_forward.ts) on the committed sample of CIFAR-10 test images.
//   npm run bench:resnet20                                   securenn and fss, 1000 images, batch 64
//                                                            (about 1 h on 2 cores: FSS ships 0.8 GB of keys per image)
//   npm run bench:resnet20 -- --protocol fss --images 64 --batch 8 --b1-runs 5
//   npm run bench:resnet20 -- --protocol fss --pool 8 --b1-gap-ms 45000   batch 1 with the dealer idle
//   npm run bench:resnet20 -- --json                         one JSON object on stdout
// Results are saved in bench/results/resnet20/<protocol>[-<tag>].json (not with --no-save).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { isExact, PROTOCOLS as ALL_PROTOCOLS, type ProtocolName } from '../lib/protocol/protocols';
import { PredictionClient } from '../lib/serve/client';
import { startLocalCluster, stopCluster } from '../lib/serve/local_cluster';
import { loadCifarSample, toFloat } from '../scripts/resnet20/cifar';
import { machineInfo } from './lib/machine';
import { measureResnet20, type Resnet20Measured } from './lib/resnet20_eval';
import { plainLogits } from './lib/resnet20_plain';

const ROOT = path.join(__dirname, '..', '..');
const RESULTS = path.join(ROOT, 'bench', 'results', 'resnet20');
/** The exact protocols (protocols.ts): ResNet-20's relus are exact, Pond's would be a fitted polynomial. */
const PROTOCOLS = ALL_PROTOCOLS.filter(isExact);

interface Args {
  protocols: string[];
  images: number;
  batch: number;
  b1Runs: number;
  b1GapMs: number;
  pool: number;
  model: string;
  json: boolean;
  save: boolean;
  /** Saved as <protocol>-<tag>.json when set. */
  tag?: string;
}

function int(flag: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} takes an integer >= ${min}; got '${v}'`);
  return n;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { protocols: [...PROTOCOLS], images: 1000, batch: 64, b1Runs: 10, b1GapMs: 0, pool: 2, model: path.join(ROOT, 'bench', 'models', 'resnet20', 'model.json'), json: false, save: true };
  for (let i = 0; i < argv.length; i++) {
    const [flag, v] = [argv[i], argv[i + 1]];
    if (flag === '--json') a.json = true;
    else if (flag === '--no-save') a.save = false;
    else {
      i++;
      if (flag === '--protocol') {
        a.protocols = (v ?? '').split(',').filter(Boolean);
        const bad = a.protocols.find((p) => !(PROTOCOLS as readonly string[]).includes(p));
        if (bad !== undefined || !a.protocols.length) throw new Error(`--protocol takes a comma-separated list of ${PROTOCOLS.join(', ')} (exact protocols only); got '${v}'`);
      } else if (flag === '--images') a.images = int(flag, v, 1);
      else if (flag === '--batch') a.batch = int(flag, v, 1);
      else if (flag === '--b1-runs') a.b1Runs = int(flag, v, 1);
      else if (flag === '--b1-gap-ms') a.b1GapMs = int(flag, v, 0);
      else if (flag === '--pool') a.pool = int(flag, v, 0);
      else if (flag === '--tag') {
        if (!/^[a-z0-9_-]+$/i.test(v ?? '')) throw new Error(`--tag takes letters, digits, '-' and '_'; got '${v}'`);
        a.tag = v;
      }
      else if (flag === '--model') a.model = path.resolve(v ?? '');
      else throw new Error(`unknown argument '${flag}' (try --protocol securenn,fss --images N --batch B --b1-runs R --b1-gap-ms MS --pool N --model model.json --tag NAME --json --no-save)`);
    }
  }
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const say = (m: string) => (args.json ? process.stderr : process.stdout).write(`${m}\n`);
  const sample = loadCifarSample(args.images);
  if (sample.n < args.images) throw new Error(`--images ${args.images}: the committed sample has ${sample.n}`);
  const pixels = Float64Array.from(toFloat(sample.images));
  const plain = plainLogits(args.model, pixels, sample.n, say);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-resnet20-'));
  // Large queries: the service's memory estimate (lib/serve/limits.ts) for one batch-64 query is
  // 3.1 GiB per server under SecureNN and 10.7 GiB under FSS (a batch-b FSS query also ships
  // b x 188,416 relu keys, 936 bytes each in the compact form, to each compute server), so the limits are raised past
  // them; measured server RSS is far lower (bench/RESULTS.md). The offline pool keeps `--pool`
  // batch-1 key sets per model ahead (about 0.37 GB per compute server each).
  const { config, procs } = await startLocalCluster(dir, {
    queryTimeoutMs: 3_600_000,
    extra: { maxQueryBytes: 20 * 2 ** 30, maxTotalQueryBytes: 24 * 2 ** 30, maxPendingBytesPerServer: 24 * 2 ** 30, precomputePool: args.pool },
    onLine: () => undefined,
  });
  const results: Resnet20Measured[] = [];
  try {
    const owner = await PredictionClient.connect(config, { asOwner: true });
    const client = await PredictionClient.connect(config);
    for (const protocol of args.protocols) {
      const name = `resnet20-${protocol}`;
      const t0 = performance.now();
      await owner.deploy(args.model, { name, protocol: protocol as ProtocolName });
      say(`${protocol}: deployed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      results.push(await measureResnet20(client, name, protocol, pixels, plain, sample.labels, { b1Runs: args.b1Runs, b1GapMs: args.b1GapMs, batch: args.batch, images: args.images }, say));
      await owner.undeploy(name);
    }
    await Promise.all([owner.close(), client.close()]);
  } finally {
    await stopCluster(procs);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const meta = { machine: machineInfo(), command: `npm run bench:resnet20${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`, model: path.relative(ROOT, args.model), pool: args.pool };
  if (args.save) {
    fs.mkdirSync(RESULTS, { recursive: true });
    const file = (r: Resnet20Measured) => `${r.protocol}${args.tag ? `-${args.tag}` : ''}.json`;
    for (const r of results) fs.writeFileSync(path.join(RESULTS, file(r)), `${JSON.stringify({ ...r, meta }, null, 2)}\n`);
    say(`saved ${results.map((r) => `bench/results/resnet20/${file(r)}`).join(', ')}`);
  }
  if (args.json) console.log(JSON.stringify({ results, meta }));
  else for (const r of results) say(JSON.stringify(r));
}

main().catch((e: Error) => {
  console.error(`bench:resnet20: ${e.stack ?? e.message}`);
  process.exit(1);
});
