// The memory one query of a model needs on a server, estimated from the model's topology before
// any work is done for it (limits.ts checks it against maxQueryBytes; the offline pool sizes its
// depth with it). Split from limits.ts, which holds the limits and the checks.
import { separableInTwo, transposeAxis } from '../api/conv_kernels';
import { reshapeTo, sides1d } from '../api/layers_settings';
import { graphOf, type LayerConfig, outputId } from '../api/layers_graph';
import { keyOf, SLICE_LAYER, sliceBounds } from '../api/layers_slice';
import { AXES_LAYER, axesOf, axesShape, STACK_LAYER, stackOf, stackShape } from '../api/layers_axes';
import { REDUCE_LAYER, reduceGeometry, reduceOf } from '../api/layers_reduce';
import { RESIZE_LAYER } from '../api/image_resize';
import { columnReaders, fusedReads, ID_READERS, vocabularyOf } from '../api/layers_embedding';
import { fusedSlotValues, fusedSplit } from '../api/fused_table';
import { readsOneLevel, rowBlocksLayout } from '../api/row_blocks';
import { textVectorizationOf } from '../api/layers_text';
import { hasEqualityGate } from '../protocol/exact_protocols';
import { bucketLayout, SLOT_VALUES, VOCABULARY_TABLE } from '../api/bucket_table';
import { einsumSpecs } from '../api/einsum_plan';
import { layerNormComparisons } from '../api/ops_norm';
import { unitNormEpsilon } from '../api/layers_norm';
import type { ModelTopology } from '../api/layers_spec';
import { foldedKeyWords } from '../protocol/fss/folded_product';
import { foldsProduct, takesCompactForm } from '../protocol/fss/steps';
import { type FssGate, isExact, PROTOCOL_TRAITS } from '../protocol/protocols';
import { optionsOf, type ProtocolOptions } from '../protocol/protocol_options';
import type { ProtocolName } from './messages';
import { dcfBitKeyWords, dcfKeyWords, dpfKeyWords } from '../ops/fss';
import { EXACT_PROTOCOLS } from '../protocol/exact_protocols';
import { PATCH_CHUNK_VALUES } from '../protocol/correlated';

const count = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/*
 * Every tensor a query makes lives until its answer is sent (programs.ts frees them together), so
 * a query's memory is about the sum over its layers of what each makes, per sample, times the
 * batch. Per element of a layer's output (8-byte ring elements, this server's share):
 *  - a product (Dense, Conv2D) keeps its output share, the masked operands and the triple parts;
 *    Conv2D also lays its input out as im2col patches (outH x outW x kh x kw x cin);
 *  - a polynomial keeps its powers and their products; under SecureNN a ReLU or a max-pool
 *    comparison works on the 64 bits of each element.
 * The factors are calibrated against measured server peaks (bench/RESULTS.md, "Hostile clients")
 * and err on the high side: an estimate refuses a query, it never lets one through that is known
 * not to fit.
 */
const PER_INPUT = 6;
const PER_PRODUCT = 4;
const PER_IM2COL = 2;
const PER_POLY = 6;
const PER_LINEAR = 2;
const PER_SECURENN_COMPARE = 200;
/**
 * FSS: a DCF key per relu element, and the evaluation's temporaries: the one-round gate's
 * two-payload key (257 words at the full width of 64 bits, 129 at 32) or the compact gate's one-bit
 * key (117 words at 64), as the model's gate form picks for the gate's size (takesCompactForm in
 * lib/protocol/fss/steps.ts) and its comparisons' width (fssBits). On the high side: a gate whose
 * inputs come from a product compares fewer bits than fssBits allows (197 and 87 words after a
 * Dense layer: docs/fss.md "Gate widths"), which this walk over the topology does not follow.
 */
const PER_FSS_COMPARE = (bits: number) => dcfKeyWords(bits - 1, 2) + 24;
const PER_FSS_COMPACT = (bits: number) => dcfBitKeyWords(bits - 1) + 24;
/** FSS's equality gate (lib/protocol/fss/equality.ts): a DPF key per element and the evaluation's temporaries. */
const PER_FSS_EQUAL = (bits: number) => dpfKeyWords(bits) + 24;
/** A product folded into a one-round gate, per cell besides its keys: the evaluation's shares and the finishing's temporaries. */
const PER_FOLD_CELL = 24;
/** A product folded into a compact gate: three dealt words per cell and the finishing's temporaries. */
const PER_COMPACT_FOLD = 3 + 9;
/** What any query costs besides its tensors (buffers, V8's heap steps). */
export const PER_QUERY = 24 << 20;

interface LayerCfg {
  class_name: string;
  config: Record<string, unknown>;
}

/** One layer call: its layer, its id and the ids of the calls it reads (layers_graph.ts LayerNode). */
interface Call {
  layer: LayerCfg;
  id: string;
  inputs: string[];
  /** A table lookup whose ids travel as columns, or an Embedding reading rows by them (layers_embedding.ts columnReaders). */
  columns?: boolean;
  /** A lookup handing its ids on to the Embedding that reads it with them as one table, or that Embedding (its lookup) (layers_embedding.ts fusedReads). */
  through?: boolean;
  fusedLookup?: LayerCfg;
  /** An input layer's shape as shared ([..., V] when Embeddings read its one-hot), for a model with several inputs. */
  shared?: number[];
}

const callsCache = new WeakMap<ModelTopology, { calls: Call[]; chain: boolean }>();

/**
 * The model's layer calls in an order where each comes after what it reads: a Sequential model's
 * layers as they are (a chain), a Functional model's graph (every call of a shared layer, each
 * reading its own inputs). Kept per topology: limits.ts estimates every query.
 */
