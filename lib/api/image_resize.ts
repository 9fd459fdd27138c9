// Image resizing (Resizing, UpSampling2D with interpolation) as Keras and TensorFlow.js compute
// it. Each output pixel is a public weighting of input pixels, separable over the two axes: per
// axis, a few taps (an input index and its weight) per output index, which depend only on the
// sizes. So a resize of a private image is local on the shares (ops_resize.ts) and this file holds
// the geometry, shared with the plaintext forward pass.
// - nearest: one tap, a copy;
// - bilinear: two taps;
// - bicubic (Keras only): four, TensorFlow's Keys cubic (a = -0.5) from its 1024-entry table, taps
//   outside the image weigh 0 and the rest are renormalised (ResizeBicubic, half-pixel centres);
// - area (Keras only): every input index the output's box covers, weighted by how much
//   (ResizeArea, no half-pixel centres);
// - lanczos3, lanczos5 (Keras only): the windowed sinc over 6 or 10 taps, renormalised
//   (ScaleAndTranslate without antialiasing).
// All in float32 where TensorFlow computes in float32 (checked tap by tap against
// tf.image.resize: within 2.4e-7 for bicubic and the lanczos kernels, equal for area).
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

export type ResizeMethod = 'bilinear' | 'nearest' | 'bicubic' | 'area' | 'lanczos3' | 'lanczos5';
/**
 * How an output index i maps to an input coordinate: (i + 0.5) scale - 0.5 (nearest: no - 0.5),
 * or i scale (asymmetric: TensorFlow 1's default, tfjs's UpSampling2D), with scale in / out; or
 * align_corners, i scale with scale (in - 1) / (out - 1), so the corners' pixels meet (nearest:
 * rounded, not floored), as TensorFlow 1's resizes with align_corners=True.
 */
export type ResizeRule = 'half_pixel' | 'asymmetric' | 'align_corners';

/**
 * A GraphModel's resize by a rule Keras's Resizing does not have (TensorFlow 1's resize ops:
 * align_corners, or neither it nor half-pixel centres): height, width, interpolation (bilinear or
 * nearest) and rule. Internal: written by the GraphModel translation (graph_model_nodes.ts).
 */
export const RESIZE_LAYER = 'TfeResize';

/**
 * Per output index along one axis, K taps: `index[k][i]` the input index of tap k of output i and
 * `weight[k][i]` its weight (0 where output i has fewer taps). An output's weights sum to 1.
 */
export interface AxisTaps {
  index: number[][];
  weight: number[][];
}

/** A resize of [batch, height, width, channels]: an optional crop, then the taps of each axis. */
export interface ResizePlan {
  crop?: { begin: number[]; size: number[] };
  rows: AxisTaps;
  cols: AxisTaps;
  method: ResizeMethod;
}

/** The methods only Keras has (TensorFlow's resizes; tfjs's UpSampling2D has nearest and bilinear). */
const KERAS_ONLY: ReadonlySet<string> = new Set(['bicubic', 'area', 'lanczos3', 'lanczos5']);

/** The taps of one axis from `inSize` to `outSize` values. */
export function axisTaps(inSize: number, outSize: number, method: ResizeMethod, rule: ResizeRule, float32: boolean): AxisTaps {
  if (KERAS_ONLY.has(method)) return tensorflowTaps(inSize, outSize, method);
  // TensorFlow's kernels compute the coordinates in float32, tfjs's in float64: a nearest index
  // at a coordinate that is whole in exact arithmetic could fall either side of it.
  const F = float32 ? Math.fround : (v: number) => v;
  const scale = rule === 'align_corners' && outSize > 1 ? F((inSize - 1) / (outSize - 1)) : F(inSize / outSize);
  const taps: number[][] = [];
  for (let i = 0; i < outSize; i++) {
    if (method === 'nearest') {
      const at = rule === 'half_pixel' ? F(F(i + 0.5) * scale) : F(i * scale);
      // (roundf: halves away from zero; `at` is never negative.)
      taps.push([Math.max(0, Math.min(inSize - 1, rule === 'align_corners' ? Math.floor(at + 0.5) : Math.floor(at))), 1]);
      continue;
    }
    const at = rule === 'half_pixel' ? F(F(F(i + 0.5) * scale) - 0.5) : F(i * scale);
    const fl = Math.floor(at);
    const lo = Math.min(inSize - 1, Math.max(0, fl)), hi = Math.min(inSize - 1, Math.max(0, Math.ceil(at)));
    const frac = lo === hi ? 0 : F(at - fl);
    taps.push([lo, 1 - frac, hi, frac]);
  }
  return tapsOf(taps);
}

