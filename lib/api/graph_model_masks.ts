// Keras's padding mask in a GraphModel. Embedding(mask_zero=True) reaches the graph as the op
// NotEqual(ids, 0) on the int input, and Keras 3.15 applies it, after the converter's passes, in
// two places:
//
//   GlobalAveragePooling1D:  Sum(SelectV2(ExpandDims(m, 2), x, 0), 1) / Sum(Cast(ExpandDims(m, 2)), 1)
//                            (or x times Cast(ExpandDims(m, 2)))
//   MultiHeadAttention:      SelectV2(cond, scores, c), c a large negative number, cond the AND of
//                            m[:, None, :, None], m[:, None, None, :] (the query's and the key's
//                            masks), a lower triangle with use_causal_mask, and ones
//
// The first becomes one '_MaskedMean' node here (graph_model_nodes.ts: Keras's GlobalAveragePooling1D
// handed the mask); the second is read by graph_model_attention.ts (attentionMask). The mask
// itself is never computed from the ids on a server: the translated layer's call names the input
// whose ids give it (a note in its `mask` argument, keras3_masks.ts), and the library builds it
// from that input's one-hot (layers_mask.ts), as for Keras models. Any other use of the ids is
// refused where the walk meets it (graph_model_ids.ts).
import { closed, constValue, dataInputs, readersOf, through } from './graph_model_algebra';
import type { GraphNode, Weights } from './graph_model_ops';
import { stepMaskOf } from './graph_model_masking';

const INT = new Set(['DT_INT32', 'DT_INT64']);

/** The int input (Placeholder) `ref` is, behind pass-through ops and casts between int types. */
function idsInput(nodes: Map<string, GraphNode>, ref: string | undefined): string | undefined {
  let n = through(nodes, ref);
  for (let hops = 0; n?.op === 'Cast' && INT.has(String(n.attr.DstT?.type)) && hops < 16; hops++) n = through(nodes, dataInputs(n)[0]);
  return n?.op === 'Placeholder' && INT.has(String(n.attr.dtype?.type)) ? n.name : undefined;
}

/** The int input whose padding mask `ref` is (NotEqual(ids, 0), either order), else undefined. */
export function paddingSource(nodes: Map<string, GraphNode>, weights: Weights, ref: string | undefined): string | undefined {
  const n = through(nodes, ref);
  if (n?.op !== 'NotEqual') return undefined;
  const ins = dataInputs(n);
  for (const [i, j] of [[0, 1], [1, 0]]) {
    const c = constValue(nodes, weights, ins[j]);
    const ids = idsInput(nodes, ins[i]);
    if (ids && c && c.data.length === 1 && c.data[0] === 0) return ids;
  }
  return undefined;
}

/** A step mask's source: the ids of an Embedding's, or the values of a Masking layer's with its mask_value. */
export type StepMask = { source: string; value?: number };
const same = (a: StepMask, b: StepMask) => a.source === b.source && a.value === b.value;

/** ExpandDims(m, axis) of a step mask m [batch, steps] to [batch, steps, 1] (axis 2 or -1): an Embedding's padding mask or a Masking layer's (graph_model_masking.ts). */
function stepsMask(nodes: Map<string, GraphNode>, weights: Weights, n: GraphNode | undefined): StepMask | undefined {
  if (n?.op !== 'ExpandDims') return undefined;
  const axis = constValue(nodes, weights, dataInputs(n)[1]);
  if (axis?.data.length !== 1 || !(axis.data[0] === 2 || axis.data[0] === -1)) return undefined;
  return stepMaskAt(nodes, weights, dataInputs(n)[0]);
}

/** The step mask [batch, steps] at `ref`: an Embedding's padding mask NotEqual(ids, 0), or a Masking layer's Any(NotEqual(x, c), -1). */
export function stepMaskAt(nodes: Map<string, GraphNode>, weights: Weights, ref: string | undefined): StepMask | undefined {
  const ids = paddingSource(nodes, weights, ref);
  if (ids) return { source: ids };
  const valued = stepMaskOf(nodes, weights, ref, false);
  return valued ? { source: valued.x, value: valued.value } : undefined;
}

