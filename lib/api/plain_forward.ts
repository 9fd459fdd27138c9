// The plaintext twin of a private model: the same graph (layers_graph.ts), the same accepted
// layers and settings (the topology goes through parseTopology first, so anything the private
// model refuses is refused here too) and the same parameters (BatchNormalization folded by the
// owner's `derive`, in float64 here), evaluated in float64 with no TensorFlow.js. `tfe verify` and
// PrivateModel.verify compare the private model with it; nothing here is secret-shared.
//
// Semantics are TensorFlow.js's (channels-last, TensorFlow's SAME padding), with the true
// functions where the private model approximates (sigmoid, tanh) or where Pond replaces ReLU by a
// polynomial: the differences are what verify measures. `forward` returns what the private model
// returns (the logits when a softmax or sigmoid ends the model); `predict` applies that final
// activation, giving what tfjs's model.predict gives.
import { customScaleOf } from './layers_inception_resnet';
import { graphOf, type LayerConfig, outputId } from './layers_graph';
import { asMask, maskSources, maskValueOf, plainMask } from './layers_mask';
import { derive, type LayersModelJson, manifestShapes, type ModelSpec, parseTopology } from './layers_spec';
import { polynomialForm, POLYNOMIAL_LAYER, rescalingOf } from './layers_catalog';
import { reshapeTarget, reshapeTo, sides1d } from './layers_settings';
import { type PlainRun, plainRecurrentLayers } from './plain_recurrent';
import { plainConvLstm } from './plain_conv_lstm';
import { einsumPlan } from './einsum_plan';
import { checkOutputShape, einsumDenseSettings } from './layers_einsum_dense';
import { perStep, timeDistributedInner } from './layers_wrappers';
import { conv2dOp, conv2dTransposeOp, depthwiseConv2dOp, denseOp, gatherOp, maxAbsOf, plainAlloc, type PlainTensor, pool2d, size, softmaxRows, transposeOp, window2d } from './plain_kernels';
import { transposeAxis } from './conv_kernels';
import { activation, fail } from './plain_activations';
import { plainAdditiveAttention, plainAttention, plainMultiHeadAttention } from './plain_attention';
import { type ClientInput, toModelInput } from './client_input';
import { describeInput, hasInputs, packRows, splitRows } from './input_encoding';
import { checkOperation } from './keras_operations';
import { keyOf, pickValues, SLICE_LAYER, sliceBounds, sliceValues } from './layers_slice';
import { CONSTANT_LAYER, plainAddConstant } from './layers_constant';
import { AXES_LAYER, axesOf, axesShape, STACK_LAYER, stackOf, stackShape } from './layers_axes';
import { REDUCE_LAYER, reduceGeometry, reduceOf } from './layers_reduce';
import { centerCropWindow, INFERENCE_IDENTITY } from './layers_augmentation';
import { layerScaleSettings, stochasticDepth } from './layers_convnext';
import { LAYER_NORM_MAX_WIDTH } from './ops_norm';
import { ADAPTIVE_POOLS, adaptivePoolOf, plainAdaptivePool } from './layers_adaptive_pool';
import { categoryEncodingOf } from './layers_embedding';
import { discretizationOf } from './layers_discretization';
import { lookupOf } from './layers_lookup';
import { plainHashing } from './layers_hashing';
import { plainHashedCrossing } from './layers_crossing';
import { hashBin, type HashingSpec } from './hash_bins';
import { tableEntries } from './bucket_table';
import { fusedEntries } from './fused_table';
import { fusedReads } from './layers_embedding';
import { ID_HALF } from './string_ids';
import { plainEncode } from './categorical_encoding';
import { plainConv3d, plainConv3dTranspose, plainCopy3d, plainGlobalPool3d, plainPool3d } from './plain_3d';
import { CENTER_CROP_TFJS, plainResize, RESIZE_LAYER, type ResizeLayer, resizeLayerOf, resizePlan, smartResizePlan } from './image_resize';
import { applyFinalActivation, type FinalActivation } from './final_activation';

/** Float64 data and a shape already: used as it is (calibration and verify pass large batches). */
const isPlain = (x: unknown): x is PlainTensor => typeof x === 'object' && x !== null && (x as PlainTensor).data instanceof Float64Array && Array.isArray((x as PlainTensor).shape);

export type { PlainTensor } from './plain_kernels';

export interface PlainModel {
  spec: ModelSpec;
  /** 'Class:name' per layer, as ModelSpec.layers. */
  layers: string[];
  inputShape: number[];
  finalActivation?: FinalActivation;
  /**
   * The output before a final softmax or sigmoid: what the private model returns. `x`: float64
   * data with the batch axis first, or anything a client's prediction takes (client_input.ts:
   * nested arrays, {data, shape}, a tfjs tensor, a typed array of whole examples). `observe` sees
   * every layer's output; `caveat` hears of values on which the private layer is known to be less
   * accurate than plaintext (LayerNormalization's rows of tiny variance), once per layer and call.
   * `internal` hears of the largest |value| of a product the private layer forms inside, larger
   * than its output (a calibrated polynomial's x^3, attention's scores), once per layer and call.
   */
  forward(x: PlainTensor | ClientInput, observe?: (layer: string, out: PlainTensor) => void, caveat?: (layer: string, what: string) => void, internal?: InternalHook): PlainTensor;
  /** The final activation applied: what tfjs's model.predict returns. `x` as forward's. A model with several outputs: predictOutputs. */
  predict(x: PlainTensor | ClientInput): PlainTensor;
  /** Each output with its final activation applied, in the model's order: what tfjs's model.predict returns for any model. `observe` as forward's. */
  predictOutputs(x: PlainTensor | ClientInput, observe?: (layer: string, out: PlainTensor) => void): PlainTensor[];
}

/** The largest |value| of an internal product (`what`: 'x^3', 'scores') of a layer. */
export type InternalHook = (layer: string, what: string, maxAbs: number) => void;

type Weights = Map<string, { data: ArrayLike<number>; shape: number[] }>;
type Run = (xs: PlainTensor[]) => PlainTensor;
/** `scaleFolded`: a BatchNormalization whose scale is in the kernel before it (the private model's fold). */
type Ctx = { w: (name: string) => Float64Array; has: (name: string) => boolean; shapeOf: (name: string) => number[]; isOutput: boolean; keras3: boolean; tfjs: boolean; scaleFolded?: boolean; caveat: (what: string) => void; internal: (what: string, maxAbs: number) => void; idsThrough?: boolean; fusedLookup?: LayerConfig };

/** `p`'s values as a Hashing's bins (or `p` for an input no Hashing reads). */
const binned = (p: PlainTensor, h: HashingSpec | undefined): PlainTensor => (h ? { data: p.data.map((v) => hashBin(v, h, 'the input')), shape: p.shape } : p);

/** IntegerLookup's (and StringLookup's, on ids) vocabulary index of x cast to an integer (towards zero). */
function plainLookup(l: LayerConfig, vocab: Float64Array, w: (name: string) => Float64Array): (xs: PlainTensor[]) => PlainTensor {
  const { mode, mask, padTo } = lookupOf(l), m = vocab.length;
  const at = new Map(Array.from(vocab, (v, j) => [v, j]));
  // Columns: OOV, then the vocabulary; the mask token has none (-1). int: the mask's index 0 first.
  const column = (v: number) => (mask !== null && Math.trunc(v) === mask ? -1 : (at.get(Math.trunc(v)) ?? -1) + 1);
  const base = mask === null ? 0 : 1;
  if (mode === 'int') return one((x) => ({ data: x.data.map((v) => (mask !== null && Math.trunc(v) === mask ? 0 : base + column(v))), shape: x.shape }));
  if (mode !== 'tf_idf') return one((x) => plainEncode(l, mode, x, padTo ?? m + 1, column, plainAlloc));
  // Counts times the idf weights (OOV's first; pad_to_max_tokens's columns 0).
  const idf = w(`${l.config.name}/idf_weights`);
  return one((x) => {
    const out = plainEncode(l, 'count', x, padTo ?? m + 1, column, plainAlloc), width = out.shape[out.shape.length - 1];
    out.data.forEach((v, i) => (out.data[i] = v * (idf[i % width] ?? 0)));
    return out;
  });
}

/** A bucket table's entries (bucket_table.ts) in column order, the mask token's left out: the vocabulary. */
function tableVocabulary(l: LayerConfig, w: (name: string) => Float64Array): Float64Array {
  const entries = tableEntries(w(`${l.config.name}/vocabulary_table`)), first = Math.min(...entries.map((e) => e.column).filter((k) => k > 0));
  const vocab = new Float64Array(Number(l.config.vocabulary_size) - 1);
  for (const e of entries) if (e.column >= first) vocab[e.column - first] = e.id;
  return vocab;
}

