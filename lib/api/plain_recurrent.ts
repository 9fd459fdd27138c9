// SimpleRNN, LSTM and GRU in float64: the plaintext twin of layers_recurrent.ts (the same settings,
// read by recurrentSettings), with the true activations. TensorFlow.js's and Keras's equations.
import type { LayerConfig } from './layers_graph';
import { type BidirectionalParts, bidirectionalParts, GATES, recurrentInputs, type RecurrentKind, recurrentSettings, type RecurrentSettings, type Wiring } from './layers_recurrent';
import { maxAbsOf, plainAlloc, type PlainTensor } from './plain_kernels';

type Activation = (l: LayerConfig, name: unknown, o: { isOutput: boolean; keras3: boolean }) => ((v: number) => number) | undefined;
type Ctx = { w: (name: string) => Float64Array; keras3: boolean; internal: (what: string, maxAbs: number) => void };

/** plain_forward.ts's entries for the three layers, given its activations by name. */
/** Merges a Bidirectional's halves as the merge layers do (plain_forward.ts's Concatenate, Add, Multiply, Average). */
type Merge = (l: LayerConfig, mode: BidirectionalParts['mode'], halves: PlainTensor[]) => PlainTensor;

/** A layer's run; with `multi`, all of a call's outputs (return_state: the output, then h, and for an LSTM c). */
export type PlainRun = ((xs: PlainTensor[]) => PlainTensor) & { multi?: (xs: PlainTensor[]) => PlainTensor[] };

export function plainRecurrentLayers(activation: Activation, merge: Merge): Record<RecurrentKind | 'Bidirectional', (l: LayerConfig, ctx: Ctx) => PlainRun> {
  const build = (kind: RecurrentKind, wiring?: Wiring) => (l: LayerConfig, { w, keras3, internal }: Ctx) => {
    const s = recurrentSettings(kind, l, keras3), at = `${wiring?.layer ?? l.config.name}/${wiring?.prefix ?? ''}`;
    // Inside the cell no activation is the client's final one (isOutput false).
    const f = (name: string) => activation(l, name, { isOutput: false, keras3 }) ?? ((v: number) => v);
    const weights = { kernel: w(`${at}kernel`), recurrent: w(`${at}recurrent_kernel`), ...(s.useBias ? { bias: w(`${at}bias`) } : {}) };
    const all = (xs: PlainTensor[]): PlainTensor[] => {
      const { x, mask, initial } = recurrentInputs(l, kind, xs, s.units);
      const r = recurrentForward(kind, s, weights, x, f(s.activation), f(s.recurrentActivation), wiring?.reverseOutputs === true, (m) => internal('gate inputs', m), mask, initial);
      return [r.output, ...(s.returnState ? [r.h, ...(kind === 'LSTM' ? [r.c] : [])] : [])];
    };
    return Object.assign((xs: PlainTensor[]) => all(xs)[0], s.returnState ? { multi: all } : {});
  };
  const bidirectional = (l: LayerConfig, ctx: Ctx) => {
    const { kind, halves, mode } = bidirectionalParts(l);
    const [fw, bw] = halves.map((h) => build(kind, h.wiring)(h.cfg, ctx));
    return (xs: PlainTensor[]): PlainTensor => merge(l, mode, [fw(xs), bw(xs)]);
  };
  return { SimpleRNN: build('SimpleRNN'), LSTM: build('LSTM'), GRU: build('GRU'), Bidirectional: bidirectional };
}

export interface RecurrentWeights {
  kernel: Float64Array; // [d, G u]
  recurrent: Float64Array; // [u, G u]
  bias?: Float64Array; // [G u], or [2, G u] for a GRU with reset_after
}

/** y[G u] = bias + v W for v of length `rows` and W [rows, G u] (y accumulated in place). */
function addProduct(y: Float64Array, v: ArrayLike<number>, W: Float64Array, rows: number): void {
  const width = y.length;
  for (let i = 0; i < rows; i++) {
    const vi = v[i];
    if (vi === 0) continue;
    for (let j = 0; j < width; j++) y[j] += vi * W[i * width + j];
  }
}

