// Keras's padding mask, from Embedding(mask_zero=True) or a Masking layer: positions whose token
// id is 0 (or whose features all equal Masking's mask_value) are skipped by the recurrent layers
// after it (their state is carried over the step, and a step's output is the carried state, as
// TensorFlow.js computes it). The ids are private, but the mask is a linear function of what is
// shared: the one-hot's column 0 is 1 exactly at id 0, so the mask is 1 - onehot[..., 0], and a
// masked step costs one private product per state element (h + m (h' - h)). Masking's mask
// compares private values: 1 - [every feature = mask_value], one equality test per value and one
// per step (privateMask below). Which layers the mask reaches is decided here from the graph:
// per-position layers both frameworks pass it through, a recurrent layer uses it (and passes it
// on with return_sequences); where tfjs and Keras would differ (a layer one passes the mask
// through and the other not, before a recurrent layer; a masked mean), the model is refused,
// naming the layer. A Keras 3 model also says where Keras hands it (keras3_masks.ts): checked.
import { type LayerGraph, refuse, splitOutputId } from './layers_graph';
import { add, neg, reduceSum, slice, sub } from './ops';
import { equalZero } from './comparison_ops';
import type { AnyTensor } from './tensor';
import type { PlainTensor } from './plain_kernels';
import { maskNoteOf } from './keras3_masks';

/**
 * Where a recurrent layer's mask comes from: the one-hot of model input `source`'s token ids
 * (Embedding mask_zero: 1 where the id is not 0), or, with `maskValue`, the values of node
 * `source` (a Masking layer's input: 1 where some feature of the step differs from maskValue).
 */
export interface MaskSource {
  source: string;
  maskValue?: number;
}

/**
 * Per-position layers that tfjs and Keras both pass the mask through (Keras's supports_masking;
 * checked against tfjs: an RNN after each still skips the padding). Their values do not depend on it.
 */
