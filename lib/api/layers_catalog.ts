// Every layer class a private model may contain: which settings it accepts (anything else, or a
// value it cannot honour, is refused at load time, naming the layer, the setting and the value;
// a setting silently ignored would give wrong answers), the weights it takes, and the private
// step it runs. Training-only settings (initializers, regularizers, constraints) are ignored.
// Activations by name: layers_activations.ts.
import { customScaleLayer } from './layers_inception_resnet';
import { add, concat, flatten, gather, pad, reduceSum, reshape, slice, sub, transpose } from './ops';
import { avgPool2d, elu, matmul, mul, polynomial, privatePolynomial, relu } from './ops_nonlinear';
import { maxPool2d } from './comparison_ops';
import { scaledReciprocal, softmax } from './ops_softmax';
import { expectShape, KNOWN_LAYERS, type LayerConfig, refuse } from './layers_graph';
import { activation, leaky, shiftedRelu, thresholded, withActivation } from './layers_activations';
import type { Derivation } from './layers_spec';
import type { AnyTensor, PrivateTensor } from './tensor';
import { ANY, bool, type Check, channelsLast, isNum, padding, padMode, pair, posInt, positivePair, reshapeTarget, reshapeTo, settings, sides1d } from './layers_settings';
import { CONV_BUILDERS } from './layers_conv';
import { layerScale, stochasticDepth } from './layers_convnext';
import { ATTENTION_BUILDERS } from './layers_attention';
import { batchNorm, groupNorm, layerNorm, normalization, rmsNorm, unitNorm } from './layers_norm';
import { dense } from './layers_dense';
import { categoryEncoding, embedding } from './layers_embedding';
import { discretization } from './layers_discretization';
import { lookup } from './layers_lookup';
import { hashedCrossing } from './layers_crossing';
import { hashing } from './layers_hashing';
import { convLstm } from './layers_conv_lstm';
import { einsumDense } from './layers_einsum_dense';
import { RECURRENT_BUILDERS } from './layers_recurrent';
import { timeDistributed } from './layers_wrappers';
import { keyOf, SLICE_LAYER, sliceBounds } from './layers_slice';
import { addConstant, addedConstantOf, CONSTANT_LAYER } from './layers_constant';
import { AXES_LAYER, axesOf, axesShape, STACK_LAYER, stackOf, stackShape } from './layers_axes';
import { REDUCE_LAYER, reduceGeometry, reduceOf } from './layers_reduce';
import { maskValueOf, privateMask } from './layers_mask';
import { centerCropWindow, INFERENCE_IDENTITY } from './layers_augmentation';
import { maskNoteOf } from './keras3_masks';
import { CENTER_CROP_TFJS, RESIZE_LAYER, type ResizeLayer, resizeLayerOf, type ResizePlan, resizePlan, smartResizePlan } from './image_resize';
import { resizeImage } from './ops_resize';
import { ADAPTIVE_POOLS, adaptivePool, adaptivePoolOf } from './layers_adaptive_pool';
import { VOLUME_BUILDERS } from './layers_3d';
import type { FinalActivation } from './final_activation';

export const POLYNOMIAL_LAYER = 'TfePolynomial';

/** A built layer: its step over the shared parameters, and what it needs of the protocol. */
export interface LayerPlan {
  step: (params: PrivateTensor[]) => (inputs: AnyTensor[]) => AnyTensor;
  /**
   * A layer call that returns several tensors (a recurrent layer's output and states with
   * return_state): all of them, the first being `step`'s. The runners keep output k under the
   * call's id and `#k` (layers_graph.ts outputId).
   */
  multiStep?: (params: PrivateTensor[]) => (inputs: AnyTensor[]) => AnyTensor[];
  /** Has comparison-based non-linearities (exact under SecureNN; Pond approximates plain relu). */
  comparisons: boolean;
  /** Only an exact protocol can run it (max pooling, relu6, leaky relu...): Pond refuses. */
  exactOnly: boolean;
  /** A final softmax or sigmoid left for the client to apply to the logits it receives. */
  finalActivation?: FinalActivation;
  /**
   * The step as a linear part followed by a non-decreasing activation (relu, relu6, ReLU with
   * max_value, exact; a leaky slope >= 0, up to the rounding of its product): step = act(linear).
   * Such an activation commutes with max pooling, relu(max(a, b)) = max(relu(a), relu(b)), so
   * the graph may apply it after a pool instead (layers_spec.ts).
   */
  monotone?: { linear: (params: PrivateTensor[]) => (inputs: AnyTensor[]) => AnyTensor; act: (x: AnyTensor) => AnyTensor };
  /** Takes maxima over windows (then reshapes): commutes with a `monotone` activation. */
  maxPool?: boolean;
}

