// Keras's 3-D layers on volumes [batch, depth, height, width, channels] (CT and MRI scans, video
// clips: keras.io's "3D image classification from CT scans"), built from the private ops the 2-D
// layers use, every reshape and gather local:
// - Conv3D: one product of each output voxel's window (public positions; a zero read where SAME
//   padding leaves the volume) by the kernel [taps x channels, filters], whose masks are the
//   volume's and the kernel's own (ops_conv3d.ts): one opening of the input, one truncation, as
//   Conv2D's; Conv3DTranspose the same on the direct convolution it equals (3-D U-Nets' upsampling);
// - MaxPooling3D: the windows gathered side by side (a padded position repeats one of its window's
//   own), then a max pool over them (exact comparisons: exact protocols only);
// - AveragePooling3D: a public weighted sum per output voxel, each window's mean over the voxels
//   inside the volume (TensorFlow's SAME padding counts only those): ops_resize.ts's local sums;
// - GlobalAveragePooling3D, GlobalMaxPooling3D: a pool over the flattened volume;
// - UpSampling3D (repeats), ZeroPadding3D, Cropping3D: copies (gather, pad, slice).
// Geometry: volume_geometry.ts; the float64 twins: plain_3d.ts.
import type { AxisTaps } from './image_resize';
import { expectShape, type LayerConfig, refuse } from './layers_graph';
import { ANY, bool, channelsLast, ones, padding, padMode, posInt, settings } from './layers_settings';
import { add, gather, pad, reshape, slice } from './ops';
import { avgPool2d } from './ops_nonlinear';
import { transposedKernel, windowsProduct } from './ops_conv3d';
import { maxPool2d } from './comparison_ops';
import { resizeImage } from './ops_resize';
import { withActivation } from './layers_activations';
import type { LayerContext, LayerPlan } from './layers_catalog';
import type { AnyTensor, PrivateTensor } from './tensor';
import { checkVolumeOut, layerFail, transposeWindows, triple, type Triple, volumeOf, type Windows, windows } from './volume_geometry';

const volume = (d: Triple): number => d[0] * d[1] * d[2];

/** Conv3D: im2col by a gather, then one product (see the top). */
export function conv3dLayer(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const c = settings(l, { filters: posInt, kernel_size: ANY, strides: ANY, padding: padMode, data_format: channelsLast, dilation_rate: ANY, groups: ones, activation: ANY, use_bias: bool });
  if (c.kernel_size === undefined) refuse(l, 'needs kernel_size');
  const k = triple(l, 'kernel_size', c.kernel_size, 1), s = triple(l, 'strides', c.strides, 1), d = triple(l, 'dilation_rate', c.dilation_rate, 1);
  if (d.some((v) => v > 1) && s.some((v) => v > 1)) refuse(l, `dilation_rate [${d}] with strides [${s}]: TensorFlow allows one of them above 1, not both`);
  const shape = ctx.shapeOf(`${l.config.name}/kernel`);
  expectShape(l, 'kernel', shape, [...k, null, c.filters === undefined ? null : Number(c.filters)], `kernel_size ${JSON.stringify(c.kernel_size)}, filters = ${c.filters ?? 'not saved'}`);
  const [cin, f] = [shape[3], shape[4]], taps = k[0] * k[1] * k[2];
  const kp = ctx.take('kernel', [taps * cin, f]);
  const b = c.use_bias === false ? -1 : ctx.take('bias', [1, 1, 1, 1, f]);
  const geometry = (sh: readonly number[]) => windows(layerFail(l), volumeOf(l, sh).dims, k, s, d, padding(c.padding));
  return withActivation(l, ctx, (p: PrivateTensor[]) => (x: AnyTensor) => {
    const { ch } = volumeOf(l, x.shape);
    if (ch !== cin) refuse(l, `convolves ${cin} channels, but its input is [${x.shape}] (NDHWC)`);
    const y = windowsProduct(x, geometry(x.shape), p[kp]);
    return b < 0 ? y : add(y, p[b]);
  });
}

/**
 * Conv3DTranspose: the direct convolution it equals (volume_geometry.ts transposeWindows: zeros
 * between the input's voxels, not made, only read as zeros), the kernel [taps, filters, in]
 * read with its taps reversed and its channels swapped (local), then as Conv3D: one product.
 */