const PASSES = new Set(['Identity', 'ActivityRegularization', 'Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Dense', 'Activation', 'LayerNormalization', 'BatchNormalization', 'ReLU', 'LeakyReLU', 'ThresholdedReLU', 'PReLU', 'ELU', 'TimeDistributed']);
const RECURRENT = new Set(['SimpleRNN', 'LSTM', 'GRU', 'Bidirectional']);
/** Merges: the same mask on every input is that mask (tfjs ANDs a Concatenate's masks, Keras ORs them: alike only then). */
const MERGES = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate']);
/** Layers whose values Keras computes with the mask and tfjs without (a masked mean, attention's masks): ambiguous. */
const DEPENDS = new Set(['GlobalAveragePooling1D', 'Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'AdditiveAttention']);
/** The attention layers that take Keras 3's padding mask on self-attention (layers_attention.ts). */
const ATTENDS = new Set(['MultiHeadAttention', 'GroupQueryAttention', 'Attention', 'AdditiveAttention']);

// The mask tensors the runners hand a layer after its inputs ([batch, steps, 1]), told apart
// from the inputs by identity: an attention layer's key could have that shape too.
const maskTensors = new WeakSet<object>();
/** Marks `t` as a padding mask handed to a layer (layers_spec.ts, plain_forward.ts). */
export function asMask<T extends object>(t: T): T {
  maskTensors.add(t);
  return t;
}
/** Whether `t` is a padding mask a runner handed the layer (asMask). */
export const isMask = (t: object): boolean => maskTensors.has(t);

/** A recurrent layer's config, or a Bidirectional's inner layer's. */
const recurrentConfig = (cls: string, c: Record<string, unknown>): Record<string, unknown> => (cls === 'Bidirectional' ? (((c.layer as { config?: unknown })?.config ?? {}) as Record<string, unknown>) : c);

/**
 * Per recurrent layer call that a mask reaches, the id of the model input whose token ids give it
 * (its mask is built from that input's shared one-hot, or its ids in plaintext). Refused, naming
 * the layer, wherever tfjs and Keras would compute differently:
 * - a mask that leaves the layers both pass it on (PASSES, merges of one mask) may or may not go
 *   further: a recurrent layer after that point;
 * - tfjs hands the mask an earlier layer left to every later recurrent layer, masked or not
 *   (its executor shares one kwargs object), Keras does not: any recurrent layer the mask does
 *   not reach, in a model with a masked Embedding;
 * - a layer whose values Keras computes with the mask and tfjs without (DEPENDS), but for a
 *   MultiHeadAttention's self-attention in a model Keras 3 saved (tfjs has no such layer);
 * - a masked sequence whose padded steps Keras zeroes (zero_output_for_mask, which Keras's
 *   Bidirectional forces on with return_sequences without saving it) and tfjs carries the state
 *   over, read by anything but a recurrent layer (which skips those steps) or returned.
 */
export function maskSources(graph: LayerGraph): Map<string, MaskSource> {
  if (graph.explicitMasks) return explicitMasks(graph);
  type Mask = { source: string; from: string; maskValue?: number; via?: string; zeros?: string };
  const carried = new Map<string, Mask>();
  const users = new Map<string, MaskSource>();
  const why = (m: Mask) => (m.maskValue === undefined ? `the padding mask of Embedding '${m.from}' (mask_zero = true)` : `the mask of Masking '${m.from}'`);
  const zeroed = (m: Mask) =>
    `reads the masked sequence of '${m.zeros}', whose padded steps Keras sets to zero (zero_output_for_mask, which Keras's Bidirectional forces with return_sequences) and TensorFlow.js gives the state carried over them: the model's own output is ambiguous; read it with a recurrent layer (which skips those steps), or return its last step`;
  for (const node of graph.nodes) {
    const { class_name: cls, config: c } = node.layer;
    if (cls === 'Embedding' && c.mask_zero === true) {
      carried.set(node.id, { source: node.inputs[0], from: c.name });
      continue;
    }
    // Masking starts a mask of its own (Keras and tfjs compute it from its input alone).
    if (cls === 'Masking') {
      carried.set(node.id, { source: node.inputs[0], from: c.name, maskValue: maskValueOf(c) });
      continue;
    }
    const masks = node.inputs.map((i) => carried.get(i));
    const masked = masks.find((m) => m !== undefined);
    if (!masked) continue;
    if (RECURRENT.has(cls)) {
      if (masked.via) refuse(node.layer, `may or may not get ${why(masked)}: it comes through '${masked.via}', which tfjs passes it through and Keras does not; put the recurrent layer after the ${masked.maskValue === undefined ? 'Embedding' : 'Masking layer'} with only per-position layers between (dropout, Dense, Activation, normalisations), or ${masked.maskValue === undefined ? 'use mask_zero false' : 'drop the Masking layer'}`);
      if (node.inputs.length > 1) {
        // Its input, then (initial_state) states. Keras 3 hands such a call no mask (it records
        // none: checked against Keras 3.15); tfjs applies it, a padded step's output the carried
        // state; tf-keras's is not known here.
        if (graph.keras3) {
          carried.set(node.id, { ...masked, via: masked.via ?? String(c.name) });
          continue;
        }
        if (!graph.tfjs || cls === 'Bidirectional' || masks.slice(1).some((m) => m) || masks[0] === undefined)
          refuse(node.layer, `gets ${why(masked)} with an initial_state, which is supported in models TensorFlow.js or Keras 3 saved only (tf-keras's handling is not checked here)`);
      }
      users.set(node.id, { source: masked.source, ...(masked.maskValue === undefined ? {} : { maskValue: masked.maskValue }) });
      const rc = recurrentConfig(cls, c);
      const zeros = rc.zero_output_for_mask === true || (cls === 'Bidirectional' && !graph.tfjs);
      if (rc.return_sequences === true) carried.set(node.id, { source: masked.source, from: masked.from, maskValue: masked.maskValue, ...(zeros ? { zeros: String(c.name) } : {}) });
      continue;
    }
    // A per-position layer changes only the padded steps' values there, which the recurrent
    // layer after it skips: the sequence stays one whose padded steps must not be read.
    if (masked.zeros && PASSES.has(cls) && node.inputs.length === 1) {
      carried.set(node.id, masked);
      continue;
    }
    if (masked.zeros) refuse(node.layer, zeroed(masked));
    // Keras 3's operations between layers (x + y, x * 2: keras_operations.ts) drop the mask: the
    // layers after one get none (Keras 3 saves their mask argument as None).
    if (graph.keras3 && node.layer.operation) {
      carried.set(node.id, { ...masked, via: masked.via ?? String(c.name) });
      continue;
    }
    // A Keras 3 model hands its GlobalAveragePooling1D the mask (a note: keras3_masks.ts): Keras's
    // masked mean, unambiguous there (tfjs's own models stay refused below).
    const note = maskNoteOf(node.layer.callArgs?.mask);
    // A Keras 3 Sequential model records no calls: Keras hands the mask along the chain, as here.
    const sequential3 = graph.keras3 && node.layer.inbound_nodes === undefined;
    if (cls === 'GlobalAveragePooling1D' && !masked.via && ((note && note.source === masked.source && note.maskValue === masked.maskValue) || (sequential3 && !note))) {
      if (node.inputs.length !== 1) refuse(node.layer, `gets ${why(masked)} with ${node.inputs.length} inputs, which is not supported`);
      users.set(node.id, { source: masked.source, ...(masked.maskValue === undefined ? {} : { maskValue: masked.maskValue }) });
      continue;
    }
    // Keras 3's MultiHeadAttention, GroupQueryAttention, Attention or AdditiveAttention on a masked sequence attending
    // to itself (query, value and key all carrying one mask): padded keys get no weight, and a
    // padded query step weighs every key alike (Keras's -1e9 on all its scores; Attention's then
    // multiplies that step's output by 0); its output carries the query's mask.
    // MultiHeadAttention then deletes the mask of the tensors it read, so a layer that reads one
    // of them after it and would take the mask from it (a merge for a residual, another
    // attention) gets none: refused, as are cross-attention between masks and tf-keras's models
    // (not checked here).
    if (ATTENDS.has(cls) && graph.keras3 && !masked.via) {
      if (node.inputs.length < 2 || !masks.every((m) => m && !m.via && m.source === masked.source && m.maskValue === masked.maskValue))
        refuse(node.layer, `reads ${why(masked)} on some of its inputs only (or masks from different layers): Keras applies them, and only self-attention on one masked sequence is supported`);
      // (A reader the attention depends on runs before it, while the mask is there: fine.)
      // Keras 3's Attention, AdditiveAttention and GroupQueryAttention leave their inputs' masks
      // alone (checked against Keras 3.15: an Add residual around each, then a masked mean, is
      // Keras's answer).
      const before = cls === 'MultiHeadAttention' ? ancestorsOf(graph, node) : new Set<string>();
      for (const input of cls === 'MultiHeadAttention' ? new Set(node.inputs) : []) {
        const other = graph.nodes.find((r) => r !== node && !before.has(r.id) && r.inputs.includes(input) && !r.layer.operation && !(r.layer.callArgs && 'mask' in r.layer.callArgs));
        if (other) refuse(node.layer, `reads ${why(masked)} from '${input}', which '${other.layer.config.name}' also reads: Keras 3 deletes that tensor's mask when the attention runs, so what '${other.layer.config.name}' gets depends on the order Keras runs them in; not supported (a residual written as an operation, x + attention(x, x), runs, but Keras drops the mask there, so that is another model, to train as such; Attention and AdditiveAttention keep their inputs' masks)`);
      }
      users.set(node.id, { source: masked.source, ...(masked.maskValue === undefined ? {} : { maskValue: masked.maskValue }) });
      carried.set(node.id, masked);
      continue;
    }
    if (DEPENDS.has(cls)) {
      // Through a layer Keras drops the mask at (and tfjs's own ignores it): plain in both.
      if (!masked.via) refuse(node.layer, `reads ${why(masked)}, which Keras applies here and tfjs does not: the model's own output is ambiguous; ${masked.maskValue === undefined ? 'use mask_zero false' : 'read it with a recurrent layer, or drop the Masking layer'}`);
      carried.set(node.id, masked);
      continue;
    }
    const oneMask = MERGES.has(cls) && masks.every((m) => m && !m.via && m.source === masked.source && m.maskValue === masked.maskValue) && (cls !== 'Concatenate' || [-1, 2, undefined].includes(c.axis as number | undefined));
    carried.set(node.id, PASSES.has(cls) || oneMask ? masked : { ...masked, via: masked.via ?? String(c.name) });
  }
  for (const id of graph.outputs) {
    const m = carried.get(id);
    if (m?.zeros) throw new Error(`the model's output ${zeroed(m)}`);
  }
  checkKeras3Masks(graph, users);
  // (A Keras 3 model says which recurrent layers Keras hands a mask: checked above. tfjs's
  // executor hands the others one too, but tfjs does not run Keras 3's models as saved.)
  if (carried.size > 0 && !graph.keras3)
    for (const node of graph.nodes)
      if (RECURRENT.has(node.layer.class_name) && !users.has(node.id)) {
        const first = [...carried.values()][0];
        refuse(node.layer, `gets no padding mask here, but TensorFlow.js hands every recurrent layer after a masked one the mask that layer left (from ${why(first)}) and Keras does not: the model's own output is ambiguous; ${first.maskValue === undefined ? 'use mask_zero false' : 'drop the Masking layer'}, or mask this layer's input too`);
      }
  return users;
}

/**
 * A GraphModel's translation names each layer that applies a padding mask (graph_model_masks.ts):
 * a masked mean, a self-attention (MultiHeadAttention, or Attention: its padded steps' outputs 0)
 * or a recurrent layer (graph_model_loops.ts: a padded step keeps the state, and its output is
 * the state kept, or zeros with zero_output_for_mask), the mask from the ids of an input an
 * Embedding reads (the mask is its one-hot's column 0), or a recurrent layer's from the values a
 * Masking layer reads (its mask_value: equality tests). Nothing else gets one; neither an
 * Embedding nor a Masking layer starts one here.
 */
function explicitMasks(graph: LayerGraph): Map<string, MaskSource> {
  const users = new Map<string, MaskSource>();
  for (const node of graph.nodes) {
    const { class_name: cls, config: c } = node.layer;
    if (cls === 'Embedding' && c.mask_zero === true) refuse(node.layer, 'has mask_zero in a GraphModel translation, whose calls name where a padding mask applies');
    const note = maskNoteOf(node.layer.callArgs?.mask);
    if (!note) continue;
    if (cls !== 'GlobalAveragePooling1D' && cls !== 'MultiHeadAttention' && cls !== 'Attention' && !RECURRENT.has(cls)) refuse(node.layer, `is given a padding mask, which only GlobalAveragePooling1D, MultiHeadAttention, Attention and the recurrent layers apply in a GraphModel translation`);
    // A Masking layer's (its mask_value): from the values of a node before this one.
    if (note.maskValue !== undefined) {
      if (!Number.isFinite(note.maskValue) || !graph.nodes.some((e) => e.id === note.source) || !ancestorsOf(graph, node).has(note.source)) refuse(node.layer, `is given the mask of the values of '${note.source}' (mask_value ${note.maskValue}), which it does not read`);
      users.set(node.id, { source: note.source, maskValue: note.maskValue });
      continue;
    }
    const input = graph.inputs.find((i) => i.id === note.source);
    const read = graph.nodes.some((e) => e.layer.class_name === 'Embedding' && e.inputs[0] === note.source);
    if (!input || !read) refuse(node.layer, `is given the padding mask of '${note.source}', which is not an input of token ids an Embedding reads`);
    users.set(node.id, { source: note.source });
  }
  return users;
}

/** The ids of the calls `node` depends on (its inputs', theirs...). */
function ancestorsOf(graph: LayerGraph, node: LayerGraph['nodes'][number]): Set<string> {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const callOf = (ref: string) => splitOutputId(ref, (id) => byId.has(id)).call;
  const seen = new Set<string>();
  const todo = node.inputs.map(callOf);
  while (todo.length) {
    const id = todo.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const i of byId.get(id)?.inputs ?? []) todo.push(callOf(i));
  }
  return seen;
}

/** A Masking layer's mask_value (Keras's and tfjs's default 0). */
export function maskValueOf(c: Record<string, unknown>): number {
  const v = c.mask_value ?? c.maskValue ?? 0;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`layer '${String(c.name)}' (Masking): mask_value = ${JSON.stringify(v)} is not a number`);
  return v;
}