export interface LayerContext {
  /** Takes a weight of this layer from the manifest; returns its index among the parameters. */
  take(weight: string, shape?: number[]): number;
  /** A manifest weight's shape (refused, naming it, when it is missing). */
  shapeOf(weight: string): number[];
  /** Whether the manifest has the weight. */
  has(weight: string): boolean;
  /**
   * A parameter the owner computes from manifest weights (see Derivation). `beforeLast`: a kernel
   * of a product before the layer's last (SeparableConv2D's depthwise part), which a
   * BatchNormalization folded into the layer does not scale (it scales the last one's kernel).
   */
  derived(name: string, shape: number[], d: Derivation, beforeLast?: boolean): number;
  /** The layer produces the model's output. */
  isOutput: boolean;
  /** Keras 3 saved the model (layers_graph.ts: some activation names mean other functions there). */
  keras3?: boolean;
  /** TensorFlow.js saved the model (layers_graph.ts: some of its layers ignore a setting Keras applies). */
  tfjs?: boolean;
  /**
   * BatchNormalization only: its scale is folded into the layer before it (layers_spec.ts,
   * foldBatchNorms), so it only adds its shift.
   */
  scaleFolded?: boolean;
  /**
   * An id-making layer (Discretization, IntegerLookup in int mode) whose ids only Embedding and
   * CategoryEncoding layers read: their vocabulary, over which it gives the one-hot of its ids
   * (layers_embedding.ts idMakersOf).
   */
  idsOneHot?: number;
  /**
   * A lookup read as a bucket table whose ids only Embeddings read, or such an Embedding: the ids
   * travel as their columns, and the Embedding reads its rows by them (layers_embedding.ts
   * columnReaders) instead of a product with their one-hot rows.
   */
  idColumns?: boolean;
  /**
   * A lookup read with the one Embedding that reads it as one table (layers_embedding.ts
   * fusedReads): it hands its ids on as they came, and the Embedding reads their rows.
   */
  idsThrough?: boolean;
  /** Such an Embedding: its lookup, whose table it reads fused with its own (fused_table.ts). */
  fusedLookup?: LayerConfig;
}

const one = (xs: AnyTensor[]) => xs[0];

function concatenate(l: LayerConfig): LayerPlan {
  const c = settings(l, { axis: (v) => v === undefined || Number.isInteger(v) });
  const axis = Number(c.axis ?? -1);
  if (axis === 0) refuse(l, 'axis = 0 concatenates along the batch, which is not supported');
  return { step: () => (xs) => concat(xs, axis), comparisons: false, exactOnly: false };
}

/**
 * A resize (Resizing, bilinear UpSampling2D, CenterCrop of a smaller input): a centred crop where
 * asked, then the taps (local). The plan is kept per input shape, and with it the weights
 * ops_resize.ts derives from its taps: a query does not make them again.
 */
function planned(make: (shape: readonly number[]) => ResizePlan): (x: AnyTensor) => AnyTensor {
  const plans = new Map<string, ResizePlan>();
  return (x) => {
    const key = x.shape.join();
    let plan = plans.get(key);
    if (!plan) {
      if (plans.size >= 64) plans.clear();
      plans.set(key, (plan = make(x.shape)));
    }
    return resizeImage(plan.crop ? slice(x, plan.crop.begin, plan.crop.size) : x, plan.rows, plan.cols);
  };
}

const resizeLayer = (l: LayerConfig, r: ResizeLayer): LayerPlan => simple(planned((shape) => resizePlan(l, r, shape)));

/**
 * A merge layer's inputs as Keras and tfjs take them: one of lower rank gets axes of 1 after the
 * batch until the ranks match ([n, c] against [n, h, w, c]: [n, 1, 1, c]), then they broadcast.
 * (Broadcasting from the last axis, as NumPy does, multiplied a squeeze-excitation block's [n, c]
 * into the wrong axes.)
 */
function mergeRanks(xs: AnyTensor[]): AnyTensor[] {
  const rank = Math.max(...xs.map((x) => x.rank));
  return xs.map((x) => (x.rank === rank ? x : reshape(x, [x.shape[0], ...new Array<number>(rank - x.rank).fill(1), ...x.shape.slice(1)])));
}

function merge(l: LayerConfig, f: (xs: AnyTensor[]) => AnyTensor, comparisons = false): LayerPlan {
  settings(l, {});
  return { step: () => (xs) => f(mergeRanks(xs)), comparisons, exactOnly: comparisons };
}

/** The most channels a per-channel Rescaling may have (each is its own constant product). */
const MAX_RESCALING_CHANNELS = 64;

/**
 * A Rescaling layer's public scale and offset, each a list of one number or one per channel of the
 * input's last axis (Keras broadcasts a list so: EfficientNet's per-channel 1/std). Keras 3
 * writes a NumPy array or tensor setting as { class_name: '__numpy__', config: { value } }.
 */
export function rescalingOf(l: LayerConfig): { scale: number[]; offset: number[] } {
  const unwrap = (v: unknown): unknown => {
    const o = v as { class_name?: unknown; config?: { value?: unknown } } | null;
    const inner = o && typeof o === 'object' && !Array.isArray(o) && (o.class_name === '__numpy__' || o.class_name === '__tensor__') ? o.config?.value : v;
    return Array.isArray(inner) ? inner.flat(Infinity) : inner;
  };
  const ok = (w: unknown) => {
    const v = unwrap(w);
    return v === undefined || isNum(v) || (Array.isArray(v) && v.length > 0 && v.length <= MAX_RESCALING_CHANNELS && v.every(isNum));
  };
  const c = settings(l, { scale: ok, offset: ok });
  const list = (w: unknown, d: number): number[] => {
    const v = unwrap(w);
    const xs = Array.isArray(v) ? v.map(Number) : [Number(v ?? d)];
    // One value repeated is that value (a list Keras broadcasts alike).
    return xs.every((x) => x === xs[0]) ? [xs[0]] : xs;
  };
  const scale = list(c.scale, 1), offset = list(c.offset, 0);
  if (scale.length > 1 && offset.length > 1 && scale.length !== offset.length) refuse(l, `scale has ${scale.length} values and offset ${offset.length}: one per channel each, or one`);
  return { scale, offset };
}

