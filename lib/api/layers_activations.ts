// The activations a layer may name (its `activation` setting, an Activation layer), each as a
// private step and what it needs of the protocol; names this does not know are refused, listing
// the ones it does. Some names mean other functions depending on who saved the model (keras3).
import { add, neg, sub } from './ops';
import { softmax } from './ops_softmax';
import { softsign } from './ops_softsign';
import { elu, gelu, mish, mul, relu, selu, sigmoid, softplus, square, swish, tanh } from './ops_nonlinear';
import { greater, less, reluAndBitOp } from './comparison_ops';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { type LayerConfig, refuse } from './layers_graph';
import type { AnyTensor, PrivateTensor } from './tensor';

/**
 * relu(x - m) for a constant m the library subtracts (a clip's upper end): internal
 * (OpCtx.internal), so a narrowed fssBits, the owner's word on x, does not narrow it: x - m may
 * be out of that range while x is in it (at fssBits 20, fracBits 16, relu6(-3) was 9).
 */
export const shiftedRelu = (x: AnyTensor, m: number): AnyTensor => x.cluster.internalOps(() => relu(sub(x, m)));
/** clip(x, 0, m) = relu(x) - relu(x - m), exact under the exact protocols. */
export const clipped = (x: AnyTensor, m: number): AnyTensor => sub(relu(x), shiftedRelu(x, m));
/** f(x) for an activation whose every comparison takes x shifted or scaled by the library: internal, as shiftedRelu. */
const libraryMade = (f: (x: AnyTensor) => AnyTensor) => (x: AnyTensor): AnyTensor => x.cluster.internalOps(() => f(x));
/**
 * x where x > theta, else 0 (ThresholdedReLU). With t the first fixed-point value above theta,
 * that is relu(x - t) + t [x >= t]: one comparison (the relu's gate keeps its bit) and a product
 * by the public t, no Beaver product; internal, as shiftedRelu (the library's shift).
 */
export const thresholded = (x: AnyTensor, theta: number): AnyTensor =>
  x.cluster.internalOps(() => {
    const f = x.cluster.fixed.fracBits, t = (Math.floor(theta * 2 ** f) + 1) / 2 ** f;
    const { relu: r, bit } = reluAndBitOp(sub(x, t));
    return add(r, mul(bit, t));
  });
/** s x + (1 - s) relu(x): leaky relu with slope s below zero. */
export const leaky = (x: AnyTensor, s: number): AnyTensor => add(mul(x, s), mul(relu(x), 1 - s));

/** Every activation name a hidden layer may have (the refusal lists them). */
export const HIDDEN_ACTIVATIONS = 'linear, relu, relu6, leaky_relu, hard_sigmoid, hard_silu/hard_swish, hard_tanh, sparse_sigmoid, soft_shrink, hard_shrink, sparse_plus, sigmoid, tanh, tanh_shrink, log_sigmoid, swish/silu, softplus, softsign, elu, celu, selu, gelu, gelu_new, mish, softmax (last axis)';

/** hard_sigmoid: clip(0.2 x + 0.5, 0, 1) in tfjs and Keras 2, relu6(x + 3) / 6 = clip(x / 6 + 0.5, 0, 1) in Keras 3. */
const hardSigmoid = (x: AnyTensor, keras3: boolean): AnyTensor => clipped(add(mul(x, keras3 ? 1 / 6 : 0.2), 0.5), 1);

