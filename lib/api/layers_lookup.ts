// Keras's IntegerLookup (structured data's categorical features given as integer codes): the
// index of x in a vocabulary v_1..v_m, index 0 for a value outside it (OOV), or with a mask
// token, 0 for it, 1 for OOV, vocabulary indices from 2. The vocabulary is the owner's, shared as
// a weight (config_constants.ts moves it there from the config); its size is public.
//
// Privately, x's indicator per entry, e_j = [v_j <= x < v_j + 1] = [x >= v_j] - [x >= v_j + 1]:
// two comparisons and no product, and for x a whole number, [x = v_j]; strings' ids are whole
// numbers, so StringLookup's is one equality test (under FSS one DPF key). Keras casts x to an
// integer first (towards zero), so the two agree on every whole x and every x >= 0; a negative x
// between integers falls in floor(x)'s entry here, trunc(x)'s in Keras (docs/models.md). OOV is 1 - sum_j e_j (less the mask's indicator).
// one_hot, multi_hot and count encode these rows (categorical_encoding.ts), tf_idf is count times
// the owner's idf weights (a private product per column; OOV's weight is the entries' mean, as
// Keras sets it: config_constants.ts); int, vocabulary
// indices, is supported where Embedding or CategoryEncoding layers read it, as the one-hot of the
// indices (layers_embedding.ts idMakersOf). StringLookup is the same on strings' ids: a client
// sends each string of a string input as its id (string_ids.ts), and the vocabulary's ids are the
// owner's private weights, so no server sees a string. A string vocabulary of TABLE_FROM_ENTRIES
// or more comes as a bucket table instead (bucket_table.ts), read once per token (table_read.ts)
// into the same one-hot rows.
import { type LayerConfig, type LayerGraph, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { settings } from './layers_settings';
import type { AnyTensor, PrivateTensor } from './tensor';
import { add, concat, constantTensor, neg, pad, reduceSum, reshape, slice, sub } from './ops';
import { mul } from './ops_nonlinear';
import { ID_HALF, idHalves, STRING_ID_BITS, stringId } from './string_ids';
import { equalZeroWhole, nonNegativeOp } from './comparison_ops';
import { type CategoricalMode, encodedShape, encodeRows } from './categorical_encoding';
import { checkIdWidth, idsOneHot } from './layers_embedding';
import { textModeOf, textVectorizationOf } from './layers_text';
import { bucketLayout, tableShape, VOCABULARY_TABLE } from './bucket_table';
import { columnOneHot, tableColumns } from './table_read';

export type LookupMode = 'int' | CategoricalMode | 'tf_idf';

const isNull = (v: unknown) => v === undefined || v === null;
/** Ids a float32 weight holds exactly: the vocabulary's entries and the mask token are within it. */
export const MAX_LOOKUP_ID = 2 ** 24;
const isId = (v: unknown) => Number.isSafeInteger(v) && Math.abs(v as number) <= MAX_LOOKUP_ID;

/**
 * An IntegerLookup's or StringLookup's settings, checked: its output mode, mask token (for
 * StringLookup, the token's id: string_ids.ts), and pad_to_max_tokens's width.
 */
export function lookupOf(l: LayerConfig): { mode: LookupMode; mask: number | null; padTo: number | null } {
  if (!isNull(l.config.vocabulary))
    refuse(l, `vocabulary given in its config would travel in the topology every server reads; the library's model readers (loadLayersModel, deploy, tfe deploy) move it into private weights first: deploy through one of them`);
  // TextVectorization: StringLookup's on the tokens' ids, its mask token '' (the padding).
  if (l.class_name === 'TextVectorization') {
    textVectorizationOf(l);
    const mode = textModeOf(l), c = l.config;
    return { mode, mask: stringId(''), padTo: c.pad_to_max_tokens === true && mode !== 'int' ? paddedWidth(l, c.max_tokens) : null };
  }
  const strings = l.class_name === 'StringLookup';
  const isToken = strings ? (v: unknown) => typeof v === 'string' && v.length <= 256 : isId;
  const c = settings(l, {
    vocabulary: isNull,
    // Derived by Keras (the vocabulary's size with its OOV index); the weight's shape is read.
    vocabulary_size: (v) => isNull(v) || Number.isSafeInteger(v),
    // (Its width, with pad_to_max_tokens, sizes every output row: bounded as the ids are.)
    max_tokens: (v) => isNull(v) || (Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_LOOKUP_ID),
    num_oov_indices: (v) => v === undefined || v === 1,
    oov_token: (v) => v === undefined || isToken(v),
    mask_token: (v) => isNull(v) || isToken(v),
    output_mode: (v) => v === undefined || ['int', 'one_hot', 'multi_hot', 'count', 'tf_idf'].includes(v as string),
    pad_to_max_tokens: (v) => isNull(v) || typeof v === 'boolean',
    invert: (v) => isNull(v) || v === false,
    ...(strings ? { encoding: (v: unknown) => isNull(v) || v === 'utf-8' } : { vocabulary_dtype: (v: unknown) => isNull(v) || v === 'int64' || v === 'int32' }),
    idf_weights: isNull,
    // The hash of OOV values over several OOV indices: with one, unused.
    oov_method: (v) => isNull(v) || typeof v === 'string',
    salt: (v) => isNull(v) || typeof v === 'number' || Array.isArray(v),
    [VOCABULARY_TABLE]: (v) => isNull(v) || v === true,
  });
  if (!isNull(l.config.sparse) && l.config.sparse !== false) refuse(l, `sparse = ${JSON.stringify(l.config.sparse)} is not supported: only dense outputs`);
  const mode = (c.output_mode ?? 'int') as LookupMode;
  const padTo = c.pad_to_max_tokens === true && mode !== 'int' ? paddedWidth(l, c.max_tokens) : null;
  return { mode, mask: isNull(c.mask_token) ? null : strings ? stringId(c.mask_token as string) : Number(c.mask_token), padTo };
}

/** pad_to_max_tokens's width: max_tokens, which it needs. */
const paddedWidth = (l: LayerConfig, max: unknown): number => (isNull(max) ? refuse(l, 'pad_to_max_tokens needs max_tokens') : Number(max));

/** The vocabulary's weights: IntegerLookup's entries; StringLookup's ids as two halves (string_ids.ts). */
const VOCABULARY_WEIGHTS = { IntegerLookup: ['vocabulary'], StringLookup: ['vocabulary_hi', 'vocabulary_lo'], TextVectorization: ['vocabulary_hi', 'vocabulary_lo'] } as const;

/**
 * IntegerLookup, StringLookup and TextVectorization: the same comparisons, on integer codes or on
 * strings' ids (a client sends each string, or each token of a text, as its id; the vocabulary's
 * ids are joined from their halves by an exact integer product, hi 2^23 + lo).
 */
export function lookup(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const { mode, mask, padTo } = lookupOf(l), strings = l.class_name !== 'IntegerLookup';
  const table = l.config[VOCABULARY_TABLE] === true;
  const keys = table ? [] : VOCABULARY_WEIGHTS[l.class_name as keyof typeof VOCABULARY_WEIGHTS];
  let m = 0;
  // A bucket table (bucket_table.ts): its layout is the vocabulary's size's (and the mask token's).
  const layout = table ? tableLayout(l, ctx, mask) : null;
  if (layout) m = Number(l.config.vocabulary_size) - 1;
  for (const key of keys) {
    const name = `${l.config.name}/${key}`;
    let shape: number[];
    try {
      shape = ctx.shapeOf(name);
    } catch {
      return refuse(l, `has no vocabulary in its config and no weight '${name}': an adapt()ed vocabulary is saved apart from the config (the .keras file's assets), which the converters do not carry; build the layer with vocabulary=layer.get_vocabulary() before saving`);
    }
    if (shape.length !== 1 || !(shape[0] >= 1) || (m && shape[0] !== m)) refuse(l, `weight '${name}' has shape [${shape}]: expected [m], m >= 1 entries${m ? ` (m = ${m}, as its other vocabulary weight)` : ''}`);
    m = shape[0];
  }
  // What the servers size a query by (the memory estimate): it must be the weight's.
  if (l.config.vocabulary_size != null && l.config.vocabulary_size !== m + 1) refuse(l, `vocabulary_size = ${JSON.stringify(l.config.vocabulary_size)} does not match its ${m} vocabulary entries (vocabulary_size is their count + the OOV index)`);
  if (mode === 'int' && ctx.idsOneHot === undefined)
    refuse(l, `output_mode 'int' gives vocabulary indices, which only Embedding, CategoryEncoding and HashedCrossing layers may read (as ids, one-hot); here they are read as numbers or returned by the model: use output_mode one_hot, multi_hot or count`);
  // Index columns: [mask], OOV, the vocabulary; the encodings drop the mask's.
  const width = m + 1 + (mask === null || mode !== 'int' ? 0 : 1);
  checkIdWidth(l, width, ctx.idsOneHot);
  if (padTo !== null && padTo < m + 1) refuse(l, `max_tokens = ${padTo} is below its ${m + 1} indices (the vocabulary and OOV)`);
  const taken = keys.map((key) => ctx.take(key, [m]));
  // Read with its Embedding as one table (LayerContext.idsThrough): the Embedding takes the table.
  const tableWeight = layout && !ctx.idsThrough ? ctx.take('vocabulary_table', tableShape(layout)) : -1;
  // tf_idf's weights, OOV's first (config_constants.ts moves Keras's idf_weights there).
  const idf = mode === 'tf_idf' ? ctx.take('idf_weights', [m + 1]) : -1;
  const encoding = mode === 'tf_idf' ? 'count' : mode;
  const vocabulary = (p: PrivateTensor[]): AnyTensor => (taken.length === 1 ? p[taken[0]] : add(mul(p[taken[0]], ID_HALF), p[taken[1]]));
  // The ids as they came: the Embedding that alone reads them reads their rows (fused_table.ts).
  if (layout && encoding === 'int' && ctx.idsThrough) return { step: () => ([x]: AnyTensor[]) => x, comparisons: false, exactOnly: true };
  const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => {
    if (encoding !== 'int') encodedShape(l, encoding, x.shape, padTo ?? m + 1);
    const rows = x.shape.reduce((a, d) => a * d, 1), flat = reshape(x, [rows, 1]);
    // Ids only Embeddings read (LayerContext.idColumns): the columns themselves, which they read rows by.
    if (layout && encoding === 'int' && ctx.idColumns) return reshape(tableColumns(x as PrivateTensor, p[tableWeight], layout, mask === null ? 0 : 1, !strings), x.shape);
    const oneHot = layout ? tableOneHot(x as PrivateTensor, p[tableWeight], layout, m, mask, mode, !strings) : indicatorsOneHot(x, flat, p, rows);
    if (encoding === 'int') return idsOneHot(l, oneHot, x.shape, ctx.idsOneHot!);
    const encoded = encodeRows(l, encoding, oneHot, x.shape, padTo ?? m + 1);
    if (idf < 0) return encoded;
    // Counts times the weights (the columns pad_to_max_tokens adds: weight 0, as Keras's).
    const w = padTo !== null && padTo > m + 1 ? pad(p[idf], [[0, padTo - m - 1]]) : p[idf];
    return mul(encoded, w);
  };
  // The rows [mask (int mode)], OOV, the vocabulary, from an equality test per entry.
  const indicatorsOneHot = (x: AnyTensor, flat: AnyTensor, p: PrivateTensor[], rows: number): AnyTensor => {
    const d = sub(flat, reshape(vocabulary(p), [1, m]));
    const dm = mask === null ? null : sub(flat, wholeConstant(x, mask));
    const all = indicators(x, dm === null ? d : concat([d, dm], 1), strings);
    const e = mask === null ? all : slice(all, [0, 0], [rows, m]);
    const em = mask === null ? null : slice(all, [0, m], [rows, 1]);
    const outside = add(neg(reduceSum(e, 1, true)), 1), none = em ? sub(outside, em) : outside;
    return concat([...(em && mode === 'int' ? [em] : []), none, e], 1);
  };
  return { step, comparisons: true, exactOnly: true };
}

/** A bucket table's layout, from the vocabulary's size (and the mask token's id), its weight's shape checked. */
export function tableLayout(l: LayerConfig, ctx: LayerContext, mask: number | null) {
  const size = l.config.vocabulary_size;
  if (!Number.isSafeInteger(size) || (size as number) < 2) refuse(l, `${VOCABULARY_TABLE} is set without a vocabulary_size (the vocabulary's entries + OOV) to lay its table out by`);
  const layout = bucketLayout((size as number) - 1 + (mask === null ? 0 : 1)), want = tableShape(layout), name = `${l.config.name}/vocabulary_table`;
  let shape: number[];
  try {
    shape = ctx.shapeOf(name);
  } catch {
    return refuse(l, `${VOCABULARY_TABLE} is set but the model has no weight '${name}'`);
  }
  if (shape.join() !== want.join()) refuse(l, `weight '${name}' has shape [${shape}]: a table of ${(size as number) - 1} entries is [${want}]`);
  return layout;
}

/**
 * The rows [mask (int mode)], OOV, the vocabulary (as the equality tests give them) of tokens' ids
 * x, read from the bucket table (table_read.ts): the token's column, then its one-hot.
 */
function tableOneHot(x: PrivateTensor, table: PrivateTensor, layout: ReturnType<typeof bucketLayout>, m: number, mask: number | null, mode: LookupMode, codes: boolean): AnyTensor {
  const rows = x.shape.reduce((a, d) => a * d, 1), width = m + 1 + (mask === null ? 0 : 1);
  const hot = columnOneHot(tableColumns(x, table, layout, mask === null ? 0 : 1, codes) as PrivateTensor, width);
  // The bag modes drop the mask's column (the padding adds nothing).
  return mask !== null && mode !== 'int' ? slice(hot, [0, 1], [rows, m + 1]) : hot;
}

/**
 * [x = v] per row and column of the differences d = x - v [rows, w] (the vocabulary's entries, the
 * mask token's). Strings' ids are whole numbers: one equality test each (equalZero: under FSS one
 * DPF key, elsewhere [d >= 0] - [d - 1 >= 0]), and, as the library's values (hashes), whose range
 * no owner's fssBits knows, at the width their structure gives (docs/fss.md, "Narrower
 * comparisons"): 47 bits of whole numbers, a 47-level DPF. Integer codes may come with
 * fractions: an entry holds x when v <= x < v + 1, [d >= 0] - [d >= 1], two comparisons (Keras's
 * cast, above).
 */
function indicators(x: AnyTensor, d: AnyTensor, strings: boolean): AnyTensor {
  if (strings) {
    // Ids are below 2^STRING_ID_BITS (a client's own garbage beyond that only spoils its own
    // answer: the opening still hides it), and whole: the gate's width from both.
    const p = d as PrivateTensor, bound = ((1n << BigInt(STRING_ID_BITS)) - 1n) << BigInt(x.cluster.fixed.fracBits);
    return x.cluster.internalOps(() => equalZeroWhole(p.bound === undefined ? p.withBound(bound) : p));
  }
  const [rows, w] = d.shape;
  const g = nonNegativeOp(concat([d, sub(d, 1)], 1));
  return sub(slice(g, [0, 0], [rows, w]), slice(g, [0, w], [rows, w]));
}

/**
 * A whole number k below 2^46 (a string's id) as a public constant: as its halves, joined by an
 * exact integer product (a constant is encoded through float64, exact only below 2^36).
 */
function wholeConstant(x: AnyTensor, k: number): AnyTensor | number {
  if (Math.abs(k) <= MAX_LOOKUP_ID) return k;
  const [hi, lo] = idHalves(k);
  return add(mul(constantTensor(x.cluster, [hi], []), ID_HALF), lo);
}

/**
 * A string input is read by StringLookup (or Hashing) layers only (anything else would take ids for numbers),
 * and a StringLookup reads a string input only (anything else holds numbers, not ids), which is
 * not also an output of the model.
 */
export function checkStringInputs(graph: LayerGraph): void {
  const strings = new Set(graph.inputs.filter((i) => i.strings).map((i) => i.id));
  for (const { layer, inputs } of graph.nodes) {
    if (layer.class_name === 'InputLayer') continue;
    const reads = inputs.filter((id) => strings.has(id));
    // Hashing hashes strings as it hashes numbers (layers_hashing.ts); TextVectorization's inputs: textInputsOf.
    if (layer.class_name === 'Hashing' || layer.class_name === 'TextVectorization') continue;
    if (layer.class_name === 'StringLookup') {
      if (inputs.length !== 1 || reads.length !== 1)
        refuse(layer, `reads '${inputs.join("', '")}', which is not one of the model's string inputs: a StringLookup must read a model input of dtype string directly (a client sends each string as its id)`);
    } else if (reads.length) {
      refuse(layer, `reads the string input '${reads[0]}': only StringLookup, Hashing and TextVectorization layers may read a string input`);
    }
  }
  const out = graph.outputs.find((id) => strings.has(id));
  if (out !== undefined) throw new Error(`the string input '${out}' is also an output of the model, which is not supported`);
}
