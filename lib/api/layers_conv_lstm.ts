// ConvLSTM1D, ConvLSTM2D and ConvLSTM3D (Keras; tfjs has ConvLSTM2D): an LSTM whose products are
// convolutions (keras.io's "Next-frame video prediction with convolutional LSTMs", precipitation
// nowcasting). Over [batch, steps, ...space, channels], per step: z = conv(x_t, W) + b + conv(h, U), the gates
// i, f, o = recurrent_activation(z's blocks i, f, o), c = f c + i activation(z's block c), and
// h = o activation(c). W [...k, C, 4F] convolves with the layer's strides and padding (dilation 1);
// U [...k, F, 4F] with strides 1 and SAME padding, as Keras and tfjs do. The input's convolution is
// one private product for all steps (the steps stacked on the batch axis); each step then adds its
// recurrent convolution, one more product. 1-D runs over a height-1 image (as Conv1D); 3-D as
// Conv3D (ops_conv3d.ts). The state starts at zero (or the call's initial_state),
// so the first step has none. Exact protocols only: the gates are comparison-based piecewise functions.
import { add, concat, reshape, slice } from './ops';
import { conv2d, mul } from './ops_nonlinear';
import { conv3d } from './ops_conv3d';
import { type LayerConfig, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { stepActivation } from './layers_recurrent';
import { isMask } from './layers_mask';
import { ANY, bool, isNum, settings } from './layers_settings';
import type { AnyTensor, PrivateTensor } from './tensor';

const falseOnly = (v: unknown) => v === undefined || v === null || v === false;
const ones = (v: unknown) => v === undefined || v === null || v === 1 || (Array.isArray(v) && v.every((d) => d === 1));

/** A ConvLSTM layer's settings, checked: its space's rank, filters, kernel, strides, padding and the LSTM's own. */
export interface ConvLstmSettings {
  dims: 1 | 2 | 3;
  filters: number;
  /** Per axis of the space the convolutions run over: [1, k] for 1-D (a height-1 image), [kh, kw], [kd, kh, kw]. */
  kernel: number[];
  strides: number[];
  same: boolean;
  activation: string;
  recurrentActivation: string;
  useBias: boolean;
  returnSequences: boolean;
  returnState: boolean;
  goBackwards: boolean;
}

/** A setting per axis: a 1-D one as [1, v] (run over a height-1 image, as Conv1D), 2-D and 3-D ones as they are. */
function sizes(l: LayerConfig, name: string, v: unknown, dims: 1 | 2 | 3, d: number): number[] {
  const t = v === undefined || v === null ? Array(dims).fill(d) : Array.isArray(v) ? v : Array(dims).fill(v);
  if (t.length !== dims || !t.every((x) => Number.isSafeInteger(x) && (x as number) >= 1)) refuse(l, `${name} = ${JSON.stringify(v)} is not supported: ${dims === 1 ? 'one positive integer' : `one positive integer or ${dims === 2 ? 'two' : 'three'}`}`);
  return dims === 1 ? [1, t[0]] : (t as number[]);
}

export function convLstmSettings(l: LayerConfig, keras3: boolean): ConvLstmSettings {
  const dims = l.class_name === 'ConvLSTM1D' ? 1 : l.class_name === 'ConvLSTM3D' ? 3 : 2;
  const c = settings(l, {
    filters: (v) => Number.isSafeInteger(v) && (v as number) >= 1,
    kernel_size: ANY,
    strides: ANY,
    padding: (v) => v === undefined || v === 'same' || v === 'valid',
    data_format: (v) => v === undefined || v === null || v === 'channels_last',
    dilation_rate: ones,
    activation: ANY,
    recurrent_activation: ANY,
    use_bias: bool,
    unit_forget_bias: ANY, // initialisation only
    // Dropout is training-time noise; unroll and implementation (tfjs) change how, not what, is computed.
    dropout: (v) => v === undefined || v === null || isNum(v),
    recurrent_dropout: (v) => v === undefined || v === null || isNum(v),
    unroll: ANY,
    implementation: ANY,
    return_sequences: bool,
    return_state: bool,
    go_backwards: bool,
    stateful: falseOnly,
    zero_output_for_mask: ANY, // a mask reaching the layer is refused (layers_mask.ts)
  });
  return {
    dims,
    filters: Number(c.filters),
    kernel: sizes(l, 'kernel_size', c.kernel_size, dims, NaN),
    strides: sizes(l, 'strides', c.strides, dims, 1),
    same: c.padding === 'same',
    activation: String(c.activation ?? 'tanh'),
    // tfjs's default hard_sigmoid (it writes the setting), Keras 3's sigmoid.
    recurrentActivation: String(c.recurrent_activation ?? (keras3 ? 'sigmoid' : 'hard_sigmoid')),
    useBias: c.use_bias !== false,
    returnSequences: c.return_sequences === true,
    returnState: c.return_state === true,
    goBackwards: c.go_backwards === true,
  };
}

/** The spatial output of the input's convolution over `space` (s.kernel's axes): Keras's and TensorFlow's sizes. */
export function convLstmOut(s: ConvLstmSettings, space: readonly number[]): number[] {
  return space.map((n, a) => (s.same ? Math.ceil(n / s.strides[a]) : Math.floor((n - s.kernel[a]) / s.strides[a]) + 1));
}

/** The input's space as the convolutions see it: a 1-D input's length as [1, length]. */
export const convLstmSpace = (s: ConvLstmSettings, shape: readonly number[]): number[] => (s.dims === 1 ? [1, shape[2]] : shape.slice(2, -1));

/** Channels [from, from + n) of the last axis. */
const block = (x: AnyTensor, from: number, n: number): AnyTensor => slice(x, [...x.shape.slice(0, -1).map(() => 0), from], [...x.shape.slice(0, -1), n]);

export function convLstm(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const s = convLstmSettings(l, ctx.keras3 === true);
  const f = s.filters;
  const act = stepActivation(l, s.activation, ctx), gate = stepActivation(l, s.recurrentActivation, ctx);
  const kShape = ctx.shapeOf(`${l.config.name}/kernel`);
  const inCh = kShape[kShape.length - 2];
  const taps = s.dims === 1 ? [s.kernel[1]] : s.kernel;
  const want = [...taps, inCh, 4 * f];
  if (kShape.join() !== want.join()) refuse(l, `weight kernel has shape [${kShape}], expected [${want}] (kernel_size, channels, 4 x filters)`);
  const k = ctx.take('kernel', [...s.kernel, inCh, 4 * f]);
  const r = ctx.take('recurrent_kernel', [...s.kernel, f, 4 * f]);
  const b = s.useBias ? ctx.take('bias', [4 * f]) : -1;
  // The input's convolution (the layer's strides and padding) and the state's (strides 1, SAME).
  const conv = (x: AnyTensor, w: PrivateTensor, strides: number[], same: boolean) =>
    s.dims === 3 ? conv3d(x, w, { strides: strides as [number, number, number], padding: same ? 'SAME' : 'VALID' }) : conv2d(x, w, { strides: strides as [number, number], padding: same ? 'SAME' : 'VALID' });

  const run = (p: PrivateTensor[]) => (xs: AnyTensor[]): AnyTensor[] => {
    const [x, ...rest] = xs;
    if (rest.some((t) => isMask(t))) refuse(l, 'a padding mask reaching a ConvLSTM layer is not supported');
    const rank = s.dims + 3;
    if (x.rank !== rank) refuse(l, `input [${x.shape}] is not [batch, steps, ${['length', 'rows, cols', 'depth, rows, cols'][s.dims - 1]}, channels]`);
    const [n, steps] = x.shape, ch = x.shape[rank - 1];
    const space = convLstmSpace(s, x.shape);
    if (ch !== inCh) refuse(l, `input has ${ch} channels; the kernel takes ${inCh}`);
    if (steps < 1) refuse(l, 'input has no steps');
    const out = convLstmOut(s, space);
    if (!out.every((d) => d >= 1)) refuse(l, `input of ${space.join('x')} is smaller than its kernel (padding valid)`);
    // The steps on the batch axis: one convolution for them all, [n steps, ...out, 4F].
    let xw = conv(reshape(x, [n * steps, ...space, ch]), p[k], s.strides, s.same);
    if (b >= 0) xw = add(xw, p[b]);
    const zx = reshape(xw, [n, steps, ...out, 4 * f]);
    const zero = out.map(() => 0);
    const at = (t: number) => reshape(slice(zx, [0, t, ...zero, 0], [n, 1, ...out, 4 * f]), [n, ...out, 4 * f]);
    // The zero state (undefined), or the call's initial_state: h and c, [n, ...space out, F] each.
    const stateShape = s.dims === 1 ? [n, out[1], f] : [n, ...out, f];
    if (rest.length && rest.length !== 2) refuse(l, `takes an initial_state of 2 tensors (h and c), got ${rest.length}`);
    for (const t of rest) if (t.shape.join() !== stateShape.join()) refuse(l, `takes an initial state of [${stateShape}], got [${t.shape}]`);
    let [h, c] = rest.length ? rest.map((t) => reshape(t, [n, ...out, f])) : [undefined, undefined];
    const last = out.length + 1;
    const outputs: AnyTensor[] = [];
    for (let i = 0; i < steps; i++) {
      const t = s.goBackwards ? steps - 1 - i : i;
      const z = h ? add(at(t), conv(h, p[r], out.map(() => 1), true)) : at(t);
      // i, f and o in one call (slices and concat are local).
      const g = gate(concat([block(z, 0, 2 * f), block(z, 3 * f, f)], last));
      const ig = mul(block(g, 0, f), act(block(z, 2 * f, f)));
      c = c ? add(mul(block(g, f, f), c), ig) : ig;
      h = mul(block(g, 2 * f, f), act(c));
      if (s.returnSequences) outputs.push(reshape(h, [n, 1, ...stateShape.slice(1)]));
    }
    const y = s.returnSequences ? (outputs.length === 1 ? outputs[0] : concat(outputs, 1)) : reshape(h as AnyTensor, stateShape);
    return s.returnState ? [y, reshape(h as AnyTensor, stateShape), reshape(c as AnyTensor, stateShape)] : [y];
  };
  return { step: (p) => (xs) => run(p)(xs)[0], ...(s.returnState ? { multiStep: run } : {}), comparisons: true, exactOnly: true };
}
