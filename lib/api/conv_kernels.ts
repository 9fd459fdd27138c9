// Kernels the model owner expands before sharing, so that grouped and dilated convolutions run as
// one ordinary private Conv2D (exact: only zeros and owner-side float64
// products are added; the servers see shares of the expanded kernel, never which taps are zero).
// Cost: a grouped one does `groups` times the multiply-adds of its plaintext (zeros included), a
// dilated one ((k-1)d+1)^2 / k^2 times. DepthwiseConv2D and SeparableConv2D run on a depthwise
// convolution (layers_conv.ts; only dilated here).
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

export const dilatedShape = (shape: readonly number[], [dh, dw]: readonly [number, number]): number[] => [(shape[0] - 1) * dh + 1, (shape[1] - 1) * dw + 1, shape[2], shape[3]];

/**
 * Grouped [kh, kw, c/g, f] -> full [kh, kw, c, f]: group q (output channels q f/g .. (q+1) f/g - 1)
 * reads input channels q c/g .. (q+1) c/g - 1 only (Keras's `groups`), zeros elsewhere.
 */
export function groupedKernel(k: ArrayLike<number>, [kh, kw, cg, f]: readonly number[], groups: number): Float64Array {
  const c = cg * groups, fg = f / groups, out = [kh, kw, c, f];
  const o = new Float64Array(kh * kw * c * f);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let ci = 0; ci < c; ci++) {
        const q = Math.floor(ci / cg);
        for (let j = q * fg; j < (q + 1) * fg; j++) o[at(out, y, x, ci, j)] = k[at([kh, kw, cg, f], y, x, ci % cg, j)];
      }
  return o;
}

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
