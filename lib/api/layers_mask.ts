// Keras's padding mask, from Embedding(mask_zero=True): positions whose token id is 0 are
// skipped by the recurrent layers after it (their state is carried over the step, and a step's
// output is the carried state, as TensorFlow.js computes it). The ids are private, but the mask
// is a linear function of what is shared: the one-hot's column 0 is 1 exactly at id 0, so the
// mask is 1 - onehot[..., 0], and a masked step costs one private product per state element
// (h + m (h' - h)). Which layers the mask reaches is decided here from the graph: per-position
// layers both frameworks pass it through, a recurrent layer uses it (and passes it on with
// return_sequences); where tfjs and Keras would differ (a layer one passes the mask through and
// the other not, before a recurrent layer; a masked mean), the model is refused, naming the layer.
import { type LayerGraph, refuse } from './layers_graph';

/**
 * Per-position layers that tfjs and Keras both pass the mask through (Keras's supports_masking;
 * checked against tfjs: an RNN after each still skips the padding). Their values do not depend on it.
 */
const PASSES = new Set(['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Dense', 'Activation', 'LayerNormalization', 'BatchNormalization', 'ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'TimeDistributed']);
const RECURRENT = new Set(['SimpleRNN', 'LSTM', 'GRU', 'Bidirectional']);
/** Merges: the same mask on every input is that mask (tfjs ANDs a Concatenate's masks, Keras ORs them: alike only then). */
const MERGES = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate']);
/** Layers whose values Keras computes with the mask and tfjs without (a masked mean, attention's masks): ambiguous. */
const DEPENDS = new Set(['GlobalAveragePooling1D', 'Attention', 'MultiHeadAttention', 'AdditiveAttention']);

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
 * - a layer whose values Keras computes with the mask and tfjs without (DEPENDS);
 * - a masked sequence whose padded steps Keras zeroes (zero_output_for_mask, which Keras's
 *   Bidirectional forces on with return_sequences without saving it) and tfjs carries the state
 *   over, read by anything but a recurrent layer (which skips those steps) or returned.
 */
export function maskSources(graph: LayerGraph): Map<string, string> {
  type Mask = { source: string; from: string; via?: string; zeros?: string };
  const carried = new Map<string, Mask>();
  const users = new Map<string, string>();
  const why = (m: Mask) => `the padding mask of Embedding '${m.from}' (mask_zero = true)`;
  const zeroed = (m: Mask) =>
    `reads the masked sequence of '${m.zeros}', whose padded steps Keras sets to zero (zero_output_for_mask, which Keras's Bidirectional forces with return_sequences) and TensorFlow.js gives the state carried over them: the model's own output is ambiguous; read it with a recurrent layer (which skips those steps), or return its last step`;
  for (const node of graph.nodes) {
    const { class_name: cls, config: c } = node.layer;
    if (cls === 'Embedding' && c.mask_zero === true) {
      carried.set(node.id, { source: node.inputs[0], from: c.name });
      continue;
    }
    const masks = node.inputs.map((i) => carried.get(i));
    const masked = masks.find((m) => m !== undefined);
    if (!masked) continue;
    if (RECURRENT.has(cls)) {
      if (masked.via) refuse(node.layer, `may or may not get ${why(masked)}: it comes through '${masked.via}', which tfjs passes it through and Keras does not; put the recurrent layer after the Embedding with only per-position layers between (dropout, Dense, Activation, normalisations), or use mask_zero false`);
      if (node.inputs.length !== 1) refuse(node.layer, `gets ${why(masked)} with ${node.inputs.length} inputs, which is not supported`);
      users.set(node.id, masked.source);
      const rc = recurrentConfig(cls, c);
      const zeros = rc.zero_output_for_mask === true || (cls === 'Bidirectional' && !graph.tfjs);
      if (rc.return_sequences === true) carried.set(node.id, { source: masked.source, from: masked.from, ...(zeros ? { zeros: String(c.name) } : {}) });
      continue;
    }
    if (masked.zeros) refuse(node.layer, zeroed(masked));
    if (DEPENDS.has(cls)) {
      // Through a layer Keras drops the mask at (and tfjs's own ignores it): plain in both.
      if (!masked.via) refuse(node.layer, `reads ${why(masked)}, which Keras applies here and tfjs does not: the model's own output is ambiguous; use mask_zero false`);
      carried.set(node.id, masked);
      continue;
    }
    const oneMask = MERGES.has(cls) && masks.every((m) => m && !m.via && m.source === masked.source) && (cls !== 'Concatenate' || [-1, 2, undefined].includes(c.axis as number | undefined));
    carried.set(node.id, PASSES.has(cls) || oneMask ? masked : { ...masked, via: masked.via ?? String(c.name) });
  }
  for (const id of graph.outputs) {
    const m = carried.get(id);
    if (m?.zeros) throw new Error(`the model's output ${zeroed(m)}`);
  }
  if (carried.size > 0)
    for (const node of graph.nodes)
      if (RECURRENT.has(node.layer.class_name) && !users.has(node.id)) {
        const first = [...carried.values()][0];
        refuse(node.layer, `gets no padding mask here, but TensorFlow.js hands every recurrent layer after a masked one the mask that layer left (from ${why(first)}) and Keras does not: the model's own output is ambiguous; use mask_zero false, or mask this layer's input too`);
      }
  return users;
}