/** x's ref and the mask where `n` is x masked: SelectV2(mask, x, 0), or x times Cast(mask). */
function maskedBy(nodes: Map<string, GraphNode>, weights: Weights, n: GraphNode | undefined): { x: string; source: StepMask } | undefined {
  if (n?.op === 'SelectV2' || n?.op === 'Select') {
    const [cond, x, zero] = dataInputs(n);
    const source = stepsMask(nodes, weights, through(nodes, cond));
    const z = constValue(nodes, weights, zero);
    return source && z && z.data.length === 1 && z.data[0] === 0 ? { x, source } : undefined;
  }
  if (n?.op === 'Mul') {
    const ins = dataInputs(n);
    for (const [i, j] of [[0, 1], [1, 0]]) {
      const cast = through(nodes, ins[j]);
      const source = cast?.op === 'Cast' ? stepsMask(nodes, weights, through(nodes, dataInputs(cast)[0])) : undefined;
      if (source) return { x: ins[i], source };
    }
  }
  return undefined;
}

/** Sum(x, 1): x's node and keep_dims, else undefined. */
function stepsSum(nodes: Map<string, GraphNode>, weights: Weights, n: GraphNode | undefined): { of: GraphNode | undefined; keep: boolean } | undefined {
  if (n?.op !== 'Sum') return undefined;
  const axes = constValue(nodes, weights, dataInputs(n)[1]);
  return axes?.data.length === 1 && axes.data[0] === 1 ? { of: through(nodes, dataInputs(n)[0]), keep: n.attr.keep_dims?.b === true } : undefined;
}

/** Replaces each masked mean over the steps (see above) by one '_MaskedMean' node reading x and the ids. */
export function matchMaskedMeans(nodes: Map<string, GraphNode>, weights: Weights): void {
  const readers = readersOf(nodes);
  for (const div of [...nodes.values()]) {
    if (div.op !== 'RealDiv') continue;
    const [numRef, denRef] = dataInputs(div);
    const num = stepsSum(nodes, weights, through(nodes, numRef));
    const den = stepsSum(nodes, weights, through(nodes, denRef));
    const masked = num && maskedBy(nodes, weights, num.of);
    const count = den?.of?.op === 'Cast' ? stepsMask(nodes, weights, through(nodes, dataInputs(den.of)[0])) : undefined;
    if (!num || !den || !masked || !count || !same(count, masked.source) || num.keep !== den.keep) continue;
    // The sum and the masked values are this mean's alone (the mask and the count may be shared).
    const region = new Set([div.name, through(nodes, numRef)!.name, num.of!.name]);
    if (!closed(readers, region, div.name)) continue;
    const value = masked.source.value;
    nodes.set(div.name, { name: div.name, op: '_MaskedMean', input: [masked.x, masked.source.source], attr: { keepdims: { b: num.keep }, ...(value === undefined ? {} : { mask_value: { f: value } }) } });
  }
}

/** One AND-ed part of an attention mask, its axes right-aligned: a padding mask's (B, T and 1) or a lower triangle's (Q, K and 1). */
type Factor = { kind: 'padding'; source: string; axes: string[] } | { kind: 'triangle'; axes: string[] };
/** A boolean value: its rank (undefined where only its last axes are known) and its factors. */
type BoolValue = { rank?: number; factors: Factor[] };

/** Ops a causal mask made from the scores' shape is built of: ones, the lower triangle, and-ed with more ones. */
const SHAPE_MASK_OPS = new Set(['Shape', 'StridedSlice', 'Pack', 'Fill', 'MatrixBandPart', 'LogicalAnd', 'OnesLike', 'ExpandDims', 'Reshape', 'Identity', 'Cast', 'Const']);

