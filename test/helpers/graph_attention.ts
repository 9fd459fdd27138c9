// Keras's MultiHeadAttention as Keras 3.15 writes it into a GraphModel (after the converter's
// passes: test/fixtures/graph_models/gen.py), built node by node for
// test/graph_model_attention.test.ts, with the variations a matcher must tell apart.
import { b, GraphBuilder, T } from './graph_models';
import { embedded, expand } from './graph_masks';

export interface AttentionOptions {
  /** The scores' scale (1/sqrt(key_dim) for Keras's layer). */
  scale?: number;
  /** Scale the query before the scores' Einsum (Keras 2.x) instead of the scores. */
  scaleQuery?: boolean;
  bias?: boolean;
  /** The scores' and the combination's equations. */
  equations?: [string, string];
  /** The softmax's weights also read by the output (a group that is not closed). */
  weightsOut?: boolean;
  /** A mask on the scores as Keras writes use_causal_mask (a band of num_lower -1, num_upper 0), or another band. */
  band?: [number, number];
  /**
   * Self-attention over token ids (an Embedding) with Keras's padding mask on the scores, as Keras
   * 3.15 writes it: m = NotEqual(ids, 0), m[:, :, None] & m[:, None, :] (`query`, `key`: which of
   * the two), and-ed with a constant lower triangle (`causal`), ExpandDims at `at` (1), and-ed
   * with ones of the scores' shape (`ones` 'const': a constant true [1, 1, 1, 1] instead, which
   * TensorFlow.js's executor runs: it fills bools as floats). `keysFrom`: the keys' mask from a
   * second int input.
   */
  padding?: { query?: boolean; key?: boolean; causal?: boolean; at?: number; keysFrom?: 'ids2'; ones?: 'fill' | 'const' };
}

const mm = { ...T, adj_x: b(false), adj_y: b(false) };

