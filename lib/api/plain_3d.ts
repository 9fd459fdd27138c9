// The float64 twins of the 3-D layers (layers_3d.ts), voxel by voxel over the same windows
// (volume_geometry.ts), for the plaintext model (plain_forward.ts).
import { type LayerConfig } from './layers_graph';
import { ANY, bool, channelsLast, ones, padding, padMode, posInt, settings } from './layers_settings';
import { plainAlloc, type PlainTensor } from './plain_kernels';
import { sides3d } from './layers_3d';
import { checkVolumeOut, layerFail, triple, volumeOf, windows } from './volume_geometry';

type Run = (xs: PlainTensor[]) => PlainTensor;

/** Conv3D on the kernel [kd, kh, kw, in, out] and bias; `act` the layer's activation (or none). */
export function plainConv3d(l: LayerConfig, kernel: Float64Array, bias: Float64Array | undefined, act: ((x: PlainTensor) => PlainTensor) | undefined): Run {
  const c = settings(l, { filters: posInt, kernel_size: ANY, strides: ANY, padding: padMode, data_format: channelsLast, dilation_rate: ANY, groups: ones, activation: ANY, use_bias: bool });
  const k = triple(l, 'kernel_size', c.kernel_size, 1), s = triple(l, 'strides', c.strides, 1), d = triple(l, 'dilation_rate', c.dilation_rate, 1);
  const f = Number(c.filters), cin = kernel.length / (k[0] * k[1] * k[2] * f);
  return ([x]) => {
    const { n, dims, ch } = volumeOf(l, x.shape);
    if (ch !== cin) throw new Error(`layer '${l.config.name}' (Conv3D): convolves ${cin} channels, but its input is [${x.shape}]`);
    const w = windows(layerFail(l), dims, k, s, d, padding(c.padding)), count = w.out[0] * w.out[1] * w.out[2], v = dims[0] * dims[1] * dims[2];
    const out = plainAlloc(n * count * f);
    for (let b = 0; b < n; b++)
      for (let o = 0; o < count; o++)
        for (let j = 0; j < f; j++) {
          let acc = bias ? bias[j] : 0;
          for (let t = 0; t < w.taps; t++) {
            const at = w.at[o * w.taps + t];
            if (at < 0) continue;
            for (let i = 0; i < cin; i++) acc += x.data[(b * v + at) * cin + i] * kernel[(t * cin + i) * f + j];
          }
          out[(b * count + o) * f + j] = acc;
        }
    const y = { data: out, shape: [n, ...w.out, f] };
    return act ? act(y) : y;
  };
}

/** MaxPooling3D, AveragePooling3D (the mean over the window's voxels inside the volume). */
export function plainPool3d(l: LayerConfig, max: boolean): Run {
  const c = settings(l, { pool_size: ANY, strides: ANY, padding: padMode, data_format: channelsLast });
  const k = triple(l, 'pool_size', c.pool_size, 2), s = c.strides === undefined || c.strides === null ? k : triple(l, 'strides', c.strides, 1);
  return ([x]) => {
    const { n, dims, ch } = volumeOf(l, x.shape);
    const w = windows(layerFail(l), dims, k, s, [1, 1, 1], padding(c.padding)), count = w.out[0] * w.out[1] * w.out[2], v = dims[0] * dims[1] * dims[2];
    const out = plainAlloc(n * count * ch);
    for (let b = 0; b < n; b++)
      for (let o = 0; o < count; o++)
        for (let i = 0; i < ch; i++) {
          let acc = max ? -Infinity : 0, inside = 0;
          for (let t = 0; t < w.taps; t++) {
            const at = w.at[o * w.taps + t];
            if (at < 0) continue;
            const e = x.data[(b * v + at) * ch + i];
            acc = max ? Math.max(acc, e) : acc + e;
            inside++;
          }
          out[(b * count + o) * ch + i] = max ? acc : acc / inside;
        }
    return { data: out, shape: [n, ...w.out, ch] };
  };
}

/** GlobalMaxPooling3D, GlobalAveragePooling3D. */
export function plainGlobalPool3d(l: LayerConfig, max: boolean): Run {
  const c = settings(l, { data_format: channelsLast, keepdims: bool });
  return ([x]) => {
    const { n, dims, ch } = volumeOf(l, x.shape), v = dims[0] * dims[1] * dims[2];
    const out = plainAlloc(n * ch);
    for (let b = 0; b < n; b++)
      for (let i = 0; i < ch; i++) {
        let acc = max ? -Infinity : 0;
        for (let p = 0; p < v; p++) acc = max ? Math.max(acc, x.data[(b * v + p) * ch + i]) : acc + x.data[(b * v + p) * ch + i];
        out[b * ch + i] = max ? acc : acc / v;
      }
    return { data: out, shape: c.keepdims === true ? [n, 1, 1, 1, ch] : [n, ch] };
  };
}

