// Private vs plaintext, side by side: the private model's outputs (decoded by the client) against
// the float64 forward pass of the same graph (plain_forward.ts): argmax agreement, the largest
// |logit difference| and the KL divergence of the outputs. With `debugRanges`, each layer's
// largest |value| is computed privately (an exact comparison tree) and revealed to the client only,
// then checked against what the ring holds at the cluster's fracBits.
import type { PartyName } from '../net/transport';
import { defineOutput, definePrivateInput } from './define';
import { encodeInput } from './input_encoding';
import { concat, neg, reshape } from './ops';
import { applyFinal, type PlainModel, type PlainTensor } from './plain_forward';
import { reduceMaxWholeRing } from './comparison_ops';
import { collect } from './tidy';
import type { AnyTensor, PrivateTensor } from './tensor';
import { toDense, type TensorValue } from './values';
import type { Cluster } from '../protocol/cluster';
import { exactProtocolsText, isExact } from '../protocol/protocols';
import type { FinalActivation } from './final_activation';

/** Samples: one tensor [n, ...inputShape], or one array (flat or nested) per sample. */
export type Samples = TensorValue | readonly ArrayLike<number>[];

export interface VerifyOptions {
  /** Samples per private query (default 16). */
  batchSize?: number;
  /**
   * Reveal each layer's largest |value| (over each batch) to the client and warn when it
   * approaches the ring's limit. Needs an exact protocol (the maximum is a comparison tree).
   */
  debugRanges?: boolean;
  /** Warn when fewer than this many bits are left below the ring's limit (default 20). */
  warnBits?: number;
  /** Called after each batch. */
  onProgress?: (done: number, total: number) => void;
  /** The player who provides the samples and alone receives outputs and ranges (default 'prediction-client'). */
  player?: PartyName;
}

export interface LayerRange {
  /** 'Class:name'. */
  layer: string;
  /** The largest |value| of the layer's output in the private computation (revealed to the client). */
  maxAbs: number;
  /** The same in the float64 plaintext. */
  plainMaxAbs: number;
  /**
   * 63 - 2 fracBits - log2(max |value|): how far a product at this magnitude (at 2 fracBits
   * before truncation) stays below the ring's signed limit 2^63. <= 0: it overflows.
   */
  bitsLeft: number;
  /** 2^-bitsLeft: the chance that one element's local truncation fails at this magnitude. */
  truncationFailure: number;
  warning?: string;
}

export interface VerifyReport {
  samples: number;
  protocol: string;
  fracBits: number;
  finalActivation?: FinalActivation;
  /** Rows (the last axis of each output) whose argmax is the same in private and plaintext. */
  agreement: { agreed: number; rows: number; fraction: number };
  /** Sample indices with at least one row whose argmax differs. */
  disagreements: number[];
  /** Over every output element, before the final softmax/sigmoid (the logits the client receives). */
  maxAbsLogitDiff: number;
  meanAbsLogitDiff: number;
  /** KL(plaintext || private) of the output distributions, per sample: mean and max. */
  kl: { mean: number; max: number; over: 'softmax' | 'sigmoid' | 'softmax of the outputs' };
  ranges?: LayerRange[];
  /**
   * Products a layer forms inside that are larger than its output (a calibrated polynomial's
   * x^degree, a fused activation's input, a recurrent layer's gate inputs, attention's
   * projections and scores), from the plaintext values of the samples: the same headroom check as
   * `ranges`, layer named 'Class:name (x^3)', 'Dense:d (before tanh)'.
   */
  products: LayerRange[];
  warnings: string[];
  seconds: number;
}

