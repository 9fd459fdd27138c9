// Image resizing (Resizing, UpSampling2D with bilinear interpolation) as Keras and TensorFlow.js
// compute it. Each output pixel is a public weighting of at most four input pixels (bilinear) or
// a copy of one (nearest): which pixels and their weights depend only on the sizes, so a resize
// of a private image is local on the shares (ops_resize.ts) and this file holds the geometry,
// shared with the plaintext forward pass.
//
// Who saved the model decides the geometry, as it decides hard_sigmoid (layers_graph.ts):
// - Keras (tf-keras and Keras 3 on TensorFlow, and their models converted for tfjs): TensorFlow
//   2's tf.image.resize, half-pixel centres, coordinates in float32 as its kernels compute them;
// - TensorFlow.js (keras_version 'tfjs-layers'): its own image ops, coordinates in float64 as
//   its CPU backend computes them. Its UpSampling2D resizes with neither aligned corners nor
//   half-pixel centres, so its own predictions are those. Its Resizing cannot run in a model
//   (tfjs 4.22: its call fails, its output shape drops the batch axis), so a model it saved
//   with one has no predictions to match and is refused.
import type { LayerConfig } from './layers_graph';
import { refuse } from './layers_graph';
import { bool, channelsLast, isNum, pair, posInt, settings } from './layers_settings';
import { MAX_PLAIN_VALUES, plainAlloc, type PlainTensor } from './plain_kernels';

export type ResizeMethod = 'bilinear' | 'nearest';
/** How an output index maps to an input coordinate: (i + 0.5) scale - 0.5 (nearest: no - 0.5), or i scale. */
export type ResizeRule = 'half_pixel' | 'asymmetric';

/** Per output index along one axis: the input indices below and above, and the weight of the one above. */
export interface AxisTaps {
  lo: number[];
  hi: number[];
  /** In [0, 1); 0 where lo = hi or the coordinate is whole (nearest: always). */
  frac: number[];
}

/** A resize of [batch, height, width, channels]: an optional crop, then the taps of each axis. */
export interface ResizePlan {
  crop?: { begin: number[]; size: number[] };
  rows: AxisTaps;
  cols: AxisTaps;
  method: ResizeMethod;
}

/** The taps of one axis from `inSize` to `outSize` values. */
export function axisTaps(inSize: number, outSize: number, method: ResizeMethod, rule: ResizeRule, float32: boolean): AxisTaps {
  // TensorFlow's kernels compute the coordinates in float32, tfjs's in float64: a nearest index
  // at a coordinate that is whole in exact arithmetic could fall either side of it.
  const F = float32 ? Math.fround : (v: number) => v;
  const scale = F(inSize / outSize);
  const taps: AxisTaps = { lo: [], hi: [], frac: [] };
  for (let i = 0; i < outSize; i++) {
    if (method === 'nearest') {
      const at = rule === 'half_pixel' ? F(F(i + 0.5) * scale) : F(i * scale);
      const j = Math.max(0, Math.min(inSize - 1, Math.floor(at)));
      taps.lo.push(j);
      taps.hi.push(j);
      taps.frac.push(0);
      continue;
    }
    const at = rule === 'half_pixel' ? F(F(F(i + 0.5) * scale) - 0.5) : F(i * scale);
    const fl = Math.floor(at);
    const lo = Math.min(inSize - 1, Math.max(0, fl)), hi = Math.min(inSize - 1, Math.max(0, Math.ceil(at)));
    taps.lo.push(lo);
    taps.hi.push(hi);
    taps.frac.push(lo === hi ? 0 : F(at - fl));
  }
  return taps;
}

/**
 * Keras's crop to the target's aspect ratio: the largest centred window of that ratio. Resizing
 * computes it in float32 (TensorFlow's ops), smart_resize (CenterCrop) in float64 (Python's).
 */
export function aspectCrop(h: number, w: number, th: number, tw: number, float32: boolean): { top: number; left: number; height: number; width: number } {
  const F = float32 ? Math.fround : (v: number) => v;
  const ch = Math.max(1, Math.min(h, Math.trunc(F(F(w * th) / tw))));
  const cw = Math.max(1, Math.min(w, Math.trunc(F(F(h * tw) / th))));
  return { top: Math.trunc(F(F(h - ch) / 2)), left: Math.trunc(F(F(w - cw) / 2)), height: ch, width: cw };
}

/** The crop (none where it is the whole image) and taps of a crop to the aspect ratio, then a resize to [th, tw]. */
function croppedPlan(shape: readonly number[], th: number, tw: number, method: ResizeMethod, float32Crop: boolean): ResizePlan {
  const [n, h, w, ch] = shape;
  const b = aspectCrop(h, w, th, tw, float32Crop);
  const crop = b.height !== h || b.width !== w ? { begin: [0, b.top, b.left, 0], size: [n, b.height, b.width, ch] } : undefined;
  return { crop, rows: axisTaps(b.height, th, method, 'half_pixel', true), cols: axisTaps(b.width, tw, method, 'half_pixel', true), method };
}

/** Why a CenterCrop of a smaller input is refused in a model TensorFlow.js saved. */
export const CENTER_CROP_TFJS = (shape: readonly number[], th: number, tw: number): string =>
  `crops [${shape.slice(1, 3)}] to [${th}, ${tw}]: an input smaller than the target, in a model saved by TensorFlow.js, whose CenterCrop then resizes the whole image without aligned corners or half-pixel centres (Keras crops to the aspect ratio first, with half-pixel centres), is not supported; a Keras model's CenterCrop is`;

