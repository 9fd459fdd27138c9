// Adding or removing an axis of size 1 between layers (`tf.expand_dims(x, -1)` to give a Conv1D
// its channel axis, `tf.squeeze(x, 1)`), which tf-keras saves as TFOpLambda and Keras 3 as
// ExpandDims / Squeeze operations. keras_operations.ts rewrites either as a TfeAxes layer
// ({expand: axis} or {squeeze: axes}); its shape follows once the input's is known (axesShape,
// shared by the private and the plaintext model). A reshape: local on shares, nothing computed.
import type { LayerConfig } from './layers_graph';

/** The layer class the rewrite makes; Keras's Reshape needs the shape written out. */
export const AXES_LAYER = 'TfeAxes';

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);

/** The layer's settings: one axis to add, or the axes to remove (null: every non-batch axis of size 1). */
export function axesOf(l: LayerConfig): { expand: number } | { squeeze: number[] | null } {
  const c = l.config;
  const extra = Object.keys(c).filter((k) => !['name', 'expand', 'squeeze'].includes(k));
  const fail = (msg: string): never => {
    throw new Error(`layer '${c.name}' (${l.class_name}): ${msg}`);
  };
  if (extra.length) fail(`setting '${extra[0]}' is not supported`);
  if ('expand' in c === 'squeeze' in c) fail('takes one of expand and squeeze');
  if ('expand' in c) return isInt(c.expand) ? { expand: c.expand } : fail(`expand = ${JSON.stringify(c.expand)} is not an axis`);
  const s = c.squeeze;
  if (s === null) return { squeeze: null };
  const list = Array.isArray(s) ? s : [s];
  return list.every(isInt) ? { squeeze: list as number[] } : fail(`squeeze = ${JSON.stringify(s)} is not a list of axes`);
}

/** The output's shape for an input of `shape` (the batch first, which stays). */
export function axesShape(spec: ReturnType<typeof axesOf>, shape: readonly number[], fail: (msg: string) => never): number[] {
  const r = shape.length;
  if ('expand' in spec) {
    const a = spec.expand < 0 ? spec.expand + r + 1 : spec.expand;
    if (a < 0 || a > r) fail(`axis ${spec.expand} is out of range for a rank-${r} input [${shape}]`);
    if (a === 0) fail('adds an axis before the batch, which is not supported');
    return [...shape.slice(0, a), 1, ...shape.slice(a)];
  }
  if (spec.squeeze === null) return shape.filter((d, a) => a === 0 || d !== 1);
  const axes = spec.squeeze.map((a) => (a < 0 ? a + r : a));
  for (const [i, a] of axes.entries()) {
    if (a < 0 || a >= r) fail(`axis ${spec.squeeze[i]} is out of range for a rank-${r} input [${shape}]`);
    if (a === 0) fail('removes the batch axis, which is not supported');
    if (shape[a] !== 1) fail(`removes axis ${spec.squeeze[i]} of size ${shape[a]} (input [${shape}]); only axes of size 1 can be`);
  }
  return shape.filter((_, a) => !axes.includes(a));
}

/**
 * Stacking tensors of one shape along a new axis (`keras.ops.stack`, as keras.applications'
 * caffe-style preprocess_input writes its RGB to BGR flip), which Keras 3 saves as a Stack
 * operation: a TfeStack layer {axis} of the stacked tensors, each given the new axis of size 1
 * (a reshape) and then concatenated along it. Local on shares, nothing computed.
 */
export const STACK_LAYER = 'TfeStack';

/** The layer's axis, in the output (the batch axis 0 excluded). */
export function stackOf(l: LayerConfig): number {
  const c = l.config;
  const extra = Object.keys(c).filter((k) => !['name', 'axis'].includes(k));
  if (extra.length) throw new Error(`layer '${c.name}' (${l.class_name}): setting '${extra[0]}' is not supported`);
  if (!isInt(c.axis)) throw new Error(`layer '${c.name}' (${l.class_name}): axis = ${JSON.stringify(c.axis)} is not an axis`);
  return c.axis;
}

/** Each input's shape with the new axis, and the axis (non-negative), for inputs of `shapes` (the batch first). */
export function stackShape(axis: number, shapes: readonly (readonly number[])[], fail: (msg: string) => never): { expanded: number[]; axis: number } {
  if (shapes.some((s) => s.join() !== shapes[0].join())) fail(`stacks tensors of shapes ${shapes.map((s) => `[${s}]`).join(' and ')}; they must be equal`);
  const expanded = axesShape({ expand: axis }, shapes[0], fail);
  return { expanded, axis: axis < 0 ? axis + shapes[0].length + 1 : axis };
}
