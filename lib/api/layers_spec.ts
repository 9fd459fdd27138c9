// The public half of a LayersModel: its architecture, parsed into the private steps it takes and
// the list of parameters (weights) it needs. The model owner and every server parse the same
// topology, so they agree on the parameters' order and shapes without any weight leaving the owner.
// The graph (Sequential or Functional) comes from layers_graph.ts, each layer's settings and step
// from layers_catalog.ts.
import { layerScaleWeightName } from './layers_convnext';
import { graphOf, type LayerConfig, type LayerGraph, type LayerNode, type ModelTopology, outputId } from './layers_graph';
import { type LayerPlan, planLayer } from './layers_catalog';
import { dilateKernel, separableKernel, subPixelKernel } from './conv_kernels';
import { toRowBlocks } from './row_blocks';
import { columnReaders, fusedReads, idMakersOf, inputEncodingsOf } from './layers_embedding';
import { fuseTables } from './fused_table';
import { SLOT_VALUES } from './bucket_table';
import { checkStringInputs } from './layers_lookup';
import { hashedInputsOf } from './layers_hashing';
import { textInputsOf } from './layers_text';
import type { TextSpec } from './text_tokens';
import { checkCrossings } from './layers_crossing';
import type { HashingSpec } from './hash_bins';
import { type InputEncoding, type ModelInput, packedInputShape, sharedInputShape } from './input_encoding';
import { concat, reshape, slice } from './ops';
import { asMask, type MaskSource, maskSources, privateMask } from './layers_mask';
import { withoutNestedModels } from './nested_models';
import { checkOperation, withoutOperations } from './keras_operations';
import { withoutSpectralNormalization } from './spectral_normalization';
import { withoutRnnCells } from './rnn_cells';
import type { AnyTensor, PrivateTensor } from './tensor';
import type { FinalActivation } from './final_activation';

/** The most values a parameter the owner derives (a dilated or expanded kernel) may hold: 512 MiB as float64. */
export const MAX_DERIVED_VALUES = 2 ** 26;

export { POLYNOMIAL_LAYER, polynomialForm, SUPPORTED_LAYERS } from './layers_catalog';
export type { LayerConfig, ModelTopology } from './layers_graph';

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype?: string;
}