/** An activation-only layer (its linear part is the identity). */
function activationOnly(f: (x: AnyTensor) => AnyTensor, exactOnly: boolean, monotone: boolean): LayerPlan {
  return { ...simple(f, true, exactOnly), ...(monotone ? { monotone: { linear: () => one, act: f } } : {}) };
}

const simple = (f: (x: AnyTensor) => AnyTensor, comparisons = false, exactOnly = false): LayerPlan => ({ step: () => (xs) => f(one(xs)), comparisons, exactOnly });

/** A 1-D pool's window and stride (an integer or a one-element list; the stride defaults to the window). */
function poolWindow1d(l: LayerConfig, c: Record<string, unknown>): [number, number] {
  const int = (v: unknown) => (Array.isArray(v) && v.length === 1 ? v[0] : v);
  const k = int(c.pool_size ?? 2), s = int(c.strides ?? k);
  for (const [name, v] of [['pool_size', k], ['strides', s]] as const) if (!Number.isInteger(v) || (v as number) < 1) refuse(l, `${name} = ${JSON.stringify(v)} is not a positive integer`);
  return [k as number, s as number];
}

const anyFormat: Check = (v) => v === undefined || v === null || v === 'channels_last' || v === 'channels_first';

/**
 * A global 1-D pool with data_format 'channels_first' pools [batch, channels, steps] over its last
 * axis (Keras's timeseries Transformer example uses it to average each step's features): the
 * channels_last pool `f` of the transposed input, its keepdims axis moved back to the end.
 */
function channelsFirst1d(c: Record<string, unknown>, f: (x: AnyTensor) => AnyTensor): (x: AnyTensor) => AnyTensor {
  if (c.data_format !== 'channels_first') return f;
  return (x) => {
    const y = f(x.rank === 3 ? transpose(x, [0, 2, 1]) : x);
    return c.keepdims ? reshape(y, [y.shape[0], y.shape[2], 1]) : y;
  };
}

/**
 * A 1-D layer as a 2-D one over a height-1 image: [n, steps, C] -> [n, 1, steps, C], back to
 * [n, steps', C] (or [n, C] when `squeeze`, the global pools without keepdims).
 */
function over1d(l: LayerConfig, f: (x: AnyTensor) => AnyTensor, squeeze = false): (x: AnyTensor) => AnyTensor {
  return (x) => {
    if (x.rank !== 3) refuse(l, `takes a rank-3 input [batch, steps, channels], got [${x.shape}]`);
    const y = f(reshape(x, [x.shape[0], 1, x.shape[1], x.shape[2]]));
    return reshape(y, squeeze ? [y.shape[0], y.shape[3]] : [y.shape[0], y.shape[2], y.shape[3]]);
  };
}

/** Dense on any rank: applied to the last axis. */

/** PReLU's shared_axes: none, or distinct axes of the input counted with the batch as 0 (Keras's int or list). */
const sharedAxes: Check = (v) => v === undefined || v === null || (Array.isArray(v) ? v : [v]).every((a, i, all) => Number.isInteger(a) && a >= 1 && all.indexOf(a) === i);
const sharedAxesOf = (v: unknown): number[] => (v === undefined || v === null ? [] : (Array.isArray(v) ? v : [v]).map(Number));

/** A dropout rate: a probability (absent: the layer's default). */
const dropRate: Check = (v) => v === undefined || (isNum(v) && v >= 0 && v <= 1);