function callsOf(topo: ModelTopology): { calls: Call[]; chain: boolean } {
  const known = callsCache.get(topo);
  if (known) return known;
  const cfg = topo.model_config ? topo.model_config.config : topo.config;
  const layers = ((Array.isArray(cfg) ? cfg : cfg?.layers) ?? []) as unknown as LayerCfg[];
  // A Sequential model is a chain: each layer's only reader is the next one.
  const chain = Array.isArray(cfg) || (topo.model_config?.class_name ?? topo.class_name) === 'Sequential';
  let calls: Call[];
  if (chain) calls = layers.map((layer, i) => ({ layer, id: String(layer.config?.name), inputs: i === 0 ? [] : [String(layers[i - 1].config?.name)] }));
  else {
    let g: ReturnType<typeof graphOf>;
    try {
      g = graphOf(topo);
    } catch {
      // Not a graph the loader takes (it refuses the model first): the layers in their order.
      const out = { calls: layers.map((layer) => ({ layer, id: String(layer.config?.name), inputs: [] })), chain };
      callsCache.set(topo, out);
      return out;
    }
    const several = g.inputs.length > 1;
    calls = g.nodes.map((n) => {
      const input = several ? g.inputs.find((i) => i.id === n.id) : undefined;
      const reader = input && g.nodes.find((r) => r.layer.class_name in ID_READERS && r.inputs[0] === n.id);
      const vocab = reader ? vocabularyOf(reader.layer) : undefined;
      return { layer: n.layer as unknown as LayerCfg, id: n.id, inputs: n.inputs, ...(input ? { shared: vocab === undefined ? [...input.shape] : [...input.shape, Number(vocab)] } : {}) };
    });
  }
  // Columns: the loader's own rule, on the calls as a graph (a chain's output its last call).
  try {
    const whole = (() => {
      try {
        return graphOf(topo);
      } catch {
        return undefined; // a chain's calls are read as they are
      }
    })();
    const graph = { nodes: calls, outputs: chain ? [calls[calls.length - 1]?.id] : whole!.outputs, inputs: whole?.inputs ?? [] } as never;
    const columns = columnReaders(graph), fused = fusedReads(graph, columns);
    for (const k of calls) {
      const name = String(k.layer.config?.name);
      if (columns.has(name)) k.columns = true;
      if (fused.through.has(name)) k.through = true;
      if (fused.lookupOf.has(name)) k.fusedLookup = fused.lookupOf.get(name) as unknown as LayerCfg;
    }
  } catch {
    // Not a graph the loader takes: it refuses the model first.
  }
  const out = { calls, chain };
  callsCache.set(topo, out);
  return out;
}

const pair = (v: unknown, d: number): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1])] : v === undefined || v === null ? [d, d] : [Number(v), Number(v)]);
/** A 3-D layer's setting given as one number or three. */
const triple3 = (v: unknown, d: number): number[] => (Array.isArray(v) ? v.map(Number) : [0, 0, 0].map(() => Number(v ?? d)));
const int1d = (v: unknown, d: number): number => Number(Array.isArray(v) ? v[0] : (v ?? d));

function window(s: number[], size: [number, number], strides: [number, number], padding: unknown): [number, number] {
  // Conv1D's causal padding gives SAME's length (its zeros all go before the first step).
  const same = ['same', 'causal'].includes(String(padding ?? 'valid').toLowerCase());
  const out = (n: number, k: number, st: number) => Math.max(1, same ? Math.ceil(n / st) : Math.floor((n - k) / st) + 1);
  return [out(s[0], size[0], strides[0]), out(s[1], size[1], strides[1])];
}

/** The taps per output of a resize along an axis of `inSize` to `outSize` (image_resize.ts): area's cover its box. */
function resizeTaps(method: string, inSize: number, outSize: number): number {
  const taps: Record<string, number> = { bilinear: 2, bicubic: 4, lanczos3: 6, lanczos5: 10 };
  return taps[method] ?? Math.ceil(inSize / Math.max(1, outSize)) + 1;
}

const MAX_POOLS = new Set(['MaxPooling2D', 'MaxPooling1D', 'GlobalMaxPooling2D', 'GlobalMaxPooling1D']);

/**
 * Piecewise sigmoid, tanh, swish, softplus, elu, selu, gelu and mish (lib/api/ops_smooth.ts): |x|
 * from a relu, the clamp at the last knot, and one comparison per inner knot.
 */
const SMOOTH_GATES = 7;
/** softmax (ops_softmax.ts): the row's max (about one comparison per element), the exponential's clamp and seven knots. */
const SOFTMAX_GATES = 9;
const SOFTSIGN_GATES = 11;

/**
 * Comparison gates per element of a layer's activation (relu6: two relus), 0 for none. A softmax
 * or sigmoid on the output is the client's, but the walk does not know which layer is the output:
 * counted, on the high side.
 */
function gatesOf(cls: string, c: Record<string, unknown>): number {
  if (cls === 'ReLU') return c.max_value ?? c.maxValue ? 2 : 1;
  if (cls === 'LeakyReLU' || cls === 'ThresholdedReLU') return 1;
  if (cls === 'PReLU') return 2;
  if (cls === 'ELU') return SMOOTH_GATES;
  const a = c.activation;
  if (a === 'relu' || a === 'leaky_relu') return 1;
  if (['relu6', 'hard_sigmoid', 'hard_silu', 'hard_swish', 'hard_tanh', 'sparse_sigmoid', 'soft_shrink', 'hard_shrink'].includes(String(a))) return 2;
  // sparse_plus: the clip's two relus and relu(x - 1).
  if (a === 'sparse_plus') return 3;
  // softsign (lib/api/ops_softsign.ts): the sign, the clamp and the reciprocal's nine thresholds.
  if (a === 'softsign') return SOFTSIGN_GATES;
  return ['sigmoid', 'tanh', 'tanh_shrink', 'log_sigmoid', 'swish', 'silu', 'softplus', 'elu', 'celu', 'selu', 'gelu', 'gelu_new', 'mish'].includes(String(a)) ? SMOOTH_GATES : 0;
}

/**
 * Whether an activation's gate g compares a value the library makes (internal: a clip's x - m, a
 * smooth activation's |x| less its knots, tanh's 2x), so a narrowed fssBits does not narrow it
 * (lib/api/layers_activations.ts shiftedRelu, ops_smooth.ts clampedKnots). On the high side:
 * PReLU's gates and the first gate of every other activation (on x itself) are at the owner's
 * width, except where the first already takes a value the library made (the hard_* clips,
 * soft_shrink, hard_shrink, sparse_plus, tanh's 2x); every later gate is internal.
 */
function libraryGate(cls: string, c: Record<string, unknown>, g: number): boolean {
  if (cls === 'PReLU') return false;
  if (cls === 'ThresholdedReLU') return true; // x less the library's t
  const a = String(c.activation);
  return g > 0 || ['hard_sigmoid', 'hard_silu', 'hard_swish', 'hard_tanh', 'sparse_sigmoid', 'soft_shrink', 'hard_shrink', 'sparse_plus', 'tanh', 'tanh_shrink', 'softsign'].includes(a);
}

/** The activation runs after the max pool that reads it (lib/api/layers_spec.ts, poolFirst). */
function movesPastPool(cls: string, c: Record<string, unknown>): boolean {
  if (cls === 'ReLU') return true; // its negative_slope is >= 0 (others are refused)
  if (cls === 'LeakyReLU') return Number(c.alpha ?? c.negative_slope ?? 0.3) >= 0;
  return c.activation === 'relu' || c.activation === 'relu6' || c.activation === 'leaky_relu';
}

/**
 * Estimated bytes one server needs for a query of `batch` samples of a model (see above). The
 * model's own shares are not counted: they are resident whether or not anyone asks. `inputShape`
 * is the shared input's (sharedInputShape: token ids count V values each, their one-hot).
 */