export function conv3dTransposeLayer(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const c = settings(l, { filters: posInt, kernel_size: ANY, strides: ANY, padding: padMode, data_format: channelsLast, dilation_rate: ones, output_padding: (v) => v === undefined || v === null, groups: ones, activation: ANY, use_bias: bool });
  if (c.kernel_size === undefined) refuse(l, 'needs kernel_size');
  const k = triple(l, 'kernel_size', c.kernel_size, 1), s = triple(l, 'strides', c.strides, 1);
  const shape = ctx.shapeOf(`${l.config.name}/kernel`);
  expectShape(l, 'kernel', shape, [...k, c.filters === undefined ? null : Number(c.filters), null], `kernel_size ${JSON.stringify(c.kernel_size)}, filters = ${c.filters ?? 'not saved'}`);
  const [f, cin] = [shape[3], shape[4]], taps = k[0] * k[1] * k[2];
  const kp = ctx.take('kernel', [taps, f, cin]);
  const b = c.use_bias === false ? -1 : ctx.take('bias', [1, 1, 1, 1, f]);
  const geometry = (sh: readonly number[]) => transposeWindows(layerFail(l), volumeOf(l, sh).dims, k, s, padding(c.padding));
  return withActivation(l, ctx, (p: PrivateTensor[]) => (x: AnyTensor) => {
    const { ch } = volumeOf(l, x.shape);
    if (ch !== cin) refuse(l, `takes ${cin} channels, but its input is [${x.shape}] (NDHWC)`);
    const y = windowsProduct(x, geometry(x.shape), transposedKernel(p[kp]));
    return b < 0 ? y : add(y, p[b]);
  });
}

/** MaxPooling3D and AveragePooling3D (see the top). */
export function pool3dLayer(l: LayerConfig, max: boolean): LayerPlan {
  const c = settings(l, { pool_size: ANY, strides: ANY, padding: padMode, data_format: channelsLast });
  const k = triple(l, 'pool_size', c.pool_size, 2), s = c.strides === undefined || c.strides === null ? k : triple(l, 'strides', c.strides, 1);
  const geometry = (sh: readonly number[]) => windows(layerFail(l), volumeOf(l, sh).dims, k, s, [1, 1, 1], padding(c.padding));
  // Per geometry (remembered by volume_geometry.ts): the means' taps, or the max pool's positions.
  const meanTaps = new WeakMap<Windows, AxisTaps>(), maxAt = new WeakMap<Windows, number[]>();
  const step = (x: AnyTensor): AnyTensor => {
    const { n, dims, ch } = volumeOf(l, x.shape);
    const w = geometry(x.shape), v = volume(dims), count = volume(w.out);
    const flat = reshape(x, [n, v, 1, ch]);
    let y: AnyTensor;
    if (max) {
      // A padded position repeats its window's first position inside the volume (max unchanged).
      if (!maxAt.has(w)) maxAt.set(w, Array.from(w.at, (i, j) => (i >= 0 ? i : w.at.subarray(j - (j % w.taps), j - (j % w.taps) + w.taps).find((e) => e >= 0)!)));
      const windowsSideBySide = reshape(gather(reshape(x, [n, v, ch]), maxAt.get(w)!, 1), [n, count, w.taps, ch]);
      y = maxPool2d(windowsSideBySide, { poolSize: [1, w.taps], strides: [1, w.taps] });
    } else {
      if (!meanTaps.has(w)) meanTaps.set(w, windowMeans(w, count));
      y = resizeImage(flat, meanTaps.get(w)!, { index: [[0]], weight: [[1]] });
    }
    return reshape(y, [n, ...w.out, ch]);
  };
  return { step: () => (xs) => step(xs[0]), comparisons: max, exactOnly: max };
}

/** Each window's mean over its positions inside the volume, as resize taps over the flattened volume. */
function windowMeans(w: Windows, count: number): AxisTaps {
  const index = Array.from({ length: w.taps }, () => new Array<number>(count).fill(0));
  const weight = Array.from({ length: w.taps }, () => new Array<number>(count).fill(0));
  for (let o = 0; o < count; o++) {
    const inside = w.at.subarray(o * w.taps, (o + 1) * w.taps).filter((i) => i >= 0);
    inside.forEach((i, t) => ((index[t][o] = i), (weight[t][o] = 1 / inside.length)));
  }
  return { index, weight };
}