/**
 * The private mask [batch, steps, 1] of `x` ([batch, steps, features]): for an Embedding's one-hot
 * (no maskValue), 1 - its column for id 0; for a Masking layer's input, 1 - [every feature =
 * maskValue]: one equality test per value (exact in fixed point: values within half a unit of
 * maskValue count as equal) and one per step on their count.
 */
export function privateMask(x: AnyTensor, maskValue?: number): AnyTensor {
  const last = x.shape[x.rank - 1];
  if (maskValue === undefined) return add(neg(slice(x, x.shape.map(() => 0), [...x.shape.slice(0, -1), 1])), 1);
  const equal = equalZero(maskValue === 0 ? x : sub(x, maskValue));
  return add(neg(equalZero(sub(reduceSum(equal, x.rank - 1, true), last))), 1);
}

/** The plaintext mask: of token ids [batch, steps], 1 where the id is not 0; of values [batch, steps, features], 1 where some feature differs from maskValue. */
export function plainMask(x: PlainTensor, maskValue?: number): PlainTensor {
  if (maskValue === undefined) return { data: x.data.map((v) => (v === 0 ? 0 : 1)), shape: x.shape };
  const f = x.shape[x.shape.length - 1], out = new Float64Array(x.data.length / f);
  for (let r = 0; r < out.length; r++) for (let j = 0; j < f && !out[r]; j++) if (x.data[r * f + j] !== maskValue) out[r] = 1;
  return { data: out, shape: x.shape.slice(0, -1) };
}