export function estimateQueryBytes(m: { topology: ModelTopology; inputShape: readonly number[] } & Protocol, batch: number): number {
  const { calls, chain } = callsOf(m.topology);
  const w = walk(m, batch, calls, chain, m.inputShape);
  // PER_INPUT: received bytes, the share, its masked copies.
  const bytes = PER_QUERY + 8 * batch * (PER_INPUT * count(m.inputShape) + w.elements + w.compareMax);
  // A shape the walk got wrong would make every limit pass (NaN compares false): refused instead.
  if (!Number.isFinite(bytes)) throw new Error("the memory a query of this model needs cannot be estimated (a layer's shape is outside what the estimate follows)");
  return bytes;
}

type Protocol = { protocol: ProtocolName; fssCompactFrom?: number } & ProtocolOptions;

/**
 * A model's protocol and options as its estimates take them: bounding every form the service may
 * deal its queries in. An 'auto' FSS model's queries take 'folded' over far links (gate_form.ts
 * LoadForm), the largest of its forms (the folded products' keys on top of 'auto''s); any other
 * form is the model's own.
 */
export function servedOptions(m: { protocol: ProtocolName } & ProtocolOptions): { protocol: ProtocolName } & ProtocolOptions {
  return { protocol: m.protocol, ...optionsOf(m), fssGate: servedGate(m) };
}

/** The gate form of servedOptions: 'folded' for an 'auto' FSS model, else the model's own (undefined outside FSS). */
export function servedGate(m: { protocol: ProtocolName } & ProtocolOptions): FssGate | undefined {
  return m.protocol === 'fss' && (m.fssGate ?? 'auto') === 'auto' ? 'folded' : m.fssGate;
}

/**
 * Per row read (of n in the query) by table_read.ts tableRows from 2^(hiBits + loBits) rows of w
 * values in blocks of 2^loBits (pair: two rows, IntegerLookup's): the dealt one-hot rows and the
 * products, in one level or two as the read takes them (readsOneLevel).
 */
function tableReadElements(n: number, hiBits: number, loBits: number, w: number, pair = false): number {
  const k = pair ? 2 : 1;
  if (readsOneLevel(n, hiBits, loBits, w, pair)) return 3 * 2 ** (hiBits + loBits) + PER_PRODUCT * (k * 2 ** (hiBits + loBits) + k * w);
  const H = 2 ** hiBits, L = 2 ** loBits;
  return 3 * (H + 2 * L) + PER_PRODUCT * (2 * H + 2 * L * w) + PER_PRODUCT * (k * 2 * L + 2 * L * w + k * w);
}