export function recurrentForward(
  kind: RecurrentKind,
  s: RecurrentSettings,
  w: RecurrentWeights,
  x: PlainTensor,
  act: (v: number) => number,
  gate: (v: number) => number,
  reverseOutputs = false,
  /** Hears the largest |value| of the products inside: x W + b, h U and the gates' inputs (verify.ts). */
  inside?: (maxAbs: number) => void,
  /** Embedding(mask_zero)'s mask [n, steps] (1: a token, 0: padding): a masked step carries the state. */
  mask?: PlainTensor,
  /** The call's initial_state ([n, u] each: h, and for an LSTM c); zeros without. */
  initial?: PlainTensor[],
): { output: PlainTensor; h: PlainTensor; c: PlainTensor } {
  const [n, steps, d] = x.shape, u = s.units, G = GATES[kind], width = G * u;
  let top = 0;
  const seen = (a: ArrayLike<number>) => (top = Math.max(top, maxAbsOf(a)));
  const out = plainAlloc(n * (s.returnSequences ? steps : 1) * u);
  const hs = plainAlloc(n * u), cs = plainAlloc(n * u);
  for (let b = 0; b < n; b++) {
    const h = hs.subarray(b * u, (b + 1) * u), c = cs.subarray(b * u, (b + 1) * u);
    if (initial) {
      h.set(initial[0].data.subarray(b * u, (b + 1) * u));
      if (initial[1]) c.set(initial[1].data.subarray(b * u, (b + 1) * u));
    }
    for (let i = 0; i < steps; i++) {
      const t = s.goBackwards ? steps - 1 - i : i;
      if (mask && mask.data[b * steps + t] === 0) {
        // (zero_output_for_mask: zeros, as allocated.)
        if (s.returnSequences && !s.zeroOutputForMask) out.set(h, (b * steps + (reverseOutputs ? steps - 1 - i : i)) * u);
        continue;
      }
      const xz = plainAlloc(width);
      if (w.bias) for (let j = 0; j < width; j++) xz[j] = w.bias[j];
      addProduct(xz, x.data.subarray((b * steps + t) * d, (b * steps + t + 1) * d), w.kernel, d);
      seen(xz);
      if (kind !== 'GRU') {
        // h U apart (a product of its own in the private layer), then the gates' inputs.
        const hu = plainAlloc(width);
        addProduct(hu, h, w.recurrent, u);
        seen(hu);
        for (let j = 0; j < width; j++) xz[j] += hu[j];
        seen(xz);
      }
      if (kind === 'SimpleRNN') {
        for (let j = 0; j < u; j++) h[j] = act(xz[j]);
      } else if (kind === 'LSTM') {
        for (let j = 0; j < u; j++) {
          c[j] = gate(xz[u + j]) * c[j] + gate(xz[j]) * act(xz[2 * u + j]);
          h[j] = gate(xz[3 * u + j]) * act(c[j]);
        }
      } else {
        // inner = h U (+ the recurrent bias with reset_after).
        const inner = plainAlloc(width);
        if (s.resetAfter && w.bias) for (let j = 0; j < width; j++) inner[j] = w.bias[width + j];
        addProduct(inner, h, w.recurrent, u);
        seen(inner);
        seen(xz.map((v, j) => v + inner[j]));
        const z = Float64Array.from({ length: u }, (_, j) => gate(xz[j] + inner[j]));
        const r = Float64Array.from({ length: u }, (_, j) => gate(xz[u + j] + inner[u + j]));
        const hh = plainAlloc(u);
        if (s.resetAfter) for (let j = 0; j < u; j++) hh[j] = act(xz[2 * u + j] + r[j] * inner[2 * u + j]);
        else {
          // (r h) U_h: U's last u columns.
          for (let j = 0; j < u; j++) hh[j] = xz[2 * u + j];
          for (let q = 0; q < u; q++) for (let j = 0; j < u; j++) hh[j] += r[q] * h[q] * w.recurrent[q * width + 2 * u + j];
          for (let j = 0; j < u; j++) hh[j] = act(hh[j]);
        }
        for (let j = 0; j < u; j++) h[j] = z[j] * h[j] + (1 - z[j]) * hh[j];
      }
      // Keras's order is the steps' (reversed with go_backwards); a Bidirectional's backward half reversed.
      if (s.returnSequences) out.set(h, (b * steps + (reverseOutputs ? steps - 1 - i : i)) * u);
    }
    if (!s.returnSequences) out.set(h, b * u);
  }
  inside?.(top);
  return { output: { data: out, shape: s.returnSequences ? [n, steps, u] : [n, u] }, h: { data: hs, shape: [n, u] }, c: { data: cs, shape: [n, u] } };
}