/** AxisTaps from each output's [index, weight, index, weight, ...], padded to the longest with weight 0. */
function tapsOf(perOutput: number[][]): AxisTaps {
  // (A loop, not Math.max(...): an axis may have more outputs than a call takes arguments.)
  const k = perOutput.reduce((m, t) => Math.max(m, t.length / 2), 1);
  const index = Array.from({ length: k }, (_, j) => perOutput.map((t) => t[2 * j] ?? 0));
  const weight = Array.from({ length: k }, (_, j) => perOutput.map((t) => t[2 * j + 1] ?? 0));
  return { index, weight };
}

// TensorFlow's bicubic coefficients: Keys's cubic with a = -0.5 at 1024 + 1 points of [0, 1],
// for the near tap (|x| in [0, 1]) and the far one (|x| + 1), in float32.
const CUBIC_TABLE = 1024;
let cubicTable: Float32Array | undefined;
function cubicCoefficients(): Float32Array {
  if (cubicTable) return cubicTable;
  const F = Math.fround, a = -0.5, t = new Float32Array((CUBIC_TABLE + 1) * 2);
  for (let i = 0; i <= CUBIC_TABLE; i++) {
    const x = F(i / CUBIC_TABLE), x1 = F(x + 1);
    t[i * 2] = F(F(F(F(F(a + 2) * x) - (a + 3)) * x) * x + 1);
    t[i * 2 + 1] = F(F(F(F(F(F(a * x1) - 5 * a) * x1) + 8 * a) * x1) - 4 * a);
  }
  return (cubicTable = t);
}

/** The windowed sinc of radius r, in float32 as TensorFlow's sampling kernels compute it. */
function lanczos(x: number, r: number): number {
  const F = Math.fround, ax = F(Math.abs(x)), pi = F(Math.PI);
  if (ax > r) return 0;
  if (ax <= F(1e-3)) return 1;
  const px = F(pi * ax);
  return F(F(F(r * F(Math.sin(px))) * F(Math.sin(F(px / r)))) / F(F(F(pi * pi) * ax) * ax));
}

/** TensorFlow's bicubic, area and lanczos taps of one axis (half-pixel centres; area: none). */
function tensorflowTaps(inSize: number, outSize: number, method: ResizeMethod): AxisTaps {
  const F = Math.fround;
  const taps: number[][] = [];
  // Weights renormalised to sum to 1, as TensorFlow does, in float32.
  const normalised = (t: number[]) => {
    let sum = 0;
    for (let k = 1; k < t.length; k += 2) sum = F(sum + t[k]);
    const inv = F(1 / sum);
    return t.map((v, k) => (k % 2 ? F(v * inv) : v));
  };
  if (method === 'bicubic') {
    const scale = F(inSize / outSize), table = cubicCoefficients();
    for (let i = 0; i < outSize; i++) {
      const at = F(F(F(i + 0.5) * scale) - 0.5), fl = Math.floor(at);
      const off = roundHalfEven(F(F(at - fl) * CUBIC_TABLE));
      const w = [table[off * 2 + 1], table[off * 2], table[(CUBIC_TABLE - off) * 2], table[(CUBIC_TABLE - off) * 2 + 1]];
      const t: number[] = [];
      w.forEach((v, k) => fl - 1 + k >= 0 && fl - 1 + k < inSize && t.push(fl - 1 + k, v));
      taps.push(normalised(t));
    }
  } else if (method === 'area') {
    const scale = F(inSize / outSize), inv = F(1 / scale);
    for (let i = 0; i < outSize; i++) {
      const a = F(i * scale), b = F((i + 1) * scale), t: number[] = [];
      for (let j = Math.floor(a); j < Math.ceil(b); j++) {
        const span = j < a ? (j + 1 > b ? scale : F(j + 1 - a)) : j + 1 > b ? F(b - j) : 1;
        t.push(Math.min(j, inSize - 1), F(span * inv));
      }
      taps.push(t);
    }
  } else {
    const r = method === 'lanczos3' ? 3 : 5;
    const inv = F(1 / F(outSize / inSize));
    for (let i = 0; i < outSize; i++) {
      const at = F(F(i + 0.5) * inv);
      const lo = Math.max(0, Math.ceil(F(F(at - r) - 0.5))), hi = Math.min(inSize - 1, Math.floor(F(F(at + r) - 0.5)));
      const t: number[] = [];
      for (let j = lo; j <= hi; j++) t.push(j, lanczos(F(F(j + 0.5) - at), r));
      taps.push(normalised(t));
    }
  }
  return tapsOf(taps);
}