/**
 * The mask on attention scores [batch, heads, Tq, Tk] that SelectV2(cond, scores, c) applies, as
 * Keras's MultiHeadAttention writes it (see above): whether it is causal, and the int input whose
 * padding mask it applies to both queries and keys, or undefined for anything else (a mask on the
 * keys alone, on other axes, masks of two inputs, c not below -1e4). Its nodes but the padding
 * masks themselves go into `region` (those may be shared with other layers).
 */
export function attentionMask(nodes: Map<string, GraphNode>, weights: Weights, sel: GraphNode, region: Set<string>): { scores: string; causal: boolean; padding?: string } | undefined {
  const [cond, scoresRef, elseRef] = dataInputs(sel);
  const c = constValue(nodes, weights, elseRef);
  if (!c || c.data.length !== 1 || !(c.data[0] <= -1e4)) return undefined;
  const scoresNode = through(nodes, scoresRef)?.name;
  const taken = new Set<string>();
  const v = boolValue(nodes, weights, cond, scoresNode, taken, 0);
  if (!v || (v.rank !== undefined && v.rank > 4)) return undefined;
  const full = v.factors.map((f) => [...Array(Math.max(0, 4 - f.axes.length)).fill('1'), ...f.axes].join(''));
  if (full.some((a) => a.length !== 4)) return undefined;
  const pads = v.factors.flatMap((f, i) => (f.kind === 'padding' ? [{ source: f.source, axes: full[i] }] : []));
  const triangles = v.factors.filter((f, i) => f.kind === 'triangle' && full[i] === '11QK').length;
  if (triangles !== v.factors.filter((f) => f.kind === 'triangle').length) return undefined;
  if (pads.some((p) => p.axes !== 'B1T1' && p.axes !== 'B11T')) return undefined;
  const sources = new Set(pads.map((p) => p.source));
  // Keras's padding mask on self-attention masks both the queries and the keys (a padded query
  // step then weighs every key alike): a mask on one axis alone is another computation.
  if (sources.size > 1 || (pads.length > 0 && !(pads.some((p) => p.axes === 'B1T1') && pads.some((p) => p.axes === 'B11T')))) return undefined;
  if (pads.length === 0 && triangles === 0) return undefined;
  for (const name of taken) region.add(name);
  return { scores: scoresRef, causal: triangles > 0, ...(pads.length > 0 ? { padding: pads[0].source } : {}) };
}

/**
 * The boolean value at `ref` as factors (see Factor), or undefined where it is built otherwise.
 * Its nodes go into `taken`, but for the padding masks themselves (NotEqual(ids, 0)), which other
 * layers may read too (nothing else may read the ids: graph_model_ids.ts).
 */
function boolValue(nodes: Map<string, GraphNode>, weights: Weights, ref: string | undefined, scores: string | undefined, taken: Set<string>, depth: number): BoolValue | undefined {
  const source = paddingSource(nodes, weights, ref);
  if (source) return { rank: 2, factors: [{ kind: 'padding', source, axes: ['B', 'T'] }] };
  const passed = new Set<string>();
  const n = through(nodes, ref, passed);
  if (!n || depth > 64) return undefined;
  const v = boolOp(nodes, weights, n, ref, scores, taken, depth);
  if (v) for (const name of [...passed, ...(n.op === 'Const' ? [] : [n.name])]) taken.add(name);
  return v;
}

