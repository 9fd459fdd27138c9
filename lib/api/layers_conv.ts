// The convolution layers: Conv2D (grouped: a private grouped convolution; dilated: its kernel
// spread by the owner, conv_kernels.ts), DepthwiseConv2D (a private depthwise convolution),
// SeparableConv2D (a depthwise convolution, then a pointwise one), Conv1D (a Conv2D over
// a height-1 image; causal padding as zeros before the first step), Conv2DTranspose (one Conv2D
// whose channels are the output phases, then a depth-to-space: the sub-pixel form).
import { add, pad, reshape, slice, transpose } from './ops';
import { conv2d, depthwiseConv2d } from './ops_nonlinear';
import { expectShape, type LayerConfig, refuse } from './layers_graph';
import { withActivation } from './layers_activations';
import { dilatedShape, separableInTwo, transposeAxis } from './conv_kernels';
import type { LayerContext, LayerPlan } from './layers_catalog';
import type { AnyTensor, PrivateTensor } from './tensor';
import { ANY, bool, channelsLast, ones, padding, padMode, pair, posInt, positivePair, settings } from './layers_settings';

/** A convolution's `groups` (1 if absent); its filters must split evenly across the groups. */
function groupsOf(l: LayerConfig, c: Record<string, unknown>, filters: number): number {
  const g = Number(c.groups ?? 1);
  if (filters % g !== 0) refuse(l, `groups = ${g} does not divide its ${filters} filters`);
  return g;
}
/** The depth multiplier a depthwise kernel must have; null when the config leaves it out (tfjs's SeparableConv2D does: its kernel says). */
const multiplierOf = (c: Record<string, unknown>): number | null => (c.depth_multiplier === undefined ? null : Number(c.depth_multiplier));
/** What expectShape names as the settings a kernel's shape follows. */
const sizes = (c: Record<string, unknown>, other: 'filters' | 'depth_multiplier') => `kernel_size ${JSON.stringify(c.kernel_size)}, ${other} = ${c[other] ?? 'not saved'}`;

/** A 2-D layer's dilation; refuses dilation above 1 together with strides above 1 (TensorFlow does too). */
function dilationOf(l: LayerConfig, c: Record<string, unknown>): [number, number] {
  const d = pair(c.dilation_rate, 1), s = pair(c.strides, 1);
  if (Math.max(...d) > 1 && Math.max(...s) > 1) refuse(l, `dilation_rate [${d}] with strides [${s}]: TensorFlow allows one of them above 1, not both`);
  return d;
}

/** A Conv2D on kernel parameter `k` (taken or dilated by the owner), in `groups` groups, its bias and activation. */
function convPlan(l: LayerConfig, ctx: LayerContext, c: Record<string, unknown>, k: number, outChannels: number, groups = 1): LayerPlan {
  const b = c.use_bias === false ? -1 : ctx.take('bias', [1, 1, 1, outChannels]);
  const strides = pair(c.strides, 1);
  return withActivation(l, ctx, (p) => (x) => {
    if (groups > 1 && (x.rank !== 4 || x.shape[3] !== p[k].shape[2] * groups)) refuse(l, `convolves ${p[k].shape[2] * groups} channels in ${groups} groups, but its input is [${x.shape}] (NHWC)`);
    const y = conv2d(x, p[k], { strides, padding: padding(c.padding), ...(groups > 1 ? { groups } : {}) });
    return b < 0 ? y : add(y, p[b]);
  });
}

/**
 * A depthwise convolution (DepthwiseConv2D, or a Conv2D with one input channel per group): its
 * private filter k of shape [kh, kw, 1, ch m] (`flat`) read as [kh, kw, ch, m], one product whose
 * local part is kh kw ch m per output pixel (ops_nonlinear.ts depthwiseConv2d). `pointwise`: a
 * separable layer's second product, a 1x1 convolution by that parameter to `filters` channels.
 * `oneD`: a 1-D layer on [batch, steps, ch], run over a height-1 image (as Conv1D), `causal` zeros
 * before the first step.
 */