/**
 * A Keras 3 model says which layers it hands a mask to (keras3_masks.ts notes): the mask built
 * here must reach each of those recurrent layers, from the same source. Any other layer Keras
 * hands one to would apply it (a masked mean): refused, as is a disagreement.
 */
function checkKeras3Masks(graph: LayerGraph, users: Map<string, MaskSource>): void {
  const noted = graph.nodes.filter((n) => maskNoteOf(n.layer.callArgs?.mask));
  if (noted.length === 0) return;
  const describe = (m: MaskSource) => (m.maskValue === undefined ? `the ids of '${m.source}' (Embedding mask_zero)` : `the values of '${m.source}' (Masking ${m.maskValue})`);
  for (const node of graph.nodes) {
    const note = maskNoteOf(node.layer.callArgs?.mask), mine = users.get(node.id);
    // Keras's masked mean runs only where the mask here reaches it from the same source (below).
    if (note && node.layer.class_name === 'TimeDistributed') continue; // per step: the mask changes nothing
    if (note && !RECURRENT.has(node.layer.class_name) && node.layer.class_name !== 'GlobalAveragePooling1D') refuse(node.layer, `is given the padding mask of ${describe(note)}, which Keras applies here: not supported`);
    // No note: Keras propagates the mask again when it loads the model, as it does here.
    if (!note) continue;
    if (!mine || mine.source !== note.source || mine.maskValue !== note.maskValue) refuse(node.layer, `is handed the padding mask of ${describe(note)} by the Keras 3 model, but ${mine ? `the mask here comes from ${describe(mine)}` : 'none reaches it here'}`);
  }
}
