// The float64 kernels of the plaintext twin (plain_forward.ts): dense, conv2d, pooling, transpose
// and windows, channels-last with TensorFlow's SAME padding. Nothing here is secret-shared.
import { checkTokenIds } from './input_encoding';

export interface PlainTensor {
  data: Float64Array;
  /** With the batch dimension first. */
  shape: number[];
}

export const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/**
 * The most values one plaintext tensor may hold (2^28: 2 GiB of float64). A layer whose output
 * would hold more (UpSampling2D of size [20000, 20000], RepeatVector of n 1e9, an input of
 * [50000, 50000]) is refused at its allocation, which the layer's error names, instead of growing
 * the process by gigabytes until the system kills it.
 */
export const MAX_PLAIN_VALUES = 2 ** 28;

/** A zeroed float64 tensor of `n` values, refused past MAX_PLAIN_VALUES. */
export function plainAlloc(n: number): Float64Array {
  if (!(Number.isSafeInteger(n) && n >= 0 && n <= MAX_PLAIN_VALUES)) throw new RangeError(`its output would hold ${n} values, more than the ${MAX_PLAIN_VALUES} one tensor may (check the layer's sizes and the model's input shape)`);
  return new Float64Array(n);
}

/** The largest |v| (NaN if any is NaN: a range check then reports it). */
export function maxAbsOf(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]);
    if (!(v <= m)) m = v;
  }
  return m;
}

export function denseOp(x: PlainTensor, k: Float64Array, kShape: number[], b?: Float64Array): PlainTensor {
  const [inner, units] = kShape;
  if (x.shape[x.shape.length - 1] !== inner) throw new Error(`Dense: input's last axis is ${x.shape[x.shape.length - 1]}, the kernel takes ${inner}`);
  const rows = x.data.length / inner;
  const out = plainAlloc(rows * units);
  for (let r = 0; r < rows; r++) {
    const o = out.subarray(r * units, (r + 1) * units);
    if (b) o.set(b);
    for (let i = 0; i < inner; i++) {
      const xv = x.data[r * inner + i];
      if (xv === 0) continue;
      const krow = i * units;
      for (let j = 0; j < units; j++) o[j] += xv * k[krow + j];
    }
  }
  return { data: out, shape: [...x.shape.slice(0, -1), units] };
}

/** TensorFlow's output size and leading pad for one spatial axis. */
function geometry(n: number, k: number, s: number, isSame: boolean): { out: number; before: number } {
  if (isSame) {
    const out = Math.ceil(n / s);
    return { out, before: Math.floor(Math.max((out - 1) * s + k - n, 0) / 2) };
  }
  if (n < k) throw new Error(`a window of ${k} does not fit an axis of ${n}`);
  return { out: Math.floor((n - k) / s) + 1, before: 0 };
}

/**
 * A convolution's windows over [n, h, w, c]: for every output pixel, its row o of f values (the
 * bias in it), and tap(o, xo, t) for each of its taps inside the image (xo the input pixel's
 * offset, t = dy kw + dx). SAME padding follows TensorFlow's rules (geometry).
 */
function convWindows(x: PlainTensor, [kh, kw]: [number, number], f: number, strides: [number, number], isSame: boolean, b: Float64Array | undefined, tap: (o: Float64Array, xo: number, t: number) => void): PlainTensor {
  const [n, h, w, c] = x.shape;
  const gy = geometry(h, kh, strides[0], isSame), gx = geometry(w, kw, strides[1], isSame);
  const out = plainAlloc(n * gy.out * gx.out * f);
  for (let bi = 0; bi < n; bi++)
    for (let oy = 0; oy < gy.out; oy++)
      for (let ox = 0; ox < gx.out; ox++) {
        const o = out.subarray(((bi * gy.out + oy) * gx.out + ox) * f, ((bi * gy.out + oy) * gx.out + ox + 1) * f);
        if (b) o.set(b);
        for (let dy = 0; dy < kh; dy++) {
          const iy = oy * strides[0] - gy.before + dy;
          if (iy < 0 || iy >= h) continue;
          for (let dx = 0; dx < kw; dx++) {
            const ix = ox * strides[1] - gx.before + dx;
            if (ix >= 0 && ix < w) tap(o, ((bi * h + iy) * w + ix) * c, dy * kw + dx);
          }
        }
      }
  return { data: out, shape: [n, gy.out, gx.out, f] };
}