/**
 * Below this variance + epsilon a row's private LayerNormalization loses accuracy: the inputs'
 * rounding over sqrt(var + epsilon) passes 5e-3 (docs/models.md, LayerNormalization).
 */
export const LAYER_NORM_ACCURATE_VARIANCE = 4 ** -6;
/**
 * Below this variance + epsilon the private scale is clamped (ops_norm.ts, K_FLOOR, less a^2 c's
 * factor of up to 4), so the output shrinks towards beta.
 */
const LAYER_NORM_FLOOR = 4 ** -13;

const map = (x: PlainTensor, f: (v: number) => number): PlainTensor => ({ data: x.data.map(f), shape: x.shape });

/** A row normalisation's last axis, refused past what the private layer takes (layers_norm.ts), so a model is refused where loaded. */
function normRowWidth(l: LayerConfig, x: PlainTensor): number {
  const width = x.shape[x.shape.length - 1];
  if (width > LAYER_NORM_MAX_WIDTH) fail(l, `rows of ${width} values are wider than the ${LAYER_NORM_MAX_WIDTH} supported`);
  return width;
}

// The same readings of the settings as layers_catalog.ts.
const pair = (v: unknown, d: number): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1])] : v === undefined || v === null ? [d, d] : [Number(v), Number(v)]);
const same = (v: unknown) => String(v ?? 'valid').toLowerCase() === 'same';
const sides = (v: unknown, d: number): [[number, number], [number, number]] =>
  (Array.isArray(v) ? (v as unknown[]).map((e) => pair(e, 0)) : [pair(v, d), pair(v, d)]) as [[number, number], [number, number]];

/**
 * The merge layers' inputs as Keras and tfjs take them: one of lower rank gets axes of 1 after
 * the batch until the ranks match (mergeRanks in layers_catalog.ts), then they broadcast.
 */
function elementwise(l: LayerConfig, xs: PlainTensor[], f: (a: number, b: number) => number, finish?: (v: number) => number): PlainTensor {
  const rank = Math.max(...xs.map((x) => x.shape.length));
  const ys = xs.map((x) => ({ data: x.data, shape: [x.shape[0], ...new Array<number>(rank - x.shape.length).fill(1), ...x.shape.slice(1)] }));
  const shape = ys[0].shape.map((_, a) => Math.max(...ys.map((y) => y.shape[a])));
  for (const y of ys) if (y.shape.some((d, a) => d !== shape[a] && d !== 1)) fail(l, `inputs of shapes [${xs[0].shape}] and [${xs[ys.indexOf(y)].shape}] cannot be broadcast together`);
  const n = size(shape), out = plainAlloc(n);
  // Each input's element for output index i: its strides, zero along its axes of 1.
  const at = ys.map((y) => {
    const strides = new Array<number>(rank);
    for (let a = rank - 1, s = 1; a >= 0; a--) (strides[a] = y.shape[a] === 1 ? 0 : s), (s *= y.shape[a]);
    return strides;
  });
  const index = (k: number, i: number) => {
    let j = 0;
    for (let a = rank - 1, r = i; a >= 0; a--) (j += (r % shape[a]) * at[k][a]), (r = Math.floor(r / shape[a]));
    return j;
  };
  for (let i = 0; i < n; i++) {
    let v = ys[0].data[index(0, i)];
    for (let k = 1; k < ys.length; k++) v = f(v, ys[k].data[index(k, i)]);
    out[i] = v;
  }
  return { data: finish ? out.map(finish) : out, shape };
}

function concatOp(l: LayerConfig, xs: PlainTensor[], axisSetting: number): PlainTensor {
  const rank = xs[0].shape.length;
  const axis = axisSetting < 0 ? rank + axisSetting : axisSetting;
  if (axis <= 0 || axis >= rank) fail(l, `axis ${axisSetting} is out of range for rank ${rank}`);
  for (const x of xs)
    if (x.shape.length !== rank || x.shape.some((d, i) => i !== axis && d !== xs[0].shape[i])) fail(l, `inputs of shapes [${xs[0].shape}] and [${x.shape}] cannot be concatenated on axis ${axisSetting}`);
  const outer = size(xs[0].shape.slice(0, axis));
  const inners = xs.map((x) => size(x.shape.slice(axis)));
  const total = inners.reduce((a, b) => a + b, 0);
  const out = plainAlloc(outer * total);
  for (let o = 0; o < outer; o++) {
    let at = o * total;
    xs.forEach((x, i) => {
      out.set(x.data.subarray(o * inners[i], (o + 1) * inners[i]), at);
      at += inners[i];
    });
  }
  const shape = [...xs[0].shape];
  shape[axis] = xs.reduce((a, x) => a + x.shape[axis], 0);
  return { data: out, shape };
}

const one = (f: (x: PlainTensor) => PlainTensor): Run => (xs) => f(xs[0]);

/** A 1-D pool: a 2-D one over [n, 1, steps, C]. */
function pool1d(l: LayerConfig, kind: 'avg' | 'max'): (x: PlainTensor) => PlainTensor {
  const int = (v: unknown) => Number(Array.isArray(v) ? v[0] : v);
  const k = int(l.config.pool_size ?? 2), s = int(l.config.strides ?? k);
  return (x) => {
    const y = pool2d({ data: x.data, shape: [x.shape[0], 1, x.shape[1], x.shape[2]] }, kind, [1, k], [1, s], same(l.config.padding));
    return { data: y.data, shape: [y.shape[0], y.shape[2], y.shape[3]] };
  };
}

function globalPool1d(l: LayerConfig, kind: 'avg' | 'max'): (x: PlainTensor) => PlainTensor {
  // channels_first: [batch, channels, steps], pooled over the last axis.
  const first = l.config.data_format === 'channels_first';
  return (x0) => {
    const x = first ? transposeOp(x0, [0, 2, 1]) : x0;
    const y = pool2d({ data: x.data, shape: [x.shape[0], 1, x.shape[1], x.shape[2]] }, kind, [1, x.shape[1]], [1, 1], false);
    return { data: y.data, shape: l.config.keepdims ? (first ? [y.shape[0], y.shape[3], 1] : [y.shape[0], 1, y.shape[3]]) : [y.shape[0], y.shape[3]] };
  };
}

/** The kernel size with dilation applied: (k - 1) d + 1 per axis. */
const dilatedSize = (l: LayerConfig, [dh, dw]: [number, number]): [number, number] => {
  const [kh, kw] = pair(l.config.kernel_size, 1);
  return [(kh - 1) * dh + 1, (kw - 1) * dw + 1];
};

/**
 * A Conv2DTranspose's kernel turned half a turn ([kh, kw, c, f]: turned[kh-1-ky, kw-1-kx] = Keras's
 * W[ky, kx]) from the private model's sub-pixel kernel [Mh, Mw, c, sh sw f] (conv_kernels.ts
 * subPixelKernel: tap (ky, kx) at [Mh-1-ky/sh, Mw-1-kx/sw], phase (ky mod sh, kx mod sw)).
 */
function turnedFromSubPixel(u: Float64Array, [kh, kw]: [number, number], [sh, sw]: [number, number], f: number): Float64Array {
  const mh = Math.ceil(kh / sh), mw = Math.ceil(kw / sw), c = u.length / (mh * mw * sh * sw * f), wide = sh * sw * f;
  const out = plainAlloc(kh * kw * c * f);
  for (let ky = 0; ky < kh; ky++)
    for (let kx = 0; kx < kw; kx++) {
      const cell = ((mh - 1 - Math.floor(ky / sh)) * mw + (mw - 1 - Math.floor(kx / sw))) * c, phase = ((ky % sh) * sw + (kx % sw)) * f;
      for (let ci = 0; ci < c; ci++)
        out.set(u.subarray((cell + ci) * wide + phase, (cell + ci) * wide + phase + f), (((kh - 1 - ky) * kw + (kw - 1 - kx)) * c + ci) * f);
    }
  return out;
}

/**
 * A layer's activation as a step on tensors: elementwise (plain_activations.ts), or a hidden
 * softmax over the last axis; undefined for none (or the client's final one).
 */
function act(l: LayerConfig, name: unknown, ctx: Pick<Ctx, 'isOutput' | 'keras3' | 'internal'>, fused = true): ((x: PlainTensor) => PlainTensor) | undefined {
  // A fused activation's input is the layer's truncated product, which verify sees nowhere else
  // (a tanh's output stays within 1 whatever its input).
  const before = (x: PlainTensor) => (fused ? ctx.internal(`before ${String(name)}`, maxAbsOf(x.data)) : undefined);
  if (name === 'softmax' && !ctx.isOutput)
    return (x) => {
      before(x);
      const data = Float64Array.from(x.data);
      softmaxRows(data, x.shape[x.shape.length - 1]);
      return { data, shape: x.shape };
    };
  const f = activation(l, name, ctx);
  return f
    ? (x) => {
        before(x);
        return map(x, f);
      }
    : undefined;
}

