// Keras's HashedCrossing (a feature cross: several categorical features' values hashed together
// into num_bins bins), as keras.utils.FeatureSpace builds it: it crosses the ids that lookups,
// Discretization, Hashing or another crossing make (output_mode int). Those ids are private here
// (each arrives as its one-hot, layers_embedding.ts idMakersOf), but each takes few values, so
// the cross's bin is a public function of the tuple of ids, tabulated:
//   1. the tuple's index k = sum_i id_i stride_i (stride_i the product of the later widths): a
//      public integer combination of the one-hots' columns, local and exact (sums of columns
//      times powers of two);
//   2. [k >= c] for c = 1 .. W - 1 (W the tuples' count): W - 1 comparisons, whose neighbours'
//      differences are the tuple's one-hot (Discretization's step);
//   3. each bin's entry the sum of its tuples' (a gather of columns and a sum: local).
// The servers see only the comparisons' messages, as for any lookup; the table (which tuple goes
// to which bin) is public, as Keras's hash is.
//
// The bin, as TensorFlow's sparse cross computes it: h = 0xDECAFCAFFE, then for each feature in
// order h = FingerprintCat64(h, id) (an integer feature's value itself, not its fingerprint),
// bin = h mod num_bins (as unsigned 64-bit integers).
import { fingerprintCat64 } from './farmhash';
import { MAX_HASH_BINS } from './hash_bins';
import { type LayerConfig, type LayerGraph, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { settings } from './layers_settings';
import type { AnyTensor } from './tensor';
import { add, concat, constantTensor, gather, pad, reduceSum, reshape, slice, sub } from './ops';
import { mul } from './ops_nonlinear';
import { nonNegativeOp } from './comparison_ops';
import { checkIdWidth, idsOneHot, makesIds } from './layers_embedding';
import { oneHotOfThresholds } from './layers_discretization';

const isNull = (v: unknown) => v === undefined || v === null;
/** tf.sparse.cross_hashed's default hash key. */
const HASH_KEY = 0xdecafcaffen;
/**
 * At most this many tuples of ids per cross: each costs one comparison per value crossed
 * (a FeatureSpace cross of two features of tens of values is a few hundred).
 */
export const MAX_CROSS_TUPLES = 2 ** 16;

/** A HashedCrossing's settings, checked. */
export function crossingOf(l: LayerConfig): { numBins: number; mode: 'int' | 'one_hot' } {
  const c = settings(l, {
    num_bins: (v) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_HASH_BINS,
    output_mode: (v) => v === undefined || v === 'int' || v === 'one_hot',
  });
  if (!isNull(l.config.sparse) && l.config.sparse !== false) refuse(l, `sparse = ${JSON.stringify(l.config.sparse)} is not supported: only dense outputs`);
  return { numBins: Number(c.num_bins), mode: (c.output_mode ?? 'int') as 'int' | 'one_hot' };
}

/** The bin Keras's HashedCrossing gives a tuple of integer values (see the header). */
export function crossBin(values: readonly number[], numBins: number): number {
  let h = HASH_KEY;
  for (const v of values) h = fingerprintCat64(h, BigInt(v));
  return Number(h % BigInt(numBins));
}

/**
 * A HashedCrossing reads two or more ids made privately (the only values whose range is small
 * enough to tabulate); a model's raw inputs, or numbers, are refused by name.
 */
export function checkCrossings(graph: LayerGraph): void {
  const made = new Map(graph.nodes.map((n) => [n.id, n.layer]));
  for (const { layer, inputs } of graph.nodes) {
    if (layer.class_name !== 'HashedCrossing') continue;
    crossingOf(layer);
    if (inputs.length < 2) refuse(layer, `crosses ${inputs.length} feature${inputs.length === 1 ? '' : 's'}: it needs two or more, as Keras's does`);
    for (const id of inputs) {
      const maker = made.get(id), input = !maker || maker.class_name === 'InputLayer';
      if (maker && makesIds(maker)) continue;
      refuse(layer, `crosses '${id}', ${input ? 'a model input' : `the output of ${maker.class_name} '${maker.config.name}'`}: it crosses the ids a Discretization, IntegerLookup, StringLookup, Hashing or HashedCrossing makes (output_mode int), as keras.utils.FeatureSpace builds it; crossing ${input ? "a model's raw inputs" : 'other values'} is not supported`);
    }
  }
}

/**
 * The crossing's table for inputs of widths `widths`: per bin, its tuples' indices, padded with
 * W (a zero column) to the fullest bin's count.
 */
function binTable(widths: readonly number[], numBins: number): { indices: number[]; perBin: number } {
  const total = widths.reduce((a, w) => a * w, 1), binOf = new Int32Array(total), ids = widths.map(() => 0);
  for (let k = 0; k < total; k++) {
    binOf[k] = crossBin(ids, numBins);
    for (let i = widths.length - 1; i >= 0 && ++ids[i] === widths[i]; i--) ids[i] = 0;
  }
  // Tuples by bin (typed arrays: num_bins may be 2^24 where the tuples are few).
  const order = Int32Array.from({ length: total }, (_, k) => k).sort((a, b) => binOf[a] - binOf[b] || a - b);
  let perBin = 1;
  for (let at = 0, run = 0; at < total; at++) perBin = Math.max(perBin, (run = at > 0 && binOf[order[at]] === binOf[order[at - 1]] ? run + 1 : 1));
  const indices = new Array<number>(numBins * perBin).fill(total);
  for (let at = 0, slot = 0; at < total; at++) {
    slot = at > 0 && binOf[order[at]] === binOf[order[at - 1]] ? slot + 1 : 0;
    indices[binOf[order[at]] * perBin + slot] = order[at];
  }
  return { indices, perBin };
}

/** The private layer (see the header): its inputs are the crossed ids' one-hots [..., w_i]. */
export function hashedCrossing(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const { numBins, mode } = crossingOf(l);
  if (mode === 'int' && ctx.idsOneHot === undefined)
    refuse(l, `output_mode 'int' gives bins, which only Embedding, CategoryEncoding and HashedCrossing layers may read (as ids, one-hot); here they are read as numbers or returned by the model: use output_mode one_hot`);
  if (mode === 'int') checkIdWidth(l, numBins, ctx.idsOneHot);
  const tables = new Map<string, { indices: number[]; perBin: number }>();
  const step = () => (xs: AnyTensor[]) => {
    const shape = xs[0].shape.slice(0, -1), widths = xs.map((x) => x.shape[x.rank - 1]);
    if (shape.length < 1 || shape.length > 2 || (shape.length === 2 && shape[1] !== 1) || xs.some((x) => x.rank !== shape.length + 1 || x.shape.slice(0, -1).some((d, i) => d !== shape[i])))
      refuse(l, `crosses ids of shape [batch] or [batch, 1], equal for every feature, as Keras does; got one-hots of shapes ${xs.map((x) => `[${x.shape}]`).join(', ')}`);
    const total = widths.reduce((a, w) => a * w, 1);
    if (total > MAX_CROSS_TUPLES) refuse(l, `crosses features of ${widths.join(' x ')} values, ${total} tuples: at most ${MAX_CROSS_TUPLES} (a comparison each per query)`);
    const key = widths.join();
    if (!tables.has(key)) tables.set(key, binTable(widths, numBins));
    const { indices, perBin } = tables.get(key)!;
    const rows = shape[0];
    const flat = concat(xs.map((x, i) => reshape(x, [rows, widths[i]])), 1);
    // 1. k = sum_i id_i stride_i: column (i, j) weighs j stride_i; by the bits of the weights,
    // each bit's columns summed and times its power of two (an integer: exact).
    const weights: number[] = [];
    let stride = total;
    for (const w of widths) {
      stride /= w;
      for (let j = 0; j < w; j++) weights.push(j * stride);
    }
    let k: AnyTensor | null = null;
    for (let b = 0; 2 ** b < total; b++) {
      const cols = weights.flatMap((v, at) => (Math.floor(v / 2 ** b) % 2 === 1 ? [at] : []));
      if (cols.length === 0) continue; // no weight has this bit (widths 3 x 3: none reaches 8)
      const term = mul(reduceSum(gather(flat, cols, 1), 1, true), 2 ** b);
      k = k === null ? term : add(k, term);
    }
    // 2. The tuple's one-hot from [k >= c], c = 1 .. W - 1 (ids are the library's values: their
    // comparisons take the width their structure gives).
    let tuples: AnyTensor;
    if (k === null) tuples = slice(flat, [0, 0], [rows, 1]); // one tuple (every width 1): each row's 1
    else {
      const thresholds = constantTensor(flat.cluster, Array.from({ length: total - 1 }, (_, c) => c + 1), [1, total - 1]);
      const g = flat.cluster.internalOps(() => nonNegativeOp(sub(k!, thresholds)));
      tuples = oneHotOfThresholds(g, rows, total - 1);
    }
    // 3. Each bin's tuples summed (index W: a zero column for the bins with fewer).
    const bins = reshape(reduceSum(reshape(gather(pad(tuples, [[0, 0], [0, 1]]), indices, 1), [rows, numBins, perBin]), 2), [rows, numBins]);
    return mode === 'int' ? idsOneHot(l, bins, shape, ctx.idsOneHot!) : bins;
  };
  return { step, comparisons: true, exactOnly: true };
}

/** The plaintext twin, on the ids themselves. */
export function plainHashedCrossing(l: LayerConfig, alloc: (n: number) => Float64Array): (xs: { data: Float64Array; shape: number[] }[]) => { data: Float64Array; shape: number[] } {
  const { numBins, mode } = crossingOf(l);
  return (xs) => {
    const n = xs[0].data.length, bins = Array.from({ length: n }, (_, r) => crossBin(xs.map((x) => x.data[r]), numBins));
    if (mode === 'int') return { data: Float64Array.from(bins), shape: xs[0].shape };
    const out = alloc(n * numBins);
    bins.forEach((b, r) => (out[r * numBins + b] = 1));
    return { data: out, shape: [xs[0].shape[0], numBins] };
  };
}
