// `tfe verify`: the model owner runs a model privately (three parties in this process, the
// protocol and fracBits the cluster would use) and in float64 plaintext side by side, on inputs
// of their choice, before deploying it. Reports argmax agreement, max |Δlogit| and KL; with
// --debug-ranges, each layer's largest |value| (revealed to this client only) against the ring's
// limit for fracBits.

import type { Command } from 'commander';

import { uncalibratedRelus } from '../api/calibrate';
import { loadLayersModel, readLayersModel } from '../api/model';
import type { VerifyReport } from '../api/verify';
import { Cluster } from '../protocol/cluster';
import { checkProtocol, defaultProtocolFor, exactProtocolsText, isExact, protocolsHelpText, type ProtocolName } from '../protocol/protocols';
import { flagOptions, OPTION_SPECS } from '../protocol/protocol_options';
import { addFracBitsOptions, fracBitsOf } from './frac_bits';
import { addProtocolOptionFlags } from './protocol_flags';
import { readInputs } from './inputs';
import { addInputShapeOption, inputShapesOf } from './input_shape_flag';
import { paint, progress } from './term';


interface Opts {
  model: string;
  input: string;
  protocol?: string;
  fracBits?: string;
  config?: string;
  batchSize: string;
  debugRanges?: boolean;
  warnBits: string;
  minAgreement?: string;
  json?: boolean;
  inputShape?: string[];
}

const int = (v: string, what: string, lo: number, hi: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) throw new Error(`${what} must be an integer in [${lo}, ${hi}], got ${JSON.stringify(v)}`);
  return n;
};

export function printReport(r: VerifyReport, from: string): void {
  const out = process.stdout;
  const pct = (r.agreement.fraction * 100).toFixed(r.agreement.fraction === 1 ? 0 : 2);
  console.log(`${r.samples} inputs, ${r.protocol}, fracBits ${r.fracBits} (from ${from}), ${r.seconds.toFixed(1)} s`);
  console.log(`argmax agreement  ${r.agreement.agreed}/${r.agreement.rows} (${r.agreement.fraction === 1 ? paint(out, 'green', `${pct}%`) : paint(out, 'red', `${pct}%`)})`);
  console.log(`max |Δlogit|      ${r.maxAbsLogitDiff.toExponential(2)} (mean ${r.meanAbsLogitDiff.toExponential(2)})`);
  console.log(`KL(plain||priv)   mean ${r.kl.mean.toExponential(2)}, max ${r.kl.max.toExponential(2)} (over the ${r.kl.over})`);
  if (r.ranges) {
    console.log('layer ranges (max |value|: private, plaintext; bits left below the ring\'s limit)');
    const w = Math.max(...r.ranges.map((l) => l.layer.length));
    for (const l of r.ranges) {
      const line = `  ${l.layer.padEnd(w)}  ${l.maxAbs.toExponential(2).padStart(9)}  ${l.plainMaxAbs.toExponential(2).padStart(9)}  ${Number.isFinite(l.bitsLeft) ? l.bitsLeft.toFixed(1).padStart(5) : '  inf'}`;
      console.log(l.warning ? paint(out, 'yellow', line) : line);
    }
  }
  if (r.products.length) {
    console.log('products inside layers (max |value| in plaintext; bits left below the ring\'s limit)');
    const w = Math.max(...r.products.map((l) => l.layer.length));
    for (const l of r.products) {
      const line = `  ${l.layer.padEnd(w)}  ${l.plainMaxAbs.toExponential(2).padStart(9)}  ${Number.isFinite(l.bitsLeft) ? l.bitsLeft.toFixed(1).padStart(5) : '  inf'}`;
      console.log(l.warning ? paint(out, 'yellow', line) : line);
    }
  }
  for (const w of r.warnings) console.error(paint(process.stderr, 'yellow', `warning: ${w}`));
}