/** A Conv2D with parameter `kernel` ([kh, kw, in, out]), the bias and the activation of layer l. */
function conv(l: LayerConfig, ctx: Ctx, kernel: string, [kh, kw]: [number, number], out: number, groups = 1): Run {
  const { w } = ctx, c = l.config, f = act(l, c.activation, ctx);
  const k = w(`${c.name}/${kernel}`);
  const b = c.use_bias === false ? undefined : w(`${c.name}/bias`);
  return one((x) => {
    const y = conv2dOp(x, k, [kh, kw, k.length / (kh * kw * out), out], pair(c.strides, 1), same(c.padding), b, groups);
    return f ? f(y) : y;
  });
}

/** A depthwise convolution over `ch` channels, its filter [kh, kw, 1, ch m] read as [kh, kw, ch, m]. */
function depthwise(l: LayerConfig, ctx: Ctx, kernel: string, [kh, kw]: [number, number], ch: number): Run {
  const { w } = ctx, c = l.config, f = act(l, c.activation, ctx);
  const k = w(`${c.name}/${kernel}`);
  const b = c.use_bias === false ? undefined : w(`${c.name}/bias`);
  return one((x) => {
    if (x.shape.length !== 4 || x.shape[3] !== ch) fail(l, `convolves ${ch} channels one by one, but its input is [${x.shape}] (NHWC)`);
    const y = depthwiseConv2dOp(x, k, [kh, kw, ch, k.length / (kh * kw * ch)], pair(c.strides, 1), same(c.padding), b);
    return f ? f(y) : y;
  });
}

/** A Conv1D (or a separable one folded) on `kernel` [1, taps, ch / groups, f] as the private layer: over a height-1 image, causal zeros first. */
function conv1d(l: LayerConfig, ctx: Ctx, kernel: string, groups: number): Run {
  const { w } = ctx, c = l.config, n = c.name, f = act(l, c.activation, ctx), filters = Number(c.filters);
  const d = Number(Array.isArray(c.dilation_rate) ? c.dilation_rate[0] : (c.dilation_rate ?? 1));
  const kl = Number(Array.isArray(c.kernel_size) ? c.kernel_size[0] : c.kernel_size), klD = (kl - 1) * d + 1;
  const k = w(`${n}/${kernel}`), s1 = Number(Array.isArray(c.strides) ? c.strides[0] : (c.strides ?? 1));
  const b = c.use_bias === false ? undefined : w(`${n}/bias`);
  // Causal: (kl - 1) d zeros before the first step, then VALID.
  const left = c.padding === 'causal' ? klD - 1 : 0;
  return one((x) => {
    const [n, steps, ch] = x.shape;
    const x4 = window2d({ data: x.data, shape: [n, 1, steps, ch] }, 1, steps + left, 0, 0, 0, left, 1, steps);
    const y = conv2dOp(x4, k, [1, klD, k.length / (klD * filters), filters], [1, s1], same(c.padding), b, groups);
    const z = { data: y.data, shape: [y.shape[0], y.shape[2], y.shape[3]] };
    return f ? f(z) : z;
  });
}

/**
 * SeparableConv2D, DepthwiseConv1D and SeparableConv1D as the private layers (layers_conv.ts
 * depthwiseLayer): the depthwise filter [kh, kw, 1, C m] (dilated by the owner; 1-D: kh = 1, over
 * a height-1 image, causal zeros first), then a separable layer's pointwise kernel; or the two
 * folded into one kernel where the owner folded them.
 */
function plainDepthwise(l: LayerConfig, ctx: Ctx, oneD: boolean, separable: boolean): Run {
  const c = l.config, f = act(l, c.activation, ctx);
  // A separable layer the owner folded into one kernel (conv_kernels.ts separableInTwo): one convolution.
  if (separable && ctx.has(`${c.name}/full_kernel`)) return oneD ? conv1d(l, ctx, 'full_kernel', 1) : conv(l, ctx, 'full_kernel', dilatedSize(l, pair(c.dilation_rate, 1)), Number(c.filters));
  const first = (v: unknown) => Number(Array.isArray(v) ? v[0] : (v ?? 1));
  const [kh, kw] = oneD ? [1, (first(c.kernel_size) - 1) * first(c.dilation_rate) + 1] : dilatedSize(l, pair(c.dilation_rate, 1));
  const strides: [number, number] = oneD ? [1, first(c.strides)] : pair(c.strides, 1);
  const d = ctx.w(`${c.name}/depthwise_filter`), p = separable ? ctx.w(`${c.name}/pointwise_kernel`) : undefined, filters = Number(c.filters);
  const b = c.use_bias === false ? undefined : ctx.w(`${c.name}/bias`);
  const left = oneD && c.padding === 'causal' ? kw - 1 : 0;
  return one((x) => {
    const ch = x.shape[x.shape.length - 1], m = d.length / (kh * kw * ch);
    if (x.shape.length !== (oneD ? 3 : 4) || !Number.isInteger(m)) fail(l, `convolves its depthwise filter's channels one by one, but its input is [${x.shape}]`);
    const [n, steps] = x.shape;
    const x4 = oneD ? window2d({ data: x.data, shape: [n, 1, steps, ch] }, 1, steps + left, 0, 0, 0, left, 1, steps) : x;
    const z = depthwiseConv2dOp(x4, d, [kh, kw, ch, m], strides, same(c.padding), p ? undefined : b);
    const y = p ? conv2dOp(z, p, [1, 1, ch * m, filters], [1, 1], false, b) : z;
    const out = oneD ? { data: y.data, shape: [y.shape[0], y.shape[2], y.shape[3]] } : y;
    return f ? f(out) : out;
  });
}

/** A resize (Resizing, bilinear UpSampling2D), as the private layer: a centred crop where asked, then the taps. */
function plainResizeLayer(l: LayerConfig, r: ResizeLayer): Run {
  return one((x) => {
    const plan = resizePlan(l, r, x.shape);
    const y = plan.crop ? { data: sliceValues(x.data, x.shape, plan.crop.begin, plan.crop.size), shape: plan.crop.size } : x;
    return plainResize(y, plan.rows, plan.cols);
  });
}