const BUILDERS: Record<string, (l: LayerConfig, ctx: LayerContext) => LayerPlan> = {
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
  RMSNormalization: rmsNorm,
  GroupNormalization: groupNorm,
  UnitNormalization: unitNorm,
  Normalization: normalization,
  Embedding: embedding,
  CategoryEncoding: categoryEncoding,
  Discretization: discretization,
  IntegerLookup: lookup,
  StringLookup: lookup,
  TextVectorization: lookup,
  Hashing: hashing,
  HashedCrossing: hashedCrossing,
  ConvLSTM1D: convLstm,
  ConvLSTM3D: convLstm,
  EinsumDense: einsumDense,
  ConvLSTM2D: convLstm,
  ...RECURRENT_BUILDERS,
  // Called late: layers_wrappers.ts imports planLayer from here (a cycle either import order survives).
  TimeDistributed: (l, ctx) => timeDistributed(l, ctx),
  // Data augmentation: the identity at inference, every setting training's (layers_augmentation.ts).
  ...Object.fromEntries(INFERENCE_IDENTITY.map((n) => [n, () => simple((x) => x)])),
  // optional: Keras 3.13+ writes false (true: the input may be absent).
  InputLayer: (l) => (settings(l, { name: ANY, optional: (v) => v === undefined || v === false }), simple((x) => x)),
  // Training-time noise: the identity at inference; a rate outside [0, 1] (Keras refuses it) is a broken config.
  Dropout: (l) => (settings(l, { rate: dropRate }), simple((x) => x)),
  GaussianNoise: (l) => (settings(l, { stddev: (v) => v === undefined || (isNum(v) && v >= 0) }), simple((x) => x)),
  GaussianDropout: (l) => (settings(l, { rate: dropRate }), simple((x) => x)),
  AlphaDropout: (l) => (settings(l, { rate: dropRate }), simple((x) => x)),
  // Keras's Identity, and ActivityRegularization (a loss on its input during training: l1, l2).
  Identity: (l) => (settings(l, {}), simple((x) => x)),
  // keras.utils.FeatureSpace's own layers, in the models built on its encoded features.
  TFDIdentity: (l) => (settings(l, {}), simple((x) => x)),
  // keras.applications.convnext's own layers (layers_convnext.ts).
  LayerScale: layerScale,
  StochasticDepth: stochasticDepth,
  // keras.applications.inception_resnet_v2's (layers_inception_resnet.ts).
  CustomScaleLayer: customScaleLayer,
  ActivityRegularization: (l) => (settings(l, { l1: (v) => v === undefined || isNum(v), l2: (v) => v === undefined || isNum(v) }), simple((x) => x)),
  Rescaling: (l) => {
    const { scale, offset } = rescalingOf(l);
    const affine = (x: AnyTensor, k: number, b: number) => {
      const y = k === 1 ? x : mul(x, k);
      return b === 0 ? y : add(y, b);
    };
    const channels = Math.max(scale.length, offset.length);
    if (channels === 1) return simple((x) => affine(x, scale[0], offset[0]));
    // Per channel: each channel's constant product as a scalar one (mulConstant's precision), side by side.
    return simple((x) => {
      const last = x.shape[x.rank - 1];
      if (last !== channels) refuse(l, `has ${channels} per-channel values, but its input has ${last} channels (its last axis)`);
      const at = (j: number) => slice(x, [...x.shape.slice(0, -1).map(() => 0), j], [...x.shape.slice(0, -1), 1]);
      return concat(Array.from({ length: channels }, (_, j) => affine(at(j), scale[scale.length > 1 ? j : 0], offset[offset.length > 1 ? j : 0])), x.rank - 1);
    });
  },
  Softmax: (l, ctx) => {
    const c = settings(l, { axis: (v) => v === undefined || Number.isInteger(v) || (Array.isArray(v) && v.length === 1 && Number.isInteger(v[0])) });
    const axis = Number(Array.isArray(c.axis) ? c.axis[0] : (c.axis ?? -1));
    // As a softmax activation: left to the client on the output layer (over its last axis, which
    // tfjs writes as a positive number); in a hidden one computed privately (exact protocols).
    const a = activation(l, 'softmax', ctx);
    const step = () => ([x]: AnyTensor[]) => {
      const at = axis < 0 ? axis + x.rank : axis;
      if (at === x.rank - 1) return a.f ? a.f(x) : x;
      // Another axis (attention pooling's weights over the steps, axis 1 of [batch, steps, 1]):
      // moved last and back, both local, around the private softmax. On the output layer the
      // client would apply it over the last axis: refused there.
      if (at < 1 || at >= x.rank || a.finalActivation) refuse(l, `axis = ${axis} is not the last axis of its rank-${x.rank} input; ${a.finalActivation ? 'on the output layer only the last axis is supported (the client applies a final softmax over the last axis): move that axis last first (a Permute layer, or tf.transpose)' : 'the batch axis cannot be'}`);
      const perm = [...x.shape.keys()].filter((d) => d !== at).concat(at), back = perm.map((_, d) => perm.indexOf(d));
      return transpose(softmax(transpose(x, perm)), back);
    };
    return { step, comparisons: a.comparisons, exactOnly: a.exactOnly, finalActivation: a.finalActivation };
  },
  SpatialDropout1D: (l) => (settings(l, { rate: dropRate }), simple((x) => x)),
  SpatialDropout2D: (l) => (settings(l, { rate: dropRate, data_format: channelsLast }), simple((x) => x)),
  SpatialDropout3D: (l) => (settings(l, { rate: dropRate, data_format: channelsLast }), simple((x) => x)),
  // Volumes [batch, depth, height, width, channels]: layers_3d.ts.
  ...VOLUME_BUILDERS,
  Dense: (l, ctx) => {
    // quantization_config: Keras 3.13+ writes null (set: a quantized layer, refused).
    const c = settings(l, { units: (v) => Number.isSafeInteger(v) && (v as number) > 0, activation: ANY, use_bias: bool, quantization_config: (v) => v === undefined || v === null });
    expectShape(l, 'kernel', ctx.shapeOf(`${l.config.name}/kernel`), [null, Number(c.units)], `units = ${c.units}`);
    const k = ctx.take('kernel');
    const b = c.use_bias === false ? -1 : ctx.take('bias', [1, Number(c.units)]);
    return withActivation(l, ctx, (p) => (x) => dense(x, p[k], b < 0 ? null : p[b]));
  },
  ...CONV_BUILDERS,
  ...ATTENTION_BUILDERS,
  PReLU: (l, ctx) => {
    const c = settings(l, { shared_axes: sharedAxes });
    const a = ctx.take('alpha');
    const shared = sharedAxesOf(c.shared_axes);
    // prelu(x) = relu(x) - alpha relu(-x), alpha a private weight per element (broadcast over the
    // batch, and over the shared axes, where the saved alpha has 1).
    return {
      step: (p) => ([x]) => {
        const want = x.shape.slice(1).map((d, i) => (shared.includes(i + 1) ? 1 : d));
        if (shared.some((s) => s >= x.rank)) refuse(l, `shared_axes = [${shared}] names an axis its rank-${x.rank} input (batch axis 0) does not have`);
        expectShape(l, 'alpha', p[a].shape, want, shared.length ? `its input [${x.shape.slice(1)}] without the batch, 1 on shared_axes [${shared}]` : `its input [${x.shape.slice(1)}] without the batch`);
        return sub(relu(x), mul(relu(mul(x, -1)), p[a]));
      },
      comparisons: true,
      exactOnly: true,
    };
  },
  AveragePooling2D: (l) => {
    const c = settings(l, { pool_size: positivePair, strides: positivePair, padding: padMode, data_format: channelsLast });
    return simple((x) => avgPool2d(x, { poolSize: pair(c.pool_size, 2), strides: pair(c.strides ?? c.pool_size, 2), padding: padding(c.padding) }));
  },
  MaxPooling2D: (l) => {
    const c = settings(l, { pool_size: positivePair, strides: positivePair, padding: padMode, data_format: channelsLast });
    return { ...simple((x) => maxPool2d(x, { poolSize: pair(c.pool_size, 2), strides: pair(c.strides ?? c.pool_size, 2), padding: padding(c.padding) }), true, true), maxPool: true };
  },
  // 1-D pools run as 2-D ones over a height-1 image, as Conv1D does.
  AveragePooling1D: (l) => {
    const c = settings(l, { pool_size: positivePair, strides: positivePair, padding: padMode, data_format: channelsLast });
    const [k, s] = poolWindow1d(l, c);
    return simple(over1d(l, (x) => avgPool2d(x, { poolSize: [1, k], strides: [1, s], padding: padding(c.padding) })));
  },
  MaxPooling1D: (l) => {
    const c = settings(l, { pool_size: positivePair, strides: positivePair, padding: padMode, data_format: channelsLast });
    const [k, s] = poolWindow1d(l, c);
    return { ...simple(over1d(l, (x) => maxPool2d(x, { poolSize: [1, k], strides: [1, s], padding: padding(c.padding) })), true, true), maxPool: true };
  },
  GlobalAveragePooling1D: (l) => {
    const c = settings(l, { data_format: anyFormat, keepdims: bool });
    const plain = channelsFirst1d(c, over1d(l, (x) => avgPool2d(x, { poolSize: [1, x.shape[2]], strides: [1, 1] }), !c.keepdims));
    // With a padding mask (a Keras 3 model hands it one: layers_mask.ts), Keras's masked mean:
    // sum(m x) / sum(m) over the steps, the count's reciprocal as softmax's (0 for an all-padding row).
    const masked = (x: AnyTensor, m: AnyTensor): AnyTensor => {
      if (c.data_format === 'channels_first') refuse(l, 'a masked mean over channels_first input is not supported');
      const { r, s } = scaledReciprocal(reduceSum(m, 1), x.shape[1]);
      const y = mul(mul(mul(reduceSum(mul(x, m), 1), r), s), s);
      return c.keepdims ? reshape(y, [y.shape[0], 1, y.shape[1]]) : y;
    };
    // The reciprocal compares (powerOfFourScale): an exact protocol where Keras hands it the mask.
    const handed = maskNoteOf(l.callArgs?.mask) !== undefined;
    return { step: () => (xs) => (xs.length === 2 ? masked(xs[0], xs[1]) : plain(one(xs))), comparisons: handed, exactOnly: handed };
  },
  GlobalMaxPooling1D: (l) => {
    const c = settings(l, { data_format: anyFormat, keepdims: bool });
    return { ...simple(channelsFirst1d(c, over1d(l, (x) => maxPool2d(x, { poolSize: [1, x.shape[2]], strides: [1, 1] }), !c.keepdims)), true, true), maxPool: true };
  },
  GlobalAveragePooling2D: (l) => {
    const c = settings(l, { data_format: channelsLast, keepdims: bool });
    return simple((x) => {
      const y = avgPool2d(x, { poolSize: [x.shape[1], x.shape[2]], strides: [1, 1] });
      return reshape(y, c.keepdims ? y.shape : [x.shape[0], x.shape[3]]);
    });
  },
  GlobalMaxPooling2D: (l) => {
    const c = settings(l, { data_format: channelsLast, keepdims: bool });
    return {
      ...simple((x) => {
        const y = maxPool2d(x, { poolSize: [x.shape[1], x.shape[2]], strides: [1, 1] });
        return reshape(y, c.keepdims ? y.shape : [x.shape[0], x.shape[3]]);
      }, true, true),
      maxPool: true,
    };
  },
  UpSampling2D: (l, ctx) => {
    // Nearest: each pixel repeated size[0] x size[1] times, by copies (no arithmetic, so exact
    // under every protocol, and the same for Keras and tfjs). Bilinear: image_resize.ts.
    if ((l.config.interpolation ?? 'nearest') !== 'nearest') return resizeLayer(l, resizeLayerOf(l, !!ctx.tfjs));
    const c = settings(l, { size: ANY, data_format: channelsLast, interpolation: ANY });
    const [sh, sw] = pair(c.size, 2);
    if (![sh, sw].every((v) => Number.isInteger(v) && v >= 1)) refuse(l, `size = ${JSON.stringify(c.size)} is not positive integers`);
    return simple((x) => {
      if (x.rank !== 4) refuse(l, `takes a rank-4 input [batch, height, width, channels], got [${x.shape}]`);
      const [n, h, w, ch] = x.shape;
      const rows = reshape(concat(Array(sh).fill(reshape(x, [n, h, 1, w, ch])), 2), [n, h * sh, w, ch]);
      return reshape(concat(Array(sw).fill(reshape(rows, [n, h * sh, w, 1, ch])), 3), [n, h * sh, w * sw, ch]);
    });
  },
  Resizing: (l, ctx) => resizeLayer(l, resizeLayerOf(l, !!ctx.tfjs)),
  // Keras 3's adaptive pooling to a fixed output size: means local, maxima exact only.
  ...Object.fromEntries(
    ADAPTIVE_POOLS.map((cls) => [
      cls,
      (l: LayerConfig) => {
        const p = adaptivePoolOf(l);
        return simple((x) => adaptivePool(l, p, x), p.max, p.max);
      },
    ]),
  ),
  // A GraphModel's TensorFlow 1 resize (align_corners, or the asymmetric rule): image_resize.ts.
  [RESIZE_LAYER]: (l) => resizeLayer(l, resizeLayerOf(l, false)),
  ZeroPadding2D: (l) => {
    const c = settings(l, { padding: ANY, data_format: channelsLast });
    const v = c.padding ?? 1;
    const [[t, b], [le, r]] = Array.isArray(v) ? (v as unknown[]).map((e) => pair(e, 0)) : [pair(v, 1), pair(v, 1)];
    return simple((x) => pad(x, [[0, 0], [t, b], [le, r], [0, 0]]));
  },
  Cropping2D: (l) => {
    const c = settings(l, { cropping: ANY, data_format: channelsLast });
    const v = c.cropping ?? 0;
    const [[t, b], [le, r]] = Array.isArray(v) ? (v as unknown[]).map((e) => pair(e, 0)) : [pair(v, 0), pair(v, 0)];
    return simple((x) => slice(x, [0, t, le, 0], [x.shape[0], x.shape[1] - t - b, x.shape[2] - le - r, x.shape[3]]));
  },
  // The 1-D shape layers over [batch, steps, channels], as Keras defines them (defaults 2, 1, 1).
  UpSampling1D: (l) => {
    const c = settings(l, { size: (v) => v === undefined || (Number.isInteger(v) && (v as number) >= 1) });
    const s = Number(c.size ?? 2);
    return simple((x) => {
      if (x.rank !== 3) refuse(l, `takes a rank-3 input [batch, steps, channels], got [${x.shape}]`);
      const [n, steps, ch] = x.shape;
      return reshape(concat(Array(s).fill(reshape(x, [n, steps, 1, ch])), 2), [n, steps * s, ch]);
    });
  },
  ZeroPadding1D: (l) => {
    const c = settings(l, { padding: (v) => sides1d(v, 1) !== undefined, data_format: channelsLast });
    const [a, b] = sides1d(c.padding, 1)!;
    return simple((x) => pad(x, [[0, 0], [a, b], [0, 0]]));
  },
  Cropping1D: (l) => {
    const c = settings(l, { cropping: (v) => sides1d(v, 1) !== undefined });
    const [a, b] = sides1d(c.cropping, 1)!;
    return simple((x) => {
      if (x.shape[1] - a - b < 1) refuse(l, `crops ${a} + ${b} steps of ${x.shape[1]}`);
      return slice(x, [0, a, 0], [x.shape[0], x.shape[1] - a - b, x.shape[2]]);
    });
  },
  Flatten: (l) => (settings(l, { data_format: channelsLast }), simple((x) => flatten(x))),
  Reshape: (l) => {
    settings(l, { target_shape: ANY });
    const target = reshapeTarget(l);
    return simple((x) => reshape(x, [x.shape[0], ...reshapeTo(target, x.shape.slice(1))]));
  },
  Permute: (l) => {
    const c = settings(l, { dims: (v) => Array.isArray(v) && v.every((d) => Number.isInteger(d) && d >= 1) });
    return simple((x) => transpose(x, [0, ...(c.dims as number[])]));
  },
  ReLU: (l) => {
    const c = settings(l, { max_value: (v) => v === undefined || v === null || (isNum(v) && v > 0), maxValue: (v) => v === undefined || v === null || (isNum(v) && v > 0), negative_slope: (v) => v === undefined || (isNum(v) && v >= 0), threshold: (v) => v === undefined || v === 0 });
    const max = (c.max_value ?? c.maxValue ?? null) as number | null, slope = Number(c.negative_slope ?? 0);
    if (max === null && slope === 0) return activationOnly((x) => relu(x), false, true);
    // Non-decreasing for every slope >= 0 (negative ones are refused above). A slope's product
    // rounds once either side of the pool (layers_spec.ts, poolFirst).
    return activationOnly((x) => {
      const y = slope ? leaky(x, slope) : relu(x);
      return max === null ? y : sub(y, shiftedRelu(x, max));
    }, true, true);
  },
  // tfjs's and Keras 2's: x above theta, else 0; non-decreasing for theta >= 0.
  ThresholdedReLU: (l) => {
    const c = settings(l, { theta: (v) => v === undefined || (isNum(v) && v >= 0) });
    const theta = Number(c.theta ?? 1);
    return activationOnly((x) => thresholded(x, theta), true, true);
  },
  ELU: (l) => {
    const c = settings(l, { alpha: (v) => v === undefined || isNum(v) });
    const alpha = Number(c.alpha ?? 1);
    return simple((x) => elu(x, alpha), true, true);
  },
  LeakyReLU: (l) => {
    const c = settings(l, { alpha: (v) => v === undefined || isNum(v), negative_slope: (v) => v === undefined || isNum(v) });
    const s = Number(c.alpha ?? c.negative_slope ?? 0.3);
    // Non-decreasing when the slope is >= 0, so it may run after a max pool it feeds.
    return activationOnly((x) => leaky(x, s), true, s >= 0);
  },
  Activation: (l, ctx) => {
    settings(l, { activation: ANY });
    const a = activation(l, l.config.activation, ctx);
    if (a.f && a.monotone) return activationOnly(a.f, a.exactOnly, true);
    return { step: () => (xs) => (a.f ? a.f(xs[0]) : xs[0]), comparisons: a.comparisons, exactOnly: a.exactOnly, finalActivation: a.finalActivation };
  },
  Add: (l) => merge(l, (xs) => xs.slice(1).reduce((a, b) => add(a, b), xs[0])),
  Subtract: (l) => merge(l, (xs) => (xs.length === 2 ? sub(xs[0], xs[1]) : refuse(l, `takes 2 inputs, got ${xs.length}`))),
  Multiply: (l) => merge(l, (xs) => xs.slice(1).reduce((a, b) => mul(a, b), xs[0])),
  Average: (l) => merge(l, (xs) => mul(xs.slice(1).reduce((a, b) => add(a, b), xs[0]), 1 / xs.length)),
  // max(a, b) = b + relu(a - b); min(a, b) = a - relu(a - b): exact under SecureNN.
  Maximum: (l) => merge(l, (xs) => xs.slice(1).reduce((a, b) => add(b, relu(sub(a, b))), xs[0]), true),
  Minimum: (l) => merge(l, (xs) => xs.slice(1).reduce((a, b) => sub(a, relu(sub(a, b))), xs[0]), true),
  // Copies of a [batch, d] input: [batch, n, d] (local).
  RepeatVector: (l) => {
    const c = settings(l, { n: (v) => Number.isInteger(v) && (v as number) >= 1 });
    return simple((x) => {
      if (x.rank !== 2) refuse(l, `takes a rank-2 input [batch, features], got [${x.shape}]`);
      const row = reshape(x, [x.shape[0], 1, x.shape[1]]);
      return concat(new Array<AnyTensor>(Number(c.n)).fill(row), 1);
    });
  },
  // Batched dot products of two inputs along `axes` (rank 2 or 3): one batched private product.
  Dot: (l) => {
    const c = settings(l, { axes: (v) => Number.isInteger(v) || (Array.isArray(v) && v.length === 2 && v.every(Number.isInteger)), normalize: (v) => v === undefined || v === false });
    if (c.axes === undefined) refuse(l, 'has no axes setting: Keras requires it (the axes of its two inputs to contract)');
    const step = () => (xs: AnyTensor[]) => {
      if (xs.length !== 2) refuse(l, `takes 2 inputs, got ${xs.length}`);
      const [a, b] = xs;
      if (a.rank !== b.rank || a.rank < 2 || a.rank > 3) refuse(l, `takes two inputs of rank 2 or 3, got [${a.shape}] and [${b.shape}]`);
      const ax = (Array.isArray(c.axes) ? c.axes : [c.axes, c.axes]).map((v, i) => ((v as number) < 0 ? (v as number) + xs[i].rank : (v as number)));
      if (ax.some((v) => v < 1 || v >= a.rank)) refuse(l, `axes ${JSON.stringify(c.axes)} must name non-batch axes of rank-${a.rank} inputs`);
      if (a.shape[ax[0]] !== b.shape[ax[1]]) refuse(l, `axis ${ax[0]} of [${a.shape}] and axis ${ax[1]} of [${b.shape}] differ`);
      if (a.rank === 2) return reshape(matmul(reshape(a, [a.shape[0], 1, a.shape[1]]), reshape(b, [b.shape[0], b.shape[1], 1])), [a.shape[0], 1]);
      // [batch, m, k] x [batch, k, n]: the first input's contracted axis last, the second's first.
      return matmul(ax[0] === 2 ? a : transpose(a, [0, 2, 1]), ax[1] === 1 ? b : transpose(b, [0, 2, 1]));
    };
    return { step, comparisons: false, exactOnly: false };
  },
  Concatenate: concatenate,
  // keras.utils.FeatureSpace's concatenation of its encoded features.
  TFDConcat: concatenate,
  // A crop (local) where the input is at least the target's size; Keras resizes a smaller one
  // (smart_resize: a crop to the target's aspect ratio, then bilinear, image_resize.ts).
  CenterCrop: (l, ctx) => {
    const c = settings(l, { height: posInt, width: posInt, data_format: channelsLast });
    const [th, tw] = [Number(c.height), Number(c.width)];
    if (!Number.isInteger(th) || !Number.isInteger(tw)) refuse(l, 'needs height and width');
    const smaller = planned((shape) => smartResizePlan(shape, th, tw));
    return simple((x) => {
      if (x.rank !== 4) refuse(l, `takes [batch, height, width, channels], got [${x.shape}]`);
      const win = centerCropWindow(x.shape, th, tw);
      if (win) return slice(x, win.begin, win.size);
      if (ctx.tfjs) refuse(l, CENTER_CROP_TFJS(x.shape, th, tw));
      return smaller(x);
    });
  },
  // Keras's Masking: its output is the input with every step whose features all equal
  // mask_value set to 0 (x + c (m - 1), m the step mask: nothing to do for c = 0, where those
  // steps are 0 already); the recurrent layers after it skip those steps (layers_mask.ts).
  Masking: (l) => {
    settings(l, { mask_value: isNum, maskValue: isNum });
    const c = maskValueOf(l.config);
    if (c === 0) return simple((x) => x);
    return simple((x) => add(x, mul(sub(privateMask(x, c), 1), c)), true, true);
  },
  [REDUCE_LAYER]: (l) => {
    const spec = reduceOf(l);
    return simple((x) => {
      const g = reduceGeometry(spec, x.shape, (m) => refuse(l, m));
      const rows = x.shape[0] * g.kept;
      // The reduced axes last and flattened: a row of `reduced` values per kept position (local).
      const moved = g.perm.every((a, i) => a === i) ? x : transpose(x, g.perm);
      const y = reshape(moved, [rows, 1, g.reduced, 1]);
      const window = { poolSize: [1, g.reduced] as [number, number], strides: [1, 1] as [number, number] };
      const z = spec.op === 'sum' ? reduceSum(reshape(y, [rows, g.reduced]), 1) : spec.op === 'mean' ? avgPool2d(y, window) : maxPool2d(y, window);
      return reshape(z, g.out);
    }, spec.op === 'max', spec.op === 'max');
  },
  [AXES_LAYER]: (l) => {
    const spec = axesOf(l);
    return simple((x) => reshape(x, axesShape(spec, x.shape, (m) => refuse(l, m))));
  },
  [STACK_LAYER]: (l) => {
    const axis = stackOf(l);
    return {
      step: () => (xs: AnyTensor[]) => {
        const g = stackShape(axis, xs.map((x) => x.shape), (m) => refuse(l, m));
        const parts = xs.map((x) => reshape(x, g.expanded));
        return parts.length === 1 ? parts[0] : concat(parts, g.axis);
      },
      comparisons: false,
      exactOnly: false,
    };
  },
  // x + a public constant tensor (a positional encoding): layers_constant.ts.
  [CONSTANT_LAYER]: (l) => (addedConstantOf(l), simple((x) => addConstant(l, x))),
  [SLICE_LAYER]: (l) => {
    const key = keyOf(l);
    return simple((x) => {
      const { begin, size, out, picks } = sliceBounds(key, x.shape, (m) => refuse(l, m));
      // A stepped axis: its indices within the window, a gather (each party the same of its share).
      const y = picks.reduce((v, p) => gather(v, p.indices, p.axis), slice(x, begin, size));
      return reshape(y, out);
    });
  },
  [POLYNOMIAL_LAYER]: (l, ctx) => {
    settings(l, { coeffs: ANY, degree: ANY });
    const form = polynomialForm(l);
    if ('coeffs' in form) {
      const coeffs = form.coeffs;
      return simple((x) => polynomial(x, { coeffs, interval: [-Infinity, Infinity], maxError: Number.NaN }, 'poly'));
    }
    const ws = Array.from({ length: form.degree + 1 }, (_, i) => ctx.take(`coeff${i}`, [1]));
    return { step: (p) => (xs) => privatePolynomial(one(xs), ws.map((i) => p[i]), 'poly'), comparisons: false, exactOnly: false };
  },
};

