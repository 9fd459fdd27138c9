// Kernels the model owner reshapes before sharing: a dilated convolution's, spread out with zeros
// between its taps, so that it runs as an ordinary private convolution (exact: only zeros are
// added; the servers see shares of the spread kernel, never which taps are zero), at
// ((k-1)d+1)^2 / k^2 times its plaintext's multiply-adds; a separable layer's two kernels folded
// into one where that is cheaper than two products (separableInTwo); and a Conv2DTranspose's
// sub-pixel form. Grouped and depthwise convolutions run as their own private products
// (layers_conv.ts).
// Layouts are TensorFlow's: [kh, kw, in, out].

const at = (s: readonly number[], ...i: number[]) => i.reduce((a, v, d) => a * s[d] + v, 0);

/** [kh, kw, c, f] -> [(kh-1)dh+1, (kw-1)dw+1, c, f], the taps spread out with zeros between. */
export function dilateKernel(k: ArrayLike<number>, shape: readonly number[], [dh, dw]: readonly [number, number]): Float64Array {
  const [kh, kw, c, f] = shape;
  const out = [(kh - 1) * dh + 1, (kw - 1) * dw + 1, c, f];
  const o = new Float64Array(out[0] * out[1] * c * f);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < c * f; i++) o[at(out, y * dh, x * dw, 0, 0) + i] = k[at(shape, y, x, 0, 0) + i];
  return o;
}

/** Depthwise [kh, kw, c, m] then pointwise [1, 1, c*m, f], folded: full[y, x, c, o] = sum_j d[y, x, c, j] p[c*m + j, o]. */
export function separableKernel(d: ArrayLike<number>, [kh, kw, c, m]: readonly number[], p: ArrayLike<number>, f: number): Float64Array {
  const o = new Float64Array(kh * kw * c * f);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let ci = 0; ci < c; ci++)
        for (let j = 0; j < m; j++) {
          const dv = d[at([kh, kw, c, m], y, x, ci, j)];
          if (dv === 0) continue;
          const row = (ci * m + j) * f, base = at([kh, kw, c, f], y, x, ci, 0);
          for (let q = 0; q < f; q++) o[base + q] += dv * p[row + q];
        }
  return o;
}

/**
 * Whether a separable layer runs as two products (a depthwise convolution, then a pointwise one)
 * rather than one on its kernels folded into [kh, kw, c, f] (taps: kh kw, dilated). Per output
 * pixel the fold costs kh kw c f multiply-adds in one product; the two cost kh kw c m + c m f and
 * a second product, whose masks, openings and truncation of c m values per pixel weigh as much as
 * thousands of multiply-adds in the ring's convolution kernel, and a round. Measured in process
 * under SecureNN (bench/RESULTS.md, fiftieth session), 3x3 layers on 8x8 images: at batch 1 the
 * fold was faster up to 512 filters (23 against 30 ms there); at batch 8 two products were faster
 * from 256 (41 against 52 ms; 87 against 124 at 512). The folded kernel is also kh kw times the
 * weights the servers hold and mask (Xception's: 1.3 GB of shares each). So two products from
 * kh kw f >= 4096 m: Xception's 728- to 2048-filter layers, not its 128- and 256-filter ones.
 */
export const SEPARABLE_FROM = 4096;
export const separableInTwo = (taps: number, filters: number, multiplier: number): boolean => taps * filters >= SEPARABLE_FROM * multiplier;

export const dilatedShape = (shape: readonly number[], [dh, dw]: readonly [number, number]): number[] => [(shape[0] - 1) * dh + 1, (shape[1] - 1) * dw + 1, shape[2], shape[3]];

/**
 * One axis of a transposed convolution (Conv2DTranspose), as Keras and TensorFlow compute it:
 * `out` the output length (Keras's deconv_output_length) and `top` the outputs TensorFlow's
 * conv2d_transpose drops before the first (SAME: half of the forward convolution's padding).
 * Throws when output_padding gives a length whose forward convolution is not `len` long
 * (TensorFlow refuses those too).
 */
export function transposeAxis(len: number, k: number, s: number, same: boolean, outputPadding: number | null): { out: number; top: number } {
  const out =
    outputPadding === null ? (same ? len * s : len * s + Math.max(k - s, 0)) : (len - 1) * s + k - 2 * (same ? Math.floor(k / 2) : 0) + outputPadding;
  const forward = same ? Math.ceil(out / s) : Math.floor((out - k) / s) + 1;
  if (out < 1 || forward !== len)
    throw new RangeError(`output_padding ${outputPadding} gives ${out} outputs, whose ${same ? 'SAME' : 'VALID'} convolution (kernel ${k}, stride ${s}) has ${forward} not ${len}`);
  return { out, top: same ? Math.floor(Math.max((len - 1) * s + k - out, 0) / 2) : 0 };
}

/**
 * A transposed convolution's kernel in its sub-pixel form: one ordinary VALID convolution whose
 * sh sw f output channels are the output phases (ph, pw), phase-major, each f filters wide. Output
 * o with o + top = q s + p (per axis) is phase p at q, the sum over taps k = p + m s of Keras's
 * kernel [kh, kw, f, c] times input q - m: in a window of M = ceil(k / s) inputs ending at q, tap
 * m sits at M - 1 - m; a phase with fewer taps has zeros before them. Result [Mh, Mw, c, sh sw f].
 * No zeros between the input pixels: about s^2 fewer multiply-adds than spreading the input.
 */
export function subPixelKernel(k: ArrayLike<number>, [kh, kw, f, c]: readonly number[], [sh, sw]: readonly [number, number]): Float64Array {
  const mh = Math.ceil(kh / sh), mw = Math.ceil(kw / sw), out = [mh, mw, c, sh * sw * f];
  const o = new Float64Array(mh * mw * c * sh * sw * f);
  for (let ky = 0; ky < kh; ky++)
    for (let kx = 0; kx < kw; kx++)
      for (let ci = 0; ci < c; ci++)
        for (let fo = 0; fo < f; fo++) {
          const phase = (ky % sh) * sw + (kx % sw);
          o[at(out, mh - 1 - Math.floor(ky / sh), mw - 1 - Math.floor(kx / sw), ci, phase * f + fo)] = k[at([kh, kw, f, c], ky, kx, fo, ci)];
        }
  return o;
}
