// Convolutions of volumes [batch, depth, height, width, channels]: each output voxel's window of
// public positions (volume_geometry.ts), and one product of the gathered windows by the kernel
// (the bilinear map 'patchMatmul', lib/protocol/correlated.ts). Its Beaver masks have the input's
// and the kernel's own shapes, so a product opens the volume (and the kernel), not its patches,
// which are taps times larger (27 for a 3x3x3 kernel; a transposed convolution's, strides^3 more):
// what a 2-D convolution's own triple does. The dealer's c = f(a, b) uses the same f.
import { transposeWindows, type Triple, type Windows, windows } from './volume_geometry';
import { gather, pad, reshape, transpose } from './ops';
import { bilinearOp } from './ops_nonlinear';
import type { AnyTensor } from './tensor';

/**
 * x [n, L, C]'s rows gathered at `index` (P windows of K positions each) as [n P, K C], times
 * w [K C, F]: one product (see the top). Every index is checked against L before anything runs.
 */
export function patchMatmul(x: AnyTensor, w: AnyTensor, index: Int32Array): AnyTensor {
  if (x.rank !== 3 || w.rank !== 2) throw new RangeError(`patchMatmul: takes x [n, L, C] and w [K C, F], got [${x.shape}] and [${w.shape}]`);
  const [n, rows, c] = x.shape, k = w.shape[0] / c;
  if (!Number.isInteger(k) || k < 1 || index.length % k !== 0 || index.length === 0)
    throw new RangeError(`patchMatmul: ${index.length} positions are not whole windows of ${k} (w [${w.shape}] over ${c} channels)`);
  const bad = index.findIndex((i) => !Number.isInteger(i) || i < 0 || i >= rows);
  if (bad >= 0) throw new RangeError(`patchMatmul: position ${index[bad]} at ${bad} is out of range [0, ${rows})`);
  return bilinearOp('patchMatmul', { kind: 'patchMatmul', index }, x, w, [n * (index.length / k), w.shape[1]]);
}

// The gather positions of a geometry (padding: the zero put after the volume), made once per geometry.
const positions = new WeakMap<Windows, Int32Array>();

/** x [n, D, H, W, C] over the windows `g`, times kernel [K C, F]: [n, ...g.out, F]. */
export function windowsProduct(x: AnyTensor, g: Windows, kernel: AnyTensor): AnyTensor {
  const [n, d, h, w, c] = x.shape, v = d * h * w;
  const padded = g.at.includes(-1);
  if (!positions.has(g)) positions.set(g, g.at.map((i) => (i < 0 ? v : i)));
  const flat = reshape(x, [n, v, c]);
  const y = patchMatmul(padded ? pad(flat, [[0, 0], [0, 1], [0, 0]]) : flat, kernel, positions.get(g)!);
  return reshape(y, [n, ...g.out, kernel.shape[1]]);
}

export interface Conv3DOptions {
  strides?: number | Triple;
  padding?: 'SAME' | 'VALID';
  dilations?: number | Triple;
}

const tripleOf = (name: string, what: string, v: number | Triple | undefined): Triple => {
  const t = v === undefined ? [1, 1, 1] : typeof v === 'number' ? [v, v, v] : v;
  if (t.length !== 3 || !t.every((e) => Number.isSafeInteger(e) && e >= 1)) throw new RangeError(`${name}: ${what} ${JSON.stringify(v)} must be one positive integer or three`);
  return t as Triple;
};

/** Checks a volume and a 5-D filter; returns the volume's sizes and the filter's taps. */
function operands(name: string, x: AnyTensor, filter: AnyTensor, channelsAt: number): { dims: Triple; k: Triple } {
  if (x.rank !== 5) throw new RangeError(`${name}: expects x [batch, depth, height, width, channels], got [${x.shape}]`);
  if (filter.rank !== 5 || filter.shape[channelsAt] !== x.shape[4]) throw new RangeError(`${name}: filter [${filter.shape}] does not take x's ${x.shape[4]} channels`);
  return { dims: [x.shape[1], x.shape[2], x.shape[3]], k: [filter.shape[0], filter.shape[1], filter.shape[2]] };
}

/** TensorFlow's conv3d: x [n, D, H, W, C], filter [kd, kh, kw, C, F] (NDHWC); one product. */
export function conv3d(x: AnyTensor, filter: AnyTensor, opts: Conv3DOptions = {}): AnyTensor {
  const { dims, k } = operands('conv3d', x, filter, 3);
  const s = tripleOf('conv3d', 'strides', opts.strides), d = tripleOf('conv3d', 'dilations', opts.dilations);
  const fail = (msg: string): never => {
    throw new RangeError(`conv3d: ${msg}`);
  };
  const g = windows(fail, dims, k, s, d, opts.padding ?? 'VALID');
  return windowsProduct(x, g, reshape(filter, [g.taps * x.shape[4], filter.shape[4]]));
}

/**
 * TensorFlow's conv3d_transpose at Keras's output size (SAME n s, VALID n s + max(k - s, 0)):
 * x [n, D, H, W, C], filter [kd, kh, kw, F, C]; the direct convolution it equals, the filter's
 * taps reversed and its channels swapped (local), then one product.
 */
export function conv3dTranspose(x: AnyTensor, filter: AnyTensor, opts: Omit<Conv3DOptions, 'dilations'> = {}): AnyTensor {
  const { dims, k } = operands('conv3dTranspose', x, filter, 4);
  const s = tripleOf('conv3dTranspose', 'strides', opts.strides);
  const fail = (msg: string): never => {
    throw new RangeError(`conv3dTranspose: ${msg}`);
  };
  const g = transposeWindows(fail, dims, k, s, opts.padding ?? 'VALID');
  return windowsProduct(x, g, transposedKernel(reshape(filter, [g.taps, filter.shape[3], filter.shape[4]])));
}

/** A transposed convolution's kernel [taps, F, C] as its direct convolution's [taps C, F]: channels swapped, taps reversed (local moves). */
export function transposedKernel(k: AnyTensor): AnyTensor {
  const [taps, f, c] = k.shape;
  return reshape(gather(transpose(k, [0, 2, 1]), Array.from({ length: taps }, (_, t) => taps - 1 - t), 0), [taps * c, f]);
}
