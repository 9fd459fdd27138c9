// Keras's HashedCrossing (a feature cross: several categorical features' values hashed together
// into num_bins bins), as keras.utils.FeatureSpace builds it: it crosses the ids that lookups,
// Discretization, Hashing or another crossing make (output_mode int). Those ids are private here
// (each arrives as its one-hot, layers_embedding.ts idMakersOf), but each takes few values, so
// the cross's bin is a public function of the tuple of ids, tabulated:
//   1. the tuple's index k = sum_i id_i stride_i (stride_i the product of the later widths): a
//      public integer combination of the one-hots' columns, local and exact (sums of columns
//      times powers of two);
//   2. the tuple's one-hot row over the W tuples, from k (table_read.ts columnOneHot: one opening
//      of a uniform distance to a point server2 dealt a one-hot row at, under FSS as one DPF key;
//      shared_one_hot.ts), where W - 1 comparisons [k >= c] did it before;
//   3. each bin's entry the sum of its tuples' (a gather of columns and a sum: local).
// The servers see only that opening and the dealt row (uniform, or a pseudorandom key), as for any
// table read; the table (which tuple goes to which bin) is public, as Keras's hash is.
//
// The bin, as TensorFlow's sparse cross computes it: h = 0xDECAFCAFFE, then for each feature in
// order h = FingerprintCat64(h, id) (an integer feature's value itself, not its fingerprint),
// bin = h mod num_bins (as unsigned 64-bit integers).
import { fingerprintCat64 } from './farmhash';
import { MAX_HASH_BINS } from './hash_bins';
import { type LayerConfig, type LayerGraph, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { settings } from './layers_settings';
import type { AnyTensor, PrivateTensor } from './tensor';
import { add, concat, gather, pad, reduceSum, reshape, slice } from './ops';
import { mul } from './ops_nonlinear';
import { checkIdWidth, idsOneHot, makesIds } from './layers_embedding';
import { columnOneHot } from './table_read';
import { DPF_ALL_MAX_BITS } from '../ops/fss';

const isNull = (v: unknown) => v === undefined || v === null;
/** tf.sparse.cross_hashed's default hash key. */
const HASH_KEY = 0xdecafcaffen;
/**
 * At most this many tuples of ids per cross: each value crossed takes a one-hot row over them
 * (dealt as the row itself, 8 bytes a tuple, or under FSS one DPF key expanded over them); a
 * FeatureSpace cross of two features of tens of values is a few hundred.
 */
export const MAX_CROSS_TUPLES = 2 ** DPF_ALL_MAX_BITS;

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
    if (total > MAX_CROSS_TUPLES) refuse(l, `crosses features of ${widths.join(' x ')} values, ${total} tuples: at most ${MAX_CROSS_TUPLES} (a one-hot row over them per value)`);
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
    // 2. The tuple's one-hot row from k, a whole number below W.
    const tuples = k === null ? slice(flat, [0, 0], [rows, 1]) : columnOneHot(reshape(k, [rows]) as PrivateTensor, total); // one tuple (every width 1): each row's 1
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
