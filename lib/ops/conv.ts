// Convolution in NHWC: conv2d = im2col + ring matmul. Filters are [kh, kw, in, out] as in
// TensorFlow, and SAME/VALID padding follows TensorFlow's rules.
import type { RingTensor } from '../tensor/ring_tensor';
import { shapeString } from '../tensor/shape';
import * as K from './kernel_names';
import { reshape, transpose } from './layout';
import { matmul } from './linalg';
import type { MatMulImpl } from './linalg';
import { reduceSum } from './reduce';
import { runKernel1 } from './run_kernel';
import { requireDType, requireTensor } from './validate';

export type Padding = 'SAME' | 'VALID';

export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  channels: number;
  outH: number;
  outW: number;
}

/** A positive integer or a pair of them (strides, kernel and pool sizes); errors name the argument. */
export function positivePair(op: string, v: number | readonly number[] | undefined, what: string, dflt: number): [number, number] {
  const a = v === undefined ? [dflt, dflt] : typeof v === 'number' ? [v, v] : [...v];
  if (a.length !== 2 || !a.every((x) => Number.isInteger(x) && x >= 1))
    throw new RangeError(`${op}: ${what} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  return [a[0], a[1]];
}

/** Output geometry of a kh x kw window over an NHWC input; errors name the input shape. */
export function convGeometry(op: string, input: readonly number[], kh: number, kw: number, strides: [number, number], padding: Padding): ConvGeometry {
  if (input.length !== 4) throw new RangeError(`${op}: input must be NHWC (rank 4), got shape ${shapeString(input)}`);
  const [batch, inH, inW, channels] = input;
  let outH: number;
  let outW: number;
  if (padding === 'VALID') {
    if (kh > inH || kw > inW)
      throw new RangeError(`${op}: window ${kh}x${kw} is larger than the input ${shapeString(input)} with VALID padding`);
    outH = Math.floor((inH - kh) / strides[0]) + 1;
    outW = Math.floor((inW - kw) / strides[1]) + 1;
  } else if (padding === 'SAME') {
    outH = Math.ceil(inH / strides[0]);
    outW = Math.ceil(inW / strides[1]);
  } else {
    throw new TypeError(`${op}: padding must be 'SAME' or 'VALID', got ${JSON.stringify(padding)}`);
  }
  return { batch, inH, inW, channels, outH, outW };
}

/**
 * A convolution's operands checked, errors naming the op and both shapes: a rank-4 filter
 * [kh, kw, <layout>] whose third axis is the input's channels. Its strides, padding and geometry.
 */
export function convOperands(op: string, x: readonly number[], filter: readonly number[], opts: { strides?: number | [number, number]; padding?: Padding; groups?: number }, layout: string): { strides: [number, number]; padding: Padding; g: ConvGeometry; groups: number } {
  if (filter.length !== 4) throw new RangeError(`${op}: filter must be [kh, kw, ${layout}], got shape ${shapeString(filter)}`);
  const strides = positivePair(op, opts.strides, 'strides', 1);
  const padding = opts.padding ?? 'VALID';
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new RangeError(`${op}: groups must be a positive integer, got ${JSON.stringify(opts.groups)}`);
  const g = convGeometry(op, x, filter[0], filter[1], strides, padding);
  if (filter[2] * groups !== g.channels) throw new RangeError(`${op}: input ${shapeString(x)} has ${g.channels} channels but filter ${shapeString(filter)}${groups > 1 ? ` in ${groups} groups` : ''} expects ${filter[2] * groups}`);
  if (filter[3] % groups !== 0) throw new RangeError(`${op}: filter ${shapeString(filter)} has ${filter[3]} outputs, which ${groups} groups do not divide`);
  return { strides, padding, g, groups };
}

/** convOperands for two ring64 tensors (each checked to be one). */
function ringConvOperands(op: string, x: RingTensor, filter: RingTensor, opts: { strides?: number | [number, number]; padding?: Padding; groups?: number }, layout: string): ReturnType<typeof convOperands> {
  requireTensor(op, x, 'input');
  requireTensor(op, filter, 'filter');
  requireDType(op, x, 'ring64');
  requireDType(op, filter, 'ring64');
  return convOperands(op, x.shape, filter.shape, opts, layout);
}

/**
 * The CPU kernel for conv2d: 'auto' (measured: the direct kernel or im2col + one of the matmul
 * kernels); 'direct' (stride 1, AVX-512: output pixels in the vector lanes, no im2col; in the form
 * measured fastest here), or one of its forms, 'direct-avx512' (vpmullq) and 'direct-ifma' (52-bit
 * multiply-adds, at most 4095 taps); or a matmul kernel for im2col + matmul.
 */
export type ConvImpl = MatMulImpl | 'direct' | 'direct-avx512' | 'direct-ifma';

export interface Conv2DOptions {
  strides?: number | [number, number];
  padding?: Padding;
  impl?: ConvImpl;
}

/** [n, h, w, c] conv [kh, kw, c, o] -> [n, oh, ow, o] over Z_2^64. */
export async function conv2d(x: RingTensor, filter: RingTensor, opts: Conv2DOptions = {}): Promise<RingTensor> {
  const { strides, padding } = ringConvOperands('conv2d', x, filter, opts, 'in, out');
  return runKernel1(K.Conv2D, [x, filter], { strides, padding, impl: opts.impl });
}

export interface WindowOptions {
  kernelSize: number | [number, number];
  strides?: number | [number, number];
  padding?: Padding;
}

/** [n, h, w, c] -> [n, oh, ow, kh*kw*c]: each output pixel's patch, in (kh, kw, c) order. */
export async function im2col(x: RingTensor, opts: WindowOptions): Promise<RingTensor> {
  requireTensor('im2col', x);
  requireDType('im2col', x, 'ring64');
  const [kh, kw] = positivePair('im2col', opts.kernelSize, 'kernelSize', 1);
  const strides = positivePair('im2col', opts.strides, 'strides', 1);
  const padding = opts.padding ?? 'VALID';
  convGeometry('im2col', x.shape, kh, kw, strides, padding);
  return runKernel1(K.Im2Col, [x], { kernelSize: [kh, kw], strides, padding });
}

/** The adjoint of im2col: scatter-adds [n, oh, ow, kh*kw*c] patches back onto an [n, h, w, c] image. */
export async function col2im(cols: RingTensor, opts: WindowOptions & { inputShape: readonly number[] }): Promise<RingTensor> {
  requireTensor('col2im', cols);
  requireDType('col2im', cols, 'ring64');
  const [kh, kw] = positivePair('col2im', opts.kernelSize, 'kernelSize', 1);
  const strides = positivePair('col2im', opts.strides, 'strides', 1);
  const padding = opts.padding ?? 'VALID';
  const g = convGeometry('col2im', opts.inputShape, kh, kw, strides, padding);
  const expect = [g.batch, g.outH, g.outW, kh * kw * g.channels];
  if (shapeString(cols.shape) !== shapeString(expect))
    throw new RangeError(`col2im: columns have shape ${shapeString(cols.shape)} but image ${shapeString(opts.inputShape)} needs ${shapeString(expect)}`);
  return runKernel1(K.Col2Im, [cols], { inputShape: [...opts.inputShape], kernelSize: [kh, kw], strides, padding });
}

/** Sum pooling as a reduction over im2col patches: [n, h, w, c] -> [n, oh, ow, c]. */
export async function sumPool2d(x: RingTensor, opts: WindowOptions): Promise<RingTensor> {
  const [kh, kw] = positivePair('sumPool2d', opts.kernelSize, 'kernelSize', 1);
  const strides = positivePair('sumPool2d', opts.strides ?? [kh, kw], 'strides', 1);
  const cols = await im2col(x, { kernelSize: [kh, kw], strides, padding: opts.padding });
  const [n, oh, ow] = cols.shape;
  const windows = reshape(cols, [n, oh, ow, kh * kw, x.shape[3]]);
  cols.dispose();
  try {
    return await reduceSum(windows, [3]);
  } finally {
    windows.dispose();
  }
}

export interface DepthwiseConv2DOptions {
  strides?: number | [number, number];
  padding?: Padding;
}

/**
 * [n, h, w, c] depthwise-conv [kh, kw, c, m] -> [n, oh, ow, c m] over Z_2^64: each input channel
 * convolved with its own m filters, output channel c m + j from filter [., ., c, j] (TensorFlow's
 * order). One kernel (native/src/kernels/depthwise.cc): per output pixel kh kw c m multiply-adds on
 * contiguous words, where a convolution with the filter expanded to every input channel (zeros
 * across channels) took kh kw c^2 m (768 channels: 768 times as many), and im2col with a broadcast
 * product and a sum over the taps (its form before the fiftieth session) made two tensors kh kw
 * times the output.
 */
export async function depthwiseConv2d(x: RingTensor, filter: RingTensor, opts: DepthwiseConv2DOptions = {}): Promise<RingTensor> {
  const { strides, padding } = ringConvOperands('depthwiseConv2d', x, filter, opts, 'channels, multiplier');
  return runKernel1(K.DepthwiseConv2D, [x, filter], { strides, padding });
}

export interface GroupedConv2DOptions {
  strides?: number | [number, number];
  padding?: Padding;
  groups: number;
}

/**
 * [n, h, w, c] conv [kh, kw, c / g, o] in g groups -> [n, oh, ow, o] over Z_2^64: input channels
 * [q c/g, (q+1) c/g) convolved with outputs [q o/g, (q+1) o/g) only (TensorFlow's grouped
 * convolution). im2col, then one matmul per group, batched: kh kw (c / g) o per output pixel,
 * where the kernel expanded to every input channel (zeros across groups) took g times as many.
 */
export async function groupedConv2d(x: RingTensor, filter: RingTensor, opts: GroupedConv2DOptions): Promise<RingTensor> {
  const { strides, padding, g, groups } = ringConvOperands('groupedConv2d', x, filter, opts, 'in / groups, out');
  const [kh, kw, cg, o] = filter.shape, og = o / groups, pixels = g.batch * g.outH * g.outW;
  const cols = await im2col(x, { kernelSize: [kh, kw], strides, padding });
  // [P, taps, g, cg] -> [g, P, taps, cg]: each group's patches as one matrix.
  const patches = reshape(cols, [pixels, kh * kw, groups, cg]);
  cols.dispose();
  const perGroup = await transposeDisposing(patches, [2, 0, 1, 3]);
  const lhs = reshape(perGroup, [groups, pixels, kh * kw * cg]);
  perGroup.dispose();
  // [taps cg, g, og] -> [g, taps cg, og].
  const k = reshape(filter, [kh * kw * cg, groups, og]);
  const rhs = await transposeDisposing(k, [1, 0, 2]);
  let z: RingTensor;
  try {
    z = await matmul(lhs, rhs);
  } finally {
    lhs.dispose();
    rhs.dispose();
  }
  // [g, P, og] -> [P, g, og]: output channel q og + j.
  const out = await transposeDisposing(z, [1, 0, 2]);
  const y = reshape(out, [g.batch, g.outH, g.outW, o]);
  out.dispose();
  return y;
}

/** transpose(a, perm), a disposed. */
async function transposeDisposing(a: RingTensor, perm: number[]): Promise<RingTensor> {
  try {
    return await transpose(a, perm);
  } finally {
    a.dispose();
  }
}
