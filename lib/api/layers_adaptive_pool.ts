// Keras 3's AdaptiveAveragePooling1D/2D/3D and AdaptiveMaxPooling1D/2D/3D: pooling to a fixed output
// size (models ported from PyTorch's AdaptiveAvgPool2d). Output i of an axis of n values covers
// PyTorch's window [floor(i n / out), ceil((i + 1) n / out)): Keras computes the bounds in float32,
// which is exact here (i n / out is never within an ulp of a whole number it is not). Each axis
// is pooled in turn (a mean of means over a rectangle, or a max of maxima, is the rectangle's):
// - average: a public linear map, each output the mean of its window's taps: ops_resize.ts's
//   local weighted sums (one truncation per axis), under every protocol;
// - max: the window's values gathered side by side (local copies; a shorter window repeats its
//   last value, which leaves its max alone), then a max pool over them (exact comparisons), so
//   exact protocols only.
// 1D layers run as 2D on [batch, steps, 1, channels] (local reshapes); 3D layers pool the depth
// on [batch, depth, height x width, channels], then height and width as 2D on [batch x depth', ...].
import type { AxisTaps } from './image_resize';
import { refuse, type LayerConfig } from './layers_graph';
import { channelsLast, settings } from './layers_settings';
import { gather, reshape } from './ops';
import { maxPool2d } from './comparison_ops';
import { resizeImage } from './ops_resize';
import { MAX_PLAIN_VALUES, plainAlloc, type PlainTensor } from './plain_kernels';
import type { AnyTensor } from './tensor';

export const ADAPTIVE_POOLS = ['AdaptiveAveragePooling1D', 'AdaptiveAveragePooling2D', 'AdaptiveAveragePooling3D', 'AdaptiveMaxPooling1D', 'AdaptiveMaxPooling2D', 'AdaptiveMaxPooling3D'] as const;

/** What an adaptive pooling layer computes, its settings checked. */
export interface AdaptivePool {
  max: boolean;
  /** The output's size per pooled axis: [steps] (1D), [height, width] or [depth, height, width]. */
  size: number[];
}

/** The layer's pooling, or a refusal naming the setting. */
export function adaptivePoolOf(l: LayerConfig): AdaptivePool {
  const rank = l.class_name.endsWith('1D') ? 1 : l.class_name.endsWith('3D') ? 3 : 2;
  const c = settings(l, { output_size: () => true, data_format: channelsLast });
  const v = c.output_size, list = Array.isArray(v) ? v : [v];
  const size = list.length === 1 ? Array(rank).fill(list[0]) : list;
  if (v === undefined || size.length !== rank || !size.every((d) => Number.isSafeInteger(d) && (d as number) >= 1))
    refuse(l, `output_size = ${JSON.stringify(v)} is not supported: ${rank === 1 ? 'a positive integer' : `a positive integer or ${rank === 2 ? 'two' : 'three'}`}`);
  return { max: l.class_name.startsWith('AdaptiveMax'), size: size as number[] };
}

/** Each output's window [start, end) along an axis of n values pooled to `out`. */
export function adaptiveWindows(n: number, out: number): [number, number][] {
  return Array.from({ length: out }, (_, i) => [Math.floor((i * n) / out), Math.min(n, Math.ceil(((i + 1) * n) / out))]);
}

/** The mean of each window as resize taps (image_resize.ts AxisTaps). */
function meanTaps(n: number, out: number): AxisTaps {
  const w = adaptiveWindows(n, out), k = Math.max(...w.map(([a, b]) => b - a));
  return {
    index: Array.from({ length: k }, (_, j) => w.map(([a, b]) => (a + j < b ? a + j : a))),
    weight: Array.from({ length: k }, (_, j) => w.map(([a, b]) => (a + j < b ? 1 / (b - a) : 0))),
  };
}

/** The indices, window after window, each padded to the longest with its last one; and that length. */
function maxGather(n: number, out: number): { index: number[]; k: number } {
  const w = adaptiveWindows(n, out), k = Math.max(...w.map(([a, b]) => b - a));
  return { index: w.flatMap(([a, b]) => Array.from({ length: k }, (_, j) => Math.min(a + j, b - 1))), k };
}

