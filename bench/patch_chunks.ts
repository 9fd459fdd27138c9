// One compute server's local part of a Conv3D product (the bilinear map patchMatmul,
// lib/protocol/correlated.ts): as the library runs it (the windows' patches gathered in chunks of
// PATCH_CHUNK_VALUES, each multiplied and freed before the next, where the patches outweigh the
// output) against the whole im2col gathered at once, on ring values at the sizes of keras.io's
// CT-scan classifier. Each variant runs in a child process of its own,
// so its peak resident memory is its own; the table gives ms (median of the runs) and that peak.
//   npm run bench:patches                  both variants, both layers
//   npm run bench:patches -- --runs 5      more runs per variant
import { execFileSync } from 'node:child_process';

import { patchMatmul, PATCH_CHUNK_VALUES } from '../lib/protocol/correlated';
import { windows, type Triple } from '../lib/api/volume_geometry';
import { RingTensor } from '../lib/tensor/ring_tensor';
import { checkOptions, numberOption } from './lib/args';
import { percentile } from './lib/percentile';

/** [depth, height, width, channels] in, filters out, 3x3x3 VALID: the CT classifier's first two convolutions (its input 64x128x128, the second after a 2x2x2 pool). */
const LAYERS: { name: string; dims: Triple; ch: number; filters: number }[] = [
  { name: 'Conv3D 1 (64x128x128x1 -> 64)', dims: [64, 128, 128], ch: 1, filters: 64 },
  { name: 'Conv3D 2 (31x63x63x64 -> 64)', dims: [31, 63, 63], ch: 64, filters: 64 },
];

async function child(layer: number, chunk: number, runs: number): Promise<void> {
  const { dims, ch, filters } = LAYERS[layer];
  const fail = (m: string): never => {
    throw new Error(m);
  };
  const g = windows(fail, dims, [3, 3, 3], [1, 1, 1], [1, 1, 1], 'VALID');
  const rows = dims[0] * dims[1] * dims[2];
  const x = RingTensor.fromBigUint64Array(new BigUint64Array(rows * ch).fill(3n), [1, rows, ch]);
  const w = RingTensor.fromBigUint64Array(new BigUint64Array(27 * ch * filters).fill(5n), [27 * ch, filters]);
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    (await patchMatmul(x, w, g.at, chunk)).dispose();
    times.push(performance.now() - t0);
  }
  process.stdout.write(JSON.stringify({ ms: percentile(times, 0.5), peakMiB: process.resourceUsage().maxRSS / 1024 }));
}

function main(): void {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    void child(Number(argv[1]), Number(argv[2]), Number(argv[3])).catch((e) => {
      console.error(e);
      process.exit(1);
    });
    return;
  }
  checkOptions(argv, { values: ['--runs'], usage: 'npm run bench:patches [-- --runs N]' });
  const runs = numberOption(argv, '--runs', 3, 1);
  console.log('| layer | patches (values) | gathered | ms | peak RSS MiB |\n|---|---|---|---|---|');
  for (const [i, l] of LAYERS.entries()) {
    const patches = (l.dims[0] - 2) * (l.dims[1] - 2) * (l.dims[2] - 2) * 27 * l.ch;
    for (const [what, chunk] of [['as the library does', PATCH_CHUNK_VALUES], ['whole', Number.MAX_SAFE_INTEGER]] as const) {
      const r = JSON.parse(execFileSync(process.execPath, [__filename, '--child', String(i), String(chunk), String(runs)], { encoding: 'utf8', maxBuffer: 1 << 20 }));
      console.log(`| ${l.name} | ${patches} | ${what} | ${r.ms.toFixed(0)} | ${r.peakMiB.toFixed(0)} |`);
    }
  }
}

main();
