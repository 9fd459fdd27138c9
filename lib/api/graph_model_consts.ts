// A GraphModel's constants: their values (the manifest's, or written inline), the int ops a
// Flatten's shape is computed with (Shape, StridedSlice, Pack, Prod), folded here with the batch
// size a symbol, and the element-wise ops between a computed value and a constant.
//
// A constant is the owner's: it may be a learned weight, so it becomes a private one, never a
// setting in the topology the servers read. x + b merges into the layer before as its bias where
// it can; any other x * c + d over the last axis is a BatchNormalization of mean 0, variance 1
// and epsilon 0 (scale c, shift d exactly), which folds into the layer before it where it can.
import { addLayer, constArg, type Dim, dimsOf, fail, type GraphNode, intOf, type Layer, mergedAs, needArgs, type Translated, type Val, type Weights } from './graph_model_ops';

type Const = Extract<Val, { kind: 'const' }>;

const vector = (dims: Dim[]): Const => ({ kind: 'const', shape: [dims.length], data: new Float32Array(dims.length), dims });

/** The value of a Const node: its manifest weight, or a value written inline. */
export function constant(n: GraphNode, weights: Weights): Val {
  const w = weights.get(n.name);
  if (w) return { kind: 'const', shape: w.shape, data: w.data };
  const t = n.attr.value?.tensor;
  const shape = (t?.tensorShape?.dim ?? []).map((d) => Number(d.size));
  const size = shape.reduce((a, d) => a * d, 1);
  const vals = (t?.floatVal ?? t?.intVal ?? t?.int64Val ?? []).map(Number);
  if (!t || vals.length === 0 || (vals.length !== size && vals.length !== 1)) fail(n, 'its value is neither in the weights manifest nor written inline as numbers');
  return { kind: 'const', shape, data: Float32Array.from({ length: size }, (_, i) => vals[vals.length === 1 ? 0 : i]) };
}

/** Shape(x): a computed value's sizes, its batch's the symbol 'B'. */
export function shapeOf(n: GraphNode, args: Val[]): Val {
  needArgs(n, args, 1);
  const v = args[0];
  if (v.kind === 'layer' && v.merged) fail(n, "takes the shape of a value whose axes are merged into the batch's (TensorFlow's tensordot): not supported");
  return vector(v.kind === 'const' ? v.shape : ['B', ...v.shape.slice(1)]);
}

/** StridedSlice over a vector (a shape), with begin, end and shrink masks. */
export function stridedSlice(n: GraphNode, args: Val[]): Val {
  needArgs(n, args, 4);
  const v = constArg(n, args[0], 'its input'), [b, e, s] = [1, 2, 3].map((i) => dimsOf(constArg(n, args[i], 'its begin, end and strides')));
  if (v.shape.length !== 1 || b.length !== 1) fail(n, 'only a slice of a vector (a shape) translates');
  for (const m of ['ellipsis_mask', 'new_axis_mask']) if (intOf(n.attr[m]?.i) !== 0) fail(n, `${m} is not supported`);
  const dims = dimsOf(v), len = dims.length, step = Number(s[0]);
  if (step !== 1) fail(n, `a stride of ${step} is not supported`);
  const at = (d: Dim) => (typeof d !== 'number' ? fail(n, 'its bounds are not constants') : d < 0 ? d + len : Math.min(d, len));
  const lo = intOf(n.attr.begin_mask?.i) & 1 ? 0 : at(b[0]);
  if (intOf(n.attr.shrink_axis_mask?.i) & 1) return { kind: 'const', shape: [], data: new Float32Array(1), dims: [dims[lo]] };
  const hi = intOf(n.attr.end_mask?.i) & 1 ? len : at(e[0]);
  return vector(dims.slice(lo, Math.max(lo, hi)));
}

/** Pack of scalars on axis 0, Prod of a vector, ConcatV2 of vectors: shape arithmetic. */
export function packed(n: GraphNode, args: Val[]): Val {
  if (intOf(n.attr.axis?.i) !== 0) fail(n, 'packs on an axis other than 0');
  return vector(args.map((a) => dimsOf(a as Const)[0]));
}

export function product(n: GraphNode, args: Val[]): Val {
  const dims = dimsOf(constArg(n, args[0], 'its input'));
  // Known sizes multiply; the batch's times known ones is 'B*k' (tensordot's merged axes).
  const batch = dims.filter((d) => typeof d !== 'number');
  const k = dims.filter((d): d is number => typeof d === 'number').reduce((a, d) => a * d, 1);
  const p: Dim = batch.length === 0 ? k : batch.length === 1 && batch[0] === 'B' ? (k === 1 ? 'B' : `B*${k}`) : 'U';
  return { kind: 'const', shape: [], data: new Float32Array(1), dims: [p] };
}

