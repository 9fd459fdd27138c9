// The activations of the float64 plaintext model (plain_forward.ts), as functions on numbers, with
// the same names and the same Keras-dependent readings (hard_sigmoid) as layers_activations.ts.
import { normalCdf } from '../math/erf';
import { geluTanhS, SELU_ALPHA, SELU_SCALE } from './ops_smooth';
import type { LayerConfig } from './layers_graph';

export function fail(l: LayerConfig, msg: string): never {
  throw new Error(`layer '${l.config.name}' (${l.class_name}): ${msg}`);
}

export const sigmoidF = (v: number) => 1 / (1 + Math.exp(-v));
/** log(1 + e^v), without overflow for large |v|. */
const softplusF = (v: number) => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));

/** An activation by name, as a function on numbers (undefined: identity, or the client's final activation). */
export function activation(l: LayerConfig, name: unknown, { isOutput, keras3 }: { isOutput: boolean; keras3: boolean }): ((v: number) => number) | undefined {
  const a = String(name ?? 'linear');
  const hardSigmoid = (v: number) => Math.min(Math.max((keras3 ? v / 6 : 0.2 * v) + 0.5, 0), 1);
  switch (a) {
    case 'linear':
      return undefined;
    case 'relu':
      return (v) => Math.max(v, 0);
    case 'relu6':
      return (v) => Math.min(Math.max(v, 0), 6);
    case 'hard_sigmoid':
      return hardSigmoid;
    case 'hard_silu':
    case 'hard_swish':
      return (v) => v * Math.min(Math.max(v / 6 + 0.5, 0), 1);
    case 'sparse_sigmoid':
      return (v) => Math.min(Math.max(0.5 * v + 0.5, 0), 1);
    case 'hard_tanh':
      return (v) => Math.min(Math.max(v, -1), 1);
    case 'soft_shrink':
      return (v) => (v > 0.5 ? v - 0.5 : v < -0.5 ? v + 0.5 : 0);
    case 'hard_shrink':
      return (v) => (Math.abs(v) > 0.5 ? v : 0);
    case 'sparse_plus':
      return (v) => (v <= -1 ? 0 : v >= 1 ? v : (v + 1) ** 2 / 4);
    case 'log_sigmoid':
      return (v) => -softplusF(-v);
    case 'tanh_shrink':
      return (v) => v - Math.tanh(v);
    case 'leaky_relu':
      return (v) => (v >= 0 ? v : 0.2 * v);
    case 'tanh':
      return Math.tanh;
    case 'swish':
    case 'silu':
      return (v) => v * sigmoidF(v);
    case 'softplus':
      return softplusF;
    case 'softsign':
      return (v) => v / (1 + Math.abs(v));
    case 'elu':
    case 'celu':
      return (v) => (v > 0 ? v : Math.expm1(v));
    case 'selu':
      return (v) => SELU_SCALE * (v > 0 ? v : SELU_ALPHA * Math.expm1(v));
    case 'gelu':
      return (v) => v * normalCdf(v);
    case 'gelu_new':
      return (v) => v * geluTanhS(v);
    case 'mish':
      return (v) => v * Math.tanh(softplusF(v));
    case 'sigmoid':
      return isOutput ? undefined : sigmoidF;
    case 'softmax':
    case 'exponential':
    case 'log_softmax':
      // The client's, on the output only (final_activation.ts); hidden, layers_activations.ts refuses them.
      if (isOutput) return undefined;
  }
  return fail(l, `activation '${a}' has no plaintext evaluation`);
}