/** An activation by name: its step (undefined: identity) and what it needs. */
export function activation(
  l: LayerConfig,
  name: unknown,
  { isOutput, keras3 = false }: Pick<LayerContext, 'isOutput' | 'keras3'>,
): Pick<LayerPlan, 'comparisons' | 'exactOnly' | 'finalActivation'> & { f?: (x: AnyTensor) => AnyTensor; monotone?: boolean } {
  // An activation is a name; anything else (an object, a number) is refused as it was written.
  if (name !== undefined && name !== null && typeof name !== 'string') return refuse(l, `activation ${JSON.stringify(name)?.slice(0, 80)} is not a name: expected a string such as 'relu'`);
  const a = String(name ?? 'linear');
  const exact = (f: (x: AnyTensor) => AnyTensor) => ({ f, comparisons: true, exactOnly: true });
  switch (a) {
    case 'linear':
      return { comparisons: false, exactOnly: false };
    case 'relu':
      return { f: (x) => relu(x), comparisons: true, exactOnly: false, monotone: true };
    case 'relu6':
      // Both relus and the public shift are exact, so the clip is monotone bit for bit.
      return { ...exact((x) => clipped(x, 6)), monotone: true };
    case 'hard_sigmoid':
      return exact(libraryMade((x) => hardSigmoid(x, keras3)));
    case 'hard_silu':
    case 'hard_swish':
      // Keras 3 only: x relu6(x + 3) / 6. The product is exact where the clip is 0 or 1 (|x| >= 3).
      return exact(libraryMade((x) => mul(x, hardSigmoid(x, true))));
    case 'sparse_sigmoid':
      // Keras 3: 0 below -1, (x + 1) / 2 between, 1 above: clip(x / 2 + 1/2, 0, 1), exact.
      return exact(libraryMade((x) => clipped(add(mul(x, 0.5), 0.5), 1)));
    case 'hard_tanh':
      // Keras 3: clip(x, -1, 1), exact.
      return exact(libraryMade((x) => add(clipped(add(x, 1), 2), -1)));
    case 'soft_shrink':
      // Keras 3, threshold 0.5: x - 0.5 above 0.5, x + 0.5 below -0.5, 0 between; exact.
      return exact(libraryMade((x) => sub(relu(add(x, -0.5)), relu(add(neg(x), -0.5)))));
    case 'hard_shrink':
      // Keras 3, threshold 0.5: x where |x| > 0.5, else 0. Two comparisons pick it, one product
      // by the 0/1 result keeps x (within the product's rounding, one unit).
      return exact(libraryMade((x) => mul(x, add(greater(x, 0.5), less(x, -0.5)))));
    case 'sparse_plus':
      // Keras 3: 0 below -1, (x + 1)^2 / 4 between, x above 1; that is (c + 1)^2 / 4 for c the
      // clip of x to [-1, 1], plus relu(x - 1): clips and relus exact, one product (the square).
      return exact(libraryMade((x) => add(mul(square(clipped(add(x, 1), 2)), 0.25), shiftedRelu(x, 1))));
    case 'leaky_relu':
      // Keras 3's activation function, its default negative_slope 0.2 (the layer has its own setting).
      return { ...exact((x) => leaky(x, 0.2)), monotone: true };
    case 'softmax':
    case 'sigmoid':
    case 'tanh':
      // Monotone, and the output is the client's: softmax and sigmoid on the output are applied by
      // the client to the logits it receives (final_activation.ts).
      if (isOutput && a !== 'tanh') return { comparisons: false, exactOnly: false, finalActivation: a };
      // Hidden (or a tanh output): piecewise cubics selected by exact comparisons, error below
      // 3.3e-4 (sigmoid) and 6.7e-4 (tanh) on the whole line (ops_smooth.ts); a hidden softmax over
      // the last axis by comparisons, pieces and Newton steps (ops_softmax.ts). Pond refuses them.
      if (a === 'softmax') return exact((x) => softmax(x));
      return exact((x) => (a === 'sigmoid' ? sigmoid(x) : tanh(x)));
    case 'swish':
    case 'silu':
      return exact(swish);
    case 'softplus':
      return exact(softplus);
    case 'elu':
    case 'celu':
      // (Keras 3's celu with its default alpha 1 is elu.)
      return exact((x) => elu(x));
    case 'log_sigmoid':
      // Keras 3: log(sigmoid(x)) = -softplus(-x).
      return exact((x) => neg(softplus(neg(x))));
    case 'tanh_shrink':
      // Keras 3: x - tanh(x).
      return exact((x) => sub(x, tanh(x)));
    case 'selu':
      return exact(selu);
    case 'gelu':
      return exact((x) => gelu(x));
    case 'gelu_new':
      return exact((x) => gelu(x, { approximate: true }));
    case 'mish':
      return exact(mish);
    case 'softsign':
      // x / (1 + |x|): a private reciprocal (ops_softsign.ts), on a hidden layer or the output.
      return exact(softsign);
    case 'exponential':
    case 'log_softmax':
      // Keras's: e^x (a Poisson or count model's output), and log_softmax over the last axis. On
      // the output the client applies them to the logits (final_activation.ts), in float64. Hidden,
      // they are refused: e^x leaves fixed point's range past x = 32 at 16 fractional bits (and
      // loses its relative precision well before), and log_softmax needs a private logarithm.
      if (isOutput) return { comparisons: false, exactOnly: false, finalActivation: a };
      return refuse(l, `activation '${a}' is supported on the output layer only (the client applies it to the logits${a === 'exponential' ? '; e^x of a hidden value would leave fixed point\'s range' : ''}): in a hidden layer use one of ${HIDDEN_ACTIVATIONS}`);
  }
  return refuse(l, `activation '${a}' is not supported${isOutput ? '' : ` in a hidden layer (supported: ${HIDDEN_ACTIVATIONS}, and softmax, sigmoid, exponential and log_softmax on the output layer)`}`);
}

/** A linear step followed by the layer's activation setting. */
export function withActivation(l: LayerConfig, ctx: LayerContext, linear: (p: PrivateTensor[]) => (x: AnyTensor) => AnyTensor): LayerPlan {
  const a = activation(l, l.config.activation, ctx);
  return {
    step: (p) => (xs) => (a.f ? a.f(linear(p)(xs[0])) : linear(p)(xs[0])),
    comparisons: a.comparisons,
    exactOnly: a.exactOnly,
    finalActivation: a.finalActivation,
    ...(a.f && a.monotone ? { monotone: { linear: (p: PrivateTensor[]) => (xs: AnyTensor[]) => linear(p)(xs[0]), act: a.f } } : {}),
  };
}