export interface LayersModelJson {
  modelTopology: ModelTopology;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

export type Step = (x: AnyTensor) => AnyTensor;

/** One private parameter: which weight of the manifest, and the shape it is used with. */
export interface ParamSpec {
  weight: string;
  shape: number[];
  /**
   * A parameter the owner computes from manifest weights before sharing (BatchNormalization's
   * folded scale and shift); `weight` then names it and is not in the manifest.
   */
  derive?: Derivation;
}

/**
 * BatchNormalization's y = x * scale + shift per channel, folded from its weights; a convolution
 * kernel dilated (conv_kernels.ts), a separable layer's two folded into one, or a
 * Conv2DTranspose's in its sub-pixel form.
 */
export type Derivation =
  | { kind: 'bnScale'; gamma?: string; variance: string; epsilon: number }
  /**
   * A kernel or bias (a manifest weight, or derived) times a following BatchNormalization's scale
   * on its last axis, gamma / sqrt(variance + epsilon); or a LayerScale's (no variance: gamma).
   */
  | { kind: 'bnScaled'; base: string | Derivation; gamma?: string; variance?: string; epsilon: number }
  | { kind: 'bnShift'; gamma?: string; beta?: string; mean: string; variance: string; epsilon: number }
  | { kind: 'convKernel'; kernel: string; shape: number[]; dilation: [number, number] }
  /** A Conv2DTranspose kernel [kh, kw, f, c] in its sub-pixel form (conv_kernels.ts subPixelKernel). */
  | { kind: 'subPixelKernel'; kernel: string; shape: number[]; strides: [number, number] }
  /** A separable layer's depthwise [kh, kw, c, m] and pointwise kernels folded into one [kh, kw, c, filters], dilated. */
  | { kind: 'separableKernel'; depthwise: string; pointwise: string; shape: number[]; filters: number; dilation: [number, number] }
  /** Keras's Normalization layer, (x - mean) / max(sqrt(variance), 1e-7) (invert: x max(...) + mean), as a scale and a shift. */
  | { kind: 'normScale'; variance: string; invert: boolean }
  | { kind: 'normShift'; mean: string; variance: string; invert: boolean }
  /**
   * The part of a per-channel scale (`of`) that its encoding at f fractional bits rounds away, to
   * SCALE_LOW_BITS more bits: L = rint((scale 2^f - rint(scale 2^f)) 2^SCALE_LOW_BITS), shared as
   * L 2^-f (an integer L, |L| <= 2^(SCALE_LOW_BITS-1)). Then x scale = x hi + (x lo) 2^-SCALE_LOW_BITS
   * to f + SCALE_LOW_BITS bits, where hi alone kept only the bits of scale above 2^-f (1/20000
   * became 3/65536, 8% off). Needs f: derive() returns the scale itself, and lowPartsAt() takes
   * the part once the cluster's fracBits is known.
   */
  | { kind: 'scaleLow'; of: Derivation }
  /** A table [rows, width] in blocks for a private row read (row_blocks.ts): an Embedding read by its ids' columns. */
  | { kind: 'rowBlocks'; table: string; rows: number; width: number; hiBits: number; loBits: number }
  /**
   * A lookup's bucket table (`vocabulary`, of `bits` bucket bits and `slots` slots) with each
   * slot's column replaced by the Embedding's row there (`embeddings` [rows, width]): the two read
   * as one (fused_table.ts).
   */
  | { kind: 'fusedTable'; vocabulary: string; embeddings: string; rows: number; width: number; bits: number; slots: number }
  /** Row `row` of a table [rows, width] (a fused Embedding's OOV row). */
  | { kind: 'tableRow'; table: string; rows: number; width: number; row: number };

/** Keras's backend epsilon, the floor of Normalization's standard deviation. */
const KERAS_EPSILON = 1e-7;

/** The owner's side of a derivation, in float64 (weights: manifest name -> values). */
export function derive(d: Derivation, weights: (name: string) => ArrayLike<number>): Float64Array {
  if (d.kind === 'scaleLow') return derive(d.of, weights); // the part is taken at encoding (lowPartsAt)
  if (d.kind === 'subPixelKernel') return subPixelKernel(weights(d.kernel), d.shape, d.strides);
  if (d.kind === 'rowBlocks') return toRowBlocks(weights(d.table), d.rows, d.width, d);
  if (d.kind === 'fusedTable') return fuseTables(weights(d.vocabulary), d, weights(d.embeddings), d.rows, d.width);
  if (d.kind === 'tableRow') {
    const table = weights(d.table);
    return Float64Array.from({ length: d.width }, (_, j) => table[d.row * d.width + j]);
  }
  if (d.kind === 'separableKernel') {
    const [kh, kw, c] = d.shape;
    return dilateKernel(separableKernel(weights(d.depthwise), d.shape, weights(d.pointwise), d.filters), [kh, kw, c, d.filters], d.dilation);
  }
  if (d.kind === 'convKernel') {
    return dilateKernel(weights(d.kernel), d.shape, d.dilation);
  }
  if (d.kind === 'normScale' || d.kind === 'normShift') {
    const sd = Float64Array.from(weights(d.variance), (v) => Math.max(Math.sqrt(v), KERAS_EPSILON));
    // A feature whose spread is below one fixed-point unit (2^-16), typically a constant one Keras
    // divides by 1e-7, cannot be normalised in fixed point: its input's rounding alone would be
    // multiplied by up to 1e7. Refused, naming it, rather than answered wrong.
    const flat = sd.findIndex((s) => s < 2 ** -16);
    if (flat >= 0) throw new Error(`${d.variance}: feature ${flat} has standard deviation ${sd[flat].toExponential(2)} (a constant feature?); scaling by ${(1 / sd[flat]).toExponential(2)} is beyond fixed point's precision: drop the feature or give it a spread`);
    if (d.kind === 'normScale') return d.invert ? sd : sd.map((s) => 1 / s);
    const mean = weights(d.mean);
    return Float64Array.from(sd, (s, i) => (d.invert ? mean[i] : -mean[i] / s));
  }
  // A LayerScale's (bnScaled without a variance): its gamma.
  // Loops, not Float64Array.from with a function: that took 7 s on a network's 20 M kernel values.
  let scale: Float64Array;
  if (d.variance === undefined) scale = Float64Array.from(weights(d.gamma!));
  else {
    const v = weights(d.variance), g = d.gamma ? weights(d.gamma) : undefined;
    scale = new Float64Array(v.length);
    for (let i = 0; i < v.length; i++) scale[i] = (g ? g[i] : 1) / Math.sqrt(v[i] + d.epsilon);
  }
  if (d.kind === 'bnScale') return scale;
  if (d.kind === 'bnScaled') {
    const base = typeof d.base === 'string' ? weights(d.base) : derive(d.base, weights);
    if (base.length % scale.length) throw new Error(`a BatchNormalization of ${scale.length} channels cannot scale a parameter of ${base.length} values`);
    const out = new Float64Array(base.length), c = scale.length;
    for (let i = 0; i < base.length; i++) out[i] = base[i] * scale[i % c];
    return out;
  }
  const m = weights(d.mean), beta = d.beta ? weights(d.beta) : undefined;
  const out = new Float64Array(scale.length);
  for (let i = 0; i < scale.length; i++) out[i] = (beta ? beta[i] : 0) - m[i] * scale[i];
  return out;
}

/**
 * The bits of a normalisation's scale below its encoding that its low part carries (Derivation
 * scaleLow). Each costs the low part's product a bit of headroom: x lo is truncated from
 * |x| 2^(f + SCALE_LOW_BITS - 1) at most, so on raw features near 1e5 (the inputs it is for) a
 * local truncation fails about once in 2^22 elements, where all f bits (2^-15) failed every
 * 30 000; and 10 bits leave x's error at |x| 2^-27 (7e-4 there).
 */
export const SCALE_LOW_BITS = 10;

/**
 * The parameters as the cluster encodes them at `fracBits`: each scaleLow parameter (which holds
 * its scale until now) becomes the part of that scale the encoding rounds away (see Derivation).
 * Owners call it right before sharing the parameters.
 */
export function lowPartsAt<P extends { data: Float32Array }>(params: readonly P[], specs: readonly { derive?: Derivation }[], fracBits: number): P[] {
  const unit = 2 ** fracBits;
  // Ties to even, as the ring's encoder rounds the scale itself (EncodeFixedPoint).
  const rint = (v: number) => {
    const r = Math.round(v);
    return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  };
  return params.map((p, i) => (specs[i]?.derive?.kind === 'scaleLow' ? { ...p, data: Float32Array.from(p.data, (v) => Math.round((v * unit - rint(v * unit)) * 2 ** SCALE_LOW_BITS) / unit) } : p));
}

export interface ModelSpec {
  /** 'Class:name' per layer call, inputs first (a shared layer's later calls as 'Class:name[k]'). */
  layers: string[];
  /**
   * The input shape without the batch dimension. A model with several inputs takes them packed:
   * each example's inputs flattened and laid end to end, [sum of their sizes] (input_encoding.ts
   * packRows; token ids as ids: sharedInputShape gives what is shared); `inputs` describes them.
   */
  inputShape: number[];
  /**
   * Set when Embeddings read the (one) input: it holds token ids, which whoever supplies it
   * one-hot encodes over `oneHot` values before sharing (input_encoding.ts), so the shared input
   * is [batch, ...inputShape, oneHot]. A model with several inputs has it per input.
   */
  inputEncoding?: InputEncoding;
  /** Set when the (one) input takes strings, which a client sends as their ids (string_ids.ts); several inputs: per input. */
  strings?: true;
  /** Set when a Hashing reads the (one) input: a client sends its values' bins (hash_bins.ts), one-hot; several inputs: per input. */
  hashing?: HashingSpec;
  /** Set when a TextVectorization reads the (one) input: a client sends each text's tokens' ids (text_tokens.ts); several inputs: per input. */
  text?: TextSpec;
  /** The model's inputs, in its order (its InputLayers' names; one for most models). */
  inputs: ModelInput[];
  /**
   * The model's outputs, in its order: their names (tfjs's outputNames: two outputs of one layer
   * share its name) and the softmax or sigmoid left to the client. A model with several returns them packed, each example's outputs flattened and laid
   * end to end; `outputShapes` (known once the model has run) splits them.
   */
  outputs: { name: string; finalActivation?: FinalActivation }[];
  /** Each output's shape without the batch axis, set by the first run of a model with several outputs. */
  outputShapes?: number[][];
  params: ParamSpec[];
  /** Uses non-linearities only an exact protocol runs (max pooling, relu6, leaky relu...): Pond refuses the model. */
  needsSecureNN: boolean;
  /** The layers that do (`Class:name`), for the refusal. */
  exactOnlyLayers: string[];
  /**
   * Has comparison-based non-linearities (relu and the above). Exact protocols give plaintext's
   * answers; Pond replaces relu by a polynomial, so such models default to an exact protocol.
   */
  comparisons: boolean;
  /** A softmax or sigmoid on the (one) output, left to the client (predict returns the logits). */
  finalActivation?: FinalActivation;
  /**
   * Activations predict() applies after the max pool they feed instead of before it (see
   * poolFirst): 'Class:name' of the activation's layer and of the pool.
   */
  poolFirst: { activation: string; pool: string }[];
  /**
   * BatchNormalizations whose scale the owner folds into the kernel and bias of the layer before
   * them (see foldBatchNorms): 'Class:name' of each, and of that layer.
   */
  foldedBatchNorms: { batchNorm: string; into: string }[];
  /**
   * The steps of predict() over the shared parameters (in `params` order). `observe`, when given,
   * sees each layer's output ('Class:name') as it is issued (PrivateModel.verify's debug ranges);
   * the layers then run in the model's own order, each activation before its pool.
   */
  build(params: PrivateTensor[], observe?: (layer: string, out: AnyTensor) => void): Step[];
}

/** How many layer calls read each call's output (each of the model's outputs counts as one reader). */
function readers(graph: LayerGraph): Map<string, number> {
  const uses = new Map<string, number>();
  for (const id of graph.outputs) uses.set(id, (uses.get(id) ?? 0) + 1);
  for (const node of graph.nodes) for (const i of node.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  return uses;
}

/** How many times each layer is called (more than once: a shared layer). */
function callCounts(graph: LayerGraph): Map<string, number> {
  const n = new Map<string, number>();
  for (const node of graph.nodes) n.set(node.layer.config.name, (n.get(node.layer.config.name) ?? 0) + 1);
  return n;
}

/** Layers whose kernel's last axis (and bias) are their output channels, and which a BatchNormalization's scale can be folded into. */
const FOLDS_BATCH_NORM = new Set(['Dense', 'Conv2D', 'Conv1D', 'DepthwiseConv2D', 'SeparableConv2D', 'DepthwiseConv1D', 'SeparableConv1D']);

/**
 * A BatchNormalization right after a linear layer (no activation) that nothing else reads:
 * BN(W x + b) = (W s) x + (b s) + t per output channel, so the owner scales the layer's kernel
 * and bias by s before sharing, and the BatchNormalization only adds t. Exact in real arithmetic;
 * in fixed point it drops a private product and its rounding: one round and its bytes per such
 * layer (a CIFAR ResNet-20 has 21). Only where the normalised axis is certainly the channels
 * (-1, or the convolutions' last). Neither may be shared: the kernel and the BatchNormalization
 * serve every call. Likewise ConvNeXt's LayerScale (x gamma on the last axis) after its Dense:
 * (W x + b) gamma = (W gamma) x + b gamma, one product per block fewer. Returns the
 * BatchNormalization or LayerScale per layer folded into.
 */
function foldBatchNorms(graph: LayerGraph, uses: Map<string, number>): Map<string, LayerConfig> {
  const byId = new Map(graph.nodes.map((n) => [n.id, n.layer]));
  const calls = callCounts(graph);
  const folds = new Map<string, LayerConfig>();
  for (const node of graph.nodes) {
    const bn = node.layer;
    if ((bn.class_name !== 'BatchNormalization' && bn.class_name !== 'LayerScale') || node.inputs.length !== 1 || calls.get(bn.config.name) !== 1) continue;
    const src = byId.get(node.inputs[0]);
    if (!src || !FOLDS_BATCH_NORM.has(src.class_name) || uses.get(node.inputs[0]) !== 1 || calls.get(src.config.name) !== 1) continue;
    if (String(src.config.activation ?? 'linear') !== 'linear') continue;
    // (A LayerScale scales the last axis.)
    const a = bn.class_name === 'LayerScale' ? -1 : bn.config.axis, axis = Number(Array.isArray(a) ? a[0] : (a ?? -1));
    const last = src.class_name === 'Dense' ? -1 : src.class_name.endsWith('1D') ? 2 : 3;
    if (axis !== -1 && axis !== last) continue;
    folds.set(src.config.name, bn);
  }
  return folds;
}

/**
 * Where a non-decreasing activation feeds nothing but a max pool, the pool can run first:
 * relu(max(a, b)) = max(relu(a), relu(b)) for every window, also with SAME padding (the pool pads
 * below every value). For relu and relu6, which are exact, the answer is unchanged bit for bit; a
 * leaky slope's product rounds once either way. The activation runs on the pooled tensor: a 2x2
 * pool gives it 4x fewer elements, which under SecureNN and FSS are 4x fewer comparisons (Keras's
 * usual Conv2D(activation='relu') then MaxPooling2D). Returns, per activation call so moved, the
 * id of the pool call that applies it.
 */
function poolFirst(plans: { node: LayerNode; plan: LayerPlan }[], uses: Map<string, number>): Map<string, string> {
  const byId = new Map(plans.map((p) => [p.node.id, p]));
  const moved = new Map<string, string>();
  for (const { node, plan } of plans) {
    if (!plan.maxPool || node.inputs.length !== 1) continue;
    const src = byId.get(node.inputs[0]);
    if (src?.plan.monotone && uses.get(node.inputs[0]) === 1) moved.set(node.inputs[0], node.id);
  }
  return moved;
}

/**
 * Parses a Sequential or Functional topology. `weightShape` gives each weight's shape from the
 * manifest. Unsupported layers and settings are refused up front, naming the layer.
 */
export function parseTopology(topo: ModelTopology, weightShape: (name: string) => number[] | undefined, names: readonly string[] = []): ModelSpec {
  // A weight the layers need and the manifest lacks, with the manifest's names that end as it
  // does (other/dense/kernel for dense/kernel): a prefix the reader did not take off, named.
  const missing = (w: string): Error => {
    const near = names.filter((n) => n.endsWith(`/${w}`)).slice(0, 2);
    return new Error(`weight '${w}' is missing from the weights manifest${near.length ? ` (it has ${near.map((n) => `'${n}'`).join(' and ')}, under a prefix that is not this model's name)` : ''}`);
  };
  const graph = graphOf(topo);
  const params: ParamSpec[] = [];
  // A shared layer's calls take its weights once: by weight name, the first index.
  const paramAt = new Map<string, number>();
  const addParam = (p: ParamSpec): number => {
    const known = paramAt.get(p.weight);
    if (known !== undefined) return known;
    paramAt.set(p.weight, params.length);
    return params.push(p) - 1;
  };
  let needsSecureNN = false, comparisons = false;
  const exactOnlyLayers: string[] = [];
  const uses = readers(graph);
  checkCrossings(graph);
  const idMakers = idMakersOf(graph);
  // Lookups read as bucket tables whose ids only Embeddings read: handed on as columns, each
  // Embedding reading its rows by them (layers_embedding.ts columnReaders).
  const columns = columnReaders(graph);
  // Of those, a lookup and the one Embedding reading it for few values: read as one table (fusedReads).
  const fused = fusedReads(graph, columns);
  const folds = foldBatchNorms(graph, uses);
  const foldedBns = new Set([...folds.values()].map((bn) => bn.config.name));
  // One plan per layer, or two for a layer whose call is a model output that other calls also
  // read (the output leaves its softmax or sigmoid to the client, the readers take it applied).
  const planned = new Map<string, LayerPlan>();
  const planOf = (l: LayerConfig, isOutput: boolean): LayerPlan => {
    const key = `${isOutput ? 'out' : 'in'}:${l.config.name}`;
    if (!planned.has(key)) planned.set(key, planFor(l, isOutput));
    return planned.get(key)!;
  };
  const planFor = (l: LayerConfig, isOutput: boolean): LayerPlan => {
    // Folding a BatchNormalization into this layer: its kernel and bias become their product with
    // the BatchNormalization's scale (computed by the owner).
    const bn = folds.get(l.config.name);
    const scaled = (base: string | Derivation): Derivation => {
      const b = bn!.config, n = b.name, gamma = b.scale === false ? undefined : `${n}/gamma`;
      if (bn!.class_name === 'LayerScale') return { kind: 'bnScaled', base, gamma: `${n}/gamma`, epsilon: 0 };
      return { kind: 'bnScaled', base, gamma, variance: `${n}/moving_variance`, epsilon: Number(b.epsilon ?? 1e-3) };
    };
    const checkScaleSources = (d: Derivation, shape: number[]) => {
      if (d.kind !== 'bnScaled') return;
      const channels = shape[shape.length - 1];
      for (const src of [d.gamma, d.variance]) {
        if (src === undefined) continue;
        const s = weightShape(src);
        if (!s) throw missing(src);
        if (s.reduce((a, b) => a * b, 1) !== channels) throw new Error(`weight '${src}' has shape [${s}], expected [${channels}] (the channels of '${l.config.name}')`);
      }
    };
    const plan = planLayer(l, {
      isOutput,
      keras3: graph.keras3,
      tfjs: graph.tfjs,
      scaleFolded: foldedBns.has(l.config.name),
      idsOneHot: idMakers.get(l.config.name),
      ...(columns.has(l.config.name) ? { idColumns: true } : {}),
      ...(fused.through.has(l.config.name) ? { idsThrough: true } : {}),
      ...(fused.lookupOf.has(l.config.name) ? { fusedLookup: fused.lookupOf.get(l.config.name) } : {}),
      take: (w, shape) => {
        const weight = `${l.config.name}/${w}`;
        const s = weightShape(weight);
        if (!s) throw missing(weight);
        // Taken in another layout (a bias as [1, units]): the same values, so the same count.
        if (shape && shape.reduce((a, b) => a * b, 1) !== s.reduce((a, b) => a * b, 1)) throw new Error(`weight '${weight}' has shape [${s}], but layer '${l.config.name}' (${l.class_name}) needs ${shape.reduce((a, b) => a * b, 1)} values ([${shape}])`);
        // The weights whose last axis is the layer's output channels (a separable layer's last product's kernel).
        if (bn && (w === 'kernel' || w === 'bias' || w === 'pointwise_kernel')) {
          const d = scaled(weight);
          checkScaleSources(d, shape ?? s);
          return addParam({ weight, shape: shape ?? s, derive: d });
        }
        return addParam({ weight, shape: shape ?? s });
      },
      has: (weight) => weightShape(weight) !== undefined,
      shapeOf: (weight) => {
        const s = weightShape(weight);
        if (!s) throw missing(weight);
        return s;
      },
      derived: (w, shape, d, beforeLast) => {
        // Checked before the owner expands it: a dilation of 3000 made a 3x3 kernel 576 M values.
        const values = shape.reduce((a, b) => a * b, 1);
        if (!(values <= MAX_DERIVED_VALUES)) throw new Error(`layer '${l.config.name}' (${l.class_name}): its expanded kernel '${w}' would hold ${values} values ([${shape}]; at most ${MAX_DERIVED_VALUES}): its dilation or strides are too large`);
        // Every weight it is computed from must be in the manifest with the derived shape (a
        // convolution kernel's sources were checked by its builder, which knows their shapes).
        if (d.kind === 'rowBlocks' || d.kind === 'fusedTable' || d.kind === 'tableRow') {
          const table = d.kind === 'fusedTable' ? d.embeddings : d.table, s = weightShape(table);
          if (!s) throw missing(table);
          if (s.join() !== [d.rows, d.width].join()) throw new Error(`weight '${table}' has shape [${s}], expected [${d.rows},${d.width}]`);
          if (d.kind === 'fusedTable') {
            const v = weightShape(d.vocabulary), want = 2 ** d.bits * d.slots * SLOT_VALUES;
            if (!v) throw missing(d.vocabulary);
            if (v.reduce((a, b) => a * b, 1) !== want) throw new Error(`weight '${d.vocabulary}' has shape [${v}], expected ${want} values (a table of ${2 ** d.bits} buckets of ${d.slots} slots)`);
          }
          if (d.kind === 'tableRow' && !(Number.isInteger(d.row) && d.row >= 0 && d.row < d.rows)) throw new Error(`row ${d.row} of weight '${table}' (${d.rows} rows)`);
          return addParam({ weight: `${l.config.name}/${w}`, shape, derive: d });
        }
        if (d.kind === 'convKernel' || d.kind === 'subPixelKernel' || d.kind === 'separableKernel') {
          const full = bn && !beforeLast ? scaled(d) : d;
          checkScaleSources(full, shape);
          return addParam({ weight: `${l.config.name}/${w}`, shape, derive: full });
        }
        const sources = Object.entries(d).filter(([k, v]) => k !== 'kind' && k !== 'epsilon' && typeof v === 'string').map(([, v]) => v as string);
        for (const src of sources) {
          const s = weightShape(src);
          if (!s) throw missing(src);
          if (s.reduce((a, b) => a * b, 1) !== shape.reduce((a, b) => a * b, 1)) throw new Error(`weight '${src}' has shape [${s}], expected [${shape}]`);
        }
        return addParam({ weight: `${l.config.name}/${w}`, shape, derive: d });
      },
    });
    needsSecureNN ||= plan.exactOnly;
    if (plan.exactOnly && !exactOnlyLayers.includes(`${l.class_name}:${l.config.name}`)) exactOnlyLayers.push(`${l.class_name}:${l.config.name}`);
    comparisons ||= plan.comparisons;
    return plan;
  };
  const outputIds = new Set(graph.outputs);
  const asOutputs = new Map<string, number>();
  for (const id of graph.outputs) asOutputs.set(id, (asOutputs.get(id) ?? 0) + 1);
  const plans = graph.nodes.map((node) => {
    // Read by other calls: its value for them, with every activation applied.
    const read = node.inputs.length > 0 && (uses.get(node.id) ?? 0) > (asOutputs.get(node.id) ?? 0);
    const plan = planOf(node.layer, outputIds.has(node.id) && !read);
    // Its value as a model output, when that differs (a final softmax or sigmoid left to the client).
    const asOutput = outputIds.has(node.id) && read && node.inputs.length > 0 ? planOf(node.layer, true) : undefined;
    return { node, plan, asOutput: asOutput?.finalActivation ? asOutput : undefined };
  });
  const planById = new Map(plans.map((p) => [p.node.id, p]));
  const finalOf = (id: string): ModelSpec['finalActivation'] => {
    // A call's outputs past its first (a recurrent layer's states) have no activation of their own.
    const p = planById.get(id);
    if (!p) return undefined;
    return (p.asOutput ?? p.plan).finalActivation;
  };
  const outputs = graph.outputs.map((id, k) => ({ name: graph.outputNames[k], ...(finalOf(id) ? { finalActivation: finalOf(id) } : {}) }));
  const moved = poolFirst(plans, uses);
  const encodings = inputEncodingsOf(graph);
  const maskOf = maskSources(graph);
  checkStringInputs(graph);
  // An input a Hashing reads arrives as its values' bins, one-hot over num_bins (layers_hashing.ts).
  const hashed = hashedInputsOf(graph);
  // An input a TextVectorization reads arrives as each text's tokens' ids, [length] (layers_text.ts).
  const texts = textInputsOf(graph);
  const inputs: ModelInput[] = graph.inputs.map((input, i) => {
    const h = hashed[i], encoding = h ? { oneHot: h.numBins } : encodings[i], text = texts[i];
    return { name: input.name ?? input.id, inputShape: text ? [text.length] : input.shape, ...(encoding ? { inputEncoding: encoding } : {}), ...(input.strings ? { strings: true as const } : {}), ...(h ? { hashing: h } : {}), ...(text ? { text } : {}) };
  });
  const label = (id: string) => `${planById.get(id)!.node.layer.class_name}:${id}`;
  const spec: ModelSpec = {
    layers: graph.nodes.map((n) => `${n.layer.class_name}:${n.id}`),
    inputShape: inputs.length === 1 ? [...inputs[0].inputShape] : packedInputShape(inputs),
    ...(inputs.length === 1 && inputs[0].inputEncoding ? { inputEncoding: inputs[0].inputEncoding } : {}),
    ...(inputs.length === 1 && inputs[0].strings ? { strings: true as const } : {}),
    ...(inputs.length === 1 && inputs[0].hashing ? { hashing: inputs[0].hashing } : {}),
    ...(inputs.length === 1 && inputs[0].text ? { text: inputs[0].text } : {}),
    inputs,
    outputs,
    params,
    needsSecureNN,
    exactOnlyLayers,
    comparisons,
    ...(outputs.length === 1 && outputs[0].finalActivation ? { finalActivation: outputs[0].finalActivation } : {}),
    poolFirst: [...moved].map(([a, p]) => ({ activation: label(a), pool: label(p) })),
    foldedBatchNorms: [...folds].map(([into, bn]) => ({ batchNorm: label(bn.config.name), into: label(into) })),
    build: (shared, observe) => {
      if (shared.length !== params.length) throw new Error(`${shared.length} parameters given, ${params.length} expected`);
      // Observed, every layer's output is its own (verify compares them with plaintext's).
      const reorder = observe ? new Map<string, string>() : moved;
      const after = new Map<string, (x: AnyTensor) => AnyTensor>();
      const steps = plans.map(({ node, plan, asOutput }) => {
        const output = asOutput?.step(shared);
        const pool = reorder.get(node.id);
        if (plan.multiStep) return { node, run: plan.step(shared), multi: plan.multiStep(shared), output };
        if (!pool || !plan.monotone) return { node, run: plan.step(shared), output };
        after.set(pool, plan.monotone.act);
        return { node, run: plan.monotone.linear(shared), output };
      });
      // One step that walks the graph: a chain and a DAG run the same way.
      return [
        (x: AnyTensor) => {
          const out = new Map<string, AnyTensor>(unpackInputs(x, graph.inputs.map((i) => i.id), inputs));
          const asOutputs = new Map<string, AnyTensor>();
          // A padding mask, [batch, steps, 1], once per source (layers_mask.ts): Embedding(mask_zero)'s
          // from the one-hot's column for id 0, Masking's from its input's values.
          const masks = new Map<string, AnyTensor>();
          const maskFor = ({ source, maskValue }: MaskSource): AnyTensor => {
            const key = `${source}\u0000${maskValue ?? ''}`;
            if (!masks.has(key)) masks.set(key, asMask(privateMask(out.get(source)!, maskValue)));
            return masks.get(key)!;
          };
          for (const { node, run, multi, output } of steps) {
            if (node.inputs.length === 0) {
              observe?.(`${node.layer.class_name}:${node.id}`, out.get(node.id)!);
              continue;
            }
            const xs = node.inputs.map((i) => out.get(i)!);
            if (maskOf.has(node.id)) xs.push(maskFor(maskOf.get(node.id)!));
            checkOperation(node.layer, xs.map((v) => v.shape));
            // A call with several outputs keeps output k under its id and `#k` (outputId).
            const ys = multi?.(xs);
            ys?.forEach((v, k) => k > 0 && out.set(outputId(node.id, k), v));
            let y = ys ? ys[0] : run(xs);
            const act = after.get(node.id);
            if (act) y = act(y);
            out.set(node.id, y);
            if (output) asOutputs.set(node.id, output(xs));
            observe?.(`${node.layer.class_name}:${node.id}`, y);
          }
          const results = graph.outputs.map((id) => asOutputs.get(id) ?? out.get(id)!);
          if (results.length === 1) return results[0];
          spec.outputShapes ??= results.map((r) => r.shape.slice(1));
          return packOutputs(results);
        },
      ];
    },
  };
  return spec;
}

/**
 * The model's inputs from the tensor the servers hold: the tensor itself for one input ('' too,
 * a Sequential model without an InputLayer); for several, each one's columns of the packed
 * [batch, total] (packInputs' layout) in its shared shape. As [node id, tensor] pairs.
 */
function unpackInputs(x: AnyTensor, ids: string[], inputs: ModelInput[]): [string, AnyTensor][] {
  if (ids.length === 1) return [[ids[0], x]];
  return unpackColumns(x, inputs.map(sharedInputShape)).map((part, i) => [ids[i], part]);
}

/** [batch, total] as one tensor per shape (each without the batch axis), their columns in order: packRows undone on shares. */
export function unpackColumns(x: AnyTensor, shapes: readonly (readonly number[])[]): AnyTensor[] {
  const batch = x.shape[0];
  let at = 0;
  return shapes.map((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const part = reshape(slice(x, [0, at], [batch, n]), [batch, ...shape]);
    at += n;
    return part;
  });
}

/** Several outputs as one [batch, total]: each example's outputs flattened and laid end to end (the order of the model's outputs). */
function packOutputs(ys: AnyTensor[]): AnyTensor {
  return concat(ys.map((y) => reshape(y, [y.shape[0], y.shape.slice(1).reduce((a, b) => a * b, 1)])), 1);
}

/**
 * A model as every reader takes it: tensor operations rewritten as layers (keras_operations.ts),
 * nested models flattened (nested_models.ts), then recurrent, wrapped and LayerScale weight names
 * made the ones the layers read (withoutCellNames, withoutWrappedNames, withLayerScaleNames).
 */
export function normalizedModelJson(json: LayersModelJson): LayersModelJson {
  return withLayerScaleNames(withoutSpectralNormalization(withoutWrappedNames(withoutCellNames(withoutRnnCells(withoutNestedModels(withoutOperations(json)))))));
}

/** The manifest with each ConvNeXt LayerScale's weight named gamma (layers_convnext.ts: Keras 3 writes variable_N). */
export function withLayerScaleNames(json: LayersModelJson): LayersModelJson {
  const layers = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== 'object') return;
    const o = v as { class_name?: unknown; config?: { name?: unknown } };
    if (o.class_name === 'LayerScale' && typeof o.config?.name === 'string') layers.add(o.config.name);
    Object.values(o).forEach(visit);
  };
  visit(json.modelTopology);
  return layers.size === 0 ? json : renamedWeights(json, (n, names) => (typeof n === 'string' ? layerScaleWeightName(layers, n, names) : n));
}

/**
 * The manifest with a TimeDistributed's or SpectralNormalization's weights under the wrapper's
 * name: Keras 3 writes them with the wrapped layer's name too (time_distributed/dense/kernel),
 * tfjs and tf-keras without (time_distributed/kernel), which is what the layer reads; unless the
 * short name is there already.
 */
export function withoutWrappedNames(json: LayersModelJson): LayersModelJson {
  const prefixes: [string, string][] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== 'object') return;
    const o = v as { class_name?: unknown; config?: { name?: unknown; layer?: { config?: { name?: unknown } } } };
    const outer = o.config?.name, inner = o.config?.layer?.config?.name;
    if ((o.class_name === 'TimeDistributed' || o.class_name === 'SpectralNormalization') && typeof outer === 'string' && typeof inner === 'string') prefixes.push([`${outer}/${inner}/`, `${outer}/`]);
    Object.values(o).forEach(visit);
  };
  visit(json.modelTopology);
  if (prefixes.length === 0) return json;
  return renamedWeights(json, (n, names) => {
    const hit = typeof n === 'string' ? prefixes.find(([long]) => n.startsWith(long)) : undefined;
    const s = hit ? hit[1] + n.slice(hit[0].length) : n;
    return hit && !names.has(s) ? s : n;
  });
}

