// Keras's IntegerLookup (structured data's categorical features given as integer codes): the
// index of x in a vocabulary v_1..v_m, index 0 for a value outside it (OOV), or with a mask
// token, 0 for it, 1 for OOV, vocabulary indices from 2. The vocabulary is the owner's, shared as
// a weight (config_constants.ts moves it there from the config); its size is public.
//
// Privately, x's indicator per entry, e_j = [v_j <= x < v_j + 1] = [x >= v_j] - [x >= v_j + 1]:
// two comparisons and no product (an equality test is two comparisons and a product), and for x
// a whole number, [x = v_j]. Keras casts x to an integer first (towards zero), so the two agree
// on every whole x and every x >= 0; a negative x between integers falls in floor(x)'s entry
// here, trunc(x)'s in Keras (docs/models.md). OOV is 1 - sum_j e_j (less the mask's indicator).
// one_hot, multi_hot and count encode these rows (categorical_encoding.ts); int, vocabulary
// indices, is supported where Embedding or CategoryEncoding layers read it, as the one-hot of the
// indices (layers_embedding.ts idMakersOf).
import { type LayerConfig, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { settings } from './layers_settings';
import type { AnyTensor, PrivateTensor } from './tensor';
import { add, concat, neg, reduceSum, reshape, slice, sub } from './ops';
import { nonNegativeOp } from './comparison_ops';
import { type CategoricalMode, encodedShape, encodeRows } from './categorical_encoding';
import { idsOneHot } from './layers_embedding';

export type LookupMode = 'int' | CategoricalMode;

const isNull = (v: unknown) => v === undefined || v === null;
/** Ids a float32 weight holds exactly: the vocabulary's entries and the mask token are within it. */
export const MAX_LOOKUP_ID = 2 ** 24;
const isId = (v: unknown) => Number.isSafeInteger(v) && Math.abs(v as number) <= MAX_LOOKUP_ID;

/** An IntegerLookup's settings, checked: its output mode, mask token, and pad_to_max_tokens's width. */
export function integerLookupOf(l: LayerConfig): { mode: LookupMode; mask: number | null; padTo: number | null } {
  if (!isNull(l.config.vocabulary))
    refuse(l, `vocabulary given in its config would travel in the topology every server reads; the library's model readers (loadLayersModel, deploy, tfe deploy) move it into private weights first: deploy through one of them`);
  const c = settings(l, {
    vocabulary: isNull,
    // Derived by Keras (the vocabulary's size with its OOV index); the weight's shape is read.
    vocabulary_size: (v) => isNull(v) || Number.isSafeInteger(v),
    // (Its width, with pad_to_max_tokens, sizes every output row: bounded as the ids are.)
    max_tokens: (v) => isNull(v) || (Number.isSafeInteger(v) && (v as number) >= 1 && (v as number) <= MAX_LOOKUP_ID),
    num_oov_indices: (v) => v === undefined || v === 1,
    oov_token: (v) => v === undefined || isId(v),
    mask_token: (v) => isNull(v) || isId(v),
    output_mode: (v) => v === undefined || ['int', 'one_hot', 'multi_hot', 'count'].includes(v as string),
    pad_to_max_tokens: (v) => isNull(v) || typeof v === 'boolean',
    invert: (v) => isNull(v) || v === false,
    vocabulary_dtype: (v) => isNull(v) || v === 'int64' || v === 'int32',
    idf_weights: isNull,
    // The hash of OOV values over several OOV indices: with one, unused.
    oov_method: (v) => isNull(v) || typeof v === 'string',
    salt: (v) => isNull(v) || typeof v === 'number' || Array.isArray(v),
  });
  if (!isNull(l.config.sparse) && l.config.sparse !== false) refuse(l, `sparse = ${JSON.stringify(l.config.sparse)} is not supported: only dense outputs`);
  const mode = (c.output_mode ?? 'int') as LookupMode;
  const padTo = c.pad_to_max_tokens === true && mode !== 'int' ? (isNull(c.max_tokens) ? refuse(l, 'pad_to_max_tokens needs max_tokens') : Number(c.max_tokens)) : null;
  return { mode, mask: isNull(c.mask_token) ? null : Number(c.mask_token), padTo };
}

export function integerLookup(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const { mode, mask, padTo } = integerLookupOf(l);
  const name = `${l.config.name}/vocabulary`;
  let shape: number[];
  try {
    shape = ctx.shapeOf(name);
  } catch {
    return refuse(l, `has no vocabulary in its config and no weight '${name}': an adapt()ed vocabulary is saved apart from the config (the .keras file's assets), which the converters do not carry; build the layer with vocabulary=layer.get_vocabulary() before saving`);
  }
  const [m] = shape;
  if (shape.length !== 1 || !(m >= 1)) refuse(l, `weight '${name}' has shape [${shape}]: expected [m], m >= 1 entries`);
  // What the servers size a query by (the memory estimate): it must be the weight's.
  if (l.config.vocabulary_size != null && l.config.vocabulary_size !== m + 1) refuse(l, `vocabulary_size = ${JSON.stringify(l.config.vocabulary_size)} does not match its ${m} vocabulary entries (vocabulary_size is their count + the OOV index)`);
  if (mode === 'int' && ctx.idsOneHot === undefined)
    refuse(l, `output_mode 'int' gives vocabulary indices, which only Embedding and CategoryEncoding layers may read (as ids, one-hot); here they are read as numbers or returned by the model: use output_mode one_hot, multi_hot or count`);
  // Index columns: [mask], OOV, the vocabulary; the encodings drop the mask's.
  const width = m + 1 + (mask === null || mode !== 'int' ? 0 : 1);
  if (ctx.idsOneHot !== undefined && ctx.idsOneHot < width) refuse(l, `makes ids up to ${width - 1}, but the layers that read them take ids below ${ctx.idsOneHot}`);
  if (padTo !== null && padTo < m + 1) refuse(l, `max_tokens = ${padTo} is below its ${m + 1} indices (the vocabulary and OOV)`);
  const v = ctx.take('vocabulary', [m]);
  const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => {
    if (mode !== 'int') encodedShape(l, mode, x.shape, padTo ?? m + 1);
    const rows = x.shape.reduce((a, d) => a * d, 1), flat = reshape(x, [rows, 1]);
    // x - v_j and x - v_j - 1 side by side (and x - mask, x - mask - 1): one comparison op.
    const d = sub(flat, reshape(p[v], [1, m]));
    const diffs = [d, sub(d, 1), ...(mask === null ? [] : [sub(flat, mask), sub(flat, mask + 1)])];
    const g = nonNegativeOp(concat(diffs, 1));
    const e = sub(slice(g, [0, 0], [rows, m]), slice(g, [0, m], [rows, m]));
    const em = mask === null ? null : sub(slice(g, [0, 2 * m], [rows, 1]), slice(g, [0, 2 * m + 1], [rows, 1]));
    const outside = add(neg(reduceSum(e, 1, true)), 1), none = em ? sub(outside, em) : outside;
    const oneHot = concat([...(em && mode === 'int' ? [em] : []), none, e], 1);
    return mode === 'int' ? idsOneHot(l, oneHot, x.shape, ctx.idsOneHot!) : encodeRows(l, mode, oneHot, x.shape, padTo ?? m + 1);
  };
  return { step, comparisons: true, exactOnly: true };
}
