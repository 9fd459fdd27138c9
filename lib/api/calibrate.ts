// Pond calibration: Pond has no comparisons, so each relu of a model must become a polynomial,
// and a polynomial only tracks relu on the values it is fitted to. This fits, by least squares,
// one polynomial per relu to the values that relu sees on the owner's own inputs, in graph order,
// each on values computed through the polynomials already chosen upstream (so the compounding of
// errors is what gets fitted), then measures on held-out inputs how often the calibrated model's
// argmax agrees with the original's (float64 plaintext both; `tfe verify` adds fixed point).
// Steps:
//   1. every fused relu activation (Dense(activation: 'relu'), ...) becomes its own layer;
//   2. for each relu layer in order: run the partly calibrated model on the fit inputs, collect
//      what the relu receives, fit, replace the relu by a TfePolynomial layer of the same name
//      whose coefficients are weights (private: they depend on the owner's data and weights);
//   3. compare original and calibrated outputs on the check inputs.
// Nothing here is secret-shared: it runs on the owner's machine with the owner's weights.
import { fitPolynomial } from '../math/poly_fit';
import { DEFAULT_FRAC_BITS } from '../tensor/ring_tensor';
import { exactProtocolsText, isExact, PROTOCOLS, type ProtocolName } from '../protocol/protocols';
import { POLYNOMIAL_LAYER } from './layers_catalog';
import { graphOf, type ModelTopology } from './layers_graph';
import type { LayersModelJson } from './layers_spec';
import { isOptimizerState, type ModelArtifacts, type ModelSource, readLayersModel } from './model';
import { plainModel, type PlainTensor } from './plain_forward';
import { compareOutputs, type Samples, samplesTensor } from './verify';
import { cloneTopology, replaceLayer, splitActivation } from './topology_edit';
import { isPlainRelu, reluLayers, timeDistributed, wrapsRelu } from './relu_layers';

export interface CalibrateOptions {
  /** Degree of each polynomial: 2 (default; cheapest under Pond) or 3. */
  degree?: number;
  /** Fraction of the inputs kept out of the fit to measure agreement on (default 0.2; 0: measure on the fit inputs). */
  holdout?: number;
  /** The cluster's fixed-point fractional bits (default 16): the coefficients are chosen on its grid. */
  fracBits?: number;
}

export interface CalibrationReport {
  degree: number;
  /** The fixed-point grid the coefficients were chosen on (multiples of 2^-fracBits). */
  fracBits: number;
  fitInputs: number;
  checkInputs: number;
  /** Whether agreement was measured on inputs the fit never saw. */
  heldOut: boolean;
  /**
   * Per relu, in order: the layer, the range of values it saw on the fit inputs, the polynomial
   * (coeffs[i] multiplies x^i, each a multiple of 2^-fracBits), and how many bits its highest
   * power x^degree leaves below the ring's limit (see verify.ts rangeCheck).
   */
  relus: { layer: string; range: [number, number]; coeffs: number[]; maxFitError: number; powerBitsLeft: number }[];
  /** Relus whose highest power comes within 20 bits of the ring's limit (a truncation may fail). */
  warnings: string[];
  /** Argmax agreement of the calibrated model with the original, float64 plaintext, on the check inputs. */
  agreement: { agreed: number; rows: number; fraction: number };
  maxAbsLogitDiff: number;
}

export interface Calibrated {
  /** The calibrated model, ready for deploy (or loadLayersModel) under Pond. */
  artifacts: ModelArtifacts;
  /** The same as a model.json that expects its weights in `weights.bin`. */
  modelJson: LayersModelJson;
  report: CalibrationReport;
}

const MAX_FIT_POINTS = 400_000;

/** Fewer calibration inputs than this are warned of (the fit and its check see too few values). */
const FEW_INPUTS = 100;

/** Below this many bits left under the ring's limit (a failure every 1024 elements), a relu's highest power is refused. */
const MIN_POWER_BITS = 10;