/** lrintf's rounding: to the nearest integer, halves to even. */
const roundHalfEven = (v: number): number => {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

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

const METHODS = new Set(['bilinear', 'nearest', ...KERAS_ONLY]);

/**
 * A Resizing or UpSampling2D layer's resize, its settings checked (refused, naming the setting,
 * where it is not supported). UpSampling2D's nearest is not read here: its integer factors repeat
 * pixels alike in every dialect (layers_catalog.ts).
 */
export function resizeLayerOf(l: LayerConfig, tfjs: boolean): ResizeLayer {
  const c = l.config;
  if (l.class_name === RESIZE_LAYER) {
    settings(l, { height: posInt, width: posInt, interpolation: (v) => v === 'bilinear' || v === 'nearest', rule: (v) => v === 'align_corners' || v === 'asymmetric' });
    const missing = ['height', 'width', 'interpolation', 'rule'].filter((k) => c[k] === undefined);
    if (missing.length) refuse(l, `needs ${missing.join(', ')}`);
    return { method: c.interpolation as ResizeMethod, size: { height: Number(c.height), width: Number(c.width) }, crop: false, rule: c.rule as ResizeRule, float32: true };
  }
  const upsampling = l.class_name === 'UpSampling2D';
  const method = String(c.interpolation ?? (upsampling ? 'nearest' : 'bilinear'));
  if (!METHODS.has(method)) refuse(l, `interpolation '${method}' is not supported (${[...METHODS].join(', ')} are)`);
  if (tfjs && KERAS_ONLY.has(method)) refuse(l, `interpolation '${method}' in a model saved by TensorFlow.js, which has only nearest and bilinear: its own predictions are not a ${method} resize's`);
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

/** The resize in float64 on plaintext [batch, height, width, channels] (the crop already applied): the rows', then the columns'. */
export function plainResize(x: PlainTensor, rows: AxisTaps, cols: AxisTaps): PlainTensor {
  return plainResizeAxis(plainResizeAxis(x, rows, 1), cols, 2);
}

/** One axis (1: rows, 2: columns) of [batch, height, width, channels] resized by its taps. */
function plainResizeAxis(x: PlainTensor, t: AxisTaps, axis: 1 | 2): PlainTensor {
  const [n, h, w, c] = x.shape, out = t.index[0].length;
  const shape = axis === 1 ? [n, out, w, c] : [n, h, out, c];
  const y = plainAlloc(n * shape[1] * shape[2] * c);
  for (let b = 0; b < n; b++)
    for (let i = 0; i < shape[1]; i++)
      for (let j = 0; j < shape[2]; j++) {
        const o = ((b * shape[1] + i) * shape[2] + j) * c;
        for (let k = 0; k < t.index.length; k++) {
          const at = axis === 1 ? i : j, wk = t.weight[k][at];
          if (wk === 0) continue;
          const src = axis === 1 ? ((b * h + t.index[k][at]) * w + j) * c : ((b * h + i) * w + t.index[k][at]) * c;
          for (let q = 0; q < c; q++) y[o + q] += wk * x.data[src + q];
        }
      }
  return { data: y, shape };
}
