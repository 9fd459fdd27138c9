// Keras's padding mask (Embedding(mask_zero=True)) as Keras 3.15 writes it into a GraphModel
// (after the converter's passes: test/fixtures/graph_models/gen.py's padded models), built node by
// node for test/graph_model_masks.test.ts with the variations the matchers must tell apart.
import { b, GraphBuilder, i, T } from './graph_models';

export const MASK_VOCAB = 9;
const INT = { T: { type: 'DT_INT32' } };
const BOOL = { T: { type: 'DT_BOOL' } };

/** ids [-1, steps] (int32), their rows in a [MASK_VOCAB, width] table, and NotEqual(ids, `padId`) named `name`. */
export function embedded(g: GraphBuilder, steps: number, width: number, padId = 0) {
  const ids = g.input('ids', [-1, steps], 'DT_INT32');
  const rows = g.node('emb/GatherV2', 'GatherV2', [g.random('emb/table', [MASK_VOCAB, width], 1), ids, g.constant('emb/axis', [], [0], 'int32')], { Tparams: { type: 'DT_FLOAT' }, Tindices: { type: 'DT_INT32' }, Taxis: { type: 'DT_INT32' }, batch_dims: i(0) });
  let k = 0;
  const mask = (of = ids, pad = padId) => g.node(`NotEqual_${k++}`, 'NotEqual', [of, g.constant(`pad_${k}`, [], [pad], 'int32')], { ...INT, incompatible_shape_error: b(true) });
  return { ids, rows, mask };
}

export const expand = (g: GraphBuilder, name: string, x: string, axis: number) => g.node(name, 'ExpandDims', [x, g.constant(`${name}/dim`, [], [axis], 'int32')], { ...BOOL, Tdim: { type: 'DT_INT32' } });
const castF = (g: GraphBuilder, name: string, x: string) => g.node(name, 'Cast', [x], { SrcT: { type: 'DT_BOOL' }, DstT: { type: 'DT_FLOAT' }, Truncate: b(false) });

export interface MeanOptions {
  /** The masked values as SelectV2(mask, x, 0) (Keras 3.15 after grappler) or x times Cast(mask). */
  form?: 'select' | 'mul';
  keepdims?: boolean;
  /** The count's mask compares the ids with this instead of 0. */
  countPad?: number;
  /** Leave out the division: a masked sum. */
  sumOnly?: boolean;
}

/** ids [-1, 5] -> rows [-1, 5, 4] -> Keras's masked mean over the steps -> a product by [4, 3]. */
export function maskedMeanGraph(o: MeanOptions = {}) {
  const g = new GraphBuilder();
  const { rows, mask } = embedded(g, 5, 4);
  const e = expand(g, 'gap/ExpandDims', mask(), 2);
  const kept = o.form === 'mul' ? g.node('gap/mul', 'Mul', [rows, castF(g, 'gap/Cast_x', e)], T) : g.node('gap/SelectV2', 'SelectV2', [e, rows, g.constant('gap/zero', [], [0])], T);
  const sum = (name: string, x: string) => g.node(name, 'Sum', [x, g.constant(`${name}/axis`, [], [1], 'int32')], { ...T, keep_dims: b(o.keepdims === true), Tidx: { type: 'DT_INT32' } });
  const total = sum('gap/Sum', kept);
  const countMask = o.countPad === undefined ? e : expand(g, 'gap/ExpandDims_1', mask(undefined, o.countPad), 2);
  const mean = o.sumOnly ? total : g.node('gap/truediv', 'RealDiv', [total, sum('gap/Sum_1', castF(g, 'gap/Cast', countMask))], T);
  const flat = o.keepdims ? g.node('flat', 'Reshape', [mean, g.constant('flat/shape', [2], [-1, 4], 'int32')], T) : mean;
  const y = g.node('dense/MatMul', 'MatMul', [flat, g.random('dense/w', [4, 3], 0.8)], { ...T, transpose_a: b(false), transpose_b: b(false) });
  return g.save({ y: g.node('Identity', 'Identity', [y], T) }, { ids: 'ids' });
}