/** [n, h, w, c] with k [kh, kw, c / groups, f] -> [n, oh, ow, f]; in groups, input channel ci feeds outputs of its group (ci / (c / groups)) only. */
export function conv2dOp(x: PlainTensor, k: Float64Array, kShape: number[], strides: [number, number], isSame: boolean, b?: Float64Array, groups = 1): PlainTensor {
  const c = x.shape[3];
  const [kh, kw, kc, f] = kShape, fg = f / groups;
  if (x.shape.length !== 4 || c !== kc * groups || !Number.isInteger(fg)) throw new Error(`Conv2D: input [${x.shape}] does not fit kernel [${kShape}]${groups > 1 ? ` in ${groups} groups` : ''}`);
  return convWindows(x, [kh, kw], f, strides, isSame, b, (o, xo, t) => {
    const ko = t * kc * f;
    for (let ci = 0; ci < c; ci++) {
      const xv = x.data[xo + ci];
      if (xv === 0) continue;
      const q = Math.floor(ci / kc), row = ko + (ci % kc) * f;
      for (let j = q * fg; j < (q + 1) * fg; j++) o[j] += xv * k[row + j];
    }
  });
}

/** Depthwise: [n, h, w, c] with k [kh, kw, c, m] (TensorFlow's order: output channel ci m + j) -> [n, oh, ow, c m]. */
export function depthwiseConv2dOp(x: PlainTensor, k: Float64Array, [kh, kw, kc, m]: number[], strides: [number, number], isSame: boolean, b?: Float64Array): PlainTensor {
  const c = x.shape[3], f = c * m;
  if (x.shape.length !== 4 || c !== kc) throw new Error(`DepthwiseConv2D: input [${x.shape}] does not fit kernel [${[kh, kw, kc, m]}]`);
  return convWindows(x, [kh, kw], f, strides, isSame, b, (o, xo, t) => {
    for (let i = 0; i < f; i++) o[i] += x.data[xo + Math.floor(i / m)] * k[t * f + i];
  });
}

/**
 * A transposed convolution in its scatter form, input pixel (iy, ix) adding its kernel-weighted
 * copy at (iy sy - top, ix sx - left): independent of the private model's gather form. `turned`
 * is the kernel the private model uses, [kh, kw, c, f] turned half a turn (conv_kernels.ts), so
 * Keras's W[ky, kx, f, c] is turned[kh - 1 - ky, kw - 1 - kx, c, f]. `out` and `top` per axis.
 */
export function conv2dTransposeOp(x: PlainTensor, turned: Float64Array, [kh, kw, c, f]: number[], strides: [number, number], geo: [{ out: number; top: number }, { out: number; top: number }], b?: Float64Array): PlainTensor {
  const [n, h, w] = x.shape;
  if (x.shape.length !== 4 || x.shape[3] !== c) throw new Error(`Conv2DTranspose: input [${x.shape}] does not fit kernel [${kh},${kw},${c},${f}]`);
  const [oh, ow] = [geo[0].out, geo[1].out];
  const out = plainAlloc(n * oh * ow * f);
  if (b) for (let i = 0; i < n * oh * ow; i++) out.set(b, i * f);
  for (let bi = 0; bi < n; bi++)
    for (let iy = 0; iy < h; iy++)
      for (let ix = 0; ix < w; ix++)
        for (let ky = 0; ky < kh; ky++) {
          const oy = iy * strides[0] + ky - geo[0].top;
          if (oy < 0 || oy >= oh) continue;
          for (let kx = 0; kx < kw; kx++) {
            const ox = ix * strides[1] + kx - geo[1].top;
            if (ox < 0 || ox >= ow) continue;
            const o = ((bi * oh + oy) * ow + ox) * f, t = ((kh - 1 - ky) * kw + (kw - 1 - kx)) * c * f;
            for (let ci = 0; ci < c; ci++) {
              const xv = x.data[((bi * h + iy) * w + ix) * c + ci];
              for (let j = 0; j < f; j++) out[o + j] += xv * turned[t + ci * f + j];
            }
          }
        }
  return { data: out, shape: [n, oh, ow, f] };
}