function depthwisePlan(l: LayerConfig, ctx: LayerContext, c: Record<string, unknown>, k: number, flat: number[], ch: number, more: { pointwise?: { k: number; filters: number }; oneD?: { causal: number } } = {}): LayerPlan {
  const [kh, kw, , out] = flat, filters = more.pointwise?.filters ?? out, oneD = more.oneD;
  const b = c.use_bias === false ? -1 : ctx.take('bias', oneD ? [1, 1, filters] : [1, 1, 1, filters]);
  const strides = oneD ? ([1, firstOf(c.strides)] as [number, number]) : pair(c.strides, 1);
  return withActivation(l, ctx, (p) => (x) => {
    const rank = oneD ? 3 : 4;
    if (x.rank !== rank || x.shape[rank - 1] !== ch) refuse(l, `convolves ${ch} channels one by one, but its input is [${x.shape}] (${oneD ? '[batch, steps, channels]' : 'NHWC'})`);
    const xp = oneD?.causal ? pad(x, [[0, 0], [oneD.causal, 0], [0, 0]]) : x;
    const x4 = oneD ? reshape(xp, [xp.shape[0], 1, xp.shape[1], xp.shape[2]]) : xp;
    let y = depthwiseConv2d(x4, reshape(p[k], [kh, kw, ch, out / ch]), { strides, padding: oneD?.causal ? 'VALID' : padding(c.padding) });
    if (more.pointwise) y = conv2d(y, p[more.pointwise.k], { strides: [1, 1], padding: 'VALID' });
    if (oneD) y = reshape(y, [y.shape[0], y.shape[2], y.shape[3]]);
    return b < 0 ? y : add(y, p[b]);
  });
}

/**
 * A Conv1D on kernel parameter `k` [1, taps, ch / groups, f] (taken, dilated or folded by the
 * owner): a Conv2D over a height-1 image, [n, L, C] -> [n, 1, L, C]. `causal`: that many zeros
 * before the first step, then VALID (Keras's definition), so that output t reads steps up to t only.
 */
function conv1dPlan(l: LayerConfig, ctx: LayerContext, c: Record<string, unknown>, k: number, f: number, causal: number, groups = 1): LayerPlan {
  const b = c.use_bias === false ? -1 : ctx.take('bias', [1, 1, f]);
  const s1 = firstOf(c.strides);
  return withActivation(l, ctx, (p) => (x) => {
    const ch = p[k].shape[2] * groups;
    if (x.rank !== 3 || x.shape[2] !== ch) refuse(l, `convolves ${ch} channels${groups > 1 ? ` in ${groups} groups` : ''}, but its input is [${x.shape}] ([batch, steps, channels])`);
    const xp = causal ? pad(x, [[0, 0], [causal, 0], [0, 0]]) : x;
    const y = conv2d(reshape(xp, [xp.shape[0], 1, xp.shape[1], xp.shape[2]]), p[k], { strides: [1, s1], padding: causal ? 'VALID' : padding(c.padding), ...(groups > 1 ? { groups } : {}) });
    const z = reshape(y, [y.shape[0], y.shape[2], y.shape[3]]);
    return b < 0 ? z : add(z, p[b]);
  });
}

/** A 1-D setting's value (Keras writes [k] or k). */
const firstOf = (v: unknown, d = 1): number => Number(Array.isArray(v) ? v[0] : (v ?? d));

/**
 * DepthwiseConv1D, SeparableConv1D, SeparableConv2D: a depthwise convolution on the kernel
 * `weight` [kh, kw, ch, m] (1-D: [k, ch, m], read as [1, k, ch, m]), then for a separable layer a
 * pointwise one: two products, as Keras computes it, where they cost less than one product on the
 * two kernels folded into [kh, kw, ch, f] (conv_kernels.ts separableInTwo: wide layers), the fold
 * otherwise.
 */
