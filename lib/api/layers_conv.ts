// The convolution layers: Conv2D (grouped, dilated), DepthwiseConv2D and SeparableConv2D (their
// kernels expanded by the owner into one ordinary Conv2D: conv_kernels.ts), Conv1D (a Conv2D over
// a height-1 image; causal padding as zeros before the first step) and Conv2DTranspose (a Conv2D
// of the input spread out by the strides, with the kernel turned half a turn).
import { add, concat, pad, reshape, slice } from './ops';
import { conv2d } from './ops_nonlinear';
import { type LayerConfig, refuse } from './layers_graph';
import { withActivation } from './layers_activations';
import { dilatedShape, phaseTaps, transposeAxis } from './conv_kernels';
import type { LayerContext, LayerPlan } from './layers_catalog';
import type { AnyTensor, PrivateTensor } from './tensor';
import { ANY, bool, type Check, channelsLast, ones, padding, padMode, pair, posInt, settings } from './layers_settings';

/** A convolution's `groups` (1 if absent); its filters must split evenly across the groups. */
function groupsOf(l: LayerConfig, c: Record<string, unknown>, filters: number): number {
  const g = Number(c.groups ?? 1);
  if (filters % g !== 0) refuse(l, `groups = ${g} does not divide its ${filters} filters`);
  return g;
}
const positivePair: Check = (v) => v === undefined || v === null || (Number.isInteger(v) && (v as number) >= 1) || (Array.isArray(v) && v.length <= 2 && v.every((d) => Number.isInteger(d) && d >= 1));

/** A 2-D layer's dilation; refuses dilation above 1 together with strides above 1 (TensorFlow does too). */
function dilationOf(l: LayerConfig, c: Record<string, unknown>): [number, number] {
  const d = pair(c.dilation_rate, 1), s = pair(c.strides, 1);
  if (Math.max(...d) > 1 && Math.max(...s) > 1) refuse(l, `dilation_rate [${d}] with strides [${s}]: TensorFlow allows one of them above 1, not both`);
  return d;
}

/** A Conv2D on kernel parameter `k` (taken or expanded by the owner), its bias and activation. */
function convPlan(l: LayerConfig, ctx: LayerContext, c: Record<string, unknown>, k: number, outChannels: number): LayerPlan {
  const b = c.use_bias === false ? -1 : ctx.take('bias', [1, 1, 1, outChannels]);
  const strides = pair(c.strides, 1);
  return withActivation(l, ctx, (p) => (x) => {
    const y = conv2d(x, p[k], { strides, padding: padding(c.padding) });
    return b < 0 ? y : add(y, p[b]);
  });
}

/** A Conv2DTranspose's output_padding: null, or a non-negative integer (or pair) below the strides. */
function outputPaddingOf(l: LayerConfig, v: unknown, strides: [number, number]): [number, number] | null {
  if (v === undefined || v === null) return null;
  const op = pair(v, 0);
  if (op.some((p, i) => !Number.isInteger(p) || p < 0 || p >= strides[i])) refuse(l, `output_padding ${JSON.stringify(v)} must be non-negative integers below the strides [${strides}]`);
  return op;
}

/**
 * The transposed convolution of x [n, h, w, c] with kernel k (already turned: conv_kernels.ts
 * transposedKernel): x spread out by the strides (input pixel i at i s, zeros between), the zeros
 * transposeAxis gives around it, then a VALID stride-1 Conv2D. All but the product is local.
 */
function transposedConv(l: LayerConfig, x: AnyTensor, k: PrivateTensor, size: [number, number], s: [number, number], same: boolean, op: [number, number] | null): AnyTensor {
  if (x.rank !== 4) refuse(l, `takes a rank-4 input [batch, height, width, channels], got [${x.shape}]`);
  const [n, h, w, c] = x.shape;
  const axis = (len: number, i: number) => {
    try {
      return transposeAxis(len, size[i], s[i], same, op ? op[i] : null);
    } catch (e) {
      return refuse(l, (e as Error).message);
    }
  };
  const gy = axis(h, 0), gx = axis(w, 1);
  let z = s[0] * s[1] === 1 ? x : reshape(pad(reshape(x, [n, h, 1, w, 1, c]), [[0, 0], [0, 0], [0, s[0] - 1], [0, 0], [0, s[1] - 1], [0, 0]]), [n, h * s[0], w * s[1], c]);
  if (gy.after < 0 || gx.after < 0) z = slice(z, [0, 0, 0, 0], [n, h * s[0] + Math.min(gy.after, 0), w * s[1] + Math.min(gx.after, 0), c]);
  z = pad(z, [[0, 0], [gy.before, Math.max(gy.after, 0)], [gx.before, Math.max(gx.after, 0)], [0, 0]]);
  return conv2d(z, k, { strides: [1, 1], padding: 'VALID' });
}

