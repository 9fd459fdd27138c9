// The attention layers of the float64 plaintext model (plain_forward.ts), written out as loops
// from Keras's definitions (layers_attention.ts computes them privately).
import type { LayerConfig } from './layers_graph';
import { maxAbsOf, plainAlloc, type PlainTensor, softmaxRows } from './plain_kernels';
import { fail } from './plain_activations';
import { attentionPositions, headsFormOf, causalCall } from './layers_attention';
import { isMask } from './layers_mask';

/** Keras's causal mask: query step i weighs value steps j <= i only (the others get weight 0). */
function hideFuture(s: Float64Array, tq: number, tv: number): void {
  for (let i = 0; i < tq; i++) for (let j = i + 1; j < tv; j++) s[i * tv + j] = -Infinity;
}

/** Keras 3.12+'s sliding window: query i weighs keys |i - j| < window only. */
function hideOutside(s: Float64Array, tq: number, tv: number, window: number): void {
  for (let i = 0; i < tq; i++) for (let j = 0; j < tv; j++) if (Math.abs(i - j) >= window) s[i * tv + j] = -Infinity;
}

type W = (name: string) => Float64Array;
/** Hears the largest |value| of a product the private layer forms inside (verify.ts): 'scores', 'projections'. */
type Inside = (what: string, maxAbs: number) => void;

function inputs(l: LayerConfig, xs: PlainTensor[]): [PlainTensor, PlainTensor, PlainTensor] {
  if (xs.length < 2 || xs.length > 3 || xs.some((x) => x.shape.length !== 3)) fail(l, 'takes rank-3 query, value and optionally key');
  return [xs[0], xs[1], xs[2] ?? xs[1]];
}

/**
 * The inputs of an Attention or AdditiveAttention, and Keras 3's padding mask [B, T] when one is
 * handed after them (layers_mask.ts: self-attention on one masked sequence).
 */
function maskedInputs(l: LayerConfig, all: PlainTensor[]): { mask?: PlainTensor; q: PlainTensor; v: PlainTensor; k: PlainTensor } {
  const mask = all.find((x) => isMask(x)), [q, v, k] = inputs(l, all.filter((x) => !isMask(x)));
  if (mask && (q.shape[1] !== v.shape[1] || mask.data.length !== q.shape[0] * q.shape[1])) fail(l, `a padding mask needs self-attention over one sequence, got ${q.shape[1]} query and ${v.shape[1]} value steps`);
  return { mask, q, v, k };
}

/**
 * Example b's scores s [Tq, Tv] to weights, added into out as the weighted values; with Keras 3's
 * padding mask, padded keys get no weight and a padded query step's output is 0 (Keras's
 * Attention multiplies its output by the query's mask).
 */
function weighValues(s: Float64Array, b: number, mask: PlainTensor | undefined, v: PlainTensor, out: Float64Array, Tq: number, Tv: number, Dv: number): void {
  const m = mask?.data.subarray(b * Tq, (b + 1) * Tq);
  if (m) maskScores(s, m, Tq);
  softmaxRows(s, Tv);
  for (let i = 0; i < Tq; i++) {
    if (m && m[i] === 0) continue;
    for (let j = 0; j < Tv; j++) for (let d = 0; d < Dv; d++) out[(b * Tq + i) * Dv + d] += s[i * Tv + j] * v.data[(b * Tv + j) * Dv + d];
  }
}