function depthwiseLayer(l: LayerConfig, ctx: LayerContext, oneD: boolean, separable: boolean): LayerPlan {
  const dims = oneD ? 1 : 2;
  const pads = oneD ? (v: unknown) => padMode(v) || v === 'causal' : padMode;
  const c = settings(l, { ...(separable ? { filters: ANY } : {}), kernel_size: positivePair, strides: positivePair, padding: pads, data_format: channelsLast, dilation_rate: positivePair, depth_multiplier: posInt, activation: ANY, use_bias: bool, groups: ones });
  const dilation: [number, number] = oneD ? [1, firstOf(c.dilation_rate)] : dilationOf(l, c);
  if (oneD && dilation[1] > 1 && firstOf(c.strides) > 1) refuse(l, `dilation_rate ${dilation[1]} with strides ${firstOf(c.strides)}: TensorFlow allows one of them above 1, not both`);
  // TensorFlow.js's DepthwiseConv2D computes without its dilation (tfjs-layers 4.22), Keras with
  // it: a model TensorFlow.js saved predicts there unlike what it declares, so it is refused
  // rather than computed either way (as Conv2DTranspose's dilation is).
  if (!oneD && !separable && ctx.tfjs && dilation.some((d) => d !== 1)) refuse(l, `dilation_rate [${dilation}] in a model saved by TensorFlow.js, whose DepthwiseConv2D ignores it (Keras applies it): its own predictions are those of an undilated layer, so the model is ambiguous; only 1 is supported in models saved by TensorFlow.js (a Keras model converted with tensorflowjs_converter keeps Keras's meaning)`);
  const n = l.config.name;
  // Keras 3 names a DepthwiseConv's weight kernel (tf-keras and tfjs: depthwise_kernel).
  const weight = separable || ctx.has(`${n}/depthwise_kernel`) || !ctx.has(`${n}/kernel`) ? 'depthwise_kernel' : 'kernel';
  const given = ctx.shapeOf(`${n}/${weight}`);
  const size = oneD ? [firstOf(c.kernel_size)] : pair(c.kernel_size, 1);
  expectShape(l, weight, given, [...size, null, multiplierOf(c)], sizes(c, 'depth_multiplier'));
  if (given.length !== dims + 2) refuse(l, `${weight} has shape [${given}], expected rank ${dims + 2}`);
  const [kh, kw, ch, m] = oneD ? [1, ...given] : given;
  // Held as [kh, kw, 1, ch m] (the same values in the same order), so that a BatchNormalization
  // folded into a depthwise layer scales its last axis, the ch m output channels; dilated by the owner.
  const flat = [kh, kw, 1, ch * m], held = dilatedShape(flat, dilation);
  const oneDim = oneD ? { causal: c.padding === 'causal' ? held[1] - 1 : 0 } : undefined;
  if (!separable) return depthwisePlan(l, ctx, c, ctx.derived('depthwise_filter', held, { kind: 'convKernel', kernel: `${n}/${weight}`, shape: flat, dilation }), held, ch, { oneD: oneDim });
  const f = Number(c.filters), pw = ctx.shapeOf(`${n}/pointwise_kernel`), want = [...Array(dims).fill(1), ch * m, f];
  if (pw.join() !== want.join()) refuse(l, `pointwise_kernel has shape [${pw}], expected [${want}]`);
  if (separableInTwo(held[0] * held[1], f, m)) {
    const k = ctx.derived('depthwise_filter', held, { kind: 'convKernel', kernel: `${n}/${weight}`, shape: flat, dilation }, true);
    return depthwisePlan(l, ctx, c, k, held, ch, { pointwise: { k: ctx.take('pointwise_kernel', [1, 1, ch * m, f]), filters: f }, oneD: oneDim });
  }
  // Folded by the owner into one kernel [kh, kw, ch, f], one product.
  const full = ctx.derived('full_kernel', dilatedShape([kh, kw, ch, f], dilation), { kind: 'separableKernel', depthwise: `${n}/${weight}`, pointwise: `${n}/pointwise_kernel`, shape: [kh, kw, ch, m], filters: f, dilation });
  return oneD ? conv1dPlan(l, ctx, c, full, f, oneDim!.causal) : convPlan(l, ctx, c, full, f);
}

/** A Conv2DTranspose's output_padding: null, or a non-negative integer (or pair) below the strides. */
function outputPaddingOf(l: LayerConfig, v: unknown, strides: [number, number]): [number, number] | null {
  if (v === undefined || v === null) return null;
  const op = pair(v, 0);
  if (op.some((p, i) => !Number.isInteger(p) || p < 0 || p >= strides[i])) refuse(l, `output_padding ${JSON.stringify(v)} must be non-negative integers below the strides [${strides}]`);
  return op;
}

/**
 * A transposed convolution in its sub-pixel form (conv_kernels.ts subPixelKernel): per axis, output
 * o with o + top = q s + p is output phase p at q, for q in [q0, q1] (the outputs wanted); one
 * VALID convolution of the input window [q0 - M + 1, q1] (zeros outside the input) gives every
 * phase as its own f channels; a depth-to-space (local reshapes and a transpose) interleaves them
 * and the outputs are cropped. One private product of about the input's size.
 */