const PLAIN: Record<string, (l: LayerConfig, ctx: Ctx) => Run> = {
  ...Object.fromEntries(INFERENCE_IDENTITY.map((n) => [n, () => one((x) => x)])),
  InputLayer: () => one((x) => x),
  Dropout: () => one((x) => x),
  GaussianNoise: () => one((x) => x),
  GaussianDropout: () => one((x) => x),
  AlphaDropout: () => one((x) => x),
  Identity: () => one((x) => x),
  TFDIdentity: () => one((x) => x),
  StochasticDepth: (l) => (stochasticDepth(l), one((x) => x)),
  CustomScaleLayer: (l) => {
    const scale = customScaleOf(l);
    return ([a, b]) => {
      if (a.shape.join() !== b.shape.join()) fail(l, `adds inputs of shapes [${a.shape}] and [${b.shape}]; they must be equal`);
      return { data: a.data.map((v, i) => v + b.data[i] * scale), shape: a.shape };
    };
  },
  LayerScale: (l, { w, scaleFolded }) => {
    // Folded into the Dense before it, as the private model's (layers_spec.ts foldBatchNorms).
    const { channels } = layerScaleSettings(l), g = scaleFolded ? plainAlloc(channels).fill(1) : w(`${l.config.name}/gamma`);
    if (g.length !== channels) fail(l, `gamma holds ${g.length} values, not projection_dim = ${channels}`);
    return one((x) => {
      if (x.shape[x.shape.length - 1] !== channels) fail(l, `scales ${channels} channels (projection_dim), but its input has ${x.shape[x.shape.length - 1]} (its last axis)`);
      return { data: x.data.map((v, i) => v * g[i % channels]), shape: x.shape };
    });
  },
  ActivityRegularization: () => one((x) => x),
  Rescaling: (l) => {
    const { scale, offset } = rescalingOf(l);
    return one((x) => {
      const last = x.shape[x.shape.length - 1], channels = Math.max(scale.length, offset.length);
      if (channels > 1 && last !== channels) throw new Error(`layer '${l.config.name}' (Rescaling): has ${channels} per-channel values, but its input has ${last} channels (its last axis)`);
      const out = plainAlloc(x.data.length);
      for (let i = 0; i < out.length; i++) out[i] = x.data[i] * scale[scale.length > 1 ? i % last : 0] + offset[offset.length > 1 ? i % last : 0];
      return { data: out, shape: x.shape };
    });
  },
  Softmax: (l, ctx) => {
    const f = act(l, 'softmax', ctx, false), v = l.config.axis;
    const axis = Number(Array.isArray(v) ? v[0] : (v ?? -1));
    return one((x) => {
      const r = x.shape.length, at = axis < 0 ? axis + r : axis;
      if (at === r - 1) return f ? f(x) : x;
      // Another axis, hidden: moved last and back around it (layers_catalog.ts does the same).
      if (at < 1 || at >= r || !f) fail(l, `axis = ${axis} is not the last axis of its rank-${r} input; ${f ? 'the batch axis cannot be' : 'on the output layer only the last axis is supported (the client applies a final softmax over the last axis): move that axis last first (a Permute layer, or tf.transpose)'}`);
      const perm = [...x.shape.keys()].filter((d) => d !== at).concat(at), back = perm.map((_, d) => perm.indexOf(d));
      return transposeOp(f!(transposeOp(x, perm)), back);
    });
  },
  [REDUCE_LAYER]: (l) => {
    const spec = reduceOf(l);
    return one((x) => {
      const g = reduceGeometry(spec, x.shape, (m) => fail(l, m));
      const y = transposeOp(x, g.perm), rows = x.shape[0] * g.kept, n = g.reduced, out = plainAlloc(rows);
      for (let r = 0; r < rows; r++) {
        const row = y.data.subarray(r * n, (r + 1) * n);
        out[r] = spec.op === 'max' ? Math.max(...row) : row.reduce((a, v) => a + v, 0) / (spec.op === 'mean' ? n : 1);
      }
      return { data: out, shape: g.out };
    });
  },
  SpatialDropout1D: () => one((x) => x),
  SpatialDropout2D: () => one((x) => x),
  SpatialDropout3D: () => one((x) => x),
  // Volumes (plain_3d.ts).
  Conv3D: (l, ctx) => {
    const n = l.config.name;
    return plainConv3d(l, ctx.w(`${n}/kernel`), l.config.use_bias === false ? undefined : ctx.w(`${n}/bias`), act(l, l.config.activation, ctx));
  },
  Conv3DTranspose: (l, ctx) => {
    const n = l.config.name;
    return plainConv3dTranspose(l, ctx.w(`${n}/kernel`), l.config.use_bias === false ? undefined : ctx.w(`${n}/bias`), act(l, l.config.activation, ctx));
  },
  MaxPooling3D: (l) => plainPool3d(l, true),
  AveragePooling3D: (l) => plainPool3d(l, false),
  GlobalMaxPooling3D: (l) => plainGlobalPool3d(l, true),
  GlobalAveragePooling3D: (l) => plainGlobalPool3d(l, false),
  UpSampling3D: plainCopy3d,
  ZeroPadding3D: plainCopy3d,
  Cropping3D: plainCopy3d,
  Dense: (l, ctx) => {
    const { w } = ctx, n = l.config.name, f = act(l, l.config.activation, ctx);
    const k = w(`${n}/kernel`), kShape = [k.length / Number(l.config.units), Number(l.config.units)];
    const b = l.config.use_bias === false ? undefined : w(`${n}/bias`);
    return one((x) => {
      const y = denseOp(x, k, kShape, b);
      return f ? f(y) : y;
    });
  },
  // Keras's EinsumDense: the private layer's layout (einsum_plan.ts), one float64 product.
  EinsumDense: (l, ctx) => {
    einsumDenseSettings(l);
    const n = l.config.name, f = act(l, l.config.activation, ctx), k = ctx.w(`${n}/kernel`), kShape = ctx.shapeOf(`${n}/kernel`);
    const b = l.config.bias_axes ? ctx.w(`${n}/bias`) : undefined;
    return one((x) => {
      const plan = einsumPlan(l, x.shape, kShape);
      checkOutputShape(l, plan.out);
      const xm = transposeOp(x, plan.xPerm), km = transposeOp({ data: k, shape: kShape }, plan.kPerm);
      const g = denseOp({ data: xm.data, shape: [plan.rows, plan.inner] }, km.data, [plan.inner, plan.cols]);
      const y = transposeOp({ data: g.data, shape: plan.grouped }, plan.outPerm);
      if (b) {
        // The bias over the output's last axes (Keras's shape: 1 on an axis it does not vary on).
        const tailDims = plan.out.slice(plan.out.length - plan.biasShape.length), span = tailDims.reduce((p, d) => p * d, 1);
        if (b.length !== plan.biasShape.reduce((p, d) => p * d, 1)) fail(l, `weight bias has ${b.length} values, expected [${plan.biasShape}]`);
        for (let i = 0; i < y.data.length; i++) {
          let rest = i % span, at = 0;
          for (let a = 0; a < tailDims.length; a++) {
            const below = span / tailDims.slice(0, a + 1).reduce((p, d) => p * d, 1), coord = Math.floor(rest / below);
            rest -= coord * below;
            at = at * plan.biasShape[a] + (plan.biasShape[a] === 1 ? 0 : coord);
          }
          y.data[i] += b[at];
        }
      }
      return f ? f(y) : y;
    });
  },
  ConvLSTM1D: plainConvLstm(activation),
  ConvLSTM2D: plainConvLstm(activation),
  ConvLSTM3D: plainConvLstm(activation),
  ...plainRecurrentLayers(activation, (l, mode, ys) =>
    mode === 'concat' ? concatOp(l, ys, -1) : elementwise(l, ys, mode === 'mul' ? (a, b) => a * b : (a, b) => a + b, mode === 'ave' ? (v) => v / 2 : undefined),
  ),
  TimeDistributed: (l, ctx) => {
    const inner = timeDistributedInner(l), build = PLAIN[inner.class_name];
    if (!build) fail(l, `wraps a ${inner.class_name}, which has no plaintext evaluation`);
    const run = build(inner, ctx);
    return one((x) => perStep(x, (v, shape) => ({ data: v.data, shape }), (v) => run([v])));
  },
  Attention: (l, { w, internal }) => plainAttention(l, w, internal),
  AdditiveAttention: (l, { w }) => plainAdditiveAttention(l, w),
  MultiHeadAttention: (l, { w, internal }) => plainMultiHeadAttention(l, w, internal),
  GroupQueryAttention: (l, { w, internal }) => plainMultiHeadAttention(l, w, internal),
  // Keras's CategoryEncoding from the ids themselves (the private layer reads their one-hot).
  CategoryEncoding: (l) => {
    const { v, mode } = categoryEncodingOf(l);
    return one((x) => {
      const [n, k = 1] = x.shape, oneHot = mode === 'one_hot' && x.shape.length === 2 && k > 1;
      const out = plainAlloc(n * (oneHot ? k : 1) * v);
      for (let b = 0; b < n; b++)
        for (let j = 0; j < k; j++) {
          const id = x.data[b * k + j];
          if (!(Number.isInteger(id) && id >= 0 && id < v)) fail(l, `token id ${id} is not a whole number in [0, ${v})`);
          const at = (oneHot ? b * k + j : b) * v + id;
          out[at] = mode === 'multi_hot' || (mode === 'one_hot' && !oneHot) ? 1 : out[at] + 1;
        }
      return { data: out, shape: oneHot ? [n, k, v] : [n, v] };
    });
  },
  // Keras's Discretization: the bin of x is the number of boundaries <= x (NumPy's digitize).
  Discretization: (l, { w }) => {
    const mode = discretizationOf(l), b = w(`${l.config.name}/bin_boundaries`);
    const binOf = (v: number) => {
      let k = 0;
      while (k < b.length && v >= b[k]) k++;
      return k;
    };
    return one((x) => (mode === 'int' ? { data: x.data.map(binOf), shape: x.shape } : plainEncode(l, mode, x, b.length + 1, binOf, plainAlloc)));
  },
  // Keras's IntegerLookup: x cast to an integer (towards zero), then its vocabulary index.
  // StringLookup: the same on strings' ids (string_ids.ts), its vocabulary's joined from halves.
  // Read with its Embedding as one table (layers_embedding.ts fusedReads): the ids as they came.
  IntegerLookup: (l, { w, has, idsThrough }) => (idsThrough ? one((x) => x) : plainLookup(l, has(`${l.config.name}/vocabulary_table`) ? tableVocabulary(l, w) : w(`${l.config.name}/vocabulary`), w)),
  // Keras's Hashing, on the bins its input's owner computed (hash_bins.ts).
  Hashing: (l) => one(plainHashing(l, plainAlloc)),
  // Keras's HashedCrossing, on the crossed ids.
  HashedCrossing: (l) => plainHashedCrossing(l, plainAlloc),
  StringLookup: (l, { w, has, idsThrough }) => {
    if (idsThrough) return one((x) => x);
    // A bucket table (bucket_table.ts): its entries in column order, the mask token's left out.
    if (has(`${l.config.name}/vocabulary_table`)) return plainLookup(l, tableVocabulary(l, w), w);
    const hi = w(`${l.config.name}/vocabulary_hi`), lo = w(`${l.config.name}/vocabulary_lo`);
    return plainLookup(l, hi.map((h, j) => h * ID_HALF + lo[j]), w);
  },
  // Keras's TextVectorization: StringLookup's, on the tokens' ids its text's owner sent (text_tokens.ts).
  TextVectorization: (l, ctx) => PLAIN.StringLookup(l, ctx),
  Embedding: (l, { w, has, fusedLookup }) => {
    const n = l.config.name, v = Number(l.config.input_dim);
    // Read with its lookup as one table (fused_table.ts): a value's row by its id (Keras's cast
    // towards zero for an IntegerLookup's code), else the empty column's.
    if (fusedLookup) {
      const d = Number(l.config.output_dim), rows = fusedEntries(w(`${n}/fused_table`), d), oov = w(`${n}/fused_oov`);
      const id = fusedLookup.class_name === 'IntegerLookup' ? Math.trunc : (x: number) => x;
      return one((x) => {
        const out = plainAlloc(x.data.length * d);
        x.data.forEach((k, i) => out.set(rows.get(id(k)) ?? oov, i * d));
        return { data: out, shape: [...x.shape, d] };
      });
    }
    // One that reads rows by its ids' columns holds its table in blocks (row_blocks.ts): the table's rows, then zero rows.
    const table = has(`${n}/embeddings`) ? w(`${n}/embeddings`) : w(`${n}/embedding_blocks`).subarray(0, v * Number(l.config.output_dim));
    return one((x) => gatherOp(x, table, v, `layer '${n}' (Embedding)`));
  },
  // Dilated kernels come spread by the owner (conv_kernels.ts), grouped ones as saved, and depthwise
  // filters (DepthwiseConv2D's, SeparableConv2D's first) as [kh, kw, 1, C m], as the private model
  // uses them: the derived parameter and its shape.
  Conv2D: (l, ctx) => {
    const dil = pair(l.config.dilation_rate, 1), filters = Number(l.config.filters), groups = Number(l.config.groups ?? 1);
    const name = dil[0] * dil[1] === 1 ? 'kernel' : 'dilated_kernel', size = dil[0] * dil[1] === 1 ? pair(l.config.kernel_size, 1) : dilatedSize(l, dil);
    // One input channel per group (groups = the input's channels): depthwise, as the private layer
    // (layers_conv.ts); other groups a grouped convolution.
    if (groups > 1) return (xs) => (xs[0].shape[3] === groups ? depthwise(l, ctx, name, size, groups) : conv(l, ctx, name, size, filters, groups))(xs);
    return conv(l, ctx, name, size, filters);
  },
  DepthwiseConv2D: (l, ctx) => {
    // The filter [kh, kw, 1, C m], C the input's channels (layers_conv.ts).
    const size = dilatedSize(l, pair(l.config.dilation_rate, 1));
    return (xs) => depthwise(l, ctx, 'depthwise_filter', size, xs[0].shape[3])(xs);
  },
  SeparableConv2D: (l, ctx) => plainDepthwise(l, ctx, false, true),
  DepthwiseConv1D: (l, ctx) => plainDepthwise(l, ctx, true, false),
  SeparableConv1D: (l, ctx) => plainDepthwise(l, ctx, true, true),
  Conv2DTranspose: (l, ctx) => {
    const c = l.config, f = act(l, c.activation, ctx), b = c.use_bias === false ? undefined : ctx.w(`${c.name}/bias`);
    const [kh, kw] = pair(c.kernel_size, 1), s = pair(c.strides, 1), filters = Number(c.filters), op = c.output_padding == null ? null : pair(c.output_padding, 0);
    // Keras's kernel turned, put back together from the private model's sub-pixel kernel.
    const k = turnedFromSubPixel(ctx.w(`${c.name}/subpixel_kernel`), [kh, kw], s, filters);
    return one((x) => {
      const geo = [0, 1].map((i) => transposeAxis(x.shape[1 + i], [kh, kw][i], s[i], same(c.padding), op ? op[i] : null)) as [ReturnType<typeof transposeAxis>, ReturnType<typeof transposeAxis>];
      const y = conv2dTransposeOp(x, k, [kh, kw, k.length / (kh * kw * filters), filters], s, geo, b);
      return f ? f(y) : y;
    });
  },
  Conv1DTranspose: (l, ctx) => {
    const c = l.config, f = act(l, c.activation, ctx), b = c.use_bias === false ? undefined : ctx.w(`${c.name}/bias`);
    const first = (v: unknown, d: number) => Number(Array.isArray(v) ? v[0] : (v ?? d));
    const kl = first(c.kernel_size, 1), s = first(c.strides, 1), filters = Number(c.filters), op = c.output_padding == null ? null : first(c.output_padding, 0);
    const k = turnedFromSubPixel(ctx.w(`${c.name}/subpixel_kernel`), [1, kl], [1, s], filters);
    return one((x) => {
      const x4 = { data: x.data, shape: [x.shape[0], 1, x.shape[1], x.shape[2]] };
      const geo = [transposeAxis(1, 1, 1, same(c.padding), null), transposeAxis(x.shape[1], kl, s, same(c.padding), op)] as [ReturnType<typeof transposeAxis>, ReturnType<typeof transposeAxis>];
      const y = conv2dTransposeOp(x4, k, [1, kl, k.length / (kl * filters), filters], [1, s], geo, b);
      const z = { data: y.data, shape: [y.shape[0], y.shape[2], y.shape[3]] };
      return f ? f(z) : z;
    });
  },
  Conv1D: (l, ctx) => {
    const c = l.config, d = Number(Array.isArray(c.dilation_rate) ? c.dilation_rate[0] : (c.dilation_rate ?? 1));
    return conv1d(l, ctx, d === 1 ? 'kernel' : 'dilated_kernel', Number(c.groups ?? 1));
  },
  PReLU: (l, { w }) => {
    const a = w(`${l.config.name}/alpha`);
    const shared = l.config.shared_axes === undefined || l.config.shared_axes === null ? [] : [l.config.shared_axes].flat().map(Number);
    return one((x) => {
      // As the private layer refuses it; here at load (checkRuns), where it is named first.
      if (shared.some((s) => s >= x.shape.length)) fail(l, `shared_axes = [${shared}] names an axis its rank-${x.shape.length} input (batch axis 0) does not have`);
      // alpha broadcasts as a merge's second input: 1 along the batch and the shared axes.
      const alpha = { data: a, shape: [1, ...x.shape.slice(1).map((d, i) => (shared.includes(i + 1) ? 1 : d))] };
      if (size(alpha.shape) !== a.length) fail(l, `alpha holds ${a.length} values, not one per element of [${x.shape.slice(1)}] shared along axes [${shared}]`);
      return elementwise(l, [x, alpha], (v, al) => (v < 0 ? al * v : v));
    });
  },
  Normalization: (l, { w }) => {
    const n = l.config.name, s = w(`${n}/folded_scale`), t = w(`${n}/folded_shift`), ch = s.length;
    // axis None ([] or null): one mean and variance (layers_norm.ts).
    const whole = l.config.axis === null || (Array.isArray(l.config.axis) && l.config.axis.length === 0);
    const axis = whole ? -1 : Number(Array.isArray(l.config.axis) ? l.config.axis[0] : (l.config.axis ?? -1));
    return one((x) => {
      if (axis !== -1 && axis !== x.shape.length - 1) fail(l, `axis = ${axis} is not the last axis of its rank-${x.shape.length} input`);
      if (ch !== 1 && x.shape[x.shape.length - 1] !== ch) fail(l, `has a mean and variance for ${ch} channels, but its input has ${x.shape[x.shape.length - 1]} (its last axis)`);
      return { data: x.data.map((v, i) => v * s[i % ch] + t[i % ch]), shape: x.shape };
    });
  },
  RMSNormalization: (l, { w }) => {
    const eps = Number(l.config.epsilon ?? 1e-6), scale = w(`${l.config.name}/scale`);
    const axes = Array.isArray(l.config.axis) ? l.config.axis : [l.config.axis ?? -1];
    return one((x) => {
      if (axes.length !== 1 || (Number(axes[0]) !== -1 && Number(axes[0]) !== x.shape.length - 1)) fail(l, `axis = ${JSON.stringify(l.config.axis)} is not the last axis of its rank-${x.shape.length} input`);
      const ch = normRowWidth(l, x), out = plainAlloc(x.data.length);
      for (let r = 0; r < x.data.length; r += ch) {
        const row = x.data.subarray(r, r + ch), inv = 1 / Math.sqrt(row.reduce((a, v) => a + v * v, 0) / ch + eps);
        for (let i = 0; i < ch; i++) out[r + i] = row[i] * inv * scale[i];
      }
      return { data: out, shape: x.shape };
    });
  },
  UnitNormalization: (l) => {
    const axes = Array.isArray(l.config.axis) ? l.config.axis : [l.config.axis ?? -1];
    return one((x) => {
      if (axes.length !== 1 || (Number(axes[0]) !== -1 && Number(axes[0]) !== x.shape.length - 1)) fail(l, `axis = ${JSON.stringify(l.config.axis)} is not the last axis of its rank-${x.shape.length} input`);
      const ch = normRowWidth(l, x), out = plainAlloc(x.data.length);
      for (let r = 0; r < x.data.length; r += ch) {
        const row = x.data.subarray(r, r + ch), inv = Math.min(1 / Math.sqrt(row.reduce((a, v) => a + v * v, 0)), 1e12);
        for (let i = 0; i < ch; i++) out[r + i] = row[i] * inv;
      }
      return { data: out, shape: x.shape };
    });
  },
  GroupNormalization: (l, { w }) => {
    const n = l.config.name, eps = Number(l.config.epsilon ?? 1e-3), G = Number(l.config.groups ?? 32);
    const g = l.config.scale === false ? null : w(`${n}/gamma`), b = l.config.center === false ? null : w(`${n}/beta`);
    return one((x) => {
      const C = x.shape[x.shape.length - 1], S = x.data.length / (x.shape[0] * C), per = C / G, out = plainAlloc(x.data.length);
      if (!Number.isInteger(per)) fail(l, `groups = ${G} does not divide its input's ${C} channels`);
      if (S * per > LAYER_NORM_MAX_WIDTH) fail(l, `each group holds ${S * per} values (positions x channels per group), more than the ${LAYER_NORM_MAX_WIDTH} supported`);
      for (let e = 0; e < x.shape[0]; e++)
        for (let q = 0; q < G; q++) {
          // Group q of example e: channels q per .. (q + 1) per - 1 at every position.
          const at = (s: number, j: number) => (e * S + s) * C + q * per + j;
          let sum = 0, sq = 0;
          for (let s = 0; s < S; s++) for (let j = 0; j < per; j++) sum += x.data[at(s, j)];
          const mean = sum / (S * per);
          for (let s = 0; s < S; s++) for (let j = 0; j < per; j++) sq += (x.data[at(s, j)] - mean) ** 2;
          const inv = 1 / Math.sqrt(sq / (S * per) + eps);
          for (let s = 0; s < S; s++)
            for (let j = 0; j < per; j++) {
              const ch = q * per + j;
              out[at(s, j)] = (x.data[at(s, j)] - mean) * inv * (g ? g[ch] : 1) + (b ? b[ch] : 0);
            }
        }
      return { data: out, shape: x.shape };
    });
  },
  LayerNormalization: (l, { w, caveat }) => {
    const n = l.config.name, eps = Number(l.config.epsilon ?? 1e-3);
    const g = l.config.scale === false ? null : w(`${n}/gamma`), b = l.config.center === false ? null : w(`${n}/beta`);
    // As the private layer (layers_norm.ts): the last axis only. Another one was normalised over
    // the last axis anyway, with gamma read out of range (NaN).
    const axes = Array.isArray(l.config.axis) ? l.config.axis : [l.config.axis ?? -1];
    return one((x) => {
      if (axes.length !== 1 || (Number(axes[0]) !== -1 && Number(axes[0]) !== x.shape.length - 1)) fail(l, `axis = ${axes.length === 1 ? axes[0] : JSON.stringify(axes)} is not the last axis of its rank-${x.shape.length} input`);
      const ch = normRowWidth(l, x), out = plainAlloc(x.data.length);
      let small = 0, least = Infinity;
      for (let r = 0; r < x.data.length; r += ch) {
        const row = x.data.subarray(r, r + ch);
        const mean = row.reduce((a, v) => a + v, 0) / ch;
        const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / ch;
        // Rows of equal values are exact privately (centred, they are 0): only a spread too small counts.
        if (variance > 0 && variance + eps < LAYER_NORM_ACCURATE_VARIANCE) (small++, (least = Math.min(least, variance + eps)));
        for (let i = 0; i < ch; i++) out[r + i] = ((row[i] - mean) / Math.sqrt(variance + eps)) * (g ? g[i] : 1) + (b ? b[i] : 0);
      }
      if (small)
        caveat(
          `${small} of ${x.data.length / ch} rows have variance + epsilon below 4^-6 (least ${least.toExponential(2)}, epsilon ${eps}), where the private normalisation is less accurate than plaintext: the inputs' rounding (2^-17) over sqrt(variance + epsilon), a few times over (about 1e-2 at 1e-6)${least < LAYER_NORM_FLOOR ? `, and below ${LAYER_NORM_FLOOR.toExponential(1)} its output shrinks towards beta` : ''}; inputs of a wider spread or a larger epsilon (1e-3, Keras's default) avoid it`,
        );
      return { data: out, shape: x.shape };
    });
  },
  BatchNormalization: (l, { w, scaleFolded }) => {
    // A folded scale is in the previous layer's kernel and bias (layers_spec.ts, foldBatchNorms).
    const n = l.config.name, t = w(`${n}/folded_shift`), s = scaleFolded ? plainAlloc(t.length).fill(1) : w(`${n}/folded_scale`);
    const axis = Number(Array.isArray(l.config.axis) ? l.config.axis[0] : (l.config.axis ?? -1));
    return one((x) => {
      if (axis !== -1 && axis !== x.shape.length - 1) fail(l, `axis = ${axis} is not the last axis of its rank-${x.shape.length} input`);
      const ch = s.length;
      return { data: x.data.map((v, i) => v * s[i % ch] + t[i % ch]), shape: x.shape };
    });
  },
  AveragePooling2D: (l) => {
    const c = l.config;
    return one((x) => pool2d(x, 'avg', pair(c.pool_size, 2), pair(c.strides ?? c.pool_size, 2), same(c.padding)));
  },
  MaxPooling2D: (l) => {
    const c = l.config;
    return one((x) => pool2d(x, 'max', pair(c.pool_size, 2), pair(c.strides ?? c.pool_size, 2), same(c.padding)));
  },
  Resizing: (l, ctx) => plainResizeLayer(l, resizeLayerOf(l, ctx.tfjs)),
  ...Object.fromEntries(
    ADAPTIVE_POOLS.map((cls) => [
      cls,
      (l: LayerConfig) => {
        const p = adaptivePoolOf(l);
        return one((x) => plainAdaptivePool(l, p, x));
      },
    ]),
  ),
  [RESIZE_LAYER]: (l) => plainResizeLayer(l, resizeLayerOf(l, false)),
  UpSampling2D: (l, ctx) => {
    if ((l.config.interpolation ?? 'nearest') !== 'nearest') return plainResizeLayer(l, resizeLayerOf(l, ctx.tfjs));
    const [sh, sw] = pair(l.config.size, 2);
    return one((x) => {
      const [n, h, w, c] = x.shape, out = plainAlloc(n * h * sh * w * sw * c);
      for (let b = 0; b < n; b++)
        for (let i = 0; i < h * sh; i++)
          for (let j = 0; j < w * sw; j++) {
            const src = ((b * h + Math.floor(i / sh)) * w + Math.floor(j / sw)) * c, dst = ((b * h * sh + i) * w * sw + j) * c;
            for (let k = 0; k < c; k++) out[dst + k] = x.data[src + k];
          }
      return { data: out, shape: [n, h * sh, w * sw, c] };
    });
  },
  AveragePooling1D: (l) => one(pool1d(l, 'avg')),
  MaxPooling1D: (l) => one(pool1d(l, 'max')),
  GlobalAveragePooling1D: (l) => {
    const plain = globalPool1d(l, 'avg');
    // A padding mask (layers_mask.ts): Keras's masked mean; an all-padding row gives 0 (Keras: 0/0).
    return (xs) => {
      if (xs.length < 2) return plain(xs[0]);
      const [x, m] = xs, [b, t, f] = x.shape, out = plainAlloc(b * f);
      for (let r = 0; r < b; r++) {
        let n = 0;
        for (let i = 0; i < t; i++) if (m.data[r * t + i]) (n += 1), x.data.subarray((r * t + i) * f, (r * t + i + 1) * f).forEach((v, j) => (out[r * f + j] += v));
        for (let j = 0; j < f; j++) out[r * f + j] = n ? out[r * f + j] / n : 0;
      }
      return { data: out, shape: l.config.keepdims ? [b, 1, f] : [b, f] };
    };
  },
  GlobalMaxPooling1D: (l) => one(globalPool1d(l, 'max')),
  GlobalAveragePooling2D: (l) =>
    one((x) => {
      const y = pool2d(x, 'avg', [x.shape[1], x.shape[2]], [1, 1], false);
      return l.config.keepdims ? y : { data: y.data, shape: [x.shape[0], x.shape[3]] };
    }),
  GlobalMaxPooling2D: (l) =>
    one((x) => {
      const y = pool2d(x, 'max', [x.shape[1], x.shape[2]], [1, 1], false);
      return l.config.keepdims ? y : { data: y.data, shape: [x.shape[0], x.shape[3]] };
    }),
  ZeroPadding2D: (l) => {
    const [[t, b], [le, r]] = sides(l.config.padding ?? 1, 1);
    return one((x) => window2d(x, x.shape[1] + t + b, x.shape[2] + le + r, 0, 0, t, le, x.shape[1], x.shape[2]));
  },
  Cropping2D: (l) => {
    const [[t, b], [le, r]] = sides(l.config.cropping ?? 0, 0);
    return one((x) => {
      const oh = x.shape[1] - t - b, ow = x.shape[2] - le - r;
      return window2d(x, oh, ow, t, le, 0, 0, oh, ow);
    });
  },
  UpSampling1D: (l) => {
    const s = Number(l.config.size ?? 2);
    return one((x) => {
      const [n, steps, c] = x.shape, out = plainAlloc(n * steps * s * c);
      for (let b = 0; b < n; b++) for (let i = 0; i < steps * s; i++) out.set(x.data.subarray((b * steps + Math.floor(i / s)) * c, (b * steps + Math.floor(i / s) + 1) * c), (b * steps * s + i) * c);
      return { data: out, shape: [n, steps * s, c] };
    });
  },
  ZeroPadding1D: (l) => {
    const [a, b] = sides1d(l.config.padding, 1)!;
    return one((x) => {
      const oh = x.shape[1] + a + b, y = window2d({ data: x.data, shape: [x.shape[0], x.shape[1], 1, x.shape[2]] }, oh, 1, 0, 0, a, 0, x.shape[1], 1);
      return { data: y.data, shape: [x.shape[0], oh, x.shape[2]] };
    });
  },
  Cropping1D: (l) => {
    const [a, b] = sides1d(l.config.cropping, 1)!;
    return one((x) => {
      const oh = x.shape[1] - a - b, y = window2d({ data: x.data, shape: [x.shape[0], x.shape[1], 1, x.shape[2]] }, oh, 1, a, 0, 0, 0, oh, 1);
      return { data: y.data, shape: [x.shape[0], oh, x.shape[2]] };
    });
  },
  Flatten: () => one((x) => ({ data: x.data, shape: [x.shape[0], size(x.shape.slice(1))] })),
  Reshape: (l) => {
    const target = reshapeTarget(l);
    return one((x) => ({ data: x.data, shape: [x.shape[0], ...reshapeTo(target, x.shape.slice(1))] }));
  },
  Permute: (l) => one((x) => transposeOp(x, [0, ...(l.config.dims as number[])])),
  ReLU: (l) => {
    const c = l.config;
    const max = (c.max_value ?? c.maxValue ?? null) as number | null, slope = Number(c.negative_slope ?? 0);
    return one((x) => map(x, (v) => (v < 0 ? slope * v : max === null ? v : Math.min(v, max))));
  },
  ELU: (l) => {
    const a = Number(l.config.alpha ?? 1);
    return one((x) => map(x, (v) => (v > 0 ? v : a * Math.expm1(v))));
  },
  ThresholdedReLU: (l) => {
    const theta = Number(l.config.theta ?? 1);
    return one((x) => map(x, (v) => (v > theta ? v : 0)));
  },
  LeakyReLU: (l) => {
    const s = Number(l.config.alpha ?? l.config.negative_slope ?? 0.3);
    return one((x) => map(x, (v) => (v < 0 ? s * v : v)));
  },
  Activation: (l, ctx) => {
    const f = act(l, l.config.activation, ctx, false); // its input is the layer before's output
    return one((x) => (f ? f(x) : x));
  },
  Add: (l) => (xs) => elementwise(l, xs, (a, b) => a + b),
  Subtract: (l) => (xs) => (xs.length === 2 ? elementwise(l, xs, (a, b) => a - b) : fail(l, `takes 2 inputs, got ${xs.length}`)),
  Multiply: (l) => (xs) => elementwise(l, xs, (a, b) => a * b),
  Average: (l) => (xs) => elementwise(l, xs, (a, b) => a + b, (v) => v / xs.length),
  Maximum: (l) => (xs) => elementwise(l, xs, Math.max),
  Minimum: (l) => (xs) => elementwise(l, xs, Math.min),
  RepeatVector: (l) =>
    one((x) => {
      const n = Number(l.config.n), d = x.shape[1], out = plainAlloc(x.shape[0] * n * d);
      for (let b = 0; b < x.shape[0]; b++) for (let i = 0; i < n; i++) out.set(x.data.subarray(b * d, (b + 1) * d), (b * n + i) * d);
      return { data: out, shape: [x.shape[0], n, d] };
    }),
  Dot: (l) => (xs) => {
    const [a, b] = xs, axes = l.config.axes, r = a.shape.length;
    const ax = (Array.isArray(axes) ? axes : [axes, axes]).map((v) => (Number(v) < 0 ? Number(v) + r : Number(v)));
    // out[n, i, j] = sum_t a[n, .., t, ..] b[n, .., t, ..]: the free axis of each (none for rank 2).
    const free = (s: number[], axis: number) => (r === 2 ? 1 : s[3 - axis]);
    const [m, q, k] = [free(a.shape, ax[0]), free(b.shape, ax[1]), a.shape[ax[0]]];
    const at = (t: PlainTensor, n: number, f: number, c: number, axis: number) => t.data[r === 2 ? n * k + c : axis === 2 ? (n * t.shape[1] + f) * k + c : (n * k + c) * t.shape[2] + f];
    const out = plainAlloc(a.shape[0] * m * q);
    for (let n = 0; n < a.shape[0]; n++)
      for (let i = 0; i < m; i++) for (let j = 0; j < q; j++) for (let c = 0; c < k; c++) out[(n * m + i) * q + j] += at(a, n, i, c, ax[0]) * at(b, n, j, c, ax[1]);
    return { data: out, shape: r === 2 ? [a.shape[0], 1] : [a.shape[0], m, q] };
  },
  Concatenate: (l) => (xs) => concatOp(l, xs, Number(l.config.axis ?? -1)),
  TFDConcat: (l) => (xs) => concatOp(l, xs, Number(l.config.axis ?? -1)),
  CenterCrop: (l, ctx) =>
    one((x) => {
      const [th, tw] = [Number(l.config.height), Number(l.config.width)];
      if (x.shape.length !== 4) fail(l, `takes [batch, height, width, channels], got [${x.shape}]`);
      const win = centerCropWindow(x.shape, th, tw);
      if (win) return { data: sliceValues(x.data, x.shape, win.begin, win.size), shape: win.size };
      if (ctx.tfjs) fail(l, CENTER_CROP_TFJS(x.shape, th, tw));
      const plan = smartResizePlan(x.shape, th, tw);
      return plainResize(plan.crop ? { data: sliceValues(x.data, x.shape, plan.crop.begin, plan.crop.size), shape: plan.crop.size } : x, plan.rows, plan.cols);
    }),
  Masking: (l) => {
    const c = maskValueOf(l.config);
    return one((x) => {
      const m = plainMask(x, c), f = x.shape[x.shape.length - 1];
      return { data: x.data.map((v, i) => (m.data[Math.floor(i / f)] ? v : 0)), shape: x.shape };
    });
  },
  [AXES_LAYER]: (l) => {
    const spec = axesOf(l);
    return one((x) => ({ data: x.data, shape: axesShape(spec, x.shape, (m) => fail(l, m)) }));
  },
  [STACK_LAYER]: (l) => {
    const axis = stackOf(l);
    return (xs) => {
      const g = stackShape(axis, xs.map((x) => x.shape), (m) => fail(l, m));
      const parts = xs.map((x) => ({ data: x.data, shape: g.expanded }));
      return parts.length === 1 ? parts[0] : concatOp(l, parts, g.axis);
    };
  },
  [CONSTANT_LAYER]: (l) => one((x) => plainAddConstant(l, x)),
  [SLICE_LAYER]: (l) => {
    const key = keyOf(l);
    return one((x) => {
      const { begin, size, out, picks } = sliceBounds(key, x.shape, (m) => fail(l, m));
      const y = picks.reduce((v, p) => pickValues(v.data, v.shape, p.axis, p.indices), { data: sliceValues(x.data, x.shape, begin, size), shape: size });
      return { data: y.data, shape: out };
    });
  },
  [POLYNOMIAL_LAYER]: (l, { w, internal }) => {
    const form = polynomialForm(l);
    const coeffs = 'coeffs' in form ? form.coeffs : Array.from({ length: form.degree + 1 }, (_, i) => w(`${l.config.name}/coeff${i}`)[0]);
    const degree = coeffs.length - 1;
    return one((x) => {
      // The private layer forms x^2 and x^3 (ops_nonlinear.ts, polynomial), each a product at 2
      // fracBits: its headroom is that of max |x|^degree, not of the output.
      if (degree >= 2) internal(`x^${degree}`, maxAbsOf(x.data) ** degree);
      return map(x, (v) => coeffs.reduceRight((acc, c) => acc * v + c, 0));
    });
  },
};