/** out[b, i] = sum_j softmax_j(scale q_i . k_j) v_j. */
export function plainAttention(l: LayerConfig, w: W, inside: Inside = () => undefined): (xs: PlainTensor[]) => PlainTensor {
  const scale = l.config.use_scale ? w(`${l.config.name}/scale`)[0] : 1;
  const causal = causalCall(l);
  return (all) => {
    const { mask, q, v, k } = maskedInputs(l, all);
    const [B, Tq, D] = q.shape, [, Tv, Dv] = v.shape;
    const out = plainAlloc(B * Tq * Dv);
    // The private layer forms q k^T, then times the scale (layers_attention.ts): both are products.
    let top = 0;
    for (let b = 0; b < B; b++) {
      const s = plainAlloc(Tq * Tv);
      for (let i = 0; i < Tq; i++)
        for (let j = 0; j < Tv; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q.data[(b * Tq + i) * D + d] * k.data[(b * Tv + j) * D + d];
          s[i * Tv + j] = scale * dot;
          top = Math.max(top, maxAbsOf([dot, scale * dot]));
        }
      if (causal) hideFuture(s, Tq, Tv);
      weighValues(s, b, mask, v, out, Tq, Tv, Dv);
    }
    inside('scores', top);
    return { data: out, shape: [B, Tq, Dv] };
  };
}

/** Keras's AdditiveAttention: s_ij = sum_d scale_d tanh(q_id + k_jd), then as Attention. */
export function plainAdditiveAttention(l: LayerConfig, w: W): (xs: PlainTensor[]) => PlainTensor {
  const scale = l.config.use_scale === false ? null : w(`${l.config.name}/scale`);
  const causal = causalCall(l);
  return (all) => {
    const { mask, q, v, k } = maskedInputs(l, all);
    const [B, Tq, D] = q.shape, [, Tv, Dv] = v.shape;
    if (scale && scale.length !== D) fail(l, `its scale has ${scale.length} values, but the query has ${D} features`);
    const out = plainAlloc(B * Tq * Dv);
    for (let b = 0; b < B; b++) {
      const s = plainAlloc(Tq * Tv);
      for (let i = 0; i < Tq; i++)
        for (let j = 0; j < Tv; j++) {
          let sum = 0;
          for (let d = 0; d < D; d++) sum += (scale ? scale[d] : 1) * Math.tanh(q.data[(b * Tq + i) * D + d] + k.data[(b * Tv + j) * D + d]);
          s[i * Tv + j] = sum;
        }
      if (causal) hideFuture(s, Tq, Tv);
      weighValues(s, b, mask, v, out, Tq, Tv, Dv);
    }
    return { data: out, shape: [B, Tq, Dv] };
  };
}

/**
 * Keras's padding mask m [T] on a self-attention's scores [T, T] (softmax already applied after):
 * a query step that is padding weighs every key alike (Keras adds -1e9 to all its scores, which
 * float32 absorbs); the others give padded keys no weight.
 */
function maskScores(s: Float64Array, m: ArrayLike<number>, T: number): void {
  for (let i = 0; i < T; i++) for (let j = 0; j < T; j++) s[i * T + j] = m[i] === 0 ? 0 : m[j] === 0 ? -Infinity : s[i * T + j];
}

/**
 * Keras's MultiHeadAttention and GroupQueryAttention: projections per head (keys and values on
 * their own heads, each read by heads / kvHeads query heads in a row), scaled dot products,
 * softmax, the optional gate, the output projection.
 */
