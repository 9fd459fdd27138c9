// The layers the pre-pass matchers' nodes become (each matcher replaces a group of primitive ops by
// one node: graph_model_attention.ts, graph_model_dot_attention.ts, graph_model_masks.ts,
// graph_model_loops.ts), with their weights and the padding mask's note in their calls.
import { MASK_NOTE } from './keras3_masks';
import { addLayer, constArg, fail, type GraphNode, intOf, type Layer, layerArg, needArgs, setCallArgs, str, type Translated, type Val } from './graph_model_ops';

/** One value: the same layer's same output. */
const sameValue = (a: Layer, b: Layer) => a.id === b.id && (a.output ?? 0) === (b.output ?? 0);

/** Keras's MultiHeadAttention, found among primitive ops (graph_model_attention.ts): query, value, key, then its weights. */
const ATTENTION_WEIGHTS = ['query/kernel', 'query/bias', 'key/kernel', 'key/bias', 'value/kernel', 'value/bias', 'attention_output/kernel', 'attention_output/bias'];

export function attention(n: GraphNode, args: Val[], out: Translated): Val {
  // Then, with Keras's padding mask on self-attention, the int input whose ids give it (graph_model_masks.ts).
  const ids = args.length === 4 + ATTENTION_WEIGHTS.length ? maskIds(n, args.pop()!) : undefined;
  needArgs(n, args, 3 + ATTENTION_WEIGHTS.length);
  const [q, v, k] = ['its query', 'its value', 'its key'].map((what, i) => layerArg(n, args[i], what));
  if ([q, v, k].some((x) => x.shape.length !== 3)) fail(n, `attention (found among primitive ops) over values of shapes [${q.shape.slice(1)}], [${v.shape.slice(1)}] and [${k.shape.slice(1)}] per example: over the steps of [steps, features] values only`);
  if (v.shape[1] !== k.shape[1]) fail(n, `attention (found among primitive ops) with ${v.shape[1]} value steps but ${k.shape[1]} key steps`);
  const w = args.slice(3).map((a) => constArg(n, a, 'its weights'));
  const dOut = w[6].shape[2];
  const config = { num_heads: intOf(n.attr.num_heads?.i), key_dim: intOf(n.attr.key_dim?.i), value_dim: intOf(n.attr.value_dim?.i), use_bias: true, dropout: 0 };
  const layer = addLayer(out, n, 'MultiHeadAttention', config, sameValue(k, v) ? [q, v] : [q, v, k], [-1, q.shape[1], dOut], ATTENTION_WEIGHTS.map((name, i) => [name, w[i].data, w[i].shape]));
  if (ids && (ids.shape[1] !== q.shape[1] || ids.shape[1] !== v.shape[1])) fail(n, `a padding mask of ${ids.shape[1]} steps on attention over ${q.shape[1]} query and ${v.shape[1]} value steps: only self-attention over the masked sequence is supported`);
  // Keras's causal mask and the padding mask are call arguments: written with the call, as Keras writes them.
  const kwargs = { ...(n.attr.use_causal_mask?.b ? { use_causal_mask: true } : {}), ...(ids ? { mask: maskNote(ids) } : {}) };
  if (Object.keys(kwargs).length > 0) setCallArgs(layer, kwargs);
  return layer;
}

/** Keras's Attention (dot scores) found among primitive ops (graph_model_dot_attention.ts): query, value, key, then the scale (use_scale) and the ids of the padding mask (masked). */
export function dotAttention(n: GraphNode, args: Val[], out: Translated): Val {
  const ids = n.attr.masked?.b ? maskIds(n, args.pop()!) : undefined;
  const scale = n.attr.use_scale?.b ? constArg(n, args.pop()!, 'its scale') : undefined;
  needArgs(n, args, 3);
  const [q, v, k] = ['its query', 'its value', 'its key'].map((what, i) => layerArg(n, args[i], what));
  if ([q, v, k].some((x) => x.shape.length !== 3)) fail(n, `attention (found among primitive ops) over values of shapes [${q.shape.slice(1)}], [${v.shape.slice(1)}] and [${k.shape.slice(1)}] per example: over the steps of [steps, features] values only`);
  if (v.shape[1] !== k.shape[1] || q.shape[2] !== k.shape[2]) fail(n, `attention (found among primitive ops) of a query [${q.shape.slice(1)}] and a key [${k.shape.slice(1)}] over a value [${v.shape.slice(1)}]: the key's steps must be the value's, its features the query's`);
  if (ids && (ids.shape[1] !== q.shape[1] || ids.shape[1] !== v.shape[1])) fail(n, `a padding mask of ${ids.shape[1]} steps on attention over ${q.shape[1]} query and ${v.shape[1]} value steps: only self-attention over the masked sequence is supported`);
  const layer = addLayer(out, n, 'Attention', { use_scale: !!scale, score_mode: 'dot', dropout: 0 }, sameValue(k, v) ? [q, v] : [q, v, k], [-1, q.shape[1], v.shape[2]], scale ? [['scale', scale.data, []]] : []);
  if (ids) setCallArgs(layer, { mask: maskNote(ids) });
  return layer;
}

/** The int input a padding mask comes from (graph_model_masks.ts): an InputLayer of token ids. */
function maskIds(n: GraphNode, v: Val): Layer {
  if (v.kind !== 'layer' || !v.ids || v.entry.class_name !== 'InputLayer' || v.shape.length !== 2) fail(n, 'its padding mask does not come from the token ids of an int input [batch, steps]');
  return v;
}