/** The manifest with each weight's name mapped by `rename` (which sees every name the manifest has). */
function renamedWeights(json: LayersModelJson, rename: (name: string, names: ReadonlySet<string>) => string): LayersModelJson {
  if (!Array.isArray(json.weightsManifest)) return json;
  const names = new Set(json.weightsManifest.flatMap((g) => (Array.isArray(g?.weights) ? g.weights.map((w) => w.name) : [])));
  return { ...json, weightsManifest: json.weightsManifest.map((g) => (Array.isArray(g?.weights) ? { ...g, weights: g.weights.map((w) => ({ ...w, name: rename(w.name, names) })) } : g)) };
}

/**
 * The manifest with TensorFlow 2.2+'s recurrent weight names shortened: Keras writes an RNN layer's
 * weights as layer/cell/weight (lstm/lstm_cell/kernel; in a Bidirectional,
 * bidirectional/forward_lstm/lstm_cell/kernel), tfjs as layer/weight, and tfjs's loader drops the
 * cell part of a name that is not the model's own. Here the part dropped is a Keras cell's name
 * (lstm_cell, gru_cell, simple_rnn_cell, with Keras's _1, _2 suffixes), unless the short name is
 * in the manifest already.
 */
export function withoutCellNames(json: LayersModelJson): LayersModelJson {
  const shorter = (n: string) => {
    const p = typeof n === 'string' ? n.split('/') : [];
    if (p.length < 3 || !/_cell(_\d+)?$/.test(p[p.length - 2])) return n;
    return [...p.slice(0, -2), p[p.length - 1]].join('/');
  };
  // Two cells' weights that would share a short name (an RNN over stacked cells) keep their own.
  let counts: Map<string, number> | undefined;
  return renamedWeights(json, (n, names) => {
    if (!counts) {
      counts = new Map();
      for (const m of names) counts.set(shorter(m), (counts.get(shorter(m)) ?? 0) + 1);
    }
    const s = shorter(n);
    return s === n || names.has(s) || counts.get(s)! > 1 ? n : s;
  });
}

/** The weight shapes a manifest declares. */
export function manifestShapes(json: LayersModelJson): Map<string, number[]> {
  if (!Array.isArray(json.weightsManifest)) throw new Error('weightsManifest is missing');
  const all = json.weightsManifest.flatMap((g, i) => {
    if (!Array.isArray(g?.weights)) throw new Error(`weightsManifest group ${i} needs a 'weights' array`);
    return g.weights;
  });
  checkWeightSpecs(all);
  return new Map(all.map((w) => [w.name, w.shape]));
}

/**
 * Refuses a manifest that names a weight twice (which would win is a guess). Quantized weights
 * (tensorflowjs_converter --quantize_*) are dequantized where their bytes are read (model.ts).
 */
export function checkWeightSpecs(weights: readonly WeightSpec[]): void {
  const seen = new Set<string>();
  for (const w of weights) {
    if (!w || typeof w.name !== 'string') throw new Error('a weight in the manifest has no name');
    if (seen.has(w.name)) throw new Error(`the weights manifest names weight '${w.name}' twice`);
    seen.add(w.name);
  }
}
