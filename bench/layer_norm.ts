// LayerNormalization under the exact protocols (not a test): the largest error against a float64
// reference on rows of several widths, spreads and offsets; how many rows of a large variance
// come out wrong (a failed local truncation ruins a row); and the steps, bytes and time of one op.
// All parties in this process.
//
//   npm run bench:layernorm                       markdown
//   npm run bench:layernorm -- --rows 20000       more large-variance rows (default 4000)
//   npm run bench:layernorm -- --protocol fss     (default securenn)
import * as tfe from '../lib';
import { checkProtocol, DEFAULT_PROTOCOL, exactProtocolsText, isExact, PROTOCOLS } from '../lib/protocol/protocols';
import { layerNormOp } from '../lib/api/ops_norm';
import { checkOptions, numberOption } from './lib/args';
import { nowMs } from './lib/timing';

const EPS = 1e-3;

/** y = (x - mean) / sqrt(var + EPS) per row of `width`, in float64. */
function reference(x: Float32Array, width: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / width; r++) {
    const row = Array.from(x.subarray(r * width, (r + 1) * width), Number);
    const m = row.reduce((a, b) => a + b, 0) / width, v = row.reduce((a, b) => a + (b - m) ** 2, 0) / width;
    row.forEach((xi, i) => (y[r * width + i] = (xi - m) / Math.sqrt(v + EPS)));
  }
  return y;
}

/** Private layerNorm of x as [rows, width] rows, opened. */
async function privateLayerNorm(protocol: tfe.ProtocolName, x: Float32Array, width: number): Promise<{ y: Float64Array; steps: number; bytes: number; ms: number }> {
  const c = new tfe.Cluster({ protocol });
  try {
    const input = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [x.length / width, width] }), c);
    await input.shares;
    c.transport.resetTraffic();
    const t0 = nowMs();
    const out = layerNormOp(input, { epsilon: EPS }) as tfe.PrivateTensor;
    await out.shares;
    const ms = nowMs() - t0, traffic = c.transport.traffic().total;
    const y = (await tfe.defineOutput('prediction-client', out)).data;
    return { y: Float64Array.from(y), steps: traffic.rounds, bytes: traffic.bytes, ms };
  } finally {
    await c.close();
  }
}

/** Rows of `width`: offset +-offset, uniform values of standard deviation 10^-1.5 .. 10^4 across the rows. */
function spreadRows(rows: number, width: number, offset: number): Float32Array {
  const x = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) {
    const sd = 10 ** (-1.5 + (5.5 * r) / rows), c = offset * (r % 2 ? -1 : 1);
    for (let i = 0; i < width; i++) x[r * width + i] = c + sd * (Math.random() * 2 - 1) * Math.sqrt(3);
  }
  return x;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  checkOptions(args, { values: ['--rows', '--protocol'], usage: `npm run bench:layernorm -- [--rows N] [--protocol ${PROTOCOLS.filter(isExact).join('|')}]` });
  const protocol = args.includes('--protocol') ? checkProtocol(args[args.indexOf('--protocol') + 1], '--protocol') : DEFAULT_PROTOCOL;
  if (!isExact(protocol)) throw new Error(`--protocol: LayerNormalization compares values, so it needs an exact protocol (${exactProtocolsText()}), not ${protocol}`);
  const bigRows = numberOption(args, '--rows', 4000, 1);
  console.log(`LayerNormalization under ${protocol}, epsilon ${EPS}\n`);
  console.log('| width | rows | offset | max error | steps | bytes | ms |\n|---|---|---|---|---|---|---|');
  for (const width of [10, 768])
    for (const offset of [0, 100]) {
      const rows = 32, x = spreadRows(rows, width, offset), want = reference(x, width);
      const got = await privateLayerNorm(protocol, x, width);
      const err = want.reduce((m, w, i) => Math.max(m, Math.abs(got.y[i] - w)), 0);
      console.log(`| ${width} | ${rows} | ${offset} | ${err.toExponential(2)} | ${got.steps} | ${(got.bytes / 1024).toFixed(1)} KiB | ${got.ms.toFixed(0)} |`);
    }
  // Rows of variance 4^14 .. 4^15.9 (values up to 2^16): where a failed truncation shows.
  const width = 10, x = new Float32Array(bigRows * width);
  for (let r = 0; r < bigRows; r++) {
    const sd = 2 ** (14 + Math.random() * 1.9), c = ((r * 7) % 11) - 5;
    for (let i = 0; i < width; i++) x[r * width + i] = c + (i % 2 ? sd : -sd);
  }
  const want = reference(x, width), got = await privateLayerNorm(protocol, x, width);
  let wrong = 0;
  for (let r = 0; r < bigRows; r++) if (want.subarray(r * width, (r + 1) * width).some((w, i) => Math.abs(got.y[r * width + i] - w) > 5e-3)) wrong++;
  console.log(`\nRows of standard deviation 2^14 .. 2^15.9 (width ${width}): ${wrong} of ${bigRows} off by more than 5e-3.`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