/** GatherV2 of a vector (a shape) at constant indices, on axis 0. */
export function gathered(n: GraphNode, args: Val[]): Val {
  needArgs(n, args, 3);
  const [v, idx, axis] = [constArg(n, args[0], 'its input'), constArg(n, args[1], 'its indices'), constArg(n, args[2], 'its axis')];
  if (v.shape.length !== 1 || axis.data[0] !== 0 || intOf(n.attr.batch_dims?.i) !== 0) fail(n, 'only a gather from a vector (a shape), on axis 0, translates');
  const dims = dimsOf(v);
  const picked = [...idx.data].map((i) => dims[i < 0 ? i + dims.length : i]);
  if (picked.some((d) => d === undefined)) fail(n, `gathers [${[...idx.data]}] from ${dims.length} values`);
  return idx.shape.length === 0 ? { kind: 'const', shape: [], data: new Float32Array(1), dims: picked } : vector(picked);
}

export function joined(n: GraphNode, parts: Val[]): Val {
  if (parts.some((p) => p.shape.length !== 1)) fail(n, 'concatenates constants of rank other than 1');
  return vector(parts.flatMap((p) => dimsOf(p as Const)));
}

/** Reshape to a folded shape whose first size is the batch's (or -1 standing for it). */
export function reshaped(n: GraphNode, x: Layer, target: Dim[], out: Translated): Val {
  const [first, ...rest] = target;
  const last = x.shape[x.shape.length - 1], lead = x.shape.slice(1, -1).reduce((a, d) => a * d, 1);
  // tensordot's first reshape: every axis but the last into the batch's. The layers keep them.
  if (typeof first === 'string' && first.startsWith('B*') && !x.merged) {
    if (rest.length !== 1 || rest[0] !== last || Number(first.slice(2)) !== lead) fail(n, `reshapes [${x.shape.slice(1)}] to [${target}]: only all axes but the last merged into the batch's`);
    return { ...x, merged: true };
  }
  // ... and its reshape back: the layers' shape again, or a Reshape of it.
  if (x.merged) {
    if (first !== 'B' && first !== -1) fail(n, `reshapes a merged value to [${target}]: the batch axis must come back first`);
    if (rest.join() === x.shape.slice(1).join()) return { ...x, merged: undefined };
  }
  if (first !== 'B' && first !== -1) fail(n, `reshapes to [${target}]: the batch axis must stay first`);
  if (rest.length === 0) fail(n, 'reshapes to the batch axis alone: not supported (keep a last axis of 1)');
  if (rest.some((d) => typeof d !== 'number' || (d < 1 && d !== -1)) || rest.filter((d) => d === -1).length > (first === -1 ? 0 : 1))
    fail(n, `reshapes to [${target}]: sizes that are not known here`);
  const per = x.shape.slice(1).reduce((a, d) => a * d, 1), known = (rest as number[]).filter((d) => d > 0).reduce((a, d) => a * d, 1);
  const sizes = (rest as number[]).map((d) => (d === -1 ? per / known : d));
  if (sizes.reduce((a, d) => a * d, 1) !== per) fail(n, `reshapes [${x.shape.slice(1)}] to [${rest}] per example: the sizes differ`);
  return addLayer(out, n, 'Reshape', { target_shape: sizes }, [x], [-1, ...sizes]);
}

/** Squeeze of size-1 axes (all of them where none are named), never the batch's. */
export function squeezed(n: GraphNode, x: Layer, axes: number[], out: Translated): Val {
  const r = x.shape.length;
  const drop = new Set((axes.length > 0 ? axes : x.shape.map((d, i) => (i > 0 && d === 1 ? i : -1)).filter((i) => i > 0)).map((a) => (a < 0 ? a + r : a)));
  if (drop.has(0)) fail(n, 'squeezes the batch axis');
  for (const a of drop) if (x.shape[a] !== 1) fail(n, `squeezes axis ${a}, of size ${x.shape[a]}`);
  const sizes = x.shape.slice(1).filter((_, i) => !drop.has(i + 1));
  if (sizes.length === 0) fail(n, 'squeezes every axis but the batch: not supported (keep a last axis of 1)');
  return addLayer(out, n, 'Reshape', { target_shape: sizes }, [x], [-1, ...sizes]);
}