export function plainMultiHeadAttention(l: LayerConfig, w: W, inside: Inside = () => undefined): (xs: PlainTensor[]) => PlainTensor {
  const n = l.config.name, { heads: H, kvHeads, kd, vd, gate } = headsFormOf(l), bias = l.config.use_bias !== false;
  const group = H / kvHeads, window = l.config.sliding_window == null ? undefined : Number(l.config.sliding_window);
  const weight = (part: string, what: string) => w(`${n}/${part}/${what}`);
  const causal = causalCall(l), zeroPadded = Number(l.config.dropout ?? 0) > 0;
  // x [B, T, D] times kernel [D, h, width] (+ bias [h, width]) -> [B, T, h, width]
  const project = (x: PlainTensor, part: string, width: number, h = H): Float64Array => {
    const [B, T, D] = x.shape, k = weight(part, 'kernel'), bv = bias ? weight(part, 'bias') : undefined;
    const y = plainAlloc(B * T * h * width);
    for (let r = 0; r < B * T; r++)
      for (let o = 0; o < h * width; o++) {
        let acc = bv ? bv[o] : 0;
        for (let d = 0; d < D; d++) acc += x.data[r * D + d] * k[d * h * width + o];
        y[r * h * width + o] = acc;
      }
    return y;
  };
  return (all) => {
    // A padding mask [B, T, 1] (layers_mask.ts: self-attention on one masked sequence).
    const mask = all.find((x) => isMask(x)), given = all.filter((x) => !isMask(x));
    // [B, h, w, D]: over all positions, flattened (layers_attention.ts attentionPositions).
    const positions = attentionPositions(l, given, l.config.attention_axes, causal);
    const xs = positions ? given.map((x) => ({ data: x.data, shape: [x.shape[0], x.shape.slice(1, -1).reduce((a, b) => a * b, 1), x.shape[x.shape.length - 1]] })) : given;
    const [q, v, k] = inputs(l, xs);
    const [B, Tq] = q.shape, Tv = v.shape[1];
    if (mask && (Tq !== Tv || mask.data.length !== B * Tq)) fail(l, `a padding mask needs self-attention over one sequence, got ${Tq} query and ${Tv} value steps`);
    const Q = project(q, 'query', kd), K = project(k, 'key', kd, kvHeads), V = project(v, 'value', vd, kvHeads);
    // Each projection is a product of its own, truncated before Q's scaling (layers_attention.ts).
    inside('projections', Math.max(maxAbsOf(Q), maxAbsOf(K), maxAbsOf(V)));
    const heads = plainAlloc(B * Tq * H * vd);
    let top = 0; // Q is scaled by 1/sqrt(key_dim) before its product with K (layers_attention.ts)
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++) {
        const s = plainAlloc(Tq * Tv);
        for (let i = 0; i < Tq; i++)
          for (let j = 0; j < Tv; j++) {
            let dot = 0;
            for (let d = 0; d < kd; d++) dot += Q[((b * Tq + i) * H + h) * kd + d] * K[((b * Tv + j) * kvHeads + Math.floor(h / group)) * kd + d];
            s[i * Tv + j] = dot / Math.sqrt(kd);
            top = Math.max(top, maxAbsOf([s[i * Tv + j]]));
          }
        if (causal) hideFuture(s, Tq, Tv);
        if (window !== undefined) hideOutside(s, Tq, Tv, window);
        if (mask) maskScores(s, mask.data.subarray(b * Tq, (b + 1) * Tq), Tq);
        softmaxRows(s, Tv);
        // (With dropout Keras 3's softmax zeroes a padded query step's weights: layers_attention.ts.)
        if (mask && zeroPadded) for (let i = 0; i < Tq; i++) if (mask.data[b * Tq + i] === 0) s.fill(0, i * Tv, (i + 1) * Tv);
        for (let i = 0; i < Tq; i++)
          for (let j = 0; j < Tv; j++)
            for (let d = 0; d < vd; d++) heads[((b * Tq + i) * H + h) * vd + d] += s[i * Tv + j] * V[((b * Tv + j) * kvHeads + Math.floor(h / group)) * vd + d];
      }
    inside('scores', top);
    // The gate (Keras 3.12+): sigmoid(q Wg + bg) times each head's output.
    if (gate) project(q, 'gate', vd).forEach((g, i) => (heads[i] *= 1 / (1 + Math.exp(-g))));
    const ko = weight('attention_output', 'kernel'), bo = bias ? weight('attention_output', 'bias') : undefined;
    const O = ko.length / (H * vd);
    const out = plainAlloc(B * Tq * O);
    for (let r = 0; r < B * Tq; r++)
      for (let o = 0; o < O; o++) {
        let acc = bo ? bo[o] : 0;
        for (let e = 0; e < H * vd; e++) acc += heads[r * H * vd + e] * ko[e * O + o];
        out[r * O + o] = acc;
      }
    return { data: out, shape: positions ? [...given[0].shape.slice(0, -1), O] : [B, Tq, O] };
  };
}
