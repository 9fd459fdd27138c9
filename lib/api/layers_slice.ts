// Slicing a tensor between layers (`x[:, 0]` for a sequence's first step, `x[:, -1, :]` for its
// last, `x[..., :3]`), which tf-keras saves as a SlicingOpLambda and Keras 3 as a GetItem
// operation. keras_operations.ts rewrites either as a TfeGetItem layer whose `key` lists, per axis,
// a slice ({start, stop, step}: a step other than 1, x[..., ::-1] too, picks its indices from the
// window), an index (the axis goes) or the ellipsis; the bounds follow
// Python's rules once the input's shape is known (sliceBounds, shared by the private and the
// plaintext model). Local on shares: each party takes the same elements of its own share.
import type { LayerConfig } from './layers_graph';

/** The layer class the rewrite makes; no Keras layer slices. */
export const SLICE_LAYER = 'TfeGetItem';

/** One axis of a key: a slice (null for an open end; a step other than 1, a reversed one too), an index, or the ellipsis. */
export type KeyEntry = { start: number | null; stop: number | null; step?: number } | number | 'ellipsis';

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const bound = (v: unknown) => v === null || v === undefined || isInt(v);

/**
 * A key as tf-keras ({start, stop, step}, {class_name: '__ellipsis__'}) or Keras 3
 * ({class_name: '__slice__', config: {start, stop, step}}, '__ellipsis__') saves it: one entry or
 * a list. Refused, with `label`: a step of 0, a new axis (None), a tensor or list as an index.
 */
export function sliceKey(raw: unknown, label: string): KeyEntry[] {
  const entry = (e: unknown): KeyEntry => {
    if (isInt(e)) return e;
    const o = e as { class_name?: unknown; config?: Record<string, unknown>; start?: unknown; stop?: unknown; step?: unknown } | null;
    if (o === null || o === undefined) throw new Error(`${label}: adds an axis (None or tf.newaxis in the key), which is not supported`);
    if (typeof o !== 'object' || Array.isArray(o)) throw new Error(`${label}: indexes with ${JSON.stringify(e)?.slice(0, 60)}; an integer, a slice or ... is supported`);
    if (o.class_name === '__ellipsis__') return 'ellipsis';
    const s = o.class_name === '__slice__' ? (o.config ?? {}) : o;
    if (!('start' in s || 'stop' in s) || !bound(s.start) || !bound(s.stop) || !bound(s.step))
      throw new Error(`${label}: indexes with ${JSON.stringify(e)?.slice(0, 60)}; an integer, a slice of integers or ... is supported`);
    if (s.step === 0) throw new Error(`${label}: slices with step 0`);
    const step = (s.step ?? 1) as number;
    return { start: (s.start ?? null) as number | null, stop: (s.stop ?? null) as number | null, ...(step !== 1 ? { step } : {}) };
  };
  const list = Array.isArray(raw) ? raw.map(entry) : [entry(raw)];
  if (list.filter((e) => e === 'ellipsis').length > 1) throw new Error(`${label}: has more than one ... in its key`);
  return list;
}

/**
 * For an input of `shape` (the batch first): where the slice begins and how long it is per axis,
 * the indices a stepped axis then takes within that window (`picks`: x[:, ::-1] reverses, x[:, ::2]
 * takes every other), and the output's shape (indexed axes gone). The batch axis must be kept whole.
 */