/**
 * Keras's CenterCrop of an input smaller than the target on an axis: smart_resize, a crop to the
 * target's aspect ratio, then a bilinear resize to it.
 */
export function smartResizePlan(shape: readonly number[], th: number, tw: number): ResizePlan {
  checkOutputSize(shape, th, tw);
  return croppedPlan(shape, th, tw, 'bilinear', false);
}

/**
 * Refuses an output larger than one tensor may hold before the taps are made: they are arrays of
 * the output's height and width (a height of 1e9 ran the process out of memory).
 */
function checkOutputSize(shape: readonly number[], th: number, tw: number): void {
  const n = th * tw * shape[3];
  if (!(Number.isSafeInteger(n) && n <= MAX_PLAIN_VALUES)) throw new RangeError(`its output [${th}, ${tw}, ${shape[3]}] per example would hold ${n} values, more than the ${MAX_PLAIN_VALUES} one tensor may (check the layer's sizes and the model's input shape)`);
}

/** What a Resizing or UpSampling2D layer computes, its settings already checked (layers_catalog.ts). */
export interface ResizeLayer {
  method: ResizeMethod;
  /** The output's size, or (UpSampling2D) the input's multiplied by factors. */
  size: { height: number; width: number } | { factors: [number, number] };
  crop: boolean;
  rule: ResizeRule;
  float32: boolean;
}

const METHODS = new Set(['bilinear', 'nearest']);

/**
 * A Resizing or UpSampling2D layer's resize, its settings checked (refused, naming the setting,
 * where it is not supported). UpSampling2D's nearest is not read here: its integer factors repeat
 * pixels alike in every dialect (layers_catalog.ts).
 */
export function resizeLayerOf(l: LayerConfig, tfjs: boolean): ResizeLayer {
  const c = l.config;
  const upsampling = l.class_name === 'UpSampling2D';
  const method = String(c.interpolation ?? (upsampling ? 'nearest' : 'bilinear'));
  if (!METHODS.has(method)) refuse(l, `interpolation '${method}' is not supported (bilinear and nearest are)`);
  if (upsampling) {
    settings(l, { size: (v) => pair(v, 2).every((d) => Number.isInteger(d) && d >= 1), data_format: channelsLast, interpolation: () => true });
    return { method: method as ResizeMethod, size: { factors: pair(c.size, 2) }, crop: false, rule: tfjs ? 'asymmetric' : 'half_pixel', float32: !tfjs };
  }
  settings(l, {
    height: posInt,
    width: posInt,
    interpolation: () => true,
    crop_to_aspect_ratio: bool,
    // Keras 3: padding to the aspect ratio instead of cropping (fill_mode and fill_value are
    // read only then), and antialiasing (a wider filter when shrinking).
    pad_to_aspect_ratio: (v) => v === undefined || v === false,
    fill_mode: (v) => v === undefined || typeof v === 'string',
    fill_value: (v) => v === undefined || isNum(v),
    antialias: (v) => v === undefined || v === false,
    data_format: channelsLast,
  });
  if (c.height === undefined || c.width === undefined) refuse(l, 'needs height and width (positive integers)');
  if (tfjs) refuse(l, "in a model saved by TensorFlow.js, which cannot run its own Resizing (tfjs 4.22: its call fails and its output shape drops the batch axis), so there are no predictions to match; a Keras model with Resizing (saved by Keras or converted with tensorflowjs_converter) is supported, with Keras's meaning");
  return { method: method as ResizeMethod, size: { height: Number(c.height), width: Number(c.width) }, crop: c.crop_to_aspect_ratio === true, rule: 'half_pixel', float32: true };
}

/** The plan for an input of `shape` [batch, height, width, channels]. */
export function resizePlan(l: LayerConfig, r: ResizeLayer, shape: readonly number[]): ResizePlan {
  if (shape.length !== 4) refuse(l, `takes a rank-4 input [batch, height, width, channels], got [${shape}]`);
  const [th, tw] = 'factors' in r.size ? [shape[1] * r.size.factors[0], shape[2] * r.size.factors[1]] : [r.size.height, r.size.width];
  checkOutputSize(shape, th, tw);
  if (r.crop) return croppedPlan(shape, th, tw, r.method, true);
  return { rows: axisTaps(shape[1], th, r.method, r.rule, r.float32), cols: axisTaps(shape[2], tw, r.method, r.rule, r.float32), method: r.method };
}

/** The resize in float64 on plaintext [batch, height, width, channels] (the crop already applied). */
export function plainResize(x: PlainTensor, rows: AxisTaps, cols: AxisTaps): PlainTensor {
  const [n, h, w, c] = x.shape, oh = rows.lo.length, ow = cols.lo.length;
  const out = plainAlloc(n * oh * ow * c);
  const at = (b: number, i: number, j: number, k: number) => x.data[((b * h + i) * w + j) * c + k];
  for (let b = 0; b < n; b++)
    for (let i = 0; i < oh; i++) {
      const [r0, r1, fr] = [rows.lo[i], rows.hi[i], rows.frac[i]];
      for (let j = 0; j < ow; j++) {
        const [c0, c1, fc] = [cols.lo[j], cols.hi[j], cols.frac[j]];
        const o = ((b * oh + i) * ow + j) * c;
        for (let k = 0; k < c; k++) {
          const top = at(b, r0, c0, k) + (at(b, r0, c1, k) - at(b, r0, c0, k)) * fc;
          const bottom = at(b, r1, c0, k) + (at(b, r1, c1, k) - at(b, r1, c0, k)) * fc;
          out[o + k] = top + (bottom - top) * fr;
        }
      }
    }
  return { data: out, shape: [n, oh, ow, c] };
}