export function addVerifyCommand(program: Command): void {
  const verify = program
    .command('verify')
    .description('run a model privately (in this process) and in float64 plaintext side by side on your inputs: argmax agreement, max |Δlogit|, KL')
    .requiredOption('--model <path>', 'model.json of a LayersModel or GraphModel (you need its weights: this is the owner\'s check)')
    .requiredOption('--input <file>', 'a PNG, or JSON: an array, {data, shape} or {images, labels}')
    .option('--protocol <name>', `${protocolsHelpText()} (default: what tfe deploy picks: ${defaultProtocolFor(true)} for any model with a comparison, ${defaultProtocolFor(false)} otherwise)`);
  addFracBitsOptions(addProtocolOptionFlags(verify, 'verify'))
    .option('--batch-size <n>', 'inputs per private run', '16')
    .option('--debug-ranges', "reveal each layer's largest |value| to this client and warn near the ring's limit (exact protocols)")
    .option('--warn-bits <n>', "warn of layers whose values, or products inside them, leave fewer bits than this below the ring's limit (plaintext values; with --debug-ranges, the layers' private ones)", '20')
    .option('--min-agreement <fraction>', 'exit with status 1 when the argmax agreement is below this (0 to 1)')
    .option('--json', 'print the report as one JSON object');
  addInputShapeOption(verify)
    .action(async (opts: Opts) => {
      const inputShapes = inputShapesOf(opts);
      const read = readLayersModel(opts.model, { inputShapes });
      const { spec } = read;
      const protocol: ProtocolName = opts.protocol ? (checkProtocol(opts.protocol, '--protocol'), opts.protocol as ProtocolName) : defaultProtocolFor(spec.comparisons);
      const { fracBits, from } = fracBitsOf(opts);
      const batchSize = int(opts.batchSize, '--batch-size', 1, 4096);
      const warnBits = int(opts.warnBits, '--warn-bits', 1, 63);
      const minAgreement = opts.minAgreement === undefined ? undefined : Number(opts.minAgreement);
      if (minAgreement !== undefined && !(minAgreement >= 0 && minAgreement <= 1)) throw new Error(`--min-agreement must be a number in [0, 1], got ${JSON.stringify(opts.minAgreement)}`);
      // Its plaintext side runs on the packed numbers the servers take: a string's id is not one a file holds.
      const strings = spec.inputs.filter((i) => i.strings).map((i) => `'${i.name}'`);
      if (strings.length) throw new Error(`${opts.model} takes strings (input ${strings.join(', ')}, read by StringLookup, Hashing or TextVectorization), which tfe verify does not read; check it with tfe predict on a deployed model, or in code`);
      const { images, note } = readInputs(opts.input, spec.inputShape, spec.inputs);
      // How a PNG was fitted to the model's input: on stderr, or in the JSON report.
      if (note && !opts.json) console.error(`tfe: ${note}`);
      const options = flagOptions(protocol, opts);
      // An option that changes what the ranges are measured with (a narrower comparison) is refused with --debug-ranges.
      const clash = opts.debugRanges ? OPTION_SPECS.find((s) => s.withDebugRanges && s.name in options) : undefined;
      if (clash) throw new Error(clash.withDebugRanges);
      const cluster = new Cluster({ protocol, fixedPoint: { fracBits }, ...options });
      const bar = progress('verifying');
      try {
        // Under Pond, a model with relu runs with the default polynomial: verify measures what that costs, and warns below.
        const model = loadLayersModel(opts.model, { cluster, ...(isExact(protocol) ? {} : { uncalibrated: true }), ...(inputShapes ? { inputShapes } : {}) });
        const report = await model.verify(images, { batchSize, debugRanges: opts.debugRanges, warnBits, onProgress: (d, n) => bar.update(d, n) });
        bar.end();
        // tfe deploy refuses such a model under Pond; verify ran it silently (max |Δlogit| 5.6 on network A).
        const relus = isExact(protocol) ? [] : uncalibratedRelus(opts.model, read);
        if (relus.length)
          report.warnings.unshift(`the model has relu (${relus.slice(0, 4).join(', ')}${relus.length > 4 ? ', ...' : ''}), which ${protocol} replaces by a polynomial wrong outside [-4, 4]; tfe deploy refuses it so: calibrate it on your inputs first (tfe calibrate), or verify and deploy with an exact protocol (${exactProtocolsText()})`);
        if (opts.json) console.log(JSON.stringify({ model: opts.model, fracBitsFrom: from, ...(note ? { inputNote: note } : {}), ...report }));
        else printReport(report, from);
        if (minAgreement !== undefined && report.agreement.fraction < minAgreement) {
          console.error(`tfe: argmax agreement ${report.agreement.fraction} is below --min-agreement ${minAgreement}`);
          process.exitCode = 1;
        }
      } finally {
        bar.end();
        await cluster.close();
      }
    });
}