/** Samples as one [n, ...inputShape] float64 tensor, checked against the model's input. */
export function samplesTensor(samples: Samples, inputShape: readonly number[]): PlainTensor {
  const per = inputShape.reduce((a, b) => a * b, 1);
  if (Array.isArray(samples) && samples.length > 0 && typeof samples[0] === 'object' && samples[0] !== null && !('shape' in (samples[0] as object))) {
    const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : [Number(v)]);
    const rows = (samples as ArrayLike<number>[]).map((s, i) => {
      const f = flat(s);
      if (f.length !== per) throw new Error(`sample ${i} has ${f.length} values; the model takes [${inputShape}] (${per})`);
      if (!f.every(Number.isFinite)) throw new Error(`sample ${i} has a value that is not a finite number`);
      return f;
    });
    return { data: Float64Array.from(rows.flat()), shape: [rows.length, ...inputShape] };
  }
  const d = toDense(samples as TensorValue, 'verify samples');
  if (d.shape.slice(1).join() !== inputShape.join()) throw new Error(`samples have shape [${d.shape}]; the model takes [n, ${inputShape}]`);
  if (!d.data.every(Number.isFinite)) throw new Error('samples hold a value that is not a finite number');
  return d;
}

/** Agreement, logit differences and KL between plaintext and private outputs of the same shape. */
export function compareOutputs(plain: PlainTensor, priv: PlainTensor, finalActivation?: FinalActivation): Pick<VerifyReport, 'agreement' | 'disagreements' | 'maxAbsLogitDiff' | 'meanAbsLogitDiff' | 'kl'> {
  if (plain.shape.join() !== priv.shape.join()) throw new Error(`plaintext output [${plain.shape}] and private output [${priv.shape}] differ in shape`);
  // A rank-1 output is one value per sample: [n] as [n, 1].
  const n = plain.shape[0], width = plain.shape.length > 1 ? plain.shape[plain.shape.length - 1] : 1, per = plain.data.length / n;
  let maxAbs = 0, sumAbs = 0;
  for (let i = 0; i < plain.data.length; i++) {
    const d = Math.abs(plain.data[i] - priv.data[i]);
    if (!(d <= maxAbs)) maxAbs = d; // NaN propagates
    sumAbs += d;
  }
  // One output per row (a sigmoid's logit, a score): its class is its sign, logit > 0 (the
  // argmax of one value was always 0, and every row agreed whatever the values).
  // A row with a NaN has no class (-1: it agrees with nothing); its argmax was 0, so a NaN row
  // agreed wherever the other picked class 0.
  const argmax = (v: Float64Array, at: number) => {
    for (let j = at; j < at + width; j++) if (Number.isNaN(v[j])) return -1;
    if (width === 1) return v[at] > 0 ? 1 : 0;
    let b = at;
    for (let j = at + 1; j < at + width; j++) if (v[j] > v[b]) b = j;
    return b - at;
  };
  let agreed = 0;
  const disagreements: number[] = [];
  for (let s = 0; s < n; s++) {
    let ok = true;
    for (let r = s * per; r < (s + 1) * per; r += width) {
      const c = argmax(plain.data, r);
      if (c >= 0 && c === argmax(priv.data, r)) agreed++;
      else ok = false;
    }
    if (!ok) disagreements.push(s);
  }
  const rows = plain.data.length / width;
  // KL over the distribution the client reads: softmax rows, or independent Bernoullis (sigmoid).
  const p = applyFinal(plain, finalActivation === 'sigmoid' ? 'sigmoid' : 'softmax'), q = applyFinal(priv, finalActivation === 'sigmoid' ? 'sigmoid' : 'softmax');
  const tiny = 1e-300;
  const term = (a: number, b: number) => (a > 0 ? a * Math.log(Math.max(a, tiny) / Math.max(b, tiny)) : 0);
  const kls: number[] = [];
  for (let s = 0; s < n; s++) {
    let k = 0;
    for (let i = s * per; i < (s + 1) * per; i++) k += finalActivation === 'sigmoid' ? term(p.data[i], q.data[i]) + term(1 - p.data[i], 1 - q.data[i]) : term(p.data[i], q.data[i]);
    kls.push(k / (per / width)); // per row
  }
  return {
    agreement: { agreed, rows, fraction: rows ? agreed / rows : 1 },
    disagreements,
    maxAbsLogitDiff: maxAbs,
    meanAbsLogitDiff: sumAbs / (plain.data.length || 1),
    kl: { mean: kls.reduce((a, b) => a + b, 0) / (n || 1), max: Math.max(0, ...kls), over: finalActivation === 'sigmoid' ? 'sigmoid' : finalActivation === 'softmax' || finalActivation === 'log_softmax' ? 'softmax' : 'softmax of the outputs' },
  };
}

