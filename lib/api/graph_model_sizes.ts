// Sizes a graph computes from its input's shape, folded into constants where that shape is known.
// A model exported with its sequence length open (Input(shape=(None,))) computes a recurrent
// loop's step count and its TensorLists' lengths at run time: StridedSlice(Shape(x), [1], [2], [1])
// of a value x made from the input. Once the caller fixes that length (inputShapes:
// input_shapes.ts), the size is known here, and the loop reads as a loop of exported length does
// (graph_model_loops.ts reads its bounds as constants). Only sizes that do not depend on the batch
// are folded; the batch's stays computed, as in any exported graph.
import { constValue, dataInputs } from './graph_model_algebra';
import { type GraphNode, intOf, type Weights } from './graph_model_ops';

/** Ops whose output has their first input's shape. */
const SAME_SHAPE = new Set(['Identity', 'Cast', 'Snapshot', 'StopGradient', 'ReverseV2', 'Relu', 'Relu6', 'Tanh', 'Sigmoid', 'Neg', 'Square', 'Sqrt', 'Rsqrt', 'Exp', 'Elu', 'Selu', 'Softmax', 'LogSoftmax', 'BiasAdd', 'LeakyRelu', 'Softplus', 'Abs']);
/** Element-wise ops of two operands (NumPy broadcasting). */
const BROADCAST = new Set(['AddV2', 'Add', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Minimum', 'SelectV2', 'NotEqual', 'Equal', 'Less', 'Greater', 'LogicalAnd']);

/** -1: a size not known here (the batch's, or one this reading does not follow). */
type Shape = number[];

/** The static shape of the value at `ref`, where this reading can follow it; undefined otherwise. */
function shapeAt(nodes: Map<string, GraphNode>, weights: Weights, ref: string | undefined, memo: Map<string, Shape | undefined>, depth = 0): Shape | undefined {
  if (ref === undefined || depth > 200) return undefined;
  const [name, port = '0'] = ref.split(':');
  if (port !== '0') return undefined;
  if (memo.has(name)) return memo.get(name);
  memo.set(name, undefined); // a cycle (a loop's Merge) reads as unknown
  const n = nodes.get(name);
  const args = n ? dataInputs(n) : [];
  const at = (r: string | undefined) => shapeAt(nodes, weights, r, memo, depth + 1);
  let s: Shape | undefined;
  if (!n) s = undefined;
  else if (n.op === 'Placeholder') s = (n.attr.shape?.shape?.dim ?? []).map((d) => (Number(d.size) > 0 ? Number(d.size) : -1));
  else if (n.op === 'Const') s = constValue(nodes, weights, name)?.shape;
  else if (SAME_SHAPE.has(n.op)) s = at(args[0]);
  else if (BROADCAST.has(n.op)) s = broadcast(args.map(at));
  else if (n.op === 'GatherV2') {
    const [p, i] = [at(args[0]), at(args[1])], axis = constValue(nodes, weights, args[2])?.data[0];
    s = p && i && axis === 0 ? [...i, ...p.slice(1)] : undefined;
  } else if (n.op === 'Transpose') {
    const x = at(args[0]), perm = constValue(nodes, weights, args[1])?.data;
    s = x && perm && perm.length === x.length ? [...perm].map((k) => x[k] ?? -1) : undefined;
  } else if (n.op === 'ExpandDims') {
    const x = at(args[0]), a = constValue(nodes, weights, args[1])?.data[0];
    s = x && a !== undefined ? [...x.slice(0, a < 0 ? x.length + 1 + a : a), 1, ...x.slice(a < 0 ? x.length + 1 + a : a)] : undefined;
  } else if (n.op === 'MatMul' || n.op === '_FusedMatMul') {
    const [a, b] = [at(args[0]), at(args[1])];
    const ta = !!n.attr.transpose_a?.b, tb = !!n.attr.transpose_b?.b;
    s = a?.length === 2 && b?.length === 2 ? [ta ? a[1] : a[0], tb ? b[0] : b[1]] : undefined;
  } else if (n.op === 'ConcatV2') {
    const parts = args.slice(0, -1).map(at), axis = constValue(nodes, weights, args[args.length - 1])?.data[0];
    const rank = parts[0]?.length;
    if (axis !== undefined && rank && parts.every((p) => p?.length === rank)) {
      const k = axis < 0 ? rank + axis : axis;
      s = parts[0]!.map((d, j) => (j === k ? (parts.some((p) => p![j] < 0) ? -1 : parts.reduce((t, p) => t + p![j], 0)) : d));
    }
  }
  memo.set(name, s);
  return s;
}

function broadcast(shapes: (Shape | undefined)[]): Shape | undefined {
  if (shapes.some((s) => s === undefined)) return undefined;
  const rank = Math.max(...shapes.map((s) => s!.length));
  return Array.from({ length: rank }, (_, j) => {
    const ds = shapes.map((s) => s![s!.length - rank + j] ?? 1);
    const big = ds.filter((d) => d !== 1);
    return big.length === 0 ? 1 : big.includes(-1) ? -1 : big[0];
  });
}

/**
 * Replaces each StridedSlice that takes one size of Shape(x) (begin k, end k + 1, stride 1, the
 * axis shrunk) by that size as a constant, where x's shape is known there. Returns how many.
 */
export function foldKnownSizes(nodes: Map<string, GraphNode>, weights: Weights): number {
  const memo = new Map<string, Shape | undefined>();
  let folded = 0;
  for (const n of [...nodes.values()]) {
    if (n.op !== 'StridedSlice') continue;
    const [src, b, e, st] = dataInputs(n);
    const shapeNode = nodes.get(src?.split(':')[0] ?? '');
    if (shapeNode?.op !== 'Shape' || !(intOf(n.attr.shrink_axis_mask?.i) & 1)) continue;
    if (['begin_mask', 'end_mask', 'ellipsis_mask', 'new_axis_mask'].some((m) => intOf(n.attr[m]?.i) !== 0)) continue;
    const [begin, end, stride] = [b, e, st].map((r) => constValue(nodes, weights, r)?.data);
    if (begin?.length !== 1 || end?.length !== 1 || stride?.length !== 1 || stride[0] !== 1 || end[0] !== begin[0] + 1) continue;
    const x = shapeAt(nodes, weights, dataInputs(shapeNode)[0], memo);
    const k = begin[0] < 0 && x ? x.length + begin[0] : begin[0];
    const size = x?.[k];
    if (size === undefined || size < 1) continue;
    nodes.set(n.name, { name: n.name, op: 'Const', input: [], attr: { dtype: { type: 'DT_INT32' } } });
    weights.set(n.name, { data: Float32Array.of(size), shape: [] });
    folded++;
  }
  return folded;
}