function subPixelConv(l: LayerConfig, x: AnyTensor, k: PrivateTensor, size: [number, number], s: [number, number], same: boolean, op: [number, number] | null): AnyTensor {
  if (x.rank !== 4) refuse(l, `takes a rank-4 input [batch, height, width, channels], got [${x.shape}]`);
  const [n, h, w, c] = x.shape;
  const f = k.shape[3] / (s[0] * s[1]);
  const axis = (len: number, i: number) => {
    try {
      const g = transposeAxis(len, size[i], s[i], same, op ? op[i] : null);
      const q0 = Math.floor(g.top / s[i]), q1 = Math.floor((g.top + g.out - 1) / s[i]), m = k.shape[i];
      // The input window [q0 - m + 1, q1], clipped to the input, and the zeros around it.
      const start = q0 - m + 1;
      return { ...g, q0, count: q1 - q0 + 1, from: Math.max(start, 0), to: Math.min(q1, len - 1), before: Math.max(0, -start), after: Math.max(0, q1 - (len - 1)) };
    } catch (e) {
      return refuse(l, (e as Error).message);
    }
  };
  const gy = axis(h, 0), gx = axis(w, 1);
  let xs = slice(x, [0, gy.from, gx.from, 0], [n, Math.max(0, gy.to - gy.from + 1), Math.max(0, gx.to - gx.from + 1), c]);
  if (gy.before + gy.after + gx.before + gx.after > 0) xs = pad(xs, [[0, 0], [gy.before, gy.after], [gx.before, gx.after], [0, 0]]);
  const z = conv2d(xs, k, { strides: [1, 1], padding: 'VALID' }); // [n, qy, qx, (ph sw + pw) f + fo]
  // [n, qy, qx, ph, pw, f] -> [n, qy, ph, qx, pw, f] -> [n, qy sh + ph, qx sw + pw, f]: o + top - q0 s.
  const phases = transpose(reshape(z, [n, gy.count, gx.count, s[0], s[1], f]), [0, 1, 3, 2, 4, 5]);
  const all = reshape(phases, [n, gy.count * s[0], gx.count * s[1], f]);
  return slice(all, [0, gy.top - gy.q0 * s[0], gx.top - gx.q0 * s[1], 0], [n, gy.out, gx.out, f]);
}

