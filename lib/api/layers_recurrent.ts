// The recurrent layers: SimpleRNN, LSTM and GRU, run step by step over the sequence under the exact
// protocols (their gates are sigmoids, hard sigmoids and tanhs, which Pond only approximates on
// [-4, 4]). The input's projection x W + b is one private product for all steps; each step then
// adds h U (a private product with the previous state), applies the gates' activations and
// multiplies them with the state. The state starts at zero, as in Keras and tfjs, so the first
// step has no recurrent product. Weights and gate order are Keras's: kernel [d, G u],
// recurrent_kernel [u, G u], bias [G u] (GRU with reset_after: [2, 3 u], the input's and the
// recurrent bias), gates i, f, c, o (LSTM) and z, r, h (GRU).
import { add, concat, neg, reshape, slice, sub } from './ops';
import { matmul, mul } from './ops_nonlinear';
import { type LayerConfig, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { dense } from './layers_dense';
import { activation } from './layers_activations';
import { tanhFromSigmoid } from './ops_smooth';
import { ANY, bool, isNum, settings } from './layers_settings';
import { isMask } from './layers_mask';
import type { AnyTensor, PrivateTensor } from './tensor';

export type RecurrentKind = 'SimpleRNN' | 'LSTM' | 'GRU';

/** Gates per kind: the columns of the kernels are G blocks of `units`. */
export const GATES: Record<RecurrentKind, number> = { SimpleRNN: 1, LSTM: 4, GRU: 3 };

const falseOnly = (v: unknown) => v === undefined || v === null || v === false;

/** The settings every recurrent layer shares, checked; and what they mean for the run. */
export interface RecurrentSettings {
  units: number;
  activation: string;
  /** LSTM and GRU: the gates' activation (tfjs and Keras 2 before TF 2: hard_sigmoid). */
  recurrentActivation: string;
  useBias: boolean;
  returnSequences: boolean;
  goBackwards: boolean;
  /** Returns its states after its output (h; LSTM h and c): the call's outputs 1 and 2 (layers_graph.ts outputCount). */
  returnState: boolean;
  /** GRU only: Keras's reset_after (the reset gate applied after the recurrent product). */
  resetAfter: boolean;
  /** With a padding mask and every step returned, a padded step's output is zeros, not the state kept (Keras's zero_output_for_mask). */
  zeroOutputForMask: boolean;
}

/**
 * Checks a recurrent layer's settings (refusing stateful and time_major, which
 * change what the layer computes or returns; a padding mask is layers_mask.ts's) and gives their values with the defaults of whoever
 * saved the model: recurrent_activation is written by every saver, but where absent it is tfjs's
 * hard_sigmoid, or Keras 3's sigmoid.
 */
export function recurrentSettings(kind: RecurrentKind, l: LayerConfig, keras3: boolean): RecurrentSettings {
  const c = settings(l, {
    units: (v) => Number.isInteger(v) && (v as number) >= 1,
    activation: ANY,
    ...(kind === 'SimpleRNN' ? {} : { recurrent_activation: ANY }),
    use_bias: bool,
    // Dropout is training-time noise; unroll and implementation change how, not what, is computed.
    dropout: (v) => v === undefined || v === null || isNum(v),
    recurrent_dropout: (v) => v === undefined || v === null || isNum(v),
    unroll: ANY,
    implementation: ANY,
    return_sequences: bool,
    go_backwards: bool,
    return_state: bool,
    stateful: falseOnly,
    time_major: falseOnly,
    zero_output_for_mask: ANY, // Keras 2 writes it; read by layers_mask.ts where a mask reaches the layer
    use_cudnn: ANY, // Keras 3: which kernel runs the same math
    ...(kind === 'LSTM' ? { unit_forget_bias: ANY } : {}), // initialisation only
    ...(kind === 'GRU' ? { reset_after: bool } : {}),
  });
  // Keras (2.x and 3: true by default) and tfjs (false, all it has) write it; old tfjs versions
  // wrote nothing and computed false. Which one a config without it means is a guess: refused.
  if (kind === 'GRU' && typeof c.reset_after !== 'boolean') refuse(l, 'reset_after is not saved: Keras defaults it to true and old TensorFlow.js versions (which did not save it) computed false; save the model again (or set reset_after in its config)');
  return {
    units: Number(c.units),
    activation: String(c.activation ?? 'tanh'),
    recurrentActivation: String(c.recurrent_activation ?? (keras3 ? 'sigmoid' : 'hard_sigmoid')),
    useBias: c.use_bias !== false,
    returnSequences: c.return_sequences === true,
    goBackwards: c.go_backwards === true,
    returnState: c.return_state === true,
    resetAfter: kind === 'GRU' && c.reset_after === true,
    zeroOutputForMask: c.zero_output_for_mask === true,
  };
}

/** A layer's activation as a private function (identity for linear); refused by name like any other. */
export function stepActivation(l: LayerConfig, name: string, ctx: LayerContext): (x: AnyTensor) => AnyTensor {
  // isOutput false: a sigmoid inside the cell is never the client's final activation.
  if (name === 'softmax') refuse(l, "activation 'softmax' inside a recurrent cell is not supported");
  const a = activation(l, name, { isOutput: false, keras3: ctx.keras3 });
  return a.f ?? ((x) => x);
}

/** Columns [from, from + n) of the last axis. */
const cols = (x: AnyTensor, from: number, n: number): AnyTensor => slice(x, [...x.shape.slice(0, -1).map(() => 0), from], [...x.shape.slice(0, -1), n]);

/**
 * SimpleRNN, LSTM or GRU over an input [batch, steps, features]: [batch, units], or [batch, steps,
 * units] with return_sequences (in the order the steps ran: reversed with go_backwards, as Keras).
 * Exact protocols only: each step's gates are comparisons-based piecewise functions.
 */
export function recurrentLayer(kind: RecurrentKind, l: LayerConfig, ctx: LayerContext, wiring: Wiring = { prefix: '', reverseOutputs: false }): LayerPlan {
  const s = recurrentSettings(kind, l, ctx.keras3 === true);
  const u = s.units, G = GATES[kind];
  const act = stepActivation(l, s.activation, ctx);
  const gate = stepActivation(l, s.recurrentActivation, ctx);
  const { prefix } = wiring;
  const sigmoidTanh = kind === 'LSTM' && s.recurrentActivation === 'sigmoid' && s.activation === 'tanh';
  const [inDim, kCols] = ctx.shapeOf(`${wiring.layer ?? l.config.name}/${prefix}kernel`);
  if (kCols !== G * u) refuse(l, `kernel has ${kCols} columns; ${kind} with ${u} units needs ${G * u}`);
  const k = ctx.take(`${prefix}kernel`, [inDim, G * u]);
  const r = ctx.take(`${prefix}recurrent_kernel`, [u, G * u]);
  // GRU with reset_after: row 0 the input's bias, row 1 the recurrent one (added to h U before the reset gate).
  const b = !s.useBias ? -1 : ctx.take(`${prefix}bias`, s.resetAfter ? [2, G * u] : [1, G * u]);

  // Its output, then (return_state) its states: h, and for an LSTM c.
  const run = (p: PrivateTensor[]) => (xs: AnyTensor[]): AnyTensor[] => {
    const { x, mask, initial } = recurrentInputs(l, kind, xs, u);
    if (x.rank !== 3) refuse(l, `input ${JSON.stringify(x.shape)} is not [batch, steps, features]`);
    const [n, steps, d] = x.shape;
    // Embedding(mask_zero)'s mask [n, steps, 1] (layers_mask.ts): a masked step carries the state.
    const maskAt = (t: number) => reshape(slice(mask!, [0, t, 0], [n, 1, 1]), [n, 1]);
    if (d !== inDim) refuse(l, `input has ${d} features; the kernel takes ${inDim}`);
    if (steps < 1) refuse(l, 'input has no steps');
    // Biases as [1, G u] rows, broadcast over the batch.
    const inBias = b < 0 ? undefined : s.resetAfter ? slice(p[b], [0, 0], [1, G * u]) : p[b];
    const recBias = b >= 0 && s.resetAfter ? slice(p[b], [1, 0], [1, G * u]) : undefined;
    // x W + b for every step at once: [n, steps, G u].
    const xw = dense(x, p[k], inBias ?? null);
    const at = (t: number) => reshape(slice(xw, [0, t, 0], [n, 1, G * u]), [n, G * u]);
    // The zero state (undefined: the first step has no recurrent product), or the call's initial_state.
    let [h, c] = initial ?? [undefined, undefined];
    const outputs: AnyTensor[] = [];
    for (let i = 0; i < steps; i++) {
      const t = s.goBackwards ? steps - 1 - i : i;
      const xt = at(t);
      const [h0, c0] = [h, c];
      if (kind === 'SimpleRNN') h = act(h ? add(xt, matmul(h, p[r])) : xt);
      else if (kind === 'LSTM') {
        const z = h ? add(xt, matmul(h, p[r])) : xt;
        // i, f and o in one call: [i f o] from z's [i f c o] (slices and concat are local). With
        // Keras's sigmoid gates and tanh cell, the cell's tanh joins that call: tanh(v) =
        // 2 sigmoid(2v) - 1, which is how the exact tanh is computed anyway (ops_smooth.ts).
        const zc = cols(z, 2 * u, u);
        // (Internal ops: the comparisons take 2v, past what a narrowed fssBits vouches for.)
        const joint = sigmoidTanh && z.cluster.internalOps(() => gate(concat([cols(z, 0, 2 * u), cols(z, 3 * u, u), add(zc, zc)], 1)));
        const g = joint || gate(concat([cols(z, 0, 2 * u), cols(z, 3 * u, u)], 1));
        const gc = joint ? tanhFromSigmoid(cols(joint, 3 * u, u)) : act(zc);
        const ig = mul(cols(g, 0, u), gc);
        c = c ? add(mul(cols(g, u, u), c), ig) : ig;
        h = mul(cols(g, 2 * u, u), act(c));
      } else h = gruStep(xt, h, p[r], recBias, { u, act, gate, resetAfter: s.resetAfter });
      if (mask) {
        // h0 + m (h - h0), c likewise, in one product (h0, c0 undefined: the zero state).
        const fresh = kind === 'LSTM' ? concat([h as AnyTensor, c as AnyTensor], 1) : (h as AnyTensor);
        const old = h0 && (kind === 'LSTM' ? concat([h0, c0 as AnyTensor], 1) : h0);
        const kept = old ? add(old, mul(maskAt(t), sub(fresh, old))) : mul(maskAt(t), fresh);
        h = kind === 'LSTM' ? cols(kept, 0, u) : kept;
        if (kind === 'LSTM') c = cols(kept, u, u);
      }
      if (s.returnSequences) outputs.push(reshape(h as AnyTensor, [n, 1, u]));
    }
    // Keras's order is the steps' (reversed with go_backwards); Bidirectional reverses its
    // backward half's, to line them up with the forward half's.
    if (wiring.reverseOutputs) outputs.reverse();
    let y = s.returnSequences ? (outputs.length === 1 ? outputs[0] : concat(outputs, 1)) : (h as AnyTensor);
    // zero_output_for_mask: the padded steps' outputs times their mask, in the outputs' order
    // (the steps' reversed where they ran backwards and were not put back): one product.
    if (mask && s.zeroOutputForMask && s.returnSequences) y = mul(y, s.goBackwards !== wiring.reverseOutputs ? concat(Array.from({ length: steps }, (_, i) => slice(mask, [0, steps - 1 - i, 0], [n, 1, 1])), 1) : mask);
    return s.returnState ? [y, h as AnyTensor, ...(kind === 'LSTM' ? [c as AnyTensor] : [])] : [y];
  };
  return { step: (p) => (xs) => run(p)(xs)[0], ...(s.returnState ? { multiStep: run } : {}), comparisons: true, exactOnly: true };
}

/**
 * A recurrent call's inputs as the runners pass them: the sequence [batch, steps, features], then
 * its initial_state ([batch, units] each: h, and for an LSTM c), then a padding mask [batch,
 * steps, 1] where one reaches it (layers_mask.ts: marked by asMask).
 */
export function recurrentInputs<T extends { shape: readonly number[] } & object>(l: LayerConfig, kind: RecurrentKind, xs: T[], units: number): { x: T; mask?: T; initial?: T[] } {
  const [x, ...rest] = xs;
  const mask = rest.length > 0 && isMask(rest[rest.length - 1]) ? rest.pop() : undefined;
  if (rest.length === 0) return { x, mask };
  const want = kind === 'LSTM' ? 2 : 1;
  if (rest.length !== want) refuse(l, `takes an initial_state of ${want} tensor${want > 1 ? 's' : ''} (${kind === 'LSTM' ? 'h and c' : 'h'}), got ${rest.length}`);
  const n = x.shape[0];
  for (const t of rest) if (t.shape.length !== 2 || t.shape[0] !== n || t.shape[1] !== units) refuse(l, `takes an initial state of [${n}, ${units}] (batch, units), got [${t.shape}]`);
  return { x, mask, initial: rest };
}

/**
 * Where a recurrent layer's weights are and how it orders its outputs: `prefix` inside `layer`'s
 * weights (a Bidirectional's forward_lstm/), and `reverseOutputs`, the steps' outputs in reverse
 * order (a Bidirectional's backward half, as Keras reverses it).
 */
export interface Wiring {
  prefix: string;
  reverseOutputs: boolean;
  /** The layer whose weights these are, when not the config's own name (Bidirectional). */
  layer?: string;
}

const isRecurrent = (c: unknown): c is RecurrentKind => c === 'SimpleRNN' || c === 'LSTM' || c === 'GRU';

/** A Bidirectional's two halves and merge, as both the private and the plain model run them. */
export interface BidirectionalParts {
  kind: RecurrentKind;
  /** Each half's config (the backward one with go_backwards flipped) and where its weights are. */
  halves: { cfg: LayerConfig; wiring: Wiring }[];
  mode: 'concat' | 'sum' | 'mul' | 'ave';
}

/**
 * Bidirectional(layer): the layer over the sequence and a copy of it over the reversed sequence
 * (go_backwards flipped), each with its own weights (forward_<name>/..., backward_<name>/...), the
 * backward outputs put back in time order, then merged: concat (Keras's default) on the last
 * axis, sum, mul or ave. merge_mode null (two outputs) is refused, and so is a backward_layer
 * (Keras 3 writes it out) other than the layer run backwards.
 */
export function bidirectionalParts(l: LayerConfig): BidirectionalParts {
  const c = settings(l, { layer: ANY, merge_mode: (v) => v === undefined || ['concat', 'sum', 'mul', 'ave'].includes(v as string), backward_layer: ANY });
  const inner = c.layer as LayerConfig | undefined;
  if (!inner || typeof inner !== 'object' || !isRecurrent(inner.class_name) || !inner.config || typeof inner.config.name !== 'string')
    refuse(l, `wraps ${JSON.stringify(inner?.class_name ?? inner)}; only SimpleRNN, LSTM and GRU are supported inside Bidirectional`);
  if (inner.config.return_state === true) refuse(l, "wraps a layer with return_state: a Bidirectional's states (four or two tensors after its output) are not supported");
  const kind = inner.class_name as RecurrentKind, innerName = inner.config.name as string;
  // Keras 3's backward layer is named backward_<name>, and its weights are under that name;
  // tfjs's and Keras 2's under backward_<name> too, derived from the layer's.
  const back = c.backward_layer as LayerConfig | null | undefined;
  if (back !== undefined && back !== null) {
    // Key order is the saver's: compared with sorted keys.
    const canon = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v;
    const same = (a: Record<string, unknown>) => JSON.stringify(canon({ ...a, name: '', go_backwards: a.go_backwards === true }));
    if (back.class_name !== kind || !back.config || same(back.config) !== same({ ...inner.config, go_backwards: inner.config.go_backwards !== true }))
      refuse(l, 'a backward_layer other than the layer itself run backwards is not supported');
  }
  const dirName = (dir: 'forward' | 'backward') => (dir === 'backward' && back ? String(back.config.name) : innerName.startsWith(`${dir}_`) ? innerName : `${dir}_${innerName}`);
  const halves = (['forward', 'backward'] as const).map((dir) => {
    const cfg: LayerConfig = { class_name: kind, config: { ...inner.config, name: `${l.config.name}/${dirName(dir)}` } };
    if (dir === 'backward') cfg.config.go_backwards = inner.config.go_backwards !== true;
    return { cfg, wiring: { prefix: `${dirName(dir)}/`, reverseOutputs: dir === 'backward', layer: l.config.name } };
  });
  return { kind, halves, mode: (c.merge_mode ?? 'concat') as BidirectionalParts['mode'] };
}

function bidirectional(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const { kind, halves, mode } = bidirectionalParts(l);
  const [f, b] = halves.map((h) => recurrentLayer(kind, h.cfg, ctx, h.wiring));
  const step = (p: PrivateTensor[]) => (xs: AnyTensor[]): AnyTensor => {
    const y = f.step(p)(xs), z = b.step(p)(xs);
    if (mode === 'concat') return concat([y, z], y.rank - 1);
    if (mode === 'sum') return add(y, z);
    if (mode === 'mul') return mul(y, z);
    return mul(add(y, z), 0.5);
  };
  return { step, comparisons: true, exactOnly: true };
}

/** The builders layers_catalog.ts registers. */
export const RECURRENT_BUILDERS = {
  SimpleRNN: (l: LayerConfig, ctx: LayerContext) => recurrentLayer('SimpleRNN', l, ctx),
  LSTM: (l: LayerConfig, ctx: LayerContext) => recurrentLayer('LSTM', l, ctx),
  GRU: (l: LayerConfig, ctx: LayerContext) => recurrentLayer('GRU', l, ctx),
  Bidirectional: bidirectional,
};

/**
 * One GRU step (h undefined: the zero state). z and r from x and h U's first 2u columns; then
 * hh = act(x_h + (r h) U_h) (reset_after false, tfjs) or act(x_h + r (h U_h + b_h)) (true, Keras's
 * default); h' = z h + (1 - z) hh.
 */
function gruStep(
  xt: AnyTensor,
  h: AnyTensor | undefined,
  U: PrivateTensor,
  recBias: AnyTensor | undefined,
  o: { u: number; act: (x: AnyTensor) => AnyTensor; gate: (x: AnyTensor) => AnyTensor; resetAfter: boolean },
): AnyTensor {
  const { u } = o;
  let zr: AnyTensor, xh = cols(xt, 2 * u, u);
  let candidate: AnyTensor;
  if (o.resetAfter) {
    // h U + b_rec over all 3u columns (with h = 0: b_rec alone).
    const inner = h ? (recBias ? add(matmul(h, U), recBias) : matmul(h, U)) : recBias;
    zr = inner ? add(cols(xt, 0, 2 * u), cols(inner, 0, 2 * u)) : cols(xt, 0, 2 * u);
    const g = o.gate(zr);
    candidate = inner ? add(xh, mul(cols(g, u, u), cols(inner, 2 * u, u))) : xh;
    return blend(cols(g, 0, u), h, o.act(candidate));
  }
  zr = h ? add(cols(xt, 0, 2 * u), matmul(h, cols(U, 0, 2 * u))) : cols(xt, 0, 2 * u);
  const g = o.gate(zr);
  if (h) xh = add(xh, matmul(mul(cols(g, u, u), h), cols(U, 2 * u, u)));
  return blend(cols(g, 0, u), h, o.act(xh));
}

/** z h + (1 - z) hh = hh + z (h - hh); with h = 0: hh - z hh. */
function blend(z: AnyTensor, h: AnyTensor | undefined, hh: AnyTensor): AnyTensor {
  return h ? add(hh, mul(z, add(h, neg(hh)))) : add(hh, neg(mul(z, hh)));
}