/** The checked input as [batch, depth, height, width, channels]: 1 for the axes a 1D or 2D layer does not have. */
function asVolume(l: LayerConfig, shape: readonly number[], p: AdaptivePool): number[] {
  const rank = p.size.length + 2;
  // Before any window is made: output_size comes from the topology a deploy sends.
  const values = p.size.reduce((a, b) => a * b, shape[rank - 1] ?? 1);
  if (!(Number.isSafeInteger(values) && values <= MAX_PLAIN_VALUES)) refuse(l, `its output [${p.size}, ${shape[rank - 1]}] per example would hold ${values} values, more than the ${MAX_PLAIN_VALUES} one tensor may`);
  const what = ['[batch, steps, channels]', '[batch, height, width, channels]', '[batch, depth, height, width, channels]'][rank - 3];
  if (shape.length !== rank) refuse(l, `takes a rank-${rank} input ${what}, got [${shape}]`);
  return rank === 3 ? [shape[0], 1, shape[1], 1, shape[2]] : rank === 4 ? [shape[0], 1, ...shape.slice(1)] : [...shape];
}

/** The output sizes as [depth, height, width]. */
const sizes3 = (p: AdaptivePool): number[] => (p.size.length === 1 ? [1, p.size[0], 1] : p.size.length === 2 ? [1, ...p.size] : p.size);

/** Pools the rows (axis 1) of an image [n, rows, cols, ch] from `rows` values to `out`; its columns as they are. */
function poolRows(img: AnyTensor, max: boolean, out: number): AnyTensor {
  const [, h, w] = img.shape;
  if (!max) return resizeImage(img, meanTaps(h, out), { index: [Array.from({ length: w }, (_, i) => i)], weight: [Array(w).fill(1)] });
  const rows = maxGather(h, out);
  return rows.k === 1 ? gather(img, rows.index, 1) : maxPool2d(gather(img, rows.index, 1), { poolSize: [rows.k, 1], strides: [rows.k, 1] });
}

/** The private pooling of x (see the top). */
export function adaptivePool(l: LayerConfig, p: AdaptivePool, x: AnyTensor): AnyTensor {
  const [n, d, h, w, ch] = asVolume(l, x.shape, p), [od, oh, ow] = sizes3(p);
  // The depth first (3D): rows of [n, d, h w, ch].
  let img = reshape(x, [n, d, h * w, ch]);
  if (d !== 1 || od !== 1) img = poolRows(img, p.max, od);
  img = reshape(img, [n * od, h, w, ch]);
  let y: AnyTensor;
  if (!p.max) y = resizeImage(img, meanTaps(h, oh), meanTaps(w, ow));
  else {
    const byRows = poolRows(img, true, oh), cols = maxGather(w, ow);
    y = cols.k === 1 ? gather(byRows, cols.index, 2) : maxPool2d(gather(byRows, cols.index, 2), { poolSize: [1, cols.k], strides: [1, cols.k] });
  }
  return reshape(y, [n, ...p.size, ch]);
}

/** The float64 pooling (plain_forward.ts), window by window. */
export function plainAdaptivePool(l: LayerConfig, p: AdaptivePool, x: PlainTensor): PlainTensor {
  const [n, d, h, w, ch] = asVolume(l, x.shape, p), [od, oh, ow] = sizes3(p);
  const dw = adaptiveWindows(d, od), rw = adaptiveWindows(h, oh), cw = adaptiveWindows(w, ow);
  const out = plainAlloc(n * od * oh * ow * ch);
  for (let b = 0; b < n; b++)
    for (let e = 0; e < od; e++)
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++)
          for (let c = 0; c < ch; c++) {
            let acc = p.max ? -Infinity : 0;
            for (let q = dw[e][0]; q < dw[e][1]; q++)
              for (let r = rw[i][0]; r < rw[i][1]; r++)
                for (let s = cw[j][0]; s < cw[j][1]; s++) {
                  const v = x.data[(((b * d + q) * h + r) * w + s) * ch + c];
                  acc = p.max ? Math.max(acc, v) : acc + v;
                }
            const count = (dw[e][1] - dw[e][0]) * (rw[i][1] - rw[i][0]) * (cw[j][1] - cw[j][0]);
            out[(((b * od + e) * oh + i) * ow + j) * ch + c] = p.max ? acc : acc / count;
          }
  return { data: out, shape: [n, ...p.size, ch] };
}