/** A constant's values over x's last axis (C): a scalar or [.., 1, C] broadcast to C values; undefined otherwise. */
function perChannel(c: Const, channels: number): Float32Array | undefined {
  const last = c.shape.length === 0 ? 1 : c.shape[c.shape.length - 1];
  if (!c.shape.every((d, i) => i === c.shape.length - 1 || d === 1) || (last !== 1 && last !== channels)) return undefined;
  return last === channels ? c.data : new Float32Array(channels).fill(c.data[0]);
}

/**
 * A constant (leading 1s aside) of the sizes of x's last k >= 2 axes: x's other axes (after the
 * batch's) and the number of values it covers; undefined otherwise (another shape, or x with axes
 * merged into the batch's).
 */
function overLastAxes(c: Const, x: Layer): [number[], number] | undefined {
  const first = c.shape.findIndex((d) => d !== 1);
  const own = first < 0 ? [] : c.shape.slice(first), r = x.shape.length;
  if (own.length < 2 || own.length > r - 1 || x.merged) return undefined;
  if (own.some((d, i) => d !== x.shape[r - own.length + i])) return undefined;
  return [x.shape.slice(1, r - own.length), own.reduce((a, d) => a * d, 1)];
}

/**
 * x op c (or c op x) for a constant c over x's last axis, op one of BiasAdd, Add, AddV2, Sub, Mul,
 * RealDiv: a bias merged into the convolution or matmul before it, or a private per-channel scale
 * and shift (see the file's head).
 */
export function withConstant(n: GraphNode, x: Layer, c: Const, constantFirst: boolean, out: Translated): Val {
  const channels = x.shape[x.shape.length - 1];
  const v = perChannel(c, channels);
  if (!v) {
    const over = overLastAxes(c, x);
    if (!over) fail(n, `its constant of shape [${c.shape}] is neither one value per channel of its input's last axis (${channels}) nor one per value of its input's last axes [${x.shape.slice(1)}]: not supported`);
    // A constant over the last k axes (a learned positional embedding [steps, features], a bias
    // per head and width): those axes as one, the constant per channel of it, and back.
    const [lead, k] = over;
    const flat = addLayer(out, n, 'Reshape', { target_shape: [...lead, k] }, [x], [-1, ...lead, k]);
    const y = withConstant(n, flat, { kind: 'const', shape: [k], data: c.data }, constantFirst, out) as Layer;
    return addLayer(out, n, 'Reshape', { target_shape: x.shape.slice(1) }, [y], x.shape);
  }
  const add = n.op === 'BiasAdd' || n.op === 'Add' || n.op === 'AddV2';
  if (add && mergesAsBias(x, out)) {
    x.entry.config.use_bias = true;
    out.weights.set(`${x.entry.name}/bias`, { data: v, shape: [channels] });
    return x;
  }
  return mergedAs(x, affine(n, x, v, constantFirst, add, channels, out));
}

/** x c + d as a BatchNormalization of mean 0, variance 1 and epsilon 0. */
function affine(n: GraphNode, x: Layer, v: Float32Array, constantFirst: boolean, add: boolean, channels: number, out: Translated): Val {
  const scale = new Float32Array(channels).fill(1), shift = new Float32Array(channels);
  if (add) shift.set(v);
  else if (n.op === 'Sub') {
    shift.set(v.map((e) => -e));
    if (constantFirst) scale.fill(-1), shift.set(v);
  } else if (n.op === 'Mul') scale.set(v);
  else if (n.op === 'RealDiv' && !constantFirst) {
    if (v.some((e) => e === 0)) fail(n, 'divides by a constant that is 0 somewhere');
    scale.set(v.map((e) => 1 / e));
  } else fail(n, `${n.op} with a constant ${constantFirst ? 'first' : 'second'} is not supported`);
  const ones = new Float32Array(channels).fill(1), zeros = new Float32Array(channels);
  return addLayer(out, n, 'BatchNormalization', { axis: -1, epsilon: 0, center: true, scale: true }, [x], x.shape, [
    ['gamma', scale, [channels]],
    ['beta', shift, [channels]],
    ['moving_mean', zeros, [channels]],
    ['moving_variance', ones, [channels]],
  ]);
}

/** Whether x is a convolution's or matmul's output without a bias that nothing else reads. */
function mergesAsBias(x: Layer, out: Translated): boolean {
  const e = x.entry;
  return ['Conv2D', 'Conv2DTranspose', 'Conv3D', 'Conv3DTranspose', 'Dense'].includes(e.class_name) && e.config.use_bias === false && out.consumers.get(x.node) === 1;
}