function boolOp(nodes: Map<string, GraphNode>, weights: Weights, n: GraphNode, ref: string | undefined, scores: string | undefined, taken: Set<string>, depth: number): BoolValue | undefined {
  if (n.op === 'Const') return constantMask(nodes, weights, ref);
  if (n.op === 'Cast' && n.attr.DstT?.type === 'DT_BOOL') return boolValue(nodes, weights, dataInputs(n)[0], scores, taken, depth + 1);
  if (n.op === 'LogicalAnd') {
    const [a, b] = dataInputs(n).map((r) => boolValue(nodes, weights, r, scores, taken, depth + 1));
    if (!a || !b) return undefined;
    return { rank: a.rank === undefined || b.rank === undefined ? undefined : Math.max(a.rank, b.rank), factors: [...a.factors, ...b.factors] };
  }
  if (n.op === 'ExpandDims') {
    const x = boolValue(nodes, weights, dataInputs(n)[0], scores, taken, depth + 1);
    const axis = constValue(nodes, weights, dataInputs(n)[1]);
    if (!x || axis?.data.length !== 1) return undefined;
    const a = axis.data[0];
    // A positive axis counts from the left: the rank must be known.
    if (a >= 0 && x.rank === undefined) return undefined;
    const r = x.rank ?? 0;
    if (x.rank !== undefined && (a > r || a < -r - 1)) return undefined;
    // The axes right of the new one: as many in every factor (right-aligned).
    const fromRight = a < 0 ? -a - 1 : r - a;
    if (x.factors.some((f) => f.axes.length < fromRight && x.rank === undefined)) return undefined;
    return {
      rank: x.rank === undefined ? undefined : r + 1,
      factors: x.factors.map((f) => {
        const axes = [...Array(Math.max(0, Math.max(r, fromRight) - f.axes.length)).fill('1'), ...f.axes];
        return { ...f, axes: [...axes.slice(0, axes.length - fromRight), '1', ...axes.slice(axes.length - fromRight)] };
      }),
    };
  }
  // Ones of the scores' shape (Keras's ones_like before its AND with the mask).
  if (n.op === 'Fill') {
    const [dims, value] = dataInputs(n);
    const d = through(nodes, dims, taken), one = constValue(nodes, weights, value);
    if (d?.op === 'Shape' && through(nodes, dataInputs(d)[0])?.name === scores && one?.data.length === 1 && one.data[0] === 1) {
      taken.add(d.name);
      return { rank: 4, factors: [] };
    }
  }
  return shapeTriangle(nodes, weights, ref, scores, taken);
}

/** A constant mask: all true (no factor), or a lower triangle over its last two axes (j <= i). */
function constantMask(nodes: Map<string, GraphNode>, weights: Weights, ref: string | undefined): BoolValue | undefined {
  const c = constValue(nodes, weights, ref);
  if (!c) return undefined;
  if (c.data.every((v) => v === 1)) return { rank: c.shape.length, factors: [] };
  const r = c.shape.length, [rows, cols] = c.shape.slice(-2);
  if (r < 2 || rows !== cols || c.shape.slice(0, -2).some((d) => d !== 1)) return undefined;
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) if (c.data[i * cols + j] !== (j <= i ? 1 : 0)) return undefined;
  return { rank: r, factors: [{ kind: 'triangle', axes: [...Array(r - 2).fill('1'), 'Q', 'K'] }] };
}

/**
 * A causal mask built from the scores' shape: only SHAPE_MASK_OPS, with exactly one
 * MatrixBandPart(ones, -1, 0) (query i sees keys j <= i), on the last two axes (its rank unknown).
 */
function shapeTriangle(nodes: Map<string, GraphNode>, weights: Weights, ref: string | undefined, scores: string | undefined, taken: Set<string>): BoolValue | undefined {
  const cone = new Set<string>(), stack = [ref];
  let bands = 0;
  while (stack.length > 0) {
    const n = through(nodes, stack.pop(), taken);
    if (!n || cone.has(n.name)) continue;
    if (!SHAPE_MASK_OPS.has(n.op)) return undefined;
    cone.add(n.name);
    if (n.op === 'MatrixBandPart') {
      const [lo, hi] = [1, 2].map((i) => constValue(nodes, weights, dataInputs(n)[i])?.data);
      if (lo?.[0] !== -1 || hi?.[0] !== 0) return undefined;
      bands++;
    }
    // Shapes of the scores are all the mask reads of the model's values.
    if (n.op === 'Shape' || n.op === 'OnesLike') {
      if (through(nodes, dataInputs(n)[0])?.name !== scores) return undefined;
      continue;
    }
    stack.push(...dataInputs(n));
  }
  if (bands !== 1) return undefined;
  for (const name of cone) if (nodes.get(name)?.op !== 'Const') taken.add(name);
  return { factors: [{ kind: 'triangle', axes: ['Q', 'K'] }] };
}