/** Every output phase (ph, pw) of strides [sh, sw], row by row. */
export const subPixelPhases = ([sh, sw]: [number, number]): [number, number][] => Array.from({ length: sh * sw }, (_, i) => [Math.floor(i / sw), i % sw]);

/**
 * A transposed convolution in its sub-pixel form (conv_kernels.ts phaseKernel): per axis, output
 * o with o + top = q s + p comes from phase p at q, and phase p is a VALID convolution of the
 * input window [q - M_p + 1, q] (zeros outside the input) with its M_p taps. Every phase is
 * computed for q in [Q0, Q1], the q of the outputs wanted; the phases are interleaved (local
 * reshapes and concatenations) and the outputs cropped. s^2 products of the input's size, not
 * one of s^2 times its size.
 */
function subPixelConv(l: LayerConfig, x: AnyTensor, phases: { phase: [number, number]; k: PrivateTensor }[], size: [number, number], s: [number, number], same: boolean, op: [number, number] | null): AnyTensor {
  if (x.rank !== 4) refuse(l, `takes a rank-4 input [batch, height, width, channels], got [${x.shape}]`);
  const [n, h, w, c] = x.shape;
  const axis = (len: number, i: number) => {
    try {
      const g = transposeAxis(len, size[i], s[i], same, op ? op[i] : null);
      const q0 = Math.floor(g.top / s[i]), q1 = Math.floor((g.top + g.out - 1) / s[i]);
      return { ...g, len, q0, count: q1 - q0 + 1 };
    } catch (e) {
      return refuse(l, (e as Error).message);
    }
  };
  const gy = axis(h, 0), gx = axis(w, 1);
  // The input rows (or columns) [q0 - m + 1, q1] that phase with m taps reads, zeros outside.
  const window = (g: typeof gy, m: number): { from: number; to: number; before: number; after: number } => {
    const start = g.q0 - m + 1, end = g.q0 + g.count - 1;
    return { from: Math.max(start, 0), to: Math.min(end, g.len - 1), before: Math.max(0, -start), after: Math.max(0, end - (g.len - 1)) };
  };
  const z = new Map<string, AnyTensor>();
  for (const { phase: [ph, pw], k } of phases) {
    const wy = window(gy, k.shape[0]), wx = window(gx, k.shape[1]);
    let xs = slice(x, [0, wy.from, wx.from, 0], [n, Math.max(0, wy.to - wy.from + 1), Math.max(0, wx.to - wx.from + 1), c]);
    if (wy.before + wy.after + wx.before + wx.after > 0) xs = pad(xs, [[0, 0], [wy.before, wy.after], [wx.before, wx.after], [0, 0]]);
    z.set(`${ph},${pw}`, conv2d(xs, k, { strides: [1, 1], padding: 'VALID' })); // [n, count_y, count_x, f]
  }
  const f = phases[0].k.shape[3];
  // [n, qy, ph, qx, pw, f] -> [n, qy s_h + ph, qx s_w + pw, f]: o + top - q0 s in that order.
  const rows = Array.from({ length: s[0] }, (_, ph) =>
    reshape(concat(Array.from({ length: s[1] }, (_, pw) => reshape(z.get(`${ph},${pw}`)!, [n, gy.count, gx.count, 1, f])), 3), [n, gy.count, 1, gx.count, s[1], f]),
  );
  const all = reshape(concat(rows, 2), [n, gy.count * s[0], gx.count * s[1], f]);
  return slice(all, [0, gy.top - gy.q0 * s[0], gx.top - gx.q0 * s[1], 0], [n, gy.out, gx.out, f]);
}