/** Average (over the in-image pixels, as TensorFlow does with SAME) or maximum (padding ignored) of each window. */
export function pool2d(x: PlainTensor, kind: 'avg' | 'max', pool: [number, number], strides: [number, number], isSame: boolean): PlainTensor {
  const [n, h, w, c] = x.shape;
  if (x.shape.length !== 4) throw new Error(`pooling takes a rank-4 input, got [${x.shape}]`);
  const gy = geometry(h, pool[0], strides[0], isSame), gx = geometry(w, pool[1], strides[1], isSame);
  const out = plainAlloc(n * gy.out * gx.out * c);
  for (let bi = 0; bi < n; bi++)
    for (let oy = 0; oy < gy.out; oy++)
      for (let ox = 0; ox < gx.out; ox++)
        for (let ci = 0; ci < c; ci++) {
          let acc = kind === 'max' ? -Infinity : 0, count = 0;
          for (let dy = 0; dy < pool[0]; dy++) {
            const iy = oy * strides[0] - gy.before + dy;
            if (iy < 0 || iy >= h) continue;
            for (let dx = 0; dx < pool[1]; dx++) {
              const ix = ox * strides[1] - gx.before + dx;
              if (ix < 0 || ix >= w) continue;
              const v = x.data[((bi * h + iy) * w + ix) * c + ci];
              acc = kind === 'max' ? Math.max(acc, v) : acc + v;
              count++;
            }
          }
          out[((bi * gy.out + oy) * gx.out + ox) * c + ci] = kind === 'max' ? acc : acc / count;
        }
  return { data: out, shape: [n, gy.out, gx.out, c] };
}

export function transposeOp(x: PlainTensor, perm: number[]): PlainTensor {
  const shape = perm.map((p) => x.shape[p]);
  const inStrides = x.shape.map((_, i) => size(x.shape.slice(i + 1)));
  const out = plainAlloc(x.data.length);
  const idx = new Array(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src += idx[d] * inStrides[perm[d]];
    out[o] = x.data[src];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return { data: out, shape };
}

/** Copies the [h0, h0 + oh) x [w0, w0 + ow) window of x into an [n, oh, ow, c] tensor placed at (y0, x0) of zeros. */
export function window2d(x: PlainTensor, oh: number, ow: number, h0: number, w0: number, y0: number, x0: number, hh: number, ww: number): PlainTensor {
  const [n, h, w, c] = x.shape;
  const out = plainAlloc(n * oh * ow * c);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < hh; y++)
      for (let xx = 0; xx < ww; xx++) {
        const src = ((b * h + h0 + y) * w + w0 + xx) * c;
        out.set(x.data.subarray(src, src + c), ((b * oh + y0 + y) * ow + x0 + xx) * c);
      }
  return { data: out, shape: [n, oh, ow, c] };
}

/**
 * An Embedding as tfjs computes it: row ids[i] of the table [vocab, d] per id, [..., d]. The ids
 * are checked as the input owner checks them before one-hot encoding (input_encoding.ts).
 */
export function gatherOp(ids: PlainTensor, table: Float64Array, vocab: number, what: string): PlainTensor {
  checkTokenIds(ids.data, ids.shape, vocab, what);
  const d = table.length / vocab, out = plainAlloc(ids.data.length * d);
  for (let i = 0; i < ids.data.length; i++) out.set(table.subarray(ids.data[i] * d, (ids.data[i] + 1) * d), i * d);
  return { data: out, shape: [...ids.shape, d] };
}

/** Row-wise softmax of a [rows, n] array, in place. */
export function softmaxRows(a: Float64Array, n: number): void {
  for (let r = 0; r < a.length / n; r++) {
    const row = a.subarray(r * n, (r + 1) * n);
    const m = Math.max(...row);
    let s = 0;
    for (let j = 0; j < n; j++) s += row[j] = Math.exp(row[j] - m);
    for (let j = 0; j < n; j++) row[j] /= s;
  }
}