export function sliceBounds(key: readonly KeyEntry[], shape: readonly number[], fail: (msg: string) => never): { begin: number[]; size: number[]; out: number[]; picks: { axis: number; indices: number[] }[] } {
  const given = key.filter((e) => e !== 'ellipsis').length;
  if (given > shape.length) fail(`indexes ${given} axes of a rank-${shape.length} input [${shape}]`);
  const full = { start: null, stop: null };
  const at = key.indexOf('ellipsis');
  const axes: KeyEntry[] = at < 0 ? [...key, ...new Array<KeyEntry>(shape.length - given).fill(full)] : [...key.slice(0, at), ...new Array<KeyEntry>(shape.length - given).fill(full), ...key.slice(at + 1)];
  const begin: number[] = [], size: number[] = [], out: number[] = [], picks: { axis: number; indices: number[] }[] = [];
  axes.forEach((e, a) => {
    const dim = shape[a];
    if (typeof e === 'number') {
      const i = e < 0 ? e + dim : e;
      if (a === 0) fail('indexes the batch axis; keep it whole (x[:, ...])');
      if (i < 0 || i >= dim) fail(`index ${e} is out of range for axis ${a} of size ${dim} (input [${shape}])`);
      begin.push(i), size.push(1);
      return;
    }
    const { start, stop, step = 1 } = e as { start: number | null; stop: number | null; step?: number };
    const what = `${start ?? ''}:${stop ?? ''}${step !== 1 ? `:${step}` : ''}`;
    if (a === 0 && (step !== 1 || (start ?? 0) !== 0 || (stop !== null && stop < dim))) fail('slices the batch axis; keep it whole (x[:, ...])');
    if (step === 1) {
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
      const s = start === null ? 0 : clamp(start), t = stop === null ? dim : clamp(stop);
      if (t <= s) fail(`selects nothing on axis ${a} of size ${dim} (${what})`);
      begin.push(s), size.push(t - s), out.push(t - s);
      return;
    }
    // Python's slice.indices: the ends clamped to the axis (for a negative step, to -1 .. dim - 1).
    const lo = step > 0 ? 0 : -1, hi = step > 0 ? dim : dim - 1;
    const end = (v: number | null, open: number) => (v === null ? open : Math.min(Math.max(v < 0 ? v + dim : v, lo), hi));
    const s = end(start, step > 0 ? 0 : dim - 1), t = end(stop, step > 0 ? dim : -1);
    const idx: number[] = [];
    for (let i = s; step > 0 ? i < t : i > t; i += step) idx.push(i);
    if (idx.length === 0) fail(`selects nothing on axis ${a} of size ${dim} (${what})`);
    // The window the indices span, then the indices within it.
    // The ends of a range: its first and last index (an axis may be longer than a call takes arguments).
    const first = Math.min(idx[0], idx[idx.length - 1]), last = Math.max(idx[0], idx[idx.length - 1]);
    begin.push(first), size.push(last - first + 1), out.push(idx.length);
    picks.push({ axis: a, indices: idx.map((i) => i - first) });
  });
  return { begin, size, out: [shape[0], ...out.slice(1)], picks };
}

/** The layer's key, checked again (a topology may come from elsewhere than the rewrite). */
export function keyOf(l: LayerConfig): KeyEntry[] {
  const extra = Object.keys(l.config).filter((k) => k !== 'name' && k !== 'key');
  if (extra.length) throw new Error(`layer '${l.config.name}' (${l.class_name}): setting '${extra[0]}' is not supported`);
  return sliceKey(l.config.key, `layer '${l.config.name}' (${l.class_name})`);
}

/** The plaintext of a slice's picks: along `axis` of `data` (of `shape`), the elements at `indices`. */
export function pickValues(data: Float64Array, shape: readonly number[], axis: number, indices: readonly number[]): { data: Float64Array; shape: number[] } {
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1), inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const out = new Float64Array(outer * indices.length * inner);
  for (let o = 0; o < outer; o++)
    indices.forEach((i, k) => out.set(data.subarray((o * shape[axis] + i) * inner, (o * shape[axis] + i + 1) * inner), (o * indices.length + k) * inner));
  return { data: out, shape: shape.map((d, a) => (a === axis ? indices.length : d)) };
}

/** The plaintext slice: the elements of `data` (of `shape`) from `begin`, `size` long per axis. */
export function sliceValues(data: Float64Array, shape: readonly number[], begin: readonly number[], size: readonly number[]): Float64Array {
  const n = size.reduce((p, d) => p * d, 1), out = new Float64Array(n), rank = shape.length;
  const strides = new Array<number>(rank);
  for (let a = rank - 1, s = 1; a >= 0; a--) (strides[a] = s), (s *= shape[a]);
  for (let i = 0; i < n; i++) {
    let j = 0;
    for (let a = rank - 1, r = i; a >= 0; a--) (j += (begin[a] + (r % size[a])) * strides[a]), (r = Math.floor(r / size[a]));
    out[i] = data[j];
  }
  return out;
}