export const CONV_BUILDERS: Record<string, (l: LayerConfig, ctx: LayerContext) => LayerPlan> = {
  Conv2D: (l, ctx) => {
    const c = settings(l, { filters: ANY, kernel_size: ANY, strides: ANY, padding: padMode, data_format: channelsLast, dilation_rate: positivePair, groups: posInt, activation: ANY, use_bias: bool });
    const dilation = dilationOf(l, c);
    const shape = ctx.shapeOf(`${l.config.name}/kernel`);
    const groups = groupsOf(l, c, shape[3]);
    // Grouped: the owner expands the kernel to all input channels, zeros across groups (conv_kernels.ts).
    const k =
      groups > 1
        ? ctx.derived('full_kernel', dilatedShape([shape[0], shape[1], shape[2] * groups, shape[3]], dilation), { kind: 'convKernel', kernel: `${l.config.name}/kernel`, shape, depthwise: false, dilation, groups })
        : dilation[0] * dilation[1] === 1
          ? ctx.take('kernel')
          : ctx.derived('dilated_kernel', dilatedShape(shape, dilation), { kind: 'convKernel', kernel: `${l.config.name}/kernel`, shape, depthwise: false, dilation });
    return convPlan(l, ctx, c, k, Number(c.filters));
  },
  DepthwiseConv2D: (l, ctx) => {
    // groups: tf-keras (Keras 2) writes 1 from its base convolution.
    const c = settings(l, { kernel_size: ANY, strides: ANY, padding: padMode, data_format: channelsLast, dilation_rate: positivePair, depth_multiplier: posInt, activation: ANY, use_bias: bool, groups: ones });
    const dilation = dilationOf(l, c);
    const shape = ctx.shapeOf(`${l.config.name}/depthwise_kernel`);
    const [kh, kw, ch, m] = shape;
    const k = ctx.derived('full_kernel', dilatedShape([kh, kw, ch, ch * m], dilation), { kind: 'convKernel', kernel: `${l.config.name}/depthwise_kernel`, shape, depthwise: true, dilation });
    return convPlan(l, ctx, c, k, ch * m);
  },
  SeparableConv2D: (l, ctx) => {
    const c = settings(l, { filters: ANY, kernel_size: ANY, strides: ANY, padding: padMode, data_format: channelsLast, dilation_rate: positivePair, depth_multiplier: posInt, activation: ANY, use_bias: bool, groups: ones });
    const dilation = dilationOf(l, c);
    const n = l.config.name, shape = ctx.shapeOf(`${n}/depthwise_kernel`), pw = ctx.shapeOf(`${n}/pointwise_kernel`);
    const [kh, kw, ch, m] = shape, f = Number(c.filters);
    if (pw.join() !== [1, 1, ch * m, f].join()) refuse(l, `pointwise_kernel has shape [${pw}], expected [1,1,${ch * m},${f}]`);
    const k = ctx.derived('full_kernel', dilatedShape([kh, kw, ch, f], dilation), { kind: 'separableKernel', depthwise: `${n}/depthwise_kernel`, pointwise: `${n}/pointwise_kernel`, shape, filters: f, dilation });
    return convPlan(l, ctx, c, k, f);
  },
  Conv2DTranspose: (l, ctx) => {
    const c = settings(l, { filters: ANY, kernel_size: ANY, strides: positivePair, padding: padMode, output_padding: ANY, data_format: channelsLast, dilation_rate: ANY, activation: ANY, use_bias: bool });
    // TensorFlow.js ignores a transposed convolution's dilation and Keras applies it: what such a
    // model computes depends on where it runs, so it is refused rather than guessed.
    if (pair(c.dilation_rate, 1).some((d) => d !== 1)) refuse(l, `dilation_rate ${JSON.stringify(c.dilation_rate)}: TensorFlow.js ignores it and Keras applies it, so the model's own output is ambiguous; only 1 is supported`);
    const shape = ctx.shapeOf(`${l.config.name}/kernel`);
    const [kh, kw, f, ch] = shape;
    if (f !== Number(c.filters)) refuse(l, `kernel has shape [${shape}] but filters = ${c.filters}`);
    const strides = pair(c.strides, 1), op = outputPaddingOf(l, c.output_padding, strides);
    const kernel = `${l.config.name}/kernel`, same = c.padding === 'same';
    const b = c.use_bias === false ? -1 : ctx.take('bias', [1, 1, 1, f]);
    // The sub-pixel form where every output phase has taps (kernel at least the stride); else the
    // input spread out by the strides.
    if (kh >= strides[0] && kw >= strides[1]) {
      const phases = subPixelPhases(strides).map((phase) => ({
        phase,
        k: ctx.derived(`transposed_kernel_${phase.join('_')}`, [phaseTaps(kh, strides[0], phase[0]), phaseTaps(kw, strides[1], phase[1]), ch, f], { kind: 'phaseKernel', kernel, shape, strides, phase }),
      }));
      return withActivation(l, ctx, (p) => (x) => {
        const y = subPixelConv(l, x, phases.map((q) => ({ phase: q.phase, k: p[q.k] })), [kh, kw], strides, same, op);
        return b < 0 ? y : add(y, p[b]);
      });
    }
    const k = ctx.derived('transposed_kernel', [kh, kw, ch, f], { kind: 'convKernel', kernel, shape, depthwise: false, dilation: [1, 1], transposed: true });
    return withActivation(l, ctx, (p) => (x) => {
      const y = transposedConv(l, x, p[k], [kh, kw], strides, same, op);
      return b < 0 ? y : add(y, p[b]);
    });
  },
  Conv1D: (l, ctx) => {
    const c = settings(l, { filters: ANY, kernel_size: ANY, strides: ANY, padding: (v) => padMode(v) || v === 'causal', data_format: channelsLast, dilation_rate: positivePair, groups: posInt, activation: ANY, use_bias: bool });
    const d = Number(Array.isArray(c.dilation_rate) ? c.dilation_rate[0] : (c.dilation_rate ?? 1));
    const s1 = Number(Array.isArray(c.strides) ? c.strides[0] : (c.strides ?? 1));
    if (d > 1 && s1 > 1) refuse(l, `dilation_rate ${d} with strides ${s1}: TensorFlow allows one of them above 1, not both`);
    const [kl, ch, f] = ctx.shapeOf(`${l.config.name}/kernel`);
    const groups = groupsOf(l, c, f);
    // A Conv2D over a height-1 image: [n, L, C] -> [n, 1, L, C], the kernel [k, C, F] -> [1, k, C, F].
    const k =
      groups > 1
        ? ctx.derived('full_kernel', [1, (kl - 1) * d + 1, ch * groups, f], { kind: 'convKernel', kernel: `${l.config.name}/kernel`, shape: [1, kl, ch, f], depthwise: false, dilation: [1, d], groups })
        : d === 1
          ? ctx.take('kernel', [1, kl, ch, f])
          : ctx.derived('dilated_kernel', [1, (kl - 1) * d + 1, ch, f], { kind: 'convKernel', kernel: `${l.config.name}/kernel`, shape: [1, kl, ch, f], depthwise: false, dilation: [1, d] });
    const b = c.use_bias === false ? -1 : ctx.take('bias', [1, 1, f]);
    // Causal: (kl - 1) d zeros before the first step, then VALID (Keras's definition), so that
    // output t reads steps t - (kl - 1) d .. t only.
    const causal = c.padding === 'causal';
    return withActivation(l, ctx, (p) => (x) => {
      if (x.rank !== 3) refuse(l, `takes a rank-3 input [batch, steps, channels], got [${x.shape}]`);
      const xp = causal ? pad(x, [[0, 0], [(kl - 1) * d, 0], [0, 0]]) : x;
      const y = conv2d(reshape(xp, [xp.shape[0], 1, xp.shape[1], xp.shape[2]]), p[k], { strides: [1, s1], padding: causal ? 'VALID' : padding(c.padding) });
      const z = reshape(y, [y.shape[0], y.shape[2], y.shape[3]]);
      return b < 0 ? z : add(z, p[b]);
    });
  },
};