/** Per sample: the elements the layers make, the largest SecureNN comparison's, and the output's shape. */
function walk(m: Protocol, batch: number, calls: Call[], chain: boolean, inputShape: readonly number[]): { elements: number; compareMax: number; shape: number[] } {
  let s = [...inputShape];
  const masked = calls.some((k) => (k.layer.class_name === 'Embedding' && k.layer.config.mask_zero === true) || k.layer.class_name === 'Masking');
  // Each call's output shape: a call reads its first input's (a Functional model's edges).
  const shapes = new Map<string, number[]>();
  let elements = 0;
  // SecureNN's comparisons run one layer at a time with server2 in the loop, and each frees its
  // bit-level temporaries before the next: the largest counts, not their sum (a 19-relu CIFAR
  // ResNet-20 was estimated 7x its measured peak by the sum). FSS keys are summed: server2 deals
  // ahead, so the compute servers may hold several layers' keys at once.
  let compareMax = 0;
  // (internal: the library's own comparisons, LayerNormalization's, softmax's and the activations' (libraryGate), at the width
  // their structure gives whatever fssBits says: counted at the whole ring.)
  const nonlinear = (n: number, internal = false): number => {
    // By the protocol's traits, not its name: a protocol whose server2 deals its comparisons
    // offline is counted as FSS (dealt keys), one whose server2 helps online as SecureNN.
    if (!isExact(m.protocol)) return PER_POLY * n;
    if (!PROTOCOL_TRAITS[m.protocol].server2Online) return (takesCompactForm(m.fssGate ?? 'auto', n * batch, m.fssCompactFrom) ? PER_FSS_COMPACT : PER_FSS_COMPARE)(internal ? 64 : (m.fssBits ?? 64)) * n;
    compareMax = Math.max(compareMax, PER_SECURENN_COMPARE * n);
    return 0;
  };
  // An equality test per element (equalZero): one gate where the protocol has one (FSS: a DPF key),
  // else two comparisons (exact/relu.ts).
  const equalities = (n: number, internal = false): number =>
    isExact(m.protocol) && EXACT_PROTOCOLS[m.protocol]?.isZero ? PER_FSS_EQUAL(internal ? 64 : (m.fssBits ?? 64)) * n : nonlinear(2 * n, internal);
  // Under the folding gate forms a product may fold into the relu before it while its cells (the
  // batch's) are at most FSS_STEPS.foldMaxCells: after a one-round gate one many-payload key per
  // gate element (folded_product.ts: its 2k payloads on one tree, at the full comparison width)
  // and the evaluation's temporaries per cell, three dealt words per cell after a compact one;
  // counted wherever the product could fold, on the high side (the walk does not check that a
  // relu precedes it).
  const folded = (cells: number, gateElements: number): number => {
    const form = m.protocol === 'fss' ? (m.fssGate ?? 'auto') : undefined; // FSS's own gate option
    if (!form || !foldsProduct(form, cells * batch)) return 0;
    if (takesCompactForm(form, gateElements * batch, m.fssCompactFrom)) return PER_COMPACT_FOLD * cells;
    return foldedKeyWords(gateElements, cells / gateElements, (m.fssBits ?? 64) - 1) + PER_FOLD_CELL * cells;
  };
  // An activation the next layer (its only reader, in a chain) pools first: counted on the pooled shape.
  let deferred = 0;
  // A volume convolution's patches (per sample): gathered PATCH_CHUNK_VALUES at a time (the
  // whole batch's), by the product's two evaluations at once, each freed before the next.
  const patches = (values: number) => PER_IM2COL * Math.min(values, (2 * PATCH_CHUNK_VALUES) / batch);
  const activation = (i: number) => {
    const { class_name: cls, config: c } = calls[i].layer;
    const gates = gatesOf(cls, c);
    if (!gates) return;
    if (chain && MAX_POOLS.has(calls[i + 1]?.layer.class_name) && movesPastPool(cls, c)) deferred = gates;
    else for (let g = 0; g < gates; g++) elements += nonlinear(count(s), libraryGate(cls, c, g));
  };
  for (let i = 0; i < calls.length; i++) {
    const { layer, id, inputs, shared } = calls[i];
    const { class_name: cls, config: c } = layer;
    if (shared) s = [...shared];
    else if (inputs.length && shapes.has(inputs[0])) s = [...shapes.get(inputs[0])!];
    switch (cls) {
      // The one-hot input [.., V] (counted above, V per token) times the table [V, d]: a Dense.
      case 'Embedding':
      case 'Dense': {
        if (cls === 'Embedding' && calls[i].fusedLookup) {
          // Rows read with the lookup's own read (table_read.ts fusedRows): the fused table's read,
          // the slots' tests (IntegerLookup's codes: two buckets, two comparisons a slot), one
          // product of the matches with the rows; no column, no one-hot.
          const look = calls[i].fusedLookup!.config, codes = calls[i].fusedLookup!.class_name === 'IntegerLookup';
          const masked = look.mask_token != null || calls[i].fusedLookup!.class_name === 'TextVectorization';
          const d = Number(c.output_dim), t = bucketLayout(Number(look.vocabulary_size) - 1 + (masked ? 1 : 0)), split = fusedSplit(t, d), before = count(s);
          const S = t.slots * (codes ? 2 : 1);
          elements += before * (tableReadElements(before * batch, split.hiBits, split.loBits, t.slots * fusedSlotValues(d), codes) + PER_LINEAR * (4 * S + S * d) + PER_PRODUCT * (S + S * d + d));
          elements += codes ? nonlinear(before * 2 * S, true) : equalities(before * S, true);
          s = [...s, d];
          break;
        }
        if (cls === 'Embedding' && calls[i].columns) {
          // Rows read by the ids' columns (table_read.ts tableRows): the dealt one-hot rows, two
          // blocks by a private product, then the row by another; no [..., V] one-hot.
          const d = Number(c.output_dim), b = rowBlocksLayout(Number(c.input_dim), d), before = count(s);
          elements += before * tableReadElements(before * batch, b.hiBits, b.loBits, d);
          s = [...s, d];
          break;
        }
        const inner = s[s.length - 1] ?? 1, before = count(s);
        s = [...s.slice(0, -1), Number(cls === 'Embedding' ? c.output_dim : c.units)];
        elements += PER_PRODUCT * count(s) + folded(count(s) * inner, before);
        activation(i);
        break;
      }
      // Each runs as one Conv2D on the kernel the owner expands (lib/api/layers_conv.ts), dilated
      // to (k - 1) d + 1 taps per axis; a DepthwiseConv2D, or a Conv2D with one input channel per
      // group, as a depthwise convolution (one kernel, no patches: its input and its output); a
      // SeparableConv2D as a depthwise convolution to C m channels, then a 1x1 Conv2D to its
      // filters, or where the owner folds its kernels as a Conv2D.
      case 'Conv2D':
      case 'DepthwiseConv2D':
      case 'SeparableConv2D': {
        const d = pair(c.dilation_rate, 1), k0 = pair(c.kernel_size, 1);
        const k: [number, number] = [(k0[0] - 1) * d[0] + 1, (k0[1] - 1) * d[1] + 1];
        const cin = s[2] ?? 1;
        const [oh, ow] = window(s, k, pair(c.strides, 1), c.padding);
        // A separable layer the owner folds (conv_kernels.ts separableInTwo) runs as a Conv2D.
        const m = Number(c.depth_multiplier ?? 1), folded = cls === 'SeparableConv2D' && !separableInTwo(k[0] * k[1], Number(c.filters), m);
        const depthwise = (cls !== 'Conv2D' && !folded) || (cls === 'Conv2D' && Number(c.groups ?? 1) > 1 && Number(c.groups) === cin);
        // Grouped (other than depthwise): its patches transposed to one matrix per group, a copy.
        const grouped = cls === 'Conv2D' && !depthwise && Number(c.groups ?? 1) > 1;
        const mid = cls === 'Conv2D' || folded ? Number(c.filters) : cin * m;
        // A depthwise convolution is one kernel (no patches): its input-sized operands and its output.
        const patches = depthwise ? PER_LINEAR * (s[0] ?? 1) * (s[1] ?? 1) * cin : (grouped ? 2 : 1) * PER_IM2COL * oh * ow * k[0] * k[1] * cin;
        elements += patches + PER_PRODUCT * oh * ow * mid;
        s = [oh, ow, cls === 'SeparableConv2D' ? Number(c.filters) : mid];
        if (cls === 'SeparableConv2D' && !folded) elements += PER_IM2COL * oh * ow * mid + PER_PRODUCT * count(s);
        activation(i);
        break;
      }
      // Self-attention over [T, d] (the walk follows one path: the query's shape): per head, the
      // projections and the T x T scores, their softmax (a max tree, the exponential's gates and the
      // reciprocal's scale per row), and the weighted values.
      case 'AdditiveAttention': {
        // Tq Tv d sums and their tanh (its gates: a comparison per knot), the scores' matmul, then
        // Attention's softmax and weighted values.
        const steps = count(s.slice(0, -1)), d = s[s.length - 1] ?? 1, pairs = steps * steps * d;
        // A padding mask: the penalised scores, the keep product and the output's (as below).
        elements += PER_LINEAR * pairs + PER_POLY * pairs + PER_PRODUCT * (steps * steps + count(s) + (masked ? 3 * steps * steps + count(s) : 0));
        for (let g = 0; g < SMOOTH_GATES; g++) elements += nonlinear(pairs, g > 0);
        for (let g = 0; g < SOFTMAX_GATES; g++) elements += nonlinear(steps * steps, g > 0);
        break;
      }
      case 'MultiHeadAttention':
      case 'GroupQueryAttention':
      case 'Attention': {
        // Every position between the batch and the features (an image's h w). GQA's keys and
        // values are repeated to every query head (a gather): counted as MHA's; a gate (Keras
        // 3.12+) one more projection and its sigmoid.
        const steps = count(s.slice(0, -1)), d = s[s.length - 1] ?? 1;
        const heads = cls === 'MultiHeadAttention' ? Number(c.num_heads) : cls === 'GroupQueryAttention' ? Number(c.num_query_heads) : 1;
        const kd = cls === 'MultiHeadAttention' ? Number(c.key_dim) : cls === 'GroupQueryAttention' ? Number(c.head_dim) : d;
        if (c.use_gate === true) {
          const gw = heads * steps * Math.max(kd, c.value_dim == null ? 0 : Number(c.value_dim));
          elements += PER_PRODUCT * 2 * gw;
          for (let g = 0; g < SMOOTH_GATES; g++) elements += nonlinear(gw, g > 0);
        }
        const scores = heads * steps * steps;
        // A padding mask (Keras 3 self-attention, ops_softmax.ts): the penalised scores, the keep
        // product [steps, steps] and the exponentials times it.
        // (Attention also multiplies its output by the mask.)
        elements += PER_PRODUCT * (3 * heads * steps * kd + 2 * scores + heads * steps * kd + count(s) + (masked ? 2 * scores + steps * steps + count(s) : 0));
        for (let g = 0; g < SOFTMAX_GATES; g++) elements += nonlinear(scores, g > 0);
        break;
      }
      case 'RepeatVector':
        s = [Number(c.n), ...s];
        elements += PER_LINEAR * count(s);
        break;
      // (The walk follows one input: the product's operands and output, counted on its shape.)
      case 'Dot':
        elements += 2 * PER_PRODUCT * count(s);
        break;
      case 'Conv2DTranspose': {
        // Counted as a Conv2D over the input spread out by the strides (about (h s + k) x (w s + k)):
        // an upper bound for the sub-pixel form the layer runs (one Conv2D of the input's size).
        const k = pair(c.kernel_size, 1), st = pair(c.strides, 1), cin = s[2] ?? 1, op = c.output_padding == null ? null : pair(c.output_padding, 0);
        // Its lengths as the layer computes them (an output_padding the layer refuses: the largest it allows).
        const out = (n: number, i: number) => {
          try {
            return transposeAxis(n, k[i], st[i], c.padding === 'same', op ? op[i] : null).out;
          } catch {
            return n * st[i] + k[i];
          }
        };
        const [oh, ow] = [out(s[0] ?? 1, 0), out(s[1] ?? 1, 1)];
        s = [oh, ow, Number(c.filters)];
        elements += PER_LINEAR * (oh + k[0]) * (ow + k[1]) * cin + PER_IM2COL * oh * ow * k[0] * k[1] * cin + PER_PRODUCT * count(s);
        activation(i);
        break;
      }
      case 'Conv1DTranspose': {
        // As Conv2DTranspose's, over one row.
        const k = int1d(c.kernel_size, 1), st = int1d(c.strides, 1), cin = s[1] ?? 1;
        let ol: number;
        try {
          ol = transposeAxis(s[0] ?? 1, k, st, c.padding === 'same', c.output_padding == null ? null : int1d(c.output_padding, 0)).out;
        } catch {
          ol = (s[0] ?? 1) * st + k;
        }
        s = [ol, Number(c.filters)];
        elements += PER_LINEAR * (ol + k) * cin + PER_IM2COL * ol * k * cin + PER_PRODUCT * count(s);
        activation(i);
        break;
      }
      // A DepthwiseConv1D or SeparableConv1D: as the 2-D ones, over the steps.
      case 'Conv1D':
      case 'DepthwiseConv1D':
      case 'SeparableConv1D': {
        const k = (int1d(c.kernel_size, 1) - 1) * int1d(c.dilation_rate, 1) + 1, cin = s[1] ?? 1;
        const [, ol] = window([1, s[0]], [1, k], [1, int1d(c.strides, 1)], c.padding);
        const m = Number(c.depth_multiplier ?? 1), folded = cls === 'SeparableConv1D' && !separableInTwo(k, Number(c.filters), m);
        const mid = cls === 'Conv1D' || folded ? Number(c.filters) : cin * m;
        const grouped = cls === 'Conv1D' && Number(c.groups ?? 1) > 1;
        const depthwise = cls !== 'Conv1D' && !folded;
        elements += (depthwise ? PER_LINEAR * (s[0] ?? 1) * cin : (grouped ? 2 : 1) * PER_IM2COL * ol * k * cin) + PER_PRODUCT * ol * mid;
        s = [ol, cls === 'DepthwiseConv1D' ? mid : Number(c.filters)];
        if (cls === 'SeparableConv1D' && !folded) elements += PER_IM2COL * ol * mid + PER_PRODUCT * count(s);
        activation(i);
        break;
      }
      case 'AveragePooling2D':
      case 'MaxPooling2D':
      case 'AveragePooling1D':
      case 'MaxPooling1D':
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D':
      case 'GlobalAveragePooling1D':
      case 'GlobalMaxPooling1D': {
        const before = count(s), ch = s[s.length - 1] ?? 1;
        if (cls.startsWith('Global')) s = [cls.endsWith('1D') && c.data_format === 'channels_first' ? (s[0] ?? 1) : ch];
        else if (cls.endsWith('1D')) {
          const k = int1d(c.pool_size, 2);
          s = [window([1, s[0]], [1, k], [1, int1d(c.strides, k)], c.padding)[1], ch];
        } else {
          const size = pair(c.pool_size, 2);
          s = [...window(s, size, pair(c.strides ?? c.pool_size, 2), c.padding), ch];
        }
        elements += MAX_POOLS.has(cls) ? nonlinear(before) : PER_LINEAR * before;
        // (relu6's and a capped ReLU's second gate compares x - m: internal, as libraryGate.)
        for (let g = 0; g < deferred; g++) elements += nonlinear(count(s), g > 0);
        deferred = 0;
        break;
      }
      // Volumes (lib/api/layers_3d.ts): Conv3D's patches gathered (taps x channels per output
      // voxel, in chunks) and one product; pools' windows gathered (max) or summed (average); copies.
      case 'Conv3D':
      case 'MaxPooling3D':
      case 'AveragePooling3D': {
        const conv = cls === 'Conv3D', k = triple3(conv ? c.kernel_size : c.pool_size, conv ? 1 : 2), dil = conv ? triple3(c.dilation_rate, 1) : [1, 1, 1];
        const st = conv || c.strides != null ? triple3(c.strides, 1) : k, same = String(c.padding ?? 'valid').toLowerCase() === 'same';
        const out = [0, 1, 2].map((a) => Math.max(1, same ? Math.ceil((s[a] ?? 1) / st[a]) : Math.floor(((s[a] ?? 1) - (k[a] - 1) * dil[a] - 1) / st[a]) + 1));
        const ch = s[3] ?? 1, taps = k[0] * k[1] * k[2], voxels = out[0] * out[1] * out[2];
        s = [...out, conv ? Number(c.filters) : ch];
        elements += (conv ? patches(voxels * taps * ch) : PER_IM2COL * voxels * taps * ch) + (conv ? PER_PRODUCT * count(s) : cls === 'MaxPooling3D' ? nonlinear(voxels * taps * ch) : PER_LINEAR * count(s));
        if (conv) activation(i);
        break;
      }
      case 'Conv3DTranspose': {
        // The direct convolution it equals: patches of k0 k1 k2 taps per output voxel.
        const k = triple3(c.kernel_size, 1), st = triple3(c.strides, 1), same = String(c.padding ?? 'valid').toLowerCase() === 'same';
        const out = [0, 1, 2].map((a) => (s[a] ?? 1) * st[a] + (same ? 0 : Math.max(k[a] - st[a], 0)));
        const ch = s[3] ?? 1;
        s = [...out, Number(c.filters)];
        elements += patches(out[0] * out[1] * out[2] * k[0] * k[1] * k[2] * ch) + PER_PRODUCT * count(s);
        activation(i);
        break;
      }
      case 'GlobalAveragePooling3D':
      case 'GlobalMaxPooling3D': {
        const before = count(s);
        s = c.keepdims === true ? [1, 1, 1, s[3] ?? 1] : [s[3] ?? 1];
        elements += cls === 'GlobalMaxPooling3D' ? nonlinear(before) : PER_LINEAR * before;
        break;
      }
      case 'UpSampling3D':
      case 'ZeroPadding3D':
      case 'Cropping3D': {
        const t3 = (v: unknown, d: number): number[] => (Array.isArray(v) ? v.map((e) => (Array.isArray(e) ? Number(e[0]) + Number(e[1]) : cls === 'UpSampling3D' ? Number(e) : 2 * Number(e))) : [0, 0, 0].map(() => (cls === 'UpSampling3D' ? 1 : 2) * Number(v ?? d)));
        const by = t3(cls === 'UpSampling3D' ? c.size : cls === 'ZeroPadding3D' ? c.padding : c.cropping, cls === 'UpSampling3D' ? 2 : cls === 'ZeroPadding3D' ? 1 : 0);
        s = [0, 1, 2].map((a) => Math.max(1, cls === 'UpSampling3D' ? (s[a] ?? 1) * by[a] : (s[a] ?? 1) + (cls === 'ZeroPadding3D' ? by[a] : -by[a]))).concat(s[3] ?? 1);
        elements += PER_LINEAR * count(s);
        break;
      }
      case 'CategoryEncoding': {
        // Its input is the ids' one-hot [k, V]: a reshape, a sum over k (local), and for multi_hot a
        // relu per value, or an equality test where the protocol has the gate (categorical_encoding.ts atMostOne).
        const before = count(s), v = Number(c.num_tokens);
        s = c.output_mode === 'one_hot' && (s[0] ?? 1) > 1 && s.length > 2 ? s : [v];
        elements += PER_LINEAR * before + (c.output_mode === undefined || c.output_mode === 'multi_hot' ? (hasEqualityGate(m.protocol) ? equalities : nonlinear)(v) : 0);
        break;
      }
      case 'Hashing': {
        // Its input arrives one-hot over num_bins (the owner hashed it): int hands it on as ids
        // (padded to the readers' vocabulary), the other modes as CategoryEncoding's, local but
        // multi_hot's relu.
        const bins = Number(c.num_bins), mode = c.output_mode ?? 'int', ids = s.slice(0, -1);
        const reader = calls.find((k) => k.inputs.includes(id) && k.layer.class_name in ID_READERS);
        if (mode === 'int') s = [...ids, reader ? Number(reader.layer.config[ID_READERS[reader.layer.class_name]]) : bins];
        else if (mode === 'one_hot') s = (ids[0] ?? 1) > 1 ? [ids[0], bins] : [bins];
        else s = [bins];
        if (mode === 'multi_hot') elements += nonlinear(bins);
        elements += PER_LINEAR * count(s);
        break;
      }
      case 'HashedCrossing': {
        // Its inputs are the crossed ids' one-hots [..., w_i] (layers_crossing.ts): per value, the
        // tuples' one-hot row (dealt, rotated, scaled: table_read.ts columnOneHot, the dealt row's
        // width the next power of two), and the bins' sums; int hands them on as ids (padded to
        // the readers' vocabulary), one_hot as they are.
        const parts = inputs.map((p) => shapes.get(p)).filter((p): p is number[] => p !== undefined);
        const tuples = parts.reduce((a, p) => a * (p[p.length - 1] ?? 1), 1), ids = s.slice(0, -1), values = count(ids);
        const bins = Number(c.num_bins), reader = calls.find((k) => k.inputs.includes(id) && k.layer.class_name in ID_READERS);
        elements += 4 * values * 2 ** Math.ceil(Math.log2(Math.max(2, tuples))) + PER_LINEAR * values * (2 * tuples + bins);
        s = c.output_mode === 'one_hot' ? [bins] : [...ids, reader ? Number(reader.layer.config[ID_READERS[reader.layer.class_name]]) : bins];
        elements += PER_LINEAR * count(s);
        break;
      }
      case 'Discretization':
      case 'IntegerLookup':
      case 'StringLookup':
      case 'TextVectorization': {
        // TextVectorization: StringLookup's on each text's tokens (its input arrives so: int
        // mode's output_sequence_length, the bag modes' tokens_per_text), mask token ''.
        if (cls === 'TextVectorization') s = [textVectorizationOf(layer as LayerConfig).length];
        // Per value, one comparison per boundary (x less it: a value the library makes), two per
        // integer vocabulary entry (and the mask token's), one equality test per string entry
        // (strings' ids: layers_lookup.ts indicators); then local sums and differences. The counts
        // are public (config_constants.ts sets num_bins and vocabulary_size). An int output read
        // as ids is their one-hot [..., width] (layers_embedding.ts idMakersOf); the encodings
        // drop the mask's column; tf_idf multiplies the counts by the weights.
        // Handing its ids on to its Embedding, which reads both as one table (counted there).
        if (calls[i].through) break;
        const lookup = cls !== 'Discretization';
        const before = count(s), mode = c.output_mode ?? 'int', masked = lookup && (c.mask_token != null || cls === 'TextVectorization');
        const width = cls === 'Discretization' ? Number(c.num_bins) : Number(c.vocabulary_size) + (masked ? 1 : 0);
        const strings = cls === 'StringLookup' || cls === 'TextVectorization';
        const gates = lookup && !strings ? 2 * (width - 1) : width - 1;
        if (c[VOCABULARY_TABLE] === true) {
          // A bucket table's read per token (table_read.ts): the dealt one-hot rows, the products
          // reading two blocks and then a bucket (integer codes: two buckets), an equality test per
          // slot (codes: two comparisons), the column's one-hot.
          const t = bucketLayout(width - 1), w = t.slots * SLOT_VALUES, k = strings ? 1 : 2;
          // Columns (an Embedding reads its rows by them): no one-hot row of the column.
          const hot = calls[i].columns ? 0 : 4 * 2 ** Math.ceil(Math.log2(width)) + PER_LINEAR * width;
          elements += before * (tableReadElements(before * batch, t.hiBits, t.loBits, w, !strings) + PER_LINEAR * 4 * k * t.slots + PER_PRODUCT * 2 * k * t.slots + hot);
          elements += strings ? equalities(before * t.slots, true) : nonlinear(before * 4 * t.slots, true);
        } else elements += (strings ? equalities : nonlinear)(before * gates, true) + PER_LINEAR * before * (width + gates);
        const asIds = lookup || calls.some((k) => k.inputs.includes(id) && (k.layer.class_name in ID_READERS || k.layer.class_name === 'HashedCrossing'));
        const encoded = masked ? width - 1 : width;
        const padded = c.pad_to_max_tokens === true && c.max_tokens != null ? Math.max(encoded, Number(c.max_tokens)) : encoded;
        if (mode === 'int') s = asIds && !calls[i].columns ? [...s, width] : s;
        else if (mode === 'one_hot') s = (s[0] ?? 1) > 1 ? [s[0], padded] : [padded];
        else s = [padded];
        // multi_hot: one equality test per column where the protocol has the gate, else a relu (categorical_encoding.ts).
        if (mode === 'multi_hot') elements += (hasEqualityGate(m.protocol) ? equalities : nonlinear)(padded);
        if (mode === 'tf_idf') elements += PER_PRODUCT * padded;
        elements += PER_LINEAR * count(s);
        break;
      }
      case 'AdaptiveAveragePooling1D':
      case 'AdaptiveAveragePooling2D':
      case 'AdaptiveAveragePooling3D':
      case 'AdaptiveMaxPooling1D':
      case 'AdaptiveMaxPooling2D':
      case 'AdaptiveMaxPooling3D': {
        // Average: a weighted sum per axis (ops_resize.ts); max: each window's values gathered
        // (at most ceil(n / out) + 1 per output and axis), then their max tree.
        const before = count(s), ch = s[s.length - 1] ?? 1, dims = cls.endsWith('1D') ? 1 : cls.endsWith('3D') ? 3 : 2;
        const given = Array.isArray(c.output_size) ? c.output_size.map(Number) : [Number(c.output_size)];
        const out = given.length === 1 ? Array(dims).fill(given[0]) : given;
        const gathered = s.slice(0, dims).reduce((a, n, k) => a * (Math.ceil(n / Math.max(1, out[k])) + 1) * out[k], ch);
        s = [...out, ch];
        elements += cls.startsWith('AdaptiveMax') ? PER_LINEAR * gathered + nonlinear(gathered) : (dims + 1) * PER_LINEAR * before;
        break;
      }
      case 'UpSampling1D':
        s = [(s[0] ?? 1) * Number(c.size ?? 2), ...s.slice(1)];
        elements += PER_LINEAR * count(s);
        break;
      case 'ZeroPadding1D':
      case 'Cropping1D': {
        const [a, b] = sides1d(cls === 'ZeroPadding1D' ? c.padding : c.cropping, 1) ?? [0, 0];
        s = [Math.max(1, (s[0] ?? 1) + (cls === 'ZeroPadding1D' ? a + b : -a - b)), ...s.slice(1)];
        elements += PER_LINEAR * count(s);
        break;
      }
      case 'UpSampling2D':
      case 'Resizing':
      case RESIZE_LAYER: {
        const [sh, sw] = pair(c.size, 2);
        const inH = s[0] ?? 1, inW = s[1] ?? 1;
        s = cls !== 'UpSampling2D' ? [Number(c.height), Number(c.width), s[2] ?? 1] : [(s[0] ?? 1) * sh, inW * sw, s[2] ?? 1];
        elements += PER_LINEAR * count(s);
        // Any but nearest (ops_resize.ts): per axis, per tap a gather and its product, their sum
        // and its truncation; the rows' at the input's width.
        const method = String(c.interpolation ?? (cls === 'Resizing' ? 'bilinear' : 'nearest'));
        if (method !== 'nearest') elements += (2 * resizeTaps(method, inH, s[0]) + 2) * PER_LINEAR * s[0] * inW * s[2] + 2 * resizeTaps(method, inW, s[1]) * PER_LINEAR * count(s);
        break;
      }
      case 'Flatten':
        s = [count(s)];
        break;
      case 'CenterCrop': {
        // A smaller input is resized (bilinear), as a Resizing's.
        const resized = (s[0] ?? 1) < Number(c.height) || (s[1] ?? 1) < Number(c.width), inW = s[1] ?? 1;
        s = [Number(c.height) || (s[0] ?? 1), Number(c.width) || (s[1] ?? 1), s[2] ?? 1];
        if (resized) elements += 6 * PER_LINEAR * s[0] * inW * s[2] + 5 * PER_LINEAR * count(s);
        break;
      }
      case REDUCE_LAYER: {
        const g = reduceGeometry(reduceOf(layer as LayerConfig), [1, ...s], (m) => {
          throw new Error(m);
        });
        // A max compares down a tree: about one comparison per value reduced.
        if (c.op === 'max') elements += nonlinear(count(s));
        s = g.out.slice(1);
        break;
      }
      case STACK_LAYER: {
        // The inputs, each given the new axis, side by side: a copy of them all.
        const g = stackShape(stackOf(layer as LayerConfig), [[1, ...s]], (m) => {
          throw new Error(m);
        });
        s = g.expanded.map((d, a) => (a === g.axis ? Math.max(1, inputs.length) : d)).slice(1);
        elements += PER_LINEAR * count(s);
        break;
      }
      case AXES_LAYER:
        s = axesShape(axesOf(layer as LayerConfig), [1, ...s], (m) => {
          throw new Error(m);
        }).slice(1);
        break;
      case SLICE_LAYER:
        // Local, no products; what follows sees the slice's shape.
        s = sliceBounds(keyOf(layer as LayerConfig), [1, ...s], (m) => {
          throw new Error(m);
        }).out.slice(1);
        break;
      case 'Reshape':
        s = reshapeTo((c.target_shape as (number | null)[]).map((d) => (d === null ? -1 : Number(d))), s);
        break;
      case 'ReLU':
      case 'LeakyReLU':
      case 'ThresholdedReLU':
      case 'PReLU':
      case 'ELU':
      case 'Activation':
        activation(i);
        break;
      case 'LayerScale':
        // x gamma: one product per element (layers_convnext.ts).
        elements += PER_PRODUCT * count(s);
        break;
      case 'Masking':
        // Its mask: an equality test per value, one per step (layers_mask.ts privateMask).
        elements += equalities(count(s) + (s[0] ?? 1));
        break;
      case 'Maximum':
      case 'Minimum':
        // max(a, b) = b + relu(a - b) per pair: at least one comparison per element.
        elements += nonlinear(count(s));
        break;
      case 'TfePolynomial':
        // Private coefficients (a degree, no coeffs) add a Beaver product per term.
        elements += (c.degree !== undefined ? PER_POLY + Number(c.degree) * PER_PRODUCT : PER_POLY) * count(s);
        break;
      case 'TimeDistributed': {
        // The wrapped layer over every step, as a batch of steps (lib/api/layers_wrappers.ts).
        const steps = s[0] ?? 1, inner = (c.layer ?? { class_name: '', config: {} }) as LayerCfg;
        const r = walk(m, batch * steps, [{ layer: inner, id: '', inputs: [] }], true, s.slice(1));
        elements += steps * r.elements;
        compareMax = Math.max(compareMax, steps * r.compareMax);
        s = [steps, ...r.shape];
        break;
      }
      case 'EinsumDense': {
        // One product (einsum_plan.ts): x laid out again (a copy), the product's operands and its
        // output. The output's sizes: x's for the letters it shares, output_shape's for the kernel's.
        const { x, o } = einsumSpecs(layer as LayerConfig, s.length + 1);
        const size = new Map([...x].map((ch, i) => [ch, i === 0 ? 1 : (s[i - 1] ?? 1)]));
        const given = Array.isArray(c.output_shape) ? c.output_shape : c.output_shape == null ? [] : [c.output_shape];
        const out = [...o].slice(1).map((ch, i, all) => size.get(ch) ?? Number(given[given.length - (all.length - i)] ?? 1));
        elements += PER_LINEAR * count(s) + PER_PRODUCT * count(out);
        s = out;
        activation(i);
        break;
      }
      case 'ConvLSTM1D':
      case 'ConvLSTM2D':
      case 'ConvLSTM3D': {
        // lib/api/layers_conv_lstm.ts, per step: the input's convolution to 4F channels and the
        // state's (im2col patches of the kernel's taps x channels per output position each, as
        // Conv2D's and Conv3D's), 4F products, and the LSTM's gates and activations on the F-channel cells.
        const dims = cls === 'ConvLSTM1D' ? 1 : cls === 'ConvLSTM3D' ? 3 : 2, steps = s[0] ?? 1, f = Number(c.filters), cin = s[s.length - 1] ?? 1;
        const per = (v: unknown) => (Array.isArray(v) ? v.map(Number) : Array(dims).fill(Number(v ?? 1)));
        const k = per(c.kernel_size), st = per(c.strides ?? 1), sp = s.slice(1, 1 + dims), same = c.padding === 'same';
        const out = sp.map((n, a) => Math.max(1, same ? Math.ceil(n / st[a]) : Math.floor((n - k[a]) / st[a]) + 1));
        const points = count(out), taps = count(k);
        const cells = points * f;
        elements += steps * (PER_IM2COL * points * taps * (cin + f) + PER_PRODUCT * (2 * 4 * cells + 3 * cells));
        const gates = (a: unknown, n: number) => {
          const g = { activation: a ?? 'tanh' };
          for (let q = 0; q < gatesOf('Activation', g); q++) elements += nonlinear(n, libraryGate('Activation', g, q));
        };
        gates(c.activation, steps * 2 * cells);
        gates(c.recurrent_activation ?? 'hard_sigmoid', steps * 3 * cells);
        const state = [...out, f];
        s = c.return_sequences === true ? [steps, ...state] : state;
        if (c.return_state === true) for (let q = 1; q <= 2; q++) shapes.set(outputId(id, q), state);
        break;
      }
      case 'SimpleRNN':
      case 'LSTM':
      case 'GRU':
      case 'Bidirectional': {
        // lib/api/layers_recurrent.ts, per step: G u products of the state (and the gates' own on
        // u each), G u gate activations (LSTM and GRU) and one or two u-wide activations. A
        // Bidirectional runs its layer twice.
        const inner = cls === 'Bidirectional' ? ((c.layer ?? {}) as { class_name?: string; config?: Record<string, unknown> }) : { class_name: cls, config: c };
        const ic = inner.config ?? {}, halves = cls === 'Bidirectional' ? 2 : 1;
        const steps = s[0] ?? 1, u = Number(ic.units), G = inner.class_name === 'LSTM' ? 4 : inner.class_name === 'GRU' ? 3 : 1;
        const gates = (a: unknown, n: number) => {
          const c = { activation: a ?? 'tanh' };
          for (let g = 0; g < gatesOf('Activation', c); g++) elements += nonlinear(n, libraryGate('Activation', c, g));
        };
        for (let h = 0; h < halves; h++) {
          // A padding mask (Embedding mask_zero, layers_mask.ts): one more product of the state (h and c) per step.
          elements += PER_PRODUCT * steps * (2 * G * u + 3 * u + (masked ? 2 * u : 0));
          gates(ic.activation, steps * (G === 4 ? 2 : 1) * u);
          if (G > 1) gates(ic.recurrent_activation ?? 'hard_sigmoid', steps * (G - 1) * u);
        }
        const width = cls === 'Bidirectional' && (c.merge_mode ?? 'concat') === 'concat' ? 2 * u : u;
        s = ic.return_sequences === true ? [steps, width] : [width];
        // return_state: its states, [u] each, are outputs id#1 (and id#2) of the call (layers_graph.ts outputId).
        if (cls !== 'Bidirectional' && ic.return_state === true) for (let k = 1; k <= (cls === 'LSTM' ? 2 : 1); k++) shapes.set(outputId(id, k), [u]);
        break;
      }
      case 'RMSNormalization':
      case 'UnitNormalization':
      case 'GroupNormalization':
      case 'LayerNormalization': {
        // Per row: 22 comparisons for the power-of-two scale (up to 29 for a small epsilon) and two
        // clamps (lib/api/ops_norm.ts); per element about eleven products (both variance
        // estimates' squares among them).
        // GroupNormalization's rows: each group's channels at every position.
        const n = cls === 'GroupNormalization' ? count(s) / Number(c.groups ?? 32) : s[s.length - 1] || 1, rows = count(s) / n;
        const eps = cls === 'UnitNormalization' ? unitNormEpsilon(n) : Number(c.epsilon ?? (cls === 'RMSNormalization' ? 1e-6 : 1e-3));
        elements += nonlinear(layerNormComparisons(n, eps) * rows, true) + 11 * PER_LINEAR * count(s);
        break;
      }
      case 'BatchNormalization':
      case 'Normalization':
        // Its scale and the part its encoding rounds away: two products (layers_norm.ts scaled);
        // counted so even where a BatchNormalization folds into the layer before.
        elements += 2 * PER_PRODUCT * count(s);
        break;
      case 'Concatenate':
      case 'TFDConcat': {
        // Its inputs laid side by side along its axis (the last by default).
        const parts = inputs.map((p) => shapes.get(p)).filter((p): p is number[] => p !== undefined);
        const axis = Number(c.axis ?? -1), at = axis < 0 ? s.length + axis : axis - 1;
        if (parts.length === inputs.length && parts.every((p) => p.length === s.length) && at >= 0 && at < s.length) s[at] = parts.reduce((a, p) => a + p[at], 0);
        elements += PER_LINEAR * count(s);
        break;
      }
      default:
        elements += PER_LINEAR * count(s);
    }
    shapes.set(id, s);
  }
  return { elements, compareMax, shape: s };
}