/** What the ring holds at `fracBits`, for a layer whose largest |value| is `maxAbs` (see LayerRange). */
export function rangeCheck(layer: string, maxAbs: number, plainMaxAbs: number, fracBits: number, warnBits = 20): LayerRange {
  const m = Math.max(maxAbs, plainMaxAbs);
  const bitsLeft = m > 0 ? 63 - 2 * fracBits - Math.log2(m) : Infinity;
  const r: LayerRange = { layer, maxAbs, plainMaxAbs, bitsLeft, truncationFailure: Math.min(1, 2 ** -bitsLeft) };
  const limit = 2 ** (63 - 2 * fracBits);
  if (!Number.isFinite(maxAbs) || bitsLeft <= 0)
    r.warning = `${layer}: max |value| ${m.toExponential(2)} is beyond the ring's limit for fracBits ${fracBits} (products must stay below 2^${63 - 2 * fracBits} = ${limit.toExponential(2)}): values wrap around; lower fracBits or scale the inputs or weights down`;
  else if (bitsLeft < warnBits)
    r.warning = `${layer}: max |value| ${m.toExponential(2)} leaves ${bitsLeft.toFixed(1)} bits below the ring's limit for fracBits ${fracBits} (2^${63 - 2 * fracBits} = ${limit.toExponential(2)}); a truncation fails with probability ~2^-${bitsLeft.toFixed(1)} per element: lower fracBits or scale the inputs or weights down`;
  return r;
}

/**
 * The largest |value| of a private tensor, as a private [1] tensor (a comparison tree over 2n
 * elements, on the whole ring: a value past its bound is what this looks for).
 */
function maxAbsOf(t: AnyTensor): PrivateTensor {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const flat = reshape(t, [n, 1]);
  return reduceMaxWholeRing(concat([flat, neg(flat)], 0), 0);
}

/**
 * Runs `samples` through the private model (`predict`, or `trace` with an observer when ranges
 * are asked for) in batches and through the plaintext model, and compares them.
 */
