// ConvLSTM1D and ConvLSTM2D (Keras; tfjs has ConvLSTM2D): an LSTM whose products are convolutions
// (keras.io's "Next-frame video prediction with convolutional LSTMs", precipitation nowcasting).
// Over [batch, steps, ...space, channels], per step: z = conv(x_t, W) + b + conv(h, U), the gates
// i, f, o = recurrent_activation(z's blocks i, f, o), c = f c + i activation(z's block c), and
// h = o activation(c). W [...k, C, 4F] convolves with the layer's strides and padding (dilation 1);
// U [...k, F, 4F] with strides 1 and SAME padding, as Keras and tfjs do. The input's convolution is
// one private product for all steps (the steps stacked on the batch axis); each step then adds its
// recurrent convolution, one more product. The state starts at zero (or the call's initial_state),
// so the first step has none. Exact protocols only: the gates are comparison-based piecewise functions.
import { add, concat, reshape, slice } from './ops';
import { conv2d, mul } from './ops_nonlinear';
import { type LayerConfig, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { activation } from './layers_activations';
import { isMask } from './layers_mask';
import { ANY, bool, isNum, settings } from './layers_settings';
import type { AnyTensor, PrivateTensor } from './tensor';

const falseOnly = (v: unknown) => v === undefined || v === null || v === false;
const ones = (v: unknown) => v === undefined || v === null || v === 1 || (Array.isArray(v) && v.every((d) => d === 1));

/** A ConvLSTM layer's settings, checked: its space's rank (1 or 2), filters, kernel, strides, padding and the LSTM's own. */
export interface ConvLstmSettings {
  dims: 1 | 2;
  filters: number;
  kernel: [number, number];
  strides: [number, number];
  same: boolean;
  activation: string;
  recurrentActivation: string;
  useBias: boolean;
  returnSequences: boolean;
  returnState: boolean;
  goBackwards: boolean;
}

/** A 1-D setting as [1, v] (run over a height-1 image, as Conv1D), a 2-D one as itself. */
function sizes(l: LayerConfig, name: string, v: unknown, dims: 1 | 2, d: number): [number, number] {
  const t = v === undefined || v === null ? Array(dims).fill(d) : Array.isArray(v) ? v : Array(dims).fill(v);
  if (t.length !== dims || !t.every((x) => Number.isSafeInteger(x) && (x as number) >= 1)) refuse(l, `${name} = ${JSON.stringify(v)} is not supported: ${dims === 1 ? 'one positive integer' : 'one positive integer or two'}`);
  return (dims === 1 ? [1, t[0]] : t) as [number, number];
}

export function convLstmSettings(l: LayerConfig, keras3: boolean): ConvLstmSettings {
  const dims = l.class_name === 'ConvLSTM1D' ? 1 : 2;
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

/** The spatial output of the input's convolution: Keras's and TensorFlow's sizes. */
export function convLstmOut(s: ConvLstmSettings, h: number, w: number): [number, number] {
  const out = (n: number, k: number, st: number) => (s.same ? Math.ceil(n / st) : Math.floor((n - k) / st) + 1);
  return [out(h, s.kernel[0], s.strides[0]), out(w, s.kernel[1], s.strides[1])];
}

/** Channels [from, from + n) of the last axis. */
const block = (x: AnyTensor, from: number, n: number): AnyTensor => slice(x, [...x.shape.slice(0, -1).map(() => 0), from], [...x.shape.slice(0, -1), n]);

export function convLstm(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const s = convLstmSettings(l, ctx.keras3 === true);
  const f = s.filters, [kh, kw] = s.kernel;
  const fn = (name: string) => {
    if (name === 'softmax') refuse(l, "activation 'softmax' inside a recurrent cell is not supported");
    return activation(l, name, { isOutput: false, keras3: ctx.keras3 }).f ?? ((x: AnyTensor) => x);
  };
  const act = fn(s.activation), gate = fn(s.recurrentActivation);
  const kShape = ctx.shapeOf(`${l.config.name}/kernel`);
  const inCh = kShape[kShape.length - 2];
  const want = [...(s.dims === 1 ? [kw] : [kh, kw]), inCh, 4 * f];
  if (kShape.join() !== want.join()) refuse(l, `weight kernel has shape [${kShape}], expected [${want}] (kernel_size, channels, 4 x filters)`);
  const k = ctx.take('kernel', [kh, kw, inCh, 4 * f]);
  const r = ctx.take('recurrent_kernel', [kh, kw, f, 4 * f]);
  const b = s.useBias ? ctx.take('bias', [4 * f]) : -1;

  const run = (p: PrivateTensor[]) => (xs: AnyTensor[]): AnyTensor[] => {
    const [x, ...rest] = xs;
    if (rest.some((t) => isMask(t))) refuse(l, 'a padding mask reaching a ConvLSTM layer is not supported');
    const rank = s.dims + 3;
    if (x.rank !== rank) refuse(l, `input [${x.shape}] is not [batch, steps, ${s.dims === 1 ? 'length' : 'rows, cols'}, channels]`);
    const [n, steps] = x.shape, ch = x.shape[rank - 1];
    const [hIn, wIn] = s.dims === 1 ? [1, x.shape[2]] : [x.shape[2], x.shape[3]];
    if (ch !== inCh) refuse(l, `input has ${ch} channels; the kernel takes ${inCh}`);
    if (steps < 1) refuse(l, 'input has no steps');
    const [ho, wo] = convLstmOut(s, hIn, wIn);
    if (!(ho >= 1 && wo >= 1)) refuse(l, `input of ${s.dims === 1 ? wIn : `${hIn}x${wIn}`} is smaller than its kernel (padding valid)`);
    // The steps on the batch axis: one convolution for them all, [n steps, ho, wo, 4F].
    const xs2 = reshape(x, [n * steps, hIn, wIn, ch]);
    let xw = conv2d(xs2, p[k], { strides: s.strides, padding: s.same ? 'SAME' : 'VALID' });
    if (b >= 0) xw = add(xw, p[b]);
    const zx = reshape(xw, [n, steps, ho, wo, 4 * f]);
    const at = (t: number) => reshape(slice(zx, [0, t, 0, 0, 0], [n, 1, ho, wo, 4 * f]), [n, ho, wo, 4 * f]);
    // The zero state (undefined), or the call's initial_state: h and c, [n, ...space out, F] each.
    const stateShape = s.dims === 1 ? [n, wo, f] : [n, ho, wo, f];
    if (rest.length && rest.length !== 2) refuse(l, `takes an initial_state of 2 tensors (h and c), got ${rest.length}`);
    for (const t of rest) if (t.shape.join() !== stateShape.join()) refuse(l, `takes an initial state of [${stateShape}], got [${t.shape}]`);
    let [h, c] = rest.length ? rest.map((t) => reshape(t, [n, ho, wo, f])) : [undefined, undefined];
    const outputs: AnyTensor[] = [];
    for (let i = 0; i < steps; i++) {
      const t = s.goBackwards ? steps - 1 - i : i;
      const z = h ? add(at(t), conv2d(h, p[r], { strides: [1, 1], padding: 'SAME' })) : at(t);
      // i, f and o in one call (slices and concat are local).
      const g = gate(concat([block(z, 0, 2 * f), block(z, 3 * f, f)], 3));
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