/** GlobalAveragePooling3D and GlobalMaxPooling3D: a pool over the flattened volume. */
export function globalPool3dLayer(l: LayerConfig, max: boolean): LayerPlan {
  const c = settings(l, { data_format: channelsLast, keepdims: bool });
  const step = (x: AnyTensor): AnyTensor => {
    const { n, dims, ch } = volumeOf(l, x.shape), v = volume(dims);
    const flat = reshape(x, [n, v, 1, ch]);
    const y = max ? maxPool2d(flat, { poolSize: [v, 1], strides: [v, 1] }) : avgPool2d(flat, { poolSize: [v, 1], strides: [v, 1] });
    return reshape(y, c.keepdims === true ? [n, 1, 1, 1, ch] : [n, ch]);
  };
  return { step: () => (xs) => step(xs[0]), comparisons: max, exactOnly: max };
}

/** A ZeroPadding3D's or Cropping3D's sides per axis: one number, three, or three [before, after] pairs. */
export function sides3d(l: LayerConfig, name: string, v: unknown, d: number): [number, number][] {
  const ok = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  const t = v === undefined || v === null ? [d, d, d] : Array.isArray(v) ? v : [v, v, v];
  const s = t.length === 3 ? t.map((e) => (Array.isArray(e) ? e : [e, e])) : [];
  if (s.length !== 3 || !s.every((p) => p.length === 2 && p.every(ok))) refuse(l, `${name} = ${JSON.stringify(v)} is not supported: one non-negative integer, three, or three pairs`);
  return s as [number, number][];
}

/** UpSampling3D (nearest: repeats), ZeroPadding3D, Cropping3D: copies. */
export function copy3dLayer(l: LayerConfig): LayerPlan {
  const cls = l.class_name;
  if (cls === 'UpSampling3D') {
    const c = settings(l, { size: ANY, data_format: channelsLast });
    const size = triple(l, 'size', c.size, 2);
    return {
      step: () => ([x]) => {
        const { dims, ch } = volumeOf(l, x.shape);
        checkVolumeOut(l, dims.map((e, a) => e * size[a]), ch);
        return size.reduce((y: AnyTensor, r, a) => (r === 1 ? y : gather(y, Array.from({ length: y.shape[a + 1] * r }, (_, i) => Math.floor(i / r)), a + 1)), x);
      },
      comparisons: false,
      exactOnly: false,
    };
  }
  const c = settings(l, { [cls === 'ZeroPadding3D' ? 'padding' : 'cropping']: ANY, data_format: channelsLast });
  const s = sides3d(l, cls === 'ZeroPadding3D' ? 'padding' : 'cropping', cls === 'ZeroPadding3D' ? c.padding : c.cropping, cls === 'ZeroPadding3D' ? 1 : 0);
  return {
    step: () => ([x]) => {
      const { n, dims, ch } = volumeOf(l, x.shape);
      if (cls === 'ZeroPadding3D') {
        checkVolumeOut(l, dims.map((e, a) => e + s[a][0] + s[a][1]), ch);
        return pad(x, [[0, 0], ...s, [0, 0]]);
      }
      const size = dims.map((n, a) => n - s[a][0] - s[a][1]);
      if (size.some((e) => e < 1)) refuse(l, `crops [${s.map((p) => p.join('+'))}] from an input [${dims}]: nothing would be left`);
      return slice(x, [0, s[0][0], s[1][0], s[2][0], 0], [n, ...size, ch]);
    },
    comparisons: false,
    exactOnly: false,
  };
}

/** The 3-D layers' builders, by class. */
export const VOLUME_BUILDERS: Record<string, (l: LayerConfig, ctx: LayerContext) => LayerPlan> = {
  Conv3D: conv3dLayer,
  Conv3DTranspose: conv3dTransposeLayer,
  MaxPooling3D: (l) => pool3dLayer(l, true),
  AveragePooling3D: (l) => pool3dLayer(l, false),
  GlobalMaxPooling3D: (l) => globalPool3dLayer(l, true),
  GlobalAveragePooling3D: (l) => globalPool3dLayer(l, false),
  UpSampling3D: copy3dLayer,
  ZeroPadding3D: copy3dLayer,
  Cropping3D: copy3dLayer,
};