export async function verifyPrivate(
  cluster: Cluster,
  plain: PlainModel,
  run: { predict: (x: PrivateTensor) => AnyTensor; trace: (x: PrivateTensor, observe: (layer: string, out: AnyTensor) => void) => AnyTensor },
  samples: Samples,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const t0 = performance.now();
  const x = samplesTensor(samples, plain.inputShape);
  const n = x.shape[0];
  if (n === 0) throw new Error('verify needs at least one sample');
  const batch = opts.batchSize ?? 16;
  if (!Number.isSafeInteger(batch) || batch < 1) throw new Error(`batchSize must be a positive integer, got ${batch}`);
  if (opts.debugRanges && !isExact(cluster.protocol))
    throw new Error(`debugRanges computes each layer's maximum with exact comparisons, which the ${cluster.protocol} protocol does not have; verify under ${exactProtocolsText()} at the same fracBits (the linear layers' ranges are the same)`);
  const player = opts.player ?? 'prediction-client';
  const per = x.data.length / n;
  const plainOut = plain.forward(x);
  const privData = new Float64Array(plainOut.data.length);
  const outPer = plainOut.data.length / n;
  const privMax = new Map<string, number>();
  for (let at = 0; at < n; at += batch) {
    const m = Math.min(batch, n - at);
    const data = x.data.subarray(at * per, (at + m) * per);
    const { result, tensors } = collect(() => {
      // Token ids are shared one-hot, as every input owner shares them (input_encoding.ts).
      const input = definePrivateInput(player, () => encodeInput({ data, shape: [m, ...plain.inputShape] }, plain.spec, 'verify samples'), cluster);
      if (!opts.debugRanges) return { out: run.predict(input), maxima: [] as { layer: string; t: PrivateTensor }[] };
      const maxima: { layer: string; t: PrivateTensor }[] = [];
      const out = run.trace(input, (layer, t) => maxima.push({ layer, t: maxAbsOf(t) }));
      return { out, maxima };
    });
    try {
      const [out, ...maxima] = await Promise.all([defineOutput(player, result.out), ...result.maxima.map((r) => defineOutput(player, r.t))]);
      if (out.data.length !== m * outPer) throw new Error(`the private model returned ${out.data.length / m} values per sample, the plaintext ${outPer}`);
      privData.set(out.data, at * outPer);
      result.maxima.forEach((r, i) => privMax.set(r.layer, Math.max(privMax.get(r.layer) ?? 0, maxima[i].data[0])));
    } finally {
      await Promise.allSettled(tensors.map((t) => t.dispose()));
    }
    opts.onProgress?.(at + m, n);
  }
  const report: VerifyReport = {
    samples: n,
    protocol: cluster.protocol,
    fracBits: cluster.fixed.fracBits,
    finalActivation: plain.finalActivation,
    ...compareOutputs(plainOut, { data: privData, shape: plainOut.shape }, plain.finalActivation),
    products: [],
    warnings: [],
    seconds: 0,
  };
  const plainMax = new Map<string, number>(), inside = new Map<string, number>();
  plain.forward(x, (layer, t) => {
    let mx = 0;
    for (const v of t.data) mx = Math.max(mx, Math.abs(v));
    // Token ids: the servers hold their one-hot, whose largest value is 1, not the largest id.
    if (t === x && plain.spec.inputEncoding) mx = Math.min(mx, 1);
    plainMax.set(layer, mx);
  }, (layer, what) => report.warnings.push(`${layer}: ${what}`), (layer, what, m) => {
    const key = `${layer} (${what})`;
    inside.set(key, Math.max(inside.get(key) ?? 0, m));
  });
  for (const [key, m] of inside) {
    const r = rangeCheck(key, m, m, cluster.fixed.fracBits, opts.warnBits);
    report.products.push(r);
    if (r.warning) report.warnings.push(`${r.warning} (a product inside the layer, from the plaintext values of these samples)`);
  }
  if (opts.debugRanges) {
    report.ranges = plain.layers.map((layer) => rangeCheck(layer, privMax.get(layer) ?? NaN, plainMax.get(layer) ?? 0, cluster.fixed.fracBits, opts.warnBits));
    for (const r of report.ranges) if (r.warning) report.warnings.push(r.warning);
  } else {
    // Without debugRanges, the plaintext's own values warn as well: a layer whose values leave few
    // bits fails a truncation now and then (a model on raw, unscaled inputs: about once in 10^4),
    // which a handful of samples rarely shows, and for one output agreement is only a sign.
    for (const layer of plain.layers) {
      const r = rangeCheck(layer, plainMax.get(layer) ?? 0, plainMax.get(layer) ?? 0, cluster.fixed.fracBits, opts.warnBits);
      if (r.warning) report.warnings.push(`${r.warning} (from the plaintext values of these samples; --debug-ranges measures the private ones)`);
    }
  }
  if (report.agreement.fraction < 1)
    report.warnings.push(`${report.agreement.rows - report.agreement.agreed} of ${report.agreement.rows} outputs have a different argmax than plaintext (samples ${report.disagreements.slice(0, 10).join(', ')}${report.disagreements.length > 10 ? ', ...' : ''})`);
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}