/** The layer classes the plaintext executor evaluates (every class layers_catalog.ts accepts). */
export const PLAIN_LAYERS: readonly string[] = Object.keys(PLAIN);

/** The output's final activation as the client applies it (final_activation.ts). */
export function applyFinal(x: PlainTensor, f: FinalActivation | undefined): PlainTensor {
  if (f === undefined) return x;
  const out = plainAlloc(x.data.length);
  out.set(applyFinalActivation(x.data, x.shape[x.shape.length - 1] ?? 1, f));
  return { data: out, shape: x.shape };
}

/**
 * The float64 model of a LayersModel: `json` its model.json, `weights` the manifest's weights by
 * name (as readLayersModel reads them). Refuses what the private model refuses, with the same
 * messages.
 */
/** `derived`: the derived parameters already computed (readLayersModel's), by name; the others are derived here. */
export function plainModel(json: LayersModelJson, weights: Weights, derived?: ReadonlyMap<string, Float64Array>): PlainModel {
  const shapes = manifestShapes(json);
  const spec = parseTopology(json.modelTopology, (n) => shapes.get(n), [...shapes.keys()]);
  const graph = graphOf(json.modelTopology);
  const values = new Map<string, Float64Array>();
  const raw = (n: string) => {
    const w = weights.get(n);
    if (!w) throw new Error(`weight '${n}' is missing`);
    return w.data;
  };
  for (const p of spec.params) values.set(p.weight, p.derive ? (derived?.get(p.weight) ?? derive(p.derive, raw)) : Float64Array.from(raw(p.weight)));
  const w = (n: string) => {
    const v = values.get(n);
    if (!v) throw new Error(`parameter '${n}' is missing`);
    return v;
  };
  // The caveat callback of the forward pass under way (forward is synchronous).
  let heard: ((layer: string, what: string) => void) | undefined, heardInternal: InternalHook | undefined;
  const read = new Set(graph.nodes.flatMap((n) => n.inputs));
  const maskOf = maskSources(graph);
  // Lookups read with their Embedding as one table, as the private model reads them.
  const fused = fusedReads(graph);
  const runs = graph.nodes.map((node) => {
    const build = PLAIN[node.layer.class_name];
    if (!build) throw new Error(`layer '${node.layer.config.name}' of class ${node.layer.class_name} has no plaintext evaluation`);
    const label = `${node.layer.class_name}:${node.id}`;
    const scaleFolded = spec.foldedBatchNorms.some((f) => f.batchNorm === label);
    const caveat = (what: string) => heard?.(label, what);
    const internal = (what: string, maxAbs: number) => heardInternal?.(label, what, maxAbs);
    const shapeOf = (n: string) => {
      const s = shapes.get(n);
      if (!s) throw new Error(`weight '${n}' is missing`);
      return s;
    };
    const name = node.layer.config.name, idsThrough = fused.through.has(name), fusedLookup = fused.lookupOf.get(name);
    const ctx = { w, has: (n: string) => values.has(n), shapeOf, keras3: graph.keras3, tfjs: graph.tfjs, scaleFolded, caveat, internal, ...(idsThrough ? { idsThrough } : {}), ...(fusedLookup ? { fusedLookup } : {}) };
    // As the private model: an output call others also read runs twice, its value for them with
    // every activation, as the output without the final softmax or sigmoid.
    const isOutput = graph.outputs.includes(node.id), readers = read.has(node.id);
    const run = build(node.layer, { ...ctx, isOutput: isOutput && !readers });
    const asOutput = isOutput && readers && node.inputs.length > 0 && spec.outputs[graph.outputs.indexOf(node.id)].finalActivation ? build(node.layer, { ...ctx, isOutput: true }) : undefined;
    return { node, run, asOutput };
  });
  const forward = (x: PlainTensor | ClientInput, observe?: (layer: string, out: PlainTensor) => void, caveat?: (layer: string, what: string) => void, internal?: InternalHook): PlainTensor => {
    heard = caveat;
    heardInternal = internal;
    try {
      return packed(walk(x, observe));
    } finally {
      heard = undefined;
      heardInternal = undefined;
    }
  };
  const walk = (given: PlainTensor | ClientInput, observe?: (layer: string, out: PlainTensor) => void): PlainTensor[] => {
    const x = isPlain(given) ? given : toModelInput(given, 'the input', spec);
    if (x.shape.slice(1).join() !== spec.inputShape.join() || x.data.length !== size(x.shape))
      throw new Error(`the input has shape [${x.shape}] (${x.data.length} values); the model takes ${hasInputs(spec) ? describeInput(spec) : `[batch, ${spec.inputShape}]`}`);
    // Several inputs come packed (packRows): each its own tensor again.
    const split = hasInputs(spec) ? splitRows(x, spec.inputs.map((i) => i.inputShape)) : [x];
    // Values a Hashing reads, given as they are (a float64 tensor, not a client's input, which
    // toModelInput hashed): their bins, as the input's owner computes them (hash_bins.ts).
    const parts = isPlain(given) ? split.map((p, i) => binned(p, spec.inputs[i]?.hashing)) : split;
    const out = new Map<string, PlainTensor>(graph.inputs.map((input, i) => [input.id, parts[i]]));
    const asOutputs = new Map<string, PlainTensor>();
    for (const { node, run, asOutput } of runs) {
      let y: PlainTensor;
      try {
        const xs = node.inputs.map((i) => out.get(i)!);
        // A padding mask (layers_mask.ts): Embedding(mask_zero)'s, 1 where the token id is not 0;
        // Masking's, 1 where some feature of the step differs from its mask_value.
        const mask = maskOf.get(node.id);
        // [batch, steps, 1], as the private model's: a recurrent layer tells it from its initial_state by its rank.
        if (mask !== undefined) {
          const m = plainMask(out.get(mask.source)!, mask.maskValue);
          xs.push(asMask({ data: m.data, shape: [...m.shape, 1] }));
        }
        if (node.inputs.length > 0) checkOperation(node.layer, xs.map((v) => v.shape));
        // A call with several outputs keeps output k under its id and `#k` (outputId).
        const ys = node.inputs.length > 0 ? (run as PlainRun).multi?.(xs) : undefined;
        ys?.forEach((v, k) => k > 0 && out.set(outputId(node.id, k), v));
        y = ys ? ys[0] : node.inputs.length === 0 ? out.get(node.id)! : run(xs);
        if (asOutput) asOutputs.set(node.id, asOutput(xs));
      } catch (e) {
        // Every failure names its layer, as the private path's refusals do.
        const tag = `layer '${node.layer.config.name}' (${node.layer.class_name}): `;
        const msg = (e as Error).message;
        throw new Error(msg.startsWith(`layer '${node.layer.config.name}'`) ? msg : tag + msg);
      }
      out.set(node.id, y);
      observe?.(`${node.layer.class_name}:${node.id}`, y);
    }
    return graph.outputs.map((id) => asOutputs.get(id) ?? out.get(id)!);
  };
  // One output as it is; several packed as the private model returns them (packRows).
  const packed = (ys: PlainTensor[]): PlainTensor => (ys.length === 1 ? ys[0] : packRows(ys));
  return {
    spec,
    layers: spec.layers,
    inputShape: spec.inputShape,
    finalActivation: spec.finalActivation,
    forward,
    predict: (x) => {
      if (spec.outputs.length > 1) throw new Error(`predict: the model has ${spec.outputs.length} outputs (${spec.outputs.map((o) => `'${o.name}'`).join(', ')}): use predictOutputs, which returns one tensor per output`);
      return applyFinal(forward(x), spec.finalActivation);
    },
    predictOutputs: (x, observe) => {
      heard = undefined;
      heardInternal = undefined;
      return walk(x, observe).map((y, i) => applyFinal(y, spec.outputs[i].finalActivation));
    },
  };
}
