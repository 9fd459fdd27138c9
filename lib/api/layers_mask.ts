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
 * Per-position layers that tfjs and Keras both pass the mask through (checked against tfjs: an RNN
 * after each still skips the padding). Their own values do not depend on the mask.
 */
const PASSES = new Set(['Dropout', 'SpatialDropout1D', 'GaussianNoise', 'Dense', 'Activation', 'LayerNormalization', 'TimeDistributed']);
const RECURRENT = new Set(['SimpleRNN', 'LSTM', 'GRU', 'Bidirectional']);
/** Layers whose values Keras computes with the mask and tfjs without (a masked mean, attention's masks): ambiguous. */
const DEPENDS = new Set(['GlobalAveragePooling1D', 'Attention', 'MultiHeadAttention', 'AdditiveAttention']);

/** A recurrent layer's config, or a Bidirectional's inner layer's. */
const recurrentConfig = (cls: string, c: Record<string, unknown>): Record<string, unknown> => (cls === 'Bidirectional' ? (((c.layer as { config?: unknown })?.config ?? {}) as Record<string, unknown>) : c);

/**
 * Per recurrent layer call that a mask reaches, the id of the model input whose token ids give it
 * (its mask is built from that input's shared one-hot, or its ids in plaintext). A mask that
 * leaves the layers known to pass it on (PASSES) may or may not go further, depending on who runs
 * the model: harmless until it meets a layer that would use it, which is then refused, as is a
 * layer whose values Keras computes with the mask and tfjs without (DEPENDS), and a masked
 * sequence returned with Keras 2's zero_output_for_mask (zeros at masked steps in Keras, the
 * carried state in tfjs: ambiguous).
 */
export function maskSources(graph: LayerGraph): Map<string, string> {
  type Mask = { source: string; from: string; via?: string };
  const carried = new Map<string, Mask>();
  const users = new Map<string, string>();
  const why = (m: Mask) => `the padding mask of Embedding '${m.from}' (mask_zero = true)`;
  for (const node of graph.nodes) {
    const { class_name: cls, config: c } = node.layer;
    if (cls === 'Embedding' && c.mask_zero === true) {
      carried.set(node.id, { source: node.inputs[0], from: c.name });
      continue;
    }
    const masked = node.inputs.map((i) => carried.get(i)).find((m) => m !== undefined);
    if (!masked) continue;
    if (RECURRENT.has(cls)) {
      if (masked.via) refuse(node.layer, `may or may not get ${why(masked)}: it comes through '${masked.via}', which tfjs and Keras may not pass it through alike; put the recurrent layer right after the Embedding (dropout, Dense, Activation and LayerNormalization between them pass it on), or use mask_zero false`);
      if (node.inputs.length !== 1) refuse(node.layer, `gets ${why(masked)} with ${node.inputs.length} inputs, which is not supported`);
      users.set(node.id, masked.source);
      if (recurrentConfig(cls, c).return_sequences === true) carried.set(node.id, masked);
    } else if (DEPENDS.has(cls)) refuse(node.layer, `reads ${why(masked)}, which Keras applies here and tfjs does not: the model's own output is ambiguous; use mask_zero false`);
    else carried.set(node.id, PASSES.has(cls) ? masked : { ...masked, via: masked.via ?? String(c.name) });
  }
  for (const id of graph.outputs) {
    const node = graph.nodes.find((n) => n.id === id);
    if (!node || !users.has(id)) continue;
    const rc = recurrentConfig(node.layer.class_name, node.layer.config);
    if (rc.return_sequences === true && rc.zero_output_for_mask === true)
      refuse(node.layer, 'returns a masked sequence with zero_output_for_mask = true: Keras then gives zeros at the masked steps and TensorFlow.js the state carried over them, so the model\'s own output is ambiguous; save it with zero_output_for_mask false, or return its last step');
  }
  return users;
}