/**
 * Up to MAX_FIT_POINTS of `v`, one from each of MAX_FIT_POINTS equal slices (the fit is a 3-5
 * column least squares: more adds nothing). The offset inside each slice moves by the golden
 * ratio: a fixed offset (the slice's start) read only every step-th unit of a layer whose width
 * was a multiple of the step (every other unit of 4, at twice MAX_FIT_POINTS values).
 */
export function thin(v: Float64Array): Float64Array {
  if (v.length <= MAX_FIT_POINTS) return v;
  const step = v.length / MAX_FIT_POINTS, out = new Float64Array(MAX_FIT_POINTS);
  const phi = (Math.sqrt(5) - 1) / 2;
  for (let i = 0; i < out.length; i++) out[i] = v[Math.min(v.length - 1, Math.floor((i + ((i * phi) % 1)) * step))];
  return out;
}

/**
 * The least-squares polynomial of relu on `xs`, with coefficients on the fixed-point grid
 * (multiples of 2^-fracBits, as the shared weights hold them), chosen from the highest power
 * down: each is the grid value nearest its least-squares fit given the ones above it already
 * rounded. Rounding a float fit afterwards lost whole terms: a cubic coefficient of -4.6e-7 is 0
 * at 16 bits, so a degree-3 fit to values up to 917 computed 2.7 away from what was reported.
 */
export function fitOnGrid(xs: Float64Array, degree: number, fracBits: number): number[] {
  const unit = 2 ** fracBits;
  const rest = xs.map((v) => Math.max(v, 0)); // relu minus the terms chosen so far
  const coeffs = new Array<number>(degree + 1).fill(0);
  for (let d = degree; d >= 0; d--) {
    const c = Math.fround(Math.round(fitPolynomial(xs, rest, d)[d] * unit) / unit);
    coeffs[d] = c;
    for (let i = 0; i < xs.length; i++) rest[i] -= c * xs[i] ** d;
  }
  return coeffs;
}

const rows = (x: PlainTensor, from: number, to: number): PlainTensor => {
  const per = x.data.length / x.shape[0];
  return { data: x.data.subarray(from * per, to * per), shape: [to - from, ...x.shape.slice(1)] };
};

/**
 * Fits each relu of the model at `source` to the owner's `inputs` (see the file comment). The
 * model must have at least one plain relu and nothing Pond cannot run; refuses otherwise.
 */
/** A model as readLayersModel read it: callers that have one pass it, so the files are read once. */
type Loaded = ReturnType<typeof readLayersModel>;