/** [-1, 4, 6] (or ids [-1, 4] into a table: `padding`) -> self-attention (2 heads of 3, value width 5) -> [-1, 4, 6]. */
export function attentionGraph(o: AttentionOptions = {}): { g: GraphBuilder; out: string } {
  const g = new GraphBuilder();
  const [N, H, W, T_] = [2, 3, 5, 4];
  const text = o.padding && embedded(g, T_, 6);
  const x = text ? text.rows : g.input('x', [-1, 4, 6]);
  const proj = (p: string, width: number) => {
    const m = g.node(`mha/${p}/MatMul`, 'BatchMatMulV2', [x, g.random(`mha/${p}/Reshape`, [6, N * width], 0.6)], mm);
    const r = g.node(`mha/${p}/Reshape_1`, 'Reshape', [m, g.constant(`mha/${p}/Reshape_1/shape`, [4], [-1, T_, N, width], 'int32')], T);
    return o.bias === false ? r : g.node(`mha/${p}/Add`, 'AddV2', [r, g.random(`mha/${p}/Add/b`, [N, width], 0.3)], T);
  };
  const [eq1, eq2] = o.equations ?? ['BTNH,BSNH->BNTS', 'BNTS,BSNH->BTNH'];
  const s = g.constant('mha/Cast/x', [], [o.scale ?? 1 / Math.sqrt(H)]);
  let q = proj('query', H);
  if (o.scaleQuery) q = g.node('mha/query/Mul', 'Mul', [q, s], T);
  const k = proj('key', H), v = proj('value', W);
  const eq = (e: string) => ({ ...T, equation: { s: Buffer.from(e).toString('base64') }, N: { i: '2' } });
  let scores = g.node('mha/einsum/Einsum', 'Einsum', [q, k], eq(eq1));
  if (!o.scaleQuery) scores = g.node('mha/Mul', 'Mul', [scores, s], T);
  if (o.band) {
    // Keras 3.15's use_causal_mask: ones of the scores' last two sizes, their band, and-ed with
    // ones like the scores; the scores where it holds, -1e9 elsewhere.
    const B = { T: { type: 'DT_BOOL' } }, I = { ...T, Index: { type: 'DT_INT32' }, begin_mask: { i: '0' }, end_mask: { i: '0' }, ellipsis_mask: { i: '0' }, new_axis_mask: { i: '0' }, shrink_axis_mask: { i: '1' } };
    const shape = g.node('mask/Shape', 'Shape', [scores], { ...T, out_type: { type: 'DT_INT32' } });
    const dim = (k: number) => g.node(`mask/dim${k}`, 'StridedSlice', [shape, g.constant(`mask/b${k}`, [1], [k], 'int32'), g.constant(`mask/e${k}`, [1], [k + 1], 'int32'), g.constant(`mask/s${k}`, [1], [1], 'int32')], { ...I, T: { type: 'DT_INT32' } });
    const size = g.node('mask/size', 'Pack', [dim(2), dim(3)], { T: { type: 'DT_INT32' }, N: { i: '2' }, axis: { i: '0' } });
    const ones = g.node('mask/ones', 'Fill', [size, g.constant('mask/true', [], [1], 'bool')], { ...B, index_type: { type: 'DT_INT32' } });
    const band = g.node('mask/band', 'MatrixBandPart', [ones, g.constant('mask/lo', [], [o.band[0]], 'int32'), g.constant('mask/hi', [], [o.band[1]], 'int32')], { ...B, Tindex: { type: 'DT_INT32' } });
    const all = g.node('mask/all', 'Fill', [shape, g.constant('mask/true2', [], [1], 'bool')], { ...B, index_type: { type: 'DT_INT32' } });
    const cond = g.node('mask/and', 'LogicalAnd', [all, band], {});
    scores = g.node('mask/select', 'SelectV2', [cond, scores, g.constant('mask/neg', [], [-1e9])], T);
  }
  if (o.padding && text) {
    const p = o.padding, B = { T: { type: 'DT_BOOL' } };
    const keyMask = p.keysFrom ? text.mask(g.input('ids2', [-1, T_], 'DT_INT32')) : text.mask();
    const parts = [...(p.query !== false ? [expand(g, 'mha/ExpandDims', text.mask(), 2)] : []), ...(p.key !== false ? [expand(g, 'mha/ExpandDims_1', keyMask, 1)] : [])];
    if (p.causal) parts.push(g.constant('mha/GreaterEqual', [1, T_, T_], Array.from({ length: T_ * T_ }, (_, k) => (k % T_ <= Math.floor(k / T_) ? 1 : 0)), 'bool'));
    const and = parts.reduce((a, c, k) => g.node(`mha/and_${k}`, 'LogicalAnd', [a, c], {}));
    const shape = p.ones !== 'const' && g.node('mha/ones_like/Shape', 'Shape', [scores], { ...T, out_type: { type: 'DT_INT32' } });
    const ones = shape ? g.node('mha/ones_like', 'Fill', [shape, g.constant('mha/ones_like/Const', [], [1], 'bool')], { ...B, index_type: { type: 'DT_INT32' } }) : g.constant('mha/ones', [1, 1, 1, 1], [1], 'bool');
    const cond = g.node('mha/LogicalAnd', 'LogicalAnd', [ones, expand(g, 'mha/ExpandDims_2', and, p.at ?? 1)], {});
    scores = g.node('mha/SelectV2', 'SelectV2', [cond, scores, g.constant('mha/Const', [], [-2.3726709583555947e38])], T);
  }
  const w = g.node('mha/Softmax', 'Softmax', [scores], T);
  const heads = g.node('mha/einsum_1/Einsum', 'Einsum', [w, v], eq(eq2));
  const flat = g.node('mha/attention_output/Reshape', 'Reshape', [heads, g.constant('mha/attention_output/Reshape/shape', [3], [-1, T_, N * W], 'int32')], T);
  const y = g.node('mha/attention_output/MatMul', 'BatchMatMulV2', [flat, g.random('mha/attention_output/Reshape_1', [N * W, 6], 0.5)], mm);
  const yb = o.bias === false ? y : g.node('mha/attention_output/BiasAdd', 'BiasAdd', [y, g.random('mha/attention_output/b', [6], 0.3)], { ...T, data_format: { s: Buffer.from('NHWC').toString('base64') } });
  const out = o.weightsOut ? g.node('cat', 'ConcatV2', [yb, g.node('w/Reshape', 'Reshape', [w, g.constant('w/shape', [3], [-1, T_, N * T_], 'int32')], T), g.constant('cat/axis', [], [-1], 'int32')], { ...T, N: { i: '2' } }) : yb;
  return { g, out: g.node('Identity', 'Identity', [out], T) };
}