/** UpSampling3D, ZeroPadding3D, Cropping3D: voxel copies from input position `from` (or zero). */
export function plainCopy3d(l: LayerConfig): Run {
  const cls = l.class_name;
  const c = settings(l, cls === 'UpSampling3D' ? { size: ANY, data_format: channelsLast } : { [cls === 'ZeroPadding3D' ? 'padding' : 'cropping']: ANY, data_format: channelsLast });
  const size = cls === 'UpSampling3D' ? triple(l, 'size', c.size, 2) : undefined;
  const sides = cls === 'UpSampling3D' ? undefined : sides3d(l, cls === 'ZeroPadding3D' ? 'padding' : 'cropping', cls === 'ZeroPadding3D' ? c.padding : c.cropping, cls === 'ZeroPadding3D' ? 1 : 0);
  return ([x]) => {
    const { n, dims, ch } = volumeOf(l, x.shape);
    const sign = cls === 'ZeroPadding3D' ? 1 : -1;
    const od = dims.map((e, a) => (size ? e * size[a] : e + sign * (sides![a][0] + sides![a][1])));
    if (od.some((e) => e < 1)) throw new Error(`layer '${l.config.name}' (${cls}): nothing would be left of an input [${dims}]`);
    checkVolumeOut(l, od, ch);
    const from = (a: number, i: number) => (size ? Math.floor(i / size[a]) : i - sign * sides![a][0]);
    const out = plainAlloc(n * od[0] * od[1] * od[2] * ch);
    for (let b = 0; b < n; b++)
      for (let z = 0; z < od[0]; z++)
        for (let y = 0; y < od[1]; y++)
          for (let q = 0; q < od[2]; q++) {
            const [fz, fy, fx] = [from(0, z), from(1, y), from(2, q)];
            if (fz < 0 || fy < 0 || fx < 0 || fz >= dims[0] || fy >= dims[1] || fx >= dims[2]) continue;
            for (let i = 0; i < ch; i++) out[(((b * od[0] + z) * od[1] + y) * od[2] + q) * ch + i] = x.data[(((b * dims[0] + fz) * dims[1] + fy) * dims[2] + fx) * ch + i];
          }
    return { data: out, shape: [n, ...od, ch] };
  };
}

/**
 * Conv3DTranspose as a scatter (the textbook definition, apart from the private path's gather):
 * input voxel i and tap t add x[i] K[t] to output voxel i s + t - p, p the forward convolution's
 * SAME padding before (floor(max(k - s, 0) / 2); VALID: 0); outputs n s + max(k - s, 0) (VALID,
 * Keras's length) or n s.
 */
export function plainConv3dTranspose(l: LayerConfig, kernel: Float64Array, bias: Float64Array | undefined, act: ((x: PlainTensor) => PlainTensor) | undefined): Run {
  const c = settings(l, { filters: posInt, kernel_size: ANY, strides: ANY, padding: padMode, data_format: channelsLast, dilation_rate: ones, output_padding: (v) => v === undefined || v === null, groups: ones, activation: ANY, use_bias: bool });
  const k = triple(l, 'kernel_size', c.kernel_size, 1), s = triple(l, 'strides', c.strides, 1);
  const f = Number(c.filters), cin = kernel.length / (k[0] * k[1] * k[2] * f), same = padding(c.padding) === 'SAME';
  return ([x]) => {
    const { n, dims, ch } = volumeOf(l, x.shape);
    if (ch !== cin) throw new Error(`layer '${l.config.name}' (Conv3DTranspose): takes ${cin} channels, but its input is [${x.shape}]`);
    const od = dims.map((e, a) => e * s[a] + (same ? 0 : Math.max(k[a] - s[a], 0)));
    const p = k.map((e, a) => (same ? Math.floor(Math.max(e - s[a], 0) / 2) : 0));
    const out = plainAlloc(n * od[0] * od[1] * od[2] * f);
    for (let b = 0; b < n; b++)
      for (let z = 0; z < dims[0]; z++)
        for (let y = 0; y < dims[1]; y++)
          for (let q = 0; q < dims[2]; q++)
            for (let tz = 0; tz < k[0]; tz++)
              for (let ty = 0; ty < k[1]; ty++)
                for (let tq = 0; tq < k[2]; tq++) {
                  const oz = z * s[0] + tz - p[0], oy = y * s[1] + ty - p[1], oq = q * s[2] + tq - p[2];
                  if (oz < 0 || oy < 0 || oq < 0 || oz >= od[0] || oy >= od[1] || oq >= od[2]) continue;
                  const t = (tz * k[1] + ty) * k[2] + tq, o = (((b * od[0] + oz) * od[1] + oy) * od[2] + oq) * f, xi = (((b * dims[0] + z) * dims[1] + y) * dims[2] + q) * cin;
                  for (let j = 0; j < f; j++) for (let i = 0; i < cin; i++) out[o + j] += x.data[xi + i] * kernel[(t * f + j) * cin + i];
                }
    if (bias) for (let i = 0; i < out.length; i++) out[i] += bias[i % f];
    const yv = { data: out, shape: [n, ...od, f] };
    return act ? act(yv) : yv;
  };
}