export function calibrateForPond(source: ModelSource, inputs: Samples, opts: CalibrateOptions = {}, loaded?: Loaded): Calibrated {
  const degree = opts.degree ?? 2;
  if (degree !== 2 && degree !== 3) throw new Error(`degree must be 2 or 3, got ${degree}`);
  const holdout = opts.holdout ?? 0.2;
  if (!(holdout >= 0 && holdout < 1)) throw new Error(`holdout must be in [0, 1), got ${holdout}`);
  const fracBits = opts.fracBits ?? DEFAULT_FRAC_BITS;
  if (!(Number.isInteger(fracBits) && fracBits >= 1 && fracBits <= 30)) throw new Error(`fracBits must be an integer in [1, 30], got ${fracBits}`);
  const { json, spec, weights } = loaded ?? readLayersModel(source);
  if (spec.needsSecureNN) throw new Error(`the model has layers only an exact protocol can run (${spec.exactOnlyLayers.join(', ')}); Pond cannot run it, calibrated or not`);
  // A relu is fitted to the values it sees on the one input's path, one polynomial per relu
  // layer: several inputs or outputs, or a shared layer's calls, are not what it was made for.
  const graph = graphOf(json.modelTopology);
  const shared = graph.nodes.some((n) => Array.isArray(n.layer.inbound_nodes) && n.layer.inbound_nodes.length > 1);
  if (graph.inputs.length > 1 || graph.outputs.length > 1 || shared)
    throw new Error(`calibration fits models with one input, one output and no shared layers, and this one has ${[graph.inputs.length > 1 ? `${graph.inputs.length} inputs` : '', graph.outputs.length > 1 ? `${graph.outputs.length} outputs` : '', shared ? 'shared layers' : ''].filter(Boolean).join(' and ')}: deploy it under an exact protocol (${exactProtocolsText()}; the default for a model with relu), or under Pond with the default polynomial (uncalibrated)`);
  const wrapped = unfittableRelus(json.modelTopology);
  if (wrapped.length) throw new Error(`the model has a relu inside a wrapper (${wrapped.join(', ')}), which calibration cannot fit yet: deploy it under an exact protocol (${exactProtocolsText()}), or under Pond with the default polynomial (uncalibrated)`);
  const x = samplesTensor(inputs, spec.inputShape);
  const n = x.shape[0];
  const check = holdout > 0 ? Math.floor(n * holdout) : 0;
  if (n - check < 2 || (holdout > 0 && check < 1)) throw new Error(`calibration needs more inputs: got ${n}, with ${Math.round(holdout * 100)}% held out to check the fit`);
  const fitX = rows(x, 0, n - check), checkX = check ? rows(x, n - check, n) : fitX;

  const topo: ModelTopology = cloneTopology(json.modelTopology);
  for (const node of graphOf(topo).nodes) {
    const l = node.layer, inner = timeDistributed(l);
    // TimeDistributed(ReLU()) is a relu of the whole input; TimeDistributed(Dense(relu)) a
    // TimeDistributed(Dense) followed by one (relu works elementwise, step by step or not).
    if (inner && isPlainRelu(inner)) replaceLayer(topo, l.config.name, { class_name: 'Activation', config: { activation: 'relu', trainable: false } });
    else if ((inner ?? l).class_name !== 'Activation' && (inner ?? l).config.activation === 'relu') splitActivation(topo, l.config.name);
  }
  const targets = graphOf(topo).nodes.filter((node) => isPlainRelu(node.layer));
  if (targets.length === 0) {
    const done = graphOf(topo).nodes.filter((node) => node.layer.class_name === POLYNOMIAL_LAYER).map((node) => node.layer.config.name);
    if (done.length) throw new Error(`the model is already calibrated (its relus are ${POLYNOMIAL_LAYER} layers: ${done.slice(0, 4).join(', ')}${done.length > 4 ? ', ...' : ''}): calibrate the original model, with relus, again`);
    throw new Error('the model has no relu to calibrate: Pond runs it as it is');
  }

  // The fitted coefficients become weights (float32, as every weight), shared at deploy like the
  // others: they are fitted to the owner's data and weights, so no server may read them from the
  // topology (layers_catalog.ts polynomialForm). The caller's weights stay as they were.
  const fitted = new Map(weights);
  const added: { name: string; shape: number[]; dtype: 'float32' }[] = [];
  const current = (): LayersModelJson => ({ modelTopology: topo, weightsManifest: [...json.weightsManifest, { paths: [], weights: added }] });
  const relus: CalibrationReport['relus'] = [];
  const warnings: string[] = [];
  // Ten digits gave "2/2 (100.0%)" agreement and no word that it measures nearly nothing.
  if (n < FEW_INPUTS)
    warnings.push(`only ${n} inputs: the fit sees few values of each relu and the agreement is measured on ${check || n}; calibrate on a few hundred or more inputs like the real ones`);
  for (const t of targets) {
    const from = t.inputs[0];
    let seen: Float64Array | undefined;
    plainModel(current(), fitted).forward(fitX, (layer, out) => {
      if (layer.slice(layer.indexOf(':') + 1) === from) seen = out.data;
    });
    seen ??= fitX.data; // a relu straight on the model input ('' in a Sequential without InputLayer)
    const xs = thin(seen);
    // A relu that saw at most `degree` distinct values (a dead or constant unit, 0/1 inputs) has no
    // least-squares fit: its coefficients came back NaN (one value) or as finite noise (two or
    // three), and were reported and written as such.
    const distinct = new Set(xs).size;
    const coeffs = distinct > degree ? fitOnGrid(xs, degree, fracBits) : [];
    if (distinct <= degree || !coeffs.every(Number.isFinite))
      throw new Error(`calibrate: relu layer '${t.layer.config.name}' saw ${distinct} distinct value(s) on the calibration inputs, too few to fit a degree-${degree} polynomial: calibrate on more varied inputs, or check that the layer is not dead`);
    // The range over every value it saw (the fit's thinned ones could miss an extreme).
    let lo = Infinity, hi = -Infinity, err = 0;
    for (const v of seen) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    for (const v of xs) err = Math.max(err, Math.abs(coeffs.reduceRight((a, c) => a * v + c, 0) - Math.max(v, 0)));
    const name = t.layer.config.name;
    // Pond forms x^degree as a product at 2 fracBits, truncated locally (verify.ts rangeCheck):
    // one that nears 2^63 fails often, and each failure is a wild value.
    const top = Math.max(Math.abs(lo), Math.abs(hi)) ** degree;
    const powerBitsLeft = top > 0 ? 63 - 2 * fracBits - Math.log2(top) : Infinity;
    if (powerBitsLeft < MIN_POWER_BITS)
      throw new Error(
        `calibrate: relu layer '${name}' sees values up to ${Math.max(Math.abs(lo), Math.abs(hi)).toPrecision(3)} in magnitude, and x^${degree} at fracBits ${fracBits} leaves ${powerBitsLeft.toFixed(1)} bits below the ring's limit ` +
          `(a truncation fails with probability ~2^-${Math.max(0, powerBitsLeft).toFixed(1)} per element): ${degree === 3 ? 'use degree 2, ' : ''}scale the inputs or weights down, lower fracBits, or use an exact protocol (${exactProtocolsText()})`,
      );
    if (powerBitsLeft < 20) warnings.push(`relu layer '${name}': x^${degree} of values up to ${Math.max(Math.abs(lo), Math.abs(hi)).toPrecision(3)} leaves ${powerBitsLeft.toFixed(1)} bits below the ring's limit at fracBits ${fracBits}: a truncation fails with probability ~2^-${powerBitsLeft.toFixed(1)} per element`);
    relus.push({ layer: name, range: [lo, hi], coeffs, maxFitError: err, powerBitsLeft });
    coeffs.forEach((c, i) => {
      fitted.set(`${name}/coeff${i}`, { data: Float32Array.of(c), shape: [1] });
      added.push({ name: `${name}/coeff${i}`, shape: [1], dtype: 'float32' });
    });
    replaceLayer(topo, name, { class_name: POLYNOMIAL_LAYER, config: { degree, trainable: false } });
  }

  const original = plainModel(json, weights).forward(checkX);
  const calibrated = plainModel(current(), fitted).forward(checkX);
  const cmp = compareOutputs(original, calibrated, spec.finalActivation);
  // (A model saved with its optimizer: those entries are not the model's, and were never read.)
  const specs = [...json.weightsManifest.flatMap((g) => g.weights).filter((w) => !isOptimizerState(w)).map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' as const })), ...added];
  const data = Buffer.concat(specs.map((s) => Buffer.from(fitted.get(s.name)!.data.buffer, fitted.get(s.name)!.data.byteOffset, fitted.get(s.name)!.data.byteLength)));
  return {
    artifacts: { modelTopology: topo, weightSpecs: specs, weightData: new Uint8Array(data) },
    modelJson: { modelTopology: topo, weightsManifest: [{ paths: ['weights.bin'], weights: specs }] },
    report: { degree, fracBits, warnings, fitInputs: n - check, checkInputs: checkX.shape[0], heldOut: check > 0, relus, agreement: cmp.agreement, maxAbsLogitDiff: cmp.maxAbsLogitDiff },
  };
}

/**
 * The wrapped relus calibration cannot move out of their wrapper: any wrapper but TimeDistributed
 * (today the only other, Bidirectional, wraps recurrent layers, which Pond refuses anyway).
 */
const unfittableRelus = (topo: LayersModelJson['modelTopology']): string[] =>
  graphOf(topo).nodes.filter((node) => wrapsRelu(node.layer) && !timeDistributed(node.layer)).map((node) => node.layer.config.name);

/** The model's relu layers that Pond would run as the default polynomial (relu_layers.ts). */
export const uncalibratedRelus = (source: ModelSource, loaded?: Loaded): string[] => reluLayers((loaded ?? readLayersModel(source)).json);

/** What deploying under Pond may add: calibration on the owner's inputs, or explicit consent to the default polynomial. */
export interface PondDeployOptions {
  /** Fit each relu to these inputs (calibrateForPond) and deploy the calibrated model. */
  calibrate?: CalibrateOptions & {
    inputs: Samples;
    /** The least argmax agreement with the original model on the check inputs (default 0.99). */
    minAgreement?: number;
    /** Deploy even below minAgreement. */
    force?: boolean;
  };
  /** Accept relu's default polynomial on [-4, 4] (answers differ from the model's wherever a relu sees values outside it). */
  uncalibrated?: boolean;
}

/** A calibration whose agreement was below the threshold; carries the report. */
export class CalibrationRefused extends Error {
  constructor(readonly report: CalibrationReport, minAgreement: number) {
    super(`calibration reached argmax agreement ${report.agreement.agreed}/${report.agreement.rows} (${(100 * report.agreement.fraction).toFixed(1)}%) with the original model, below the minimum ${(100 * minAgreement).toFixed(1)}%: not deployed (more or more typical inputs, degree 3, an exact protocol, or force)`);
  }
}

/**
 * The model to deploy under `protocol`: as given, or calibrated for Pond. A model with relus is
 * refused under Pond unless calibrated (or `uncalibrated` is set); the Pond options are refused
 * under the exact protocols, which compute relu exactly.
 */
export function prepareDeploy(model: ModelSource, protocol: string, opts: PondDeployOptions, loaded?: Loaded): { source: ModelSource; calibration?: CalibrationReport } {
  if (!PROTOCOLS.includes(protocol as ProtocolName) || isExact(protocol as ProtocolName)) {
    if (opts.calibrate || opts.uncalibrated) throw new Error(`${opts.calibrate ? 'calibration' : 'uncalibrated'} applies to Pond only: ${protocol} computes relu exactly`);
    return { source: model };
  }
  if (opts.calibrate && opts.uncalibrated) throw new Error('choose calibrate or uncalibrated, not both');
  if (opts.calibrate) {
    const { inputs, minAgreement = 0.99, force, ...fit } = opts.calibrate;
    if (!(minAgreement >= 0 && minAgreement <= 1)) throw new Error(`minAgreement must be in [0, 1], got ${minAgreement}`);
    const c = calibrateForPond(model, inputs, fit, loaded);
    if (c.report.agreement.fraction < minAgreement && !force) throw new CalibrationRefused(c.report, minAgreement);
    return { source: c.artifacts, calibration: c.report };
  }
  const relus = uncalibratedRelus(model, loaded);
  if (relus.length && !opts.uncalibrated)
    throw new Error(
      `the model has relu (${relus.slice(0, 4).join(', ')}${relus.length > 4 ? ', ...' : ''}), and Pond replaces relu by a polynomial that is wrong outside [-4, 4]: ` +
        `calibrate it on your inputs (tfe deploy --protocol pond --calibrate inputs.json; the API option calibrate), or deploy with an exact protocol (${exactProtocolsText()}); --uncalibrated (the API option uncalibrated) deploys it with the default polynomial anyway`,
    );
  return { source: model };
}
