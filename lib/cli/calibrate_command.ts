// `tfe calibrate` (write a Pond-ready copy of a model, each relu fitted to the owner's inputs) and
// the calibration options `tfe deploy` shares with it (--calibrate, --degree, --min-agreement,
// --force). The fitting is lib/api/calibrate.ts; this file reads flags and prints the report.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Command } from 'commander';

import { calibrateForPond, type CalibrationReport, CalibrationRefused, type PondDeployOptions } from '../api/calibrate';
import type { InputShapes } from '../api/input_shapes';
import { readLayersModel } from '../api/model';
import { addInputShapeOption, inputShapesOf } from './input_shape_flag';
import { addFracBitsOptions, fracBitsOf } from './frac_bits';
import { readInputs } from './inputs';
import { paint } from './term';

export interface CalibrationFlags {
  calibrate?: string;
  degree?: string;
  holdout?: string;
  minAgreement?: string;
  force?: boolean;
  uncalibrated?: boolean;
}

const fraction = (v: string | undefined, what: string, dflt: number, hi = 1): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!(n >= 0 && n <= hi) || v.trim() === '') throw new Error(`${what} must be a number in [0, ${hi}], got ${JSON.stringify(v)}`);
  return n;
};

const degreeOf = (v: string | undefined): number => {
  if (v === undefined) return 2;
  if (v !== '2' && v !== '3') throw new Error(`--degree must be 2 or 3, got ${JSON.stringify(v)}`);
  return Number(v);
};

/** The deploy options the flags ask for (reading --calibrate's inputs); refuses flags that need --calibrate without it. */
export function pondOptions(flags: CalibrationFlags, modelPath: string, inputShapes?: InputShapes): PondDeployOptions {
  if (flags.calibrate && flags.uncalibrated) throw new Error('--calibrate and --uncalibrated exclude each other: fit the relus to your inputs, or accept the default polynomial');
  if (!flags.calibrate) {
    const stray = (['degree', 'holdout', 'minAgreement', 'force'] as const).filter((k) => flags[k] !== undefined);
    if (stray.length) throw new Error(`${stray.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} only appl${stray.length > 1 ? 'y' : 'ies'} with --calibrate`);
    return { uncalibrated: flags.uncalibrated };
  }
  const { images } = readInputs(flags.calibrate, readLayersModel(modelPath, { inputShapes }).spec.inputShape);
  return {
    uncalibrated: flags.uncalibrated,
    calibrate: { inputs: images, degree: degreeOf(flags.degree), holdout: fraction(flags.holdout, '--holdout', 0.2, 0.9), minAgreement: fraction(flags.minAgreement, '--min-agreement', 0.99), force: flags.force },
  };
}

export function printCalibration(r: CalibrationReport, log: (l: string) => void = (l) => console.error(l)): void {
  const pct = (100 * r.agreement.fraction).toFixed(1);
  log(`calibrated ${r.relus.length} relu(s), degree ${r.degree}, on ${r.fitInputs} inputs (coefficients on the fracBits ${r.fracBits} grid)`);
  const w = Math.max(...r.relus.map((x) => x.layer.length));
  for (const x of r.relus)
    log(`  ${x.layer.padEnd(w)}  saw [${x.range[0].toPrecision(3)}, ${x.range[1].toPrecision(3)}]  coeffs ${x.coeffs.map((c) => c.toPrecision(4)).join(', ')}  max |error| ${x.maxFitError.toPrecision(3)}`);
  const line = `argmax agreement with the original model: ${r.agreement.agreed}/${r.agreement.rows} (${pct}%) on ${r.heldOut ? 'held-out' : 'the fit'} inputs, max |Δlogit| ${r.maxAbsLogitDiff.toExponential(2)} (float64; tfe verify --protocol pond adds fixed point)`;
  log(r.agreement.fraction === 1 ? line : paint(process.stderr, 'yellow', line));
  for (const w of r.warnings) log(paint(process.stderr, 'yellow', `warning: ${w}`));
}

/** Prints the report of a refused calibration before the error propagates. */
export function reportRefusal(e: unknown): never {
  if (e instanceof CalibrationRefused) printCalibration(e.report);
  throw e;
}

/** `via`: how the command calibrates ('with --calibrate' on deploy; empty on calibrate, which always does). */
export function addCalibrationOptions(cmd: Command, via = 'with --calibrate: '): Command {
  return cmd
    .option('--degree <n>', `${via}2 (default) or 3`)
    .option('--holdout <fraction>', `${via}share of the inputs kept out of the fit to measure agreement on (default 0.2)`)
    .option('--min-agreement <fraction>', `${via}refuse below this argmax agreement with the original model (default 0.99)`)
    .option('--force', `${via}go ahead below --min-agreement`);
}

export function addCalibrateCommand(program: Command): void {
  const cmd = addCalibrationOptions(
    addFracBitsOptions(
      program
        .command('calibrate')
        .description("fit each relu of a model to your inputs for Pond (which has no comparisons) and write the calibrated model; reports agreement with the original on held-out inputs")
        .requiredOption('--model <path>', 'model.json of a LayersModel or GraphModel')
        .requiredOption('--input <file>', 'inputs typical of the queries: JSON (an array, {data, shape} or {images, labels}) or a PNG; a few hundred or more')
        .requiredOption('--out <dir>', 'directory for the calibrated model.json, weights.bin and calibration.json'),
    ),
    '',
  );
  addInputShapeOption(cmd)
    .option('--json', 'print the report as one JSON object')
    .action((opts: CalibrationFlags & { model: string; input: string; out: string; json?: boolean; fracBits?: string; config?: string; inputShape?: string[] }) => {
      const inputShapes = inputShapesOf(opts);
      const { calibrate } = pondOptions({ ...opts, calibrate: opts.input }, opts.model, inputShapes);
      const { inputs, minAgreement = 0.99, force, ...fit } = calibrate!;
      // The coefficients are chosen on the cluster's fixed-point grid (deploy --calibrate asks the cluster).
      // With --input-shape the calibrated model is written at that shape.
      const c = calibrateForPond(opts.model, inputs, { ...fit, fracBits: fracBitsOf(opts).fracBits }, inputShapes ? readLayersModel(opts.model, { inputShapes }) : undefined);
      if (opts.json) console.log(JSON.stringify(c.report));
      else printCalibration(c.report, (l) => console.log(l));
      if (c.report.agreement.fraction < minAgreement && !force)
        throw new Error(`agreement ${(100 * c.report.agreement.fraction).toFixed(1)}% is below --min-agreement ${(100 * minAgreement).toFixed(1)}%: nothing written (--force writes it anyway)`);
      const out = path.resolve(opts.out);
      if (fs.existsSync(path.join(out, 'model.json'))) throw new Error(`${path.join(out, 'model.json')} exists: choose an empty --out directory`);
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(path.join(out, 'weights.bin'), c.artifacts.weightData as Uint8Array);
      fs.writeFileSync(path.join(out, 'model.json'), JSON.stringify({ format: 'layers-model', ...c.modelJson }));
      fs.writeFileSync(path.join(out, 'calibration.json'), `${JSON.stringify({ source: path.resolve(opts.model), ...c.report }, null, 2)}\n`);
      if (!opts.json) console.log(`wrote ${out} (deploy it with tfe deploy --protocol pond --model ${path.join(opts.out, 'model.json')})`);
    });
}
