// Token ids in a GraphModel: an int32 input read by an embedding lookup, as Keras's Embedding
// reaches the graph (Keras 3.15, frozen):
//
//   ids' = SelectV2(Less(ids, 0), AddV2(ids, V), ids)     (Python's negative index, wrapped)
//   y    = GatherV2(table [V, d], ids', 0)
//
// The lookup becomes Keras's Embedding, which the library runs as the input owner's one-hot times
// the private table (layers_embedding.ts): the servers never see an id. Ids are checked to be in
// [0, V) before they are shared (input_encoding.ts), where the wrap is the identity, so it is
// dropped. Nothing else may read the ids (the one-hot exists only at the input) but Keras's padding
// mask where a layer applies it (graph_model_masks.ts: built from the one-hot's column 0): any
// other op on them is refused.
import { dataInputs, perChannel, through } from './graph_model_algebra';
import { addLayer, constArg, fail, type GraphNode, intOf, type Layer, needArgs, type Translated, type Val, type Weights } from './graph_model_ops';

/** The ops that may read token ids (an int input): the lookup, what only passes them on, and Shape (sizes only). */
export const READS_IDS = new Set(['GatherV2', 'Identity', 'Cast', 'Snapshot', 'StopGradient', 'Shape', '_MaskedMean', '_MultiHeadAttention', '_Recurrent', '_DotAttention']);

const INT_TYPES = new Set(['DT_INT32', 'DT_INT64']);

/**
 * A float input that is read only as token ids: every reader a Cast to an int type (Keras's
 * Embedding on a float32 Input, its default dtype: the lookup casts) or its padding mask's
 * NotEqual(x, 0), and at least one cast. It becomes an int input, its casts Identities: the ids
 * are then shared one-hot, and an id that is not a whole number is refused before it is shared
 * (where TensorFlow's cast would truncate it), as for a LayersModel's Embedding.
 */
export function idsFromFloats(nodes: Map<string, GraphNode>, weights: Weights): void {
  const readers = new Map<string, GraphNode[]>();
  for (const n of nodes.values()) for (const r of dataInputs(n)) if (!/:[1-9]\d*$/.test(r)) readers.set(r.replace(/:0$/, ''), [...(readers.get(r.replace(/:0$/, '')) ?? []), n]);
  for (const p of [...nodes.values()]) {
    if (p.op !== 'Placeholder' || p.attr.dtype?.type !== 'DT_FLOAT') continue;
    const rs = readers.get(p.name) ?? [];
    const casts = rs.filter((r) => r.op === 'Cast' && INT_TYPES.has(String(r.attr.DstT?.type)));
    const zero = (ref: string) => {
      const c = perChannel(through(nodes, ref), weights);
      return c?.length === 1 && c[0] === 0;
    };
    const masks = rs.filter((r) => r.op === 'NotEqual' && dataInputs(r).some(zero));
    if (casts.length === 0 || casts.length + masks.length !== rs.length) continue;
    nodes.set(p.name, { ...p, attr: { ...p.attr, dtype: { type: 'DT_INT32' } } });
    for (const c of casts) nodes.set(c.name, { name: c.name, op: 'Identity', input: c.input, attr: {} });
  }
}

/** Replaces each negative-index wrap of an id tensor (see above) by an Identity of the ids. */
export function dropIdWraps(nodes: Map<string, GraphNode>, weights: Weights): void {
  for (const n of [...nodes.values()]) {
    if (n.op !== 'SelectV2' && n.op !== 'Select') continue;
    const [c, t, e] = dataInputs(n).map((r) => through(nodes, r));
    const ids = e?.name;
    const zero = c?.op === 'Less' ? perChannel(through(nodes, dataInputs(c)[1]), weights) : undefined;
    if (!ids || c?.op !== 'Less' || through(nodes, dataInputs(c)[0])?.name !== ids || !zero || zero.some((v) => v !== 0)) continue;
    const added = t && (t.op === 'AddV2' || t.op === 'Add') ? dataInputs(t).map((r) => through(nodes, r)) : [];
    const k = added.findIndex((a) => a?.name === ids);
    if (k < 0 || !perChannel(added[1 - k], weights)) continue;
    nodes.set(n.name, { name: n.name, op: 'Identity', input: [ids], attr: {} });
  }
}

/** GatherV2(table, ids, 0) of a constant [V, d] table by token ids: Keras's Embedding. */
export function embedding(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 3);
  const [table, ids] = args;
  if (ids.kind !== 'layer' || !ids.ids) fail(n, 'gathers rows by a value that is not token ids straight from an int input: not supported');
  const t = constArg(n, table, 'its table');
  const axis = constArg(n, args[2], 'its axis').data[0];
  if (t.shape.length !== 2 || axis !== 0 || intOf(n.attr.batch_dims?.i) !== 0) fail(n, 'only a lookup of rows (axis 0, batch_dims 0) in a constant [vocabulary, width] table translates (an Embedding)');
  const [v, d] = t.shape;
  return addLayer(out, n, 'Embedding', { input_dim: v, output_dim: d }, [ids], [...ids.shape, d], [['embeddings', t.data, [v, d]]]);
}

/** A Cast of a float value to an int type: only an input read as ids alone becomes one (idsFromFloats). */
export function castToInt(n: GraphNode): never {
  return fail(n, `casts a float value to ${n.attr.DstT?.type}: supported only where a float input is read as token ids alone (every reader of the input a cast to int on the way to an embedding lookup, or Keras's padding mask NotEqual(x, 0))`);
}

/** An int input's Cast: to another int type it passes the ids on; to a float it is refused. */
export function castIds(n: GraphNode, args: Val[]): Val {
  needArgs(n, args, 1);
  const to = n.attr.DstT?.type;
  if (to !== 'DT_INT32' && to !== 'DT_INT64') fail(n, `casts token ids (an int input) to ${to}: ids are read only by an embedding lookup; a float input is supported as float32`);
  return args[0];
}

/** Refuses any op but a lookup reading token ids. */
export function checkIdReaders(n: GraphNode, args: Val[]): void {
  if (READS_IDS.has(n.op)) return;
  const ids = args.find((a): a is Layer => a.kind === 'layer' && a.ids === true);
  if (ids) fail(n, `reads token ids (the int input '${ids.node}'): only an embedding lookup (GatherV2 of a constant table) may read them, and their padding mask (NotEqual(ids, 0)) only as Keras applies it, in the masked mean over the steps, self-attention or a recurrent layer (graph_model_masks.ts, graph_model_loops.ts)`);
}