/** The note a layer's call carries for a padding mask (keras3_masks.ts): of an input's ids (the library builds it from their one-hot), or with maskValue of a node's values (a Masking layer's). */
const maskNote = (source: Layer, maskValue?: number) => ({ class_name: MASK_NOTE, config: { source: source.id, ...(maskValue === undefined ? {} : { maskValue }) } });

/** Keras's LSTM, GRU or SimpleRNN found in a while loop (graph_model_loops.ts): x [batch, steps, features], then its kernel, recurrent kernel and bias. */
export function recurrent(n: GraphNode, args: Val[], out: Translated): Val[] {
  // Then, with Keras's padding mask, the int input whose ids give it, or the values a Masking
  // layer's mask is computed from, and its mask_value (graph_model_loops.ts).
  const maskValue = n.attr.mask_value?.f;
  const source = n.attr.masked?.b ? args.pop()! : undefined;
  // Before it, with initial_state, its first states (h, and an LSTM's c): computed before the loop.
  const initial = n.attr.initial_state?.b ? args.splice(4).map((a, i) => layerArg(n, a, `its initial state ${i}`)) : [];
  const ids = source && maskValue === undefined ? maskIds(n, source) : undefined;
  const values = source && maskValue !== undefined ? layerArg(n, source, 'the values its mask is computed from') : undefined;
  needArgs(n, args, 4);
  const x = layerArg(n, args[0]);
  const [kernel, recurrentKernel, bias] = args.slice(1).map((a) => constArg(n, a, 'its weights'));
  const kind = ({ LSTM: 'LSTM', GRU: 'GRU' } as Record<string, string>)[str(n, 'kind') ?? ''] ?? 'SimpleRNN';
  const units = intOf(n.attr.units?.i), steps = intOf(n.attr.steps?.i), sequences = n.attr.return_sequences?.b === true;
  if (x.shape.length !== 3 || x.shape[1] !== steps || x.shape[2] !== kernel.shape[0]) fail(n, `${kind === 'LSTM' ? 'an' : 'a'} ${kind} loop of ${steps} steps over ${kernel.shape[0]} features reads values of shape [${x.shape.slice(1)}] per example`);
  const returnState = n.attr.return_state?.b === true;
  const config = { units, activation: str(n, 'activation'), ...(kind === 'SimpleRNN' ? {} : { recurrent_activation: 'sigmoid' }), ...(kind === 'GRU' ? { reset_after: true } : {}), use_bias: true, return_sequences: sequences, go_backwards: n.attr.go_backwards?.b === true, return_state: returnState, stateful: false, unroll: false, ...(n.attr.zero_output_for_mask?.b ? { zero_output_for_mask: true } : {}) };
  if (ids && ids.shape[1] !== steps) fail(n, `a padding mask of ${ids.shape[1]} steps on a ${kind} of ${steps}`);
  if (initial.length !== (n.attr.initial_state?.b ? (kind === 'LSTM' ? 2 : 1) : 0) || initial.some((v) => v.shape.length !== 2 || v.shape[1] !== units)) fail(n, `its initial states ([${initial.map((v) => `[${v.shape.slice(1)}]`)}] per example) are not the ${kind}'s ${kind === 'LSTM' ? 'h and c' : 'h'} of ${units} units`);
  const layer = addLayer(out, n, kind, config, [x, ...initial], sequences ? [-1, steps, units] : [-1, units], [['kernel', kernel.data, kernel.shape], ['recurrent_kernel', recurrentKernel.data, recurrentKernel.shape], ['bias', bias.data, bias.shape]]);
  if (values && (values.shape.length !== 3 || values.shape[1] !== steps)) fail(n, `a mask from values of shape [${values.shape.slice(1)}] per example on a ${kind} of ${steps} steps`);
  if (ids) setCallArgs(layer, { mask: maskNote(ids) });
  if (values) setCallArgs(layer, { mask: maskNote(values, maskValue) });
  // Its final states after its output (return_state: h, and an LSTM's c), read after the loop.
  if (!returnState) return [layer];
  const state = (k: number): Layer => ({ ...layer, shape: [-1, units], output: k });
  return kind === 'LSTM' ? [layer, state(1), state(2)] : [layer, state(1)];
}

/** Keras's Masking layer (graph_model_masking.ts): the input with every step whose features all equal mask_value set to 0. */
export function masking(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 1);
  const x = layerArg(n, args[0]);
  if (x.shape.length !== 3) fail(n, `a Masking layer over values of shape [${x.shape.slice(1)}] per example: over [steps, features] only`);
  return addLayer(out, n, 'Masking', { mask_value: n.attr.mask_value?.f ?? 0 }, [x], x.shape);
}

/** Keras's GlobalAveragePooling1D handed the padding mask (graph_model_masks.ts): the mean over the steps that are not padding. */
export function maskedMean(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 2);
  // The mask of token ids (an Embedding's), or of a Masking layer's values and mask_value.
  const maskValue = n.attr.mask_value?.f;
  const x = layerArg(n, args[0]), source = maskValue === undefined ? maskIds(n, args[1]) : layerArg(n, args[1], 'the values its mask is computed from');
  if (x.shape.length !== 3 || x.shape[1] !== source.shape[1] || (maskValue !== undefined && source.shape.length !== 3)) fail(n, `a masked mean of [${x.shape.slice(1)}] per example by the mask of [${source.shape.slice(1)}]: [steps, features] values of as many steps only`);
  const keepdims = n.attr.keepdims?.b === true;
  const layer = addLayer(out, n, 'GlobalAveragePooling1D', { data_format: 'channels_last', keepdims }, [x], keepdims ? [-1, 1, x.shape[2]] : [-1, x.shape[2]]);
  const mask = maskNote(source, maskValue);
  setCallArgs(layer, { mask });
  return layer;
}

