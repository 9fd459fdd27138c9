// Keras's Hashing (a categorical feature of many values hashed into num_bins bins: ids into an
// Embedding, or one_hot/multi_hot/count). Its bins are a public function of its input alone (no
// learned values), so the input owner computes them on its own values: a client sends each value's
// bin, one-hot over num_bins, as it sends token ids (input_encoding.ts), and the servers only see
// the shares. The layer then is local arithmetic on that one-hot: int hands it to the Embedding or
// CategoryEncoding layers that read it (as the lookups' ids, layers_embedding.ts idMakersOf), the
// other modes are Keras's encodings of it (categorical_encoding.ts; multi_hot one relu more).
//
// The bin, as Keras 3 computes it: a float is cast to int64 (towards zero), a number written in
// decimal, then FarmHash's Fingerprint64 of the UTF-8 bytes (farmhash.ts) modulo num_bins; with a
// mask_value, that value is bin 0 and the others are hashed into num_bins - 1 bins after it. With
// a salt, SipHash-2-4 keyed by it instead (to_hash_bucket_strong; siphash.ts).
import { type HashingSpec, MAX_HASH_BINS } from './hash_bins';
import { type LayerConfig, type LayerGraph, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { settings } from './layers_settings';
import type { AnyTensor } from './tensor';
import { reshape } from './ops';
import { type CategoricalMode, encodeRows, plainEncode } from './categorical_encoding';
import { idsOneHot } from './layers_embedding';

const isNull = (v: unknown) => v === undefined || v === null;
/** A salt word: a whole number in [0, 2^53] (a key word of SipHash; beyond 2^53 JSON does not carry it exactly). */
const isSaltWord = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;

/** A Hashing layer's settings, checked. */
export function hashingOf(l: LayerConfig): HashingSpec & { mode: 'int' | CategoricalMode } {
  const c = settings(l, {
    num_bins: (v) => Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_HASH_BINS,
    mask_value: (v) => isNull(v) || typeof v === 'string' || Number.isSafeInteger(v),
    // An int (Keras's [salt, salt]) or two; whole numbers JSON carries exactly.
    salt: (v) => isNull(v) || isSaltWord(v) || (Array.isArray(v) && v.length === 2 && v.every(isSaltWord)),
    output_mode: (v) => v === undefined || ['int', 'one_hot', 'multi_hot', 'count'].includes(v as string),
  });
  if (!isNull(l.config.sparse) && l.config.sparse !== false) refuse(l, `sparse = ${JSON.stringify(l.config.sparse)} is not supported: only dense outputs`);
  const salt = isNull(c.salt) ? null : Array.isArray(c.salt) ? (c.salt as [number, number]) : ([c.salt, c.salt] as [number, number]);
  return { numBins: Number(c.num_bins), maskValue: isNull(c.mask_value) ? null : (c.mask_value as string | number), salt, mode: (c.output_mode ?? 'int') as 'int' | CategoricalMode };
}

/**
 * A Hashing layer reads a model input directly (its bins are the input owner's to compute), and
 * an input it reads is read by Hashing layers of one num_bins and mask_value only: per input, the
 * hashing its owner applies, or undefined.
 */
export function hashedInputsOf(graph: LayerGraph): (HashingSpec | undefined)[] {
  const ids = graph.inputs.map((i) => i.id);
  const hashers = graph.nodes.filter((n) => n.layer.class_name === 'Hashing');
  for (const { layer, inputs } of hashers)
    if (inputs.length !== 1 || !ids.includes(inputs[0]))
      refuse(layer, `reads '${inputs.join("', '")}', not one of the model's inputs: a Hashing must read a model input directly (its owner computes the bins)`);
  return graph.inputs.map((input) => {
    const readers = hashers.filter((n) => n.inputs[0] === input.id);
    if (readers.length === 0) return undefined;
    const first = hashingOf(readers[0].layer);
    for (const { layer } of readers) {
      const h = hashingOf(layer);
      if (h.numBins !== first.numBins || h.maskValue !== first.maskValue || JSON.stringify(h.salt) !== JSON.stringify(first.salt))
        refuse(layer, `hashes input '${input.id}' into ${h.numBins} bins (mask_value ${JSON.stringify(h.maskValue)}, salt ${JSON.stringify(h.salt)}), and Hashing '${readers[0].layer.config.name}' into ${first.numBins} (mask_value ${JSON.stringify(first.maskValue)}, salt ${JSON.stringify(first.salt)}): the input's owner hashes it once`);
    }
    for (const { layer, inputs } of graph.nodes)
      if (layer.class_name !== 'Hashing' && layer.class_name !== 'InputLayer' && inputs.includes(input.id))
        refuse(layer, `reads input '${input.id}', which Hashing '${readers[0].layer.config.name}' hashes (its owner sends the bins): only Hashing layers may read it`);
    if (graph.outputs.includes(input.id)) throw new Error(`input '${input.id}' is hashed by Hashing '${readers[0].layer.config.name}' and is also an output of the model, which is not supported`);
    return { numBins: first.numBins, maskValue: first.maskValue, salt: first.salt };
  });
}

/**
 * The private layer: its input arrives one-hot over num_bins ([batch, ..., num_bins], the owner's
 * encoding of the bins); int hands it to its id readers over their vocabulary, the other modes are
 * Keras's encodings of it.
 */
export function hashing(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const { numBins, mode } = hashingOf(l);
  if (mode === 'int' && ctx.idsOneHot === undefined)
    refuse(l, `output_mode 'int' gives bins, which only Embedding, CategoryEncoding and HashedCrossing layers may read (as ids, one-hot); here they are read as numbers or returned by the model: use output_mode one_hot, multi_hot or count`);
  const step = () => ([x]: AnyTensor[]) => {
    if (x.rank < 2 || x.shape[x.rank - 1] !== numBins) refuse(l, `takes the one-hot encoding [batch, ..., ${numBins}] of its input's bins, got a tensor of shape [${x.shape}]; share the input with model.defineInput (or a client), which hashes it`);
    const shape = x.shape.slice(0, -1), rows = reshape(x, [shape.reduce((a, d) => a * d, 1), numBins]);
    return mode === 'int' ? idsOneHot(l, rows, shape, ctx.idsOneHot!) : encodeRows(l, mode, rows, shape, numBins);
  };
  return { step, comparisons: mode === 'multi_hot', exactOnly: mode === 'multi_hot' };
}

/** The plaintext twin, on the bins (as a client computes them). */
export function plainHashing(l: LayerConfig, alloc: (n: number) => Float64Array): (x: { data: Float64Array; shape: number[] }) => { data: Float64Array; shape: number[] } {
  const { numBins, mode } = hashingOf(l);
  return (x) => (mode === 'int' ? x : plainEncode(l, mode, x, numBins, (v) => v, alloc));
}