export const SUPPORTED_LAYERS: readonly string[] = Object.keys(BUILDERS);

/** Layers people ask for that are refused for a stated reason (not merely unknown). */
/** Why some layers people often have are refused (the message after "is"). */
const REFUSED: Record<string, string> = {
  RandomCrop: 'not supported: at inference tf-keras and Keras before 3.8 centre-crop and resize, later Keras returns the input unchanged, so what the model computes depends on the Keras that runs it',
  RandomHeight: 'not supported: Keras returns the input at inference, TensorFlow.js resizes it at random',
  RandomWidth: 'not supported: Keras returns the input at inference, TensorFlow.js resizes it at random',
  AutoContrast: 'not supported: it is applied at inference too (a per-image minimum and maximum, then a division)',
  Equalization: 'not supported: Keras documents it as applied at inference and, since 3.8, returns the input unchanged there',
  Lambda: 'not supported: its Python function is not saved in a form that can be read (write the computation with operations: docs/models.md, "Operations between layers"; keras.applications\' preprocess_input called on the Input tensor itself, not in a Lambda, is saved as operations and runs)',
  RNN: "not read here: every reader rewrites an RNN over Keras's cells as the LSTM, GRU or SimpleRNN layers it computes before anything reads the topology (lib/api/rnn_cells.ts; loadLayersModel and the owner's deploy do so), so one left here came another way (a deploy request that skipped it)",
};