export const CONV_BUILDERS: Record<string, (l: LayerConfig, ctx: LayerContext) => LayerPlan> = {
  Conv2D: (l, ctx) => {
    const c = settings(l, { filters: ANY, kernel_size: positivePair, strides: positivePair, padding: padMode, data_format: channelsLast, dilation_rate: positivePair, groups: posInt, activation: ANY, use_bias: bool });
    const dilation = dilationOf(l, c);
    const shape = ctx.shapeOf(`${l.config.name}/kernel`);
    expectShape(l, 'kernel', shape, [...pair(c.kernel_size, 1), null, Number(c.filters)], sizes(c, 'filters'));
    const groups = groupsOf(l, c, shape[3]);
    // One input channel per group (groups = the input's channels, as ConvNeXt's 7x7): a depthwise
    // convolution, its kernel [kh, kw, 1, f] read as [kh, kw, groups, f / groups].
    if (groups > 1 && shape[2] === 1) {
      const k = dilation[0] * dilation[1] === 1 ? ctx.take('kernel') : ctx.derived('dilated_kernel', dilatedShape(shape, dilation), { kind: 'convKernel', kernel: `${l.config.name}/kernel`, shape, dilation });
      return depthwisePlan(l, ctx, c, k, dilatedShape(shape, dilation), groups);
    }
    // Grouped: a grouped convolution (ops_nonlinear.ts conv2d's groups), the kernel as saved.
    const k = dilation[0] * dilation[1] === 1 ? ctx.take('kernel') : ctx.derived('dilated_kernel', dilatedShape(shape, dilation), { kind: 'convKernel', kernel: `${l.config.name}/kernel`, shape, dilation });
    return convPlan(l, ctx, c, k, Number(c.filters), groups);
  },
  // groups: tf-keras (Keras 2) writes 1 from its base convolution.
  DepthwiseConv2D: (l, ctx) => depthwiseLayer(l, ctx, false, false),
  SeparableConv2D: (l, ctx) => depthwiseLayer(l, ctx, false, true),
  DepthwiseConv1D: (l, ctx) => depthwiseLayer(l, ctx, true, false),
  SeparableConv1D: (l, ctx) => depthwiseLayer(l, ctx, true, true),
  Conv2DTranspose: (l, ctx) => {
    // groups: tf-keras (Keras 2) writes 1 from its base convolution, as for DepthwiseConv2D.
    const c = settings(l, { filters: ANY, kernel_size: positivePair, strides: positivePair, padding: padMode, output_padding: ANY, data_format: channelsLast, dilation_rate: ANY, activation: ANY, use_bias: bool, groups: ones });
    // TensorFlow.js ignores a transposed convolution's dilation and Keras applies it: what such a
    // model computes depends on where it runs, so it is refused rather than guessed.
    if (pair(c.dilation_rate, 1).some((d) => d !== 1)) refuse(l, `dilation_rate ${JSON.stringify(c.dilation_rate)}: TensorFlow.js ignores it and Keras applies it, so the model's own output is ambiguous; only 1 is supported`);
    const shape = ctx.shapeOf(`${l.config.name}/kernel`);
    expectShape(l, 'kernel', shape, [...pair(c.kernel_size, 1), Number(c.filters), null], sizes(c, 'filters'));
    const [kh, kw, f, ch] = shape;
    const strides = pair(c.strides, 1), op = outputPaddingOf(l, c.output_padding, strides);
    const same = c.padding === 'same';
    const k = ctx.derived('subpixel_kernel', [Math.ceil(kh / strides[0]), Math.ceil(kw / strides[1]), ch, strides[0] * strides[1] * f], { kind: 'subPixelKernel', kernel: `${l.config.name}/kernel`, shape, strides });
    const b = c.use_bias === false ? -1 : ctx.take('bias', [1, 1, 1, f]);
    return withActivation(l, ctx, (p) => (x) => {
      const y = subPixelConv(l, x, p[k], [kh, kw], strides, same, op);
      return b < 0 ? y : add(y, p[b]);
    });
  },
  // A Conv2DTranspose over a height-1 image: [n, L, C] -> [n, 1, L, C], the kernel [k, F, C] -> [1, k, F, C].
  Conv1DTranspose: (l, ctx) => {
    const c = settings(l, { filters: ANY, kernel_size: positivePair, strides: positivePair, padding: padMode, output_padding: ANY, data_format: channelsLast, dilation_rate: ANY, activation: ANY, use_bias: bool, groups: ones });
    const first = (v: unknown, d: number) => Number(Array.isArray(v) ? v[0] : (v ?? d));
    if (first(c.dilation_rate, 1) !== 1) refuse(l, `dilation_rate ${JSON.stringify(c.dilation_rate)}: only 1 is supported`);
    const shape = ctx.shapeOf(`${l.config.name}/kernel`);
    expectShape(l, 'kernel', shape, [first(c.kernel_size, 1), Number(c.filters), null], sizes(c, 'filters'));
    const [kl, f, ch] = shape, s = first(c.strides, 1);
    const op = outputPaddingOf(l, c.output_padding === undefined || c.output_padding === null ? null : [0, first(c.output_padding, 0)], [1, s]);
    const same = c.padding === 'same';
    const k = ctx.derived('subpixel_kernel', [1, Math.ceil(kl / s), ch, s * f], { kind: 'subPixelKernel', kernel: `${l.config.name}/kernel`, shape: [1, kl, f, ch], strides: [1, s] });
    const b = c.use_bias === false ? -1 : ctx.take('bias', [1, 1, f]);
    return withActivation(l, ctx, (p) => (x) => {
      if (x.rank !== 3) refuse(l, `takes a rank-3 input [batch, steps, channels], got [${x.shape}]`);
      const y = subPixelConv(l, reshape(x, [x.shape[0], 1, x.shape[1], x.shape[2]]), p[k], [1, kl], [1, s], same, op);
      const z = reshape(y, [y.shape[0], y.shape[2], y.shape[3]]);
      return b < 0 ? z : add(z, p[b]);
    });
  },
  Conv1D: (l, ctx) => {
    const c = settings(l, { filters: ANY, kernel_size: positivePair, strides: positivePair, padding: (v) => padMode(v) || v === 'causal', data_format: channelsLast, dilation_rate: positivePair, groups: posInt, activation: ANY, use_bias: bool });
    const d = Number(Array.isArray(c.dilation_rate) ? c.dilation_rate[0] : (c.dilation_rate ?? 1));
    const s1 = Number(Array.isArray(c.strides) ? c.strides[0] : (c.strides ?? 1));
    if (d > 1 && s1 > 1) refuse(l, `dilation_rate ${d} with strides ${s1}: TensorFlow allows one of them above 1, not both`);
    const k1 = ctx.shapeOf(`${l.config.name}/kernel`);
    expectShape(l, 'kernel', k1, [Number(Array.isArray(c.kernel_size) ? c.kernel_size[0] : c.kernel_size), null, Number(c.filters)], sizes(c, 'filters'));
    const [kl, ch, f] = k1;
    const groups = groupsOf(l, c, f);
    // A Conv2D over a height-1 image: [n, L, C] -> [n, 1, L, C], the kernel [k, C, F] -> [1, k, C, F].
    const k = d === 1 ? ctx.take('kernel', [1, kl, ch, f]) : ctx.derived('dilated_kernel', [1, (kl - 1) * d + 1, ch, f], { kind: 'convKernel', kernel: `${l.config.name}/kernel`, shape: [1, kl, ch, f], dilation: [1, d] });
    return conv1dPlan(l, ctx, c, k, f, c.padding === 'causal' ? (kl - 1) * d : 0, groups);
  },
};
