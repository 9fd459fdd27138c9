// Attention layers as Keras computes them, under the exact protocols (their softmax compares:
// ops_softmax.ts). Called with query and value, and optionally key (the value otherwise), by
// position or by keyword (layers_graph.ts puts them in that order).
//
// Attention (Luong, score_mode 'dot'): scores = q k^T (times the learned `scale` when
// use_scale), w = softmax(scores) over the value steps, out = w v. With use_causal_mask, query
// step i weighs value steps j <= i only (ops_softmax.ts: a public mask, local).
// AdditiveAttention (Bahdanau): scores = sum_d scale_d tanh(q_d + k_d), then as Attention.
// MultiHeadAttention: per head h, Q_h = q Wq_h + bq_h scaled by 1/sqrt(key_dim), K_h and V_h
// alike; out = sum_h softmax(Q_h K_h^T) V_h Wo_h + bo, the heads as one batched product.
// GroupQueryAttention: the same with keys and values on fewer heads, each shared by a group of
// query heads; both with Keras 3.12+'s optional gate, sigmoid(q Wg + bg) times the heads' outputs. On a
// masked sequence attending to itself (Keras's padding mask: layers_mask.ts), padded keys get no
// weight and a padded query step weighs every key alike, as Keras computes it (ops_softmax.ts);
// Attention's and AdditiveAttention's output is then 0 there (Keras's query mask).
// Every product is a private one (Beaver), every reshape and transpose local: no new protocol step.
import { add, gather, reduceSum, reshape, transpose } from './ops';
import { matmul, mul, sigmoid, tanh } from './ops_nonlinear';
import { softmax } from './ops_softmax';
import { dense } from './layers_dense';
import { type LayerConfig, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { ANY, bool, isNum, settings } from './layers_settings';
import { maskNoteOf } from './keras3_masks';
import { isMask } from './layers_mask';
import type { AnyTensor } from './tensor';

const nullish = (v: unknown) => v === undefined || v === null;
const MASKS = ['mask', 'query_mask', 'value_mask', 'key_mask', 'attention_mask'];
/** A shape tf-keras records when the layer was built (query_shape...): any list of sizes, or null. */
const builtShape = (v: unknown) => nullish(v) || (Array.isArray(v) && v.every((d) => d === null || Number.isInteger(d)));

/**
 * The call's keyword arguments: whether it asks for a causal mask (use_causal_mask, or Attention's
 * `causal` setting in Keras 2.x's configs); other masks and returned scores are not supported;
 * training is moot at inference.
 */
export function causalCall(l: LayerConfig): boolean {
  let causal = l.config.causal === true;
  for (const [k, v] of Object.entries(l.callArgs ?? {})) {
    if (k === 'training') continue;
    // Keras 3 saves the masks it was not given as None (Attention's mask as [None, None]).
    if (MASKS.includes(k) && (v === null || (Array.isArray(v) && v.every((e) => e === null)))) continue;
    // A padding mask's note (keras3_masks.ts) in `mask`: layers_mask.ts applies it where it is
    // supported (a GraphModel's self-attention) and refuses it elsewhere.
    if (k === 'mask' && maskNoteOf(v)) continue;
    if (MASKS.includes(k) && (maskNoteOf(v) || (Array.isArray(v) && v.some((e) => maskNoteOf(e))))) refuse(l, 'is given a padding mask (Keras 3 applies it to the attention weights), which is not supported');
    // (Keras takes Python's truthiness: 0 and 1 as well.)
    if (k === 'use_causal_mask' && (v === true || v === false || v === null || v === 0 || v === 1)) {
      causal ||= v === true || v === 1;
      continue;
    }
    if (k === 'return_attention_scores' && (v === false || v === null)) continue;
    if (k === 'return_attention_scores') refuse(l, 'is called with return_attention_scores = true: two outputs, which are not supported');
    refuse(l, `is called with ${k} = ${JSON.stringify(v)}, which is not supported`);
  }
  return causal;
}

/** [query, value, key] from the layer's inputs; each rank 3, [batch, steps, features]. */
function qvk(l: LayerConfig, xs: AnyTensor[]): [AnyTensor, AnyTensor, AnyTensor] {
  if (xs.length < 2 || xs.length > 3) refuse(l, `takes query, value and optionally key; got ${xs.length} inputs`);
  for (const x of xs) if (x.rank !== 3) refuse(l, `takes rank-3 inputs [batch, steps, features], got [${x.shape}]`);
  const [q, v, k = v] = xs;
  if (k.shape[1] !== v.shape[1]) refuse(l, `key has ${k.shape[1]} steps but value has ${v.shape[1]}`);
  return [q, v, k];
}

/**
 * An Attention's or AdditiveAttention's query, value and key, and Keras 3's padding mask
 * [batch, T, 1] when one is handed after them (layers_mask.ts: self-attention on one masked
 * sequence) with its [batch, T] form for the softmax (ops_softmax.ts: padded keys get no weight).
 */
function maskedQvk(l: LayerConfig, all: AnyTensor[]): { mask?: AnyTensor; padding?: AnyTensor; q: AnyTensor; v: AnyTensor; k: AnyTensor } {
  const mask = all.find((x) => isMask(x));
  const [q, v, k] = qvk(l, all.filter((x) => !isMask(x)));
  if (mask && q.shape[1] !== v.shape[1]) refuse(l, `a padding mask needs self-attention over one sequence, got ${q.shape[1]} query and ${v.shape[1]} value steps`);
  return { mask, padding: mask && reshape(mask, [q.shape[0], q.shape[1]]), q, v, k };
}

/** The softmax of scores [batch, Tq, Tv], as one head's (ops_softmax.ts takes a padding mask on [batch, heads, T, T]). */
function attentionWeights(scores: AnyTensor, causal: boolean, padding?: AnyTensor): AnyTensor {
  if (!padding) return softmax(scores, { causal });
  const [B, Tq, Tv] = scores.shape;
  return reshape(softmax(reshape(scores, [B, 1, Tq, Tv]), { causal, padding }), [B, Tq, Tv]);
}

/** Keras's Attention multiplies its output by the query's mask: a padded step's is 0 (one product). */
const keptRows = (y: AnyTensor, mask?: AnyTensor): AnyTensor => (mask ? mul(y, mask) : y);

/**
 * Whether a MultiHeadAttention's inputs are of rank above 3 ([batch, h, w, features]), attending
 * over every axis between the batch and the features (attention_axes null or all of them): run
 * over those positions flattened, as Keras's einsums compute it. Other axes, or a causal mask
 * over several axes, are refused.
 */
export function attentionPositions(l: LayerConfig, xs: readonly { shape: readonly number[] }[], axes: unknown, causal: boolean): boolean {
  const rank = xs[0]?.shape.length ?? 3;
  const want = Array.from({ length: Math.max(1, rank - 2) }, (_, i) => i + 1);
  if (axes !== undefined && axes !== null && JSON.stringify(axes) !== JSON.stringify(want)) refuse(l, `attention_axes = ${JSON.stringify(axes)} on inputs of rank ${rank}: only every axis between the batch and the features (${JSON.stringify(want)}) is supported`);
  if (rank <= 3) return false;
  if (xs.some((x) => x.shape.length !== rank)) refuse(l, `takes inputs of one rank, got ${xs.map((x) => `[${x.shape}]`).join(' and ')}`);
  if (causal) refuse(l, `use_causal_mask over the ${rank - 2} axes of inputs [${xs[0].shape}] is not supported`);
  return true;
}

/** Keras's Attention layer (dot scores). */
function attention(l: LayerConfig, ctx: LayerContext): LayerPlan {
  // causal: Keras 2.x's config form of use_causal_mask (false only).
  const c = settings(l, { use_scale: bool, score_mode: (v) => v === undefined || v === 'dot', dropout: (v) => v === undefined || isNum(v), causal: bool });
  const causal = causalCall(l);
  const scale = c.use_scale ? ctx.take('scale', [1, 1, 1]) : -1;
  return {
    step: (p) => (all) => {
      const { mask, padding, q, v, k } = maskedQvk(l, all);
      if (q.shape[2] !== k.shape[2]) refuse(l, `query has ${q.shape[2]} features but key has ${k.shape[2]}`);
      const scores = matmul(q, transpose(k, [0, 2, 1]));
      return keptRows(matmul(attentionWeights(scale < 0 ? scores : mul(scores, p[scale]), causal, padding), v), mask);
    },
    comparisons: true,
    exactOnly: true,
  };
}

/**
 * Keras's AdditiveAttention (Bahdanau's): scores s_ij = sum_d scale_d tanh(q_id + k_jd), then as
 * Attention. The tanh is the exact protocols' piecewise one (error below 6.7e-4, ops_smooth.ts), on
 * Tq Tv d values; the scale (a private weight, [d]) a matmul with it.
 */
function additiveAttention(l: LayerConfig, ctx: LayerContext): LayerPlan {
  // score_mode: tf-keras writes its base Attention's ('dot'), which the additive scores replace.
  const c = settings(l, { use_scale: bool, dropout: (v) => v === undefined || isNum(v), causal: bool, score_mode: ANY });
  const causal = causalCall(l);
  // Keras's default is use_scale=True.
  const scale = c.use_scale === false ? -1 : ctx.take('scale');
  const width = scale < 0 ? 0 : ctx.shapeOf(`${l.config.name}/scale`).reduce((a, b) => a * b, 1);
  return {
    step: (p) => (all) => {
      const { mask, padding, q, v, k } = maskedQvk(l, all);
      const [B, Tq, d] = q.shape, Tv = k.shape[1];
      if (k.shape[2] !== d) refuse(l, `query has ${d} features but key has ${k.shape[2]}`);
      if (scale >= 0 && width !== d) refuse(l, `its scale has ${width} values, but the query has ${d} features`);
      const t = tanh(add(reshape(q, [B, Tq, 1, d]), reshape(k, [B, 1, Tv, d])));
      const flat = reshape(t, [B * Tq * Tv, d]);
      const scores = reshape(scale < 0 ? reduceSum(flat, 1) : matmul(flat, reshape(p[scale], [d, 1])), [B, Tq, Tv]);
      return keptRows(matmul(attentionWeights(scores, causal, padding), v), mask);
    },
    comparisons: true,
    exactOnly: true,
  };
}

/**
 * The heads of MultiHeadAttention or GroupQueryAttention: `heads` query heads of key width `kd`
 * and value width `vd`, keys and values projected to `kvHeads` heads, each shared by heads /
 * kvHeads query heads in a row (GQA; MHA: kvHeads = heads), and Keras 3.12+'s gate (a sigmoid of
 * the query's own projection multiplying the heads' outputs).
 */
export interface HeadsForm {
  heads: number;
  kvHeads: number;
  kd: number;
  vd: number;
  gate: boolean;
}

/** A MultiHeadAttention's or GroupQueryAttention's heads, read from its config (checked by its builder's settings). */
export function headsFormOf(l: LayerConfig): HeadsForm {
  const c = l.config, gate = c.use_gate === true;
  if (l.class_name === 'GroupQueryAttention') {
    const heads = Number(c.num_query_heads), kvHeads = Number(c.num_key_value_heads), hd = Number(c.head_dim);
    return { heads, kvHeads, kd: hd, vd: hd, gate };
  }
  const heads = Number(c.num_heads), kd = Number(c.key_dim);
  return { heads, kvHeads: heads, kd, vd: nullish(c.value_dim) ? kd : Number(c.value_dim), gate };
}

const posInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;
/** Settings both layers share. */
const HEADS_SETTINGS = {
  dropout: (v: unknown) => v === undefined || isNum(v),
  use_bias: bool,
  // Keras 3: how attention is computed on a GPU, not what (null or false only).
  flash_attention: (v: unknown) => nullish(v) || v === false,
  // Keras 3.12+: a gate on the heads' outputs; attention limited to a band |i - j| < window.
  use_gate: bool,
  sliding_window: (v: unknown) => nullish(v) || posInt(v),
};

/** Keras's MultiHeadAttention over the steps of rank-3 inputs (or every position of higher-rank ones). */
function multiHeadAttention(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const c = settings(l, {
    ...HEADS_SETTINGS,
    num_heads: posInt,
    key_dim: posInt,
    value_dim: (v) => nullish(v) || posInt(v),
    // Another output width or other attention axes change the weights' layout: not supported.
    output_shape: nullish,
    // Attention over the steps ([1]), or over every axis between the batch and the features of a
    // higher-rank input (Keras's default there, saved as [1, 2] for an image): checked per input.
    attention_axes: (v) => nullish(v) || (Array.isArray(v) && v.length >= 1 && v.every((a, i) => a === i + 1)),
    // tf-keras 2.x: the shapes it was built with (the weights' shapes are checked below).
    query_shape: builtShape,
    key_shape: builtShape,
    value_shape: builtShape,
  });
  return headsAttention(l, ctx, headsFormOf(l), c.attention_axes);
}

/** Keras 3's GroupQueryAttention: as MultiHeadAttention, its keys and values on fewer heads, each shared by a group of query heads in a row. */
function groupQueryAttention(l: LayerConfig, ctx: LayerContext): LayerPlan {
  settings(l, { ...HEADS_SETTINGS, head_dim: posInt, num_query_heads: posInt, num_key_value_heads: posInt });
  const form = headsFormOf(l);
  if (form.heads % form.kvHeads !== 0) refuse(l, `num_query_heads = ${form.heads} is not a multiple of num_key_value_heads = ${form.kvHeads}`);
  return headsAttention(l, ctx, form, null);
}

/**
 * Attention by heads: per head h, Q_h = q Wq_h + bq_h scaled by 1/sqrt(kd), K and V on their own
 * heads (repeated to the query heads: a local gather), out = sum_h softmax(Q_h K_h^T) V_h (times
 * the gate) Wo_h + bo, the heads as one batched product.
 */
function headsAttention(l: LayerConfig, ctx: LayerContext, form: HeadsForm, axes: unknown): LayerPlan {
  const causal = causalCall(l);
  const { heads, kvHeads, kd, vd } = form;
  // Keras 3.12+'s sliding window: query i weighs keys |i - j| < window (with a causal mask too, j <= i).
  const window = nullish(l.config.sliding_window) ? undefined : Number(l.config.sliding_window);
  // Keras 3 runs a dropout > 0 layer through einsums and its Softmax layer, which zeroes a fully
  // padded row's weights; without dropout through dot_product_attention, which spreads them
  // evenly (checked against Keras 3.15). Only a padding mask tells them apart.
  const zeroPadded = Number(l.config.dropout ?? 0) > 0;
  const bias = l.config.use_bias !== false;
  const n = l.config.name;
  const proj = (part: string, h: number, width: number) => {
    const s = ctx.shapeOf(`${n}/${part}/kernel`);
    if (s.length !== 3 || s[1] !== h || s[2] !== width) refuse(l, `${part}/kernel has shape [${s}], expected [features, ${h}, ${width}]`);
    return { k: ctx.take(`${part}/kernel`, [s[0], h * width]), b: bias ? ctx.take(`${part}/bias`, [1, h * width]) : -1, inDim: s[0] };
  };
  const pq = proj('query', heads, kd), pk = proj('key', kvHeads, kd), pv = proj('value', kvHeads, vd);
  const pg = form.gate ? proj('gate', heads, vd) : undefined;
  const os = ctx.shapeOf(`${n}/attention_output/kernel`);
  if (os.length !== 3 || os[0] !== heads || os[1] !== vd) refuse(l, `attention_output/kernel has shape [${os}], expected [${heads}, ${vd}, features]`);
  const out = { k: ctx.take('attention_output/kernel', [heads * vd, os[2]]), b: bias ? ctx.take('attention_output/bias', [1, os[2]]) : -1 };
  // Query head h reads key and value head floor(h / (heads / kvHeads)), as Keras's repeat lays them out.
  const shared = kvHeads === heads ? undefined : Array.from({ length: heads }, (_, h) => Math.floor(h / (heads / kvHeads)));
  return {
    step: (p) => (all) => {
      // A padding mask [batch, T, 1] handed after the inputs (layers_mask.ts: self-attention on one masked sequence).
      const mask = all.find((x) => isMask(x)), given = all.filter((x) => !isMask(x));
      // [batch, h, w, features] (an image): attention over all h w positions, as over steps.
      const positions = attentionPositions(l, given, axes, causal);
      const xs = positions ? given.map((x) => reshape(x, [x.shape[0], x.shape.slice(1, -1).reduce((a, b) => a * b, 1), x.shape[x.rank - 1]])) : given;
      const [q, v, k] = qvk(l, xs);
      for (const [x, pr, what] of [[q, pq, 'query'], [k, pk, 'key'], [v, pv, 'value']] as const)
        if (x.shape[2] !== pr.inDim) refuse(l, `${what} has ${x.shape[2]} features but ${what}/kernel takes ${pr.inDim}`);
      // [batch, steps, h * width] -> [batch, h, steps, width]
      const split = (x: AnyTensor, pr: { k: number; b: number }, h: number, width: number) => {
        const y = dense(x, p[pr.k], pr.b < 0 ? null : p[pr.b]);
        return transpose(reshape(y, [x.shape[0], x.shape[1], h, width]), [0, 2, 1, 3]);
      };
      const toHeads = (x: AnyTensor) => (shared ? gather(x, shared, 1) : x);
      const Q = mul(split(q, pq, heads, kd), 1 / Math.sqrt(kd)), K = toHeads(split(k, pk, kvHeads, kd)), V = toHeads(split(v, pv, kvHeads, vd));
      const padding = mask && reshape(mask, [q.shape[0], q.shape[1]]);
      if (window !== undefined && positions) refuse(l, `sliding_window = ${window} over the positions of inputs of rank ${given[0].rank} is not supported (only over the steps of [batch, steps, features])`);
      if (window !== undefined && q.shape[1] !== k.shape[1]) refuse(l, `sliding_window = ${window} is supported on self-attention (as many query as key steps), got ${q.shape[1]} and ${k.shape[1]}`);
      const w = softmax(matmul(Q, transpose(K, [0, 1, 3, 2])), { causal, padding, ...(window !== undefined ? { window } : {}) }); // [batch, heads, Tq, Tv]
      const o = transpose(matmul(w, V), [0, 2, 1, 3]); // [batch, Tq, heads, vd]
      let heads_ = reshape(o, [q.shape[0], q.shape[1], heads * vd]);
      // With dropout (identity at inference) Keras 3 computes attention another way, whose
      // softmax zeroes a padded query step's weights instead of spreading them: its heads give 0.
      if (padding && zeroPadded) heads_ = mul(heads_, mask!);
      if (pg) heads_ = mul(heads_, sigmoid(dense(q, p[pg.k], pg.b < 0 ? null : p[pg.b])));
      const y = dense(heads_, p[out.k], out.b < 0 ? null : p[out.b]);
      return positions ? reshape(y, [...given[0].shape.slice(0, -1), y.shape[2]]) : y;
    },
    comparisons: true,
    exactOnly: true,
  };
}

export const ATTENTION_BUILDERS: Record<string, (l: LayerConfig, ctx: LayerContext) => LayerPlan> = {
  Attention: attention,
  AdditiveAttention: additiveAttention,
  MultiHeadAttention: multiHeadAttention,
  GroupQueryAttention: groupQueryAttention,
};