/**
 * A TfePolynomial layer's form, checked: public coefficients in its config (`coeffs`, 2 to 4
 * numbers: every server reads them), or private ones (`degree` 1 to 3, the coefficients the
 * weights `<name>/coeff0` .. `coeff<degree>`, shape [1], shared like any weight: what calibration
 * writes, since they are fitted to the owner's data).
 */
export function polynomialForm(layer: { config: Record<string, unknown> & { name: string } }): { coeffs: number[] } | { degree: number } {
  const { coeffs: c, degree: d } = layer.config;
  if (c !== undefined && d !== undefined) throw new Error(`layer '${layer.config.name}' (${POLYNOMIAL_LAYER}) has both coeffs (public coefficients) and degree (private ones, as weights): give one`);
  if (d !== undefined) {
    if (d !== 1 && d !== 2 && d !== 3) throw new Error(`layer '${layer.config.name}' (${POLYNOMIAL_LAYER}) needs degree 1, 2 or 3, got ${JSON.stringify(d)}`);
    return { degree: d };
  }
  if (!Array.isArray(c) || c.length < 2 || c.length > 4 || !c.every((v) => typeof v === 'number' && Number.isFinite(v)))
    throw new Error(`layer '${layer.config.name}' (${POLYNOMIAL_LAYER}) needs coeffs: 2 to 4 finite numbers (degree 1 to 3), or degree with its coefficients as weights`);
  return { coeffs: c as number[] };
}

for (const name of Object.keys(BUILDERS)) KNOWN_LAYERS.add(name);

export function planLayer(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const build = BUILDERS[l.class_name];
  if (!build) throw new Error(`layer '${l.config.name}' of class ${l.class_name} is ${REFUSED[l.class_name] ?? 'not supported'}`);
  return build(l, ctx);
}
