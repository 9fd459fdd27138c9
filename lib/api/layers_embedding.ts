// Keras's Embedding (text models): a table [V, d] whose row t is token t's vector. Gathering rows
// by a private id would need a private lookup; instead the input owner one-hot encodes the ids
// before sharing (input_encoding.ts), and the layer is a private product of the shared one-hot
// [batch, ..., V] with the shared table. The servers see shares of a one-hot tensor and run an
// ordinary product (what they learn is what any private matmul shows them), and the answer is
// exact: a one-hot row times the table selects the row's fixed-point encoding, and that product
// (2^f times a fixed-point value) truncates without rounding. The price is the upload and the
// product: V values per token. Ids a large vocabulary's table read makes travel as columns instead
// where only Embeddings read them (columnReaders), and the Embedding reads its rows by them.
import { type LayerConfig, type LayerGraph, type LayerNode, refuse } from './layers_graph';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { dense } from './layers_dense';
import { ANY, posInt, settings } from './layers_settings';
import type { InputEncoding } from './input_encoding';
import type { AnyTensor, PrivateTensor } from './tensor';
import { pad, reduceSum, reshape } from './ops';
import { atMostOne } from './categorical_encoding';
import { bucketLayout, VOCABULARY_TABLE } from './bucket_table';
import { fusedShape, fusedSplit } from './fused_table';
import { rowBlocksLayout, rowBlocksShape } from './row_blocks';
import { fusedRows, tableRows } from './table_read';
import { lookupOf, tableLayout } from './layers_lookup';

const isNull = (v: unknown) => v === undefined || v === null;

export function embedding(l: LayerConfig, ctx: LayerContext): LayerPlan {
  // mask_zero: the recurrent layers after it skip the positions of id 0 (layers_mask.ts, which
  // refuses a mask reaching any other layer).
  if (!isNull(l.config.mask_zero) && typeof l.config.mask_zero !== 'boolean') refuse(l, `mask_zero = ${JSON.stringify(l.config.mask_zero)} is not true or false`);
  // input_dim and sparse are skipped by settings() (other layers carry them as input hints), but
  // here they are the vocabulary and Keras 3's sparse output: checked here.
  const vocab = l.config.input_dim;
  if (!Number.isSafeInteger(vocab) || (vocab as number) < 1) refuse(l, `input_dim = ${JSON.stringify(vocab)} is not a positive integer`);
  if (!isNull(l.config.sparse) && l.config.sparse !== false) refuse(l, `sparse = ${JSON.stringify(l.config.sparse)} is not supported: only dense embeddings`);
  // input_length (tfjs, Keras 2) is checked against the model's input by inputEncodingOf;
  // quantization_config: Keras 3.13+ writes null (set: a quantized layer, refused, as for Dense).
  const c = settings(l, {
    output_dim: (v) => v !== undefined && posInt(v),
    mask_zero: ANY,
    input_length: (v) => isNull(v) || Number.isInteger(v) || (Array.isArray(v) && v.every((d) => isNull(d) || Number.isInteger(d))),
    quantization_config: isNull,
  });
  const v = vocab as number, d = Number(c.output_dim);
  const table = ctx.shapeOf(`${l.config.name}/embeddings`);
  if (table.join() !== [v, d].join()) refuse(l, `weight embeddings has shape [${table}], expected [${v},${d}] (input_dim, output_dim)`);
  // Ids read with their lookup as one table (fusedReads): the lookup's table with this one's rows.
  if (ctx.fusedLookup) {
    const look = ctx.fusedLookup, { mask } = lookupOf(look), layout = tableLayout(look, ctx, mask), split = fusedSplit(layout, d);
    const empty = mask === null ? 0 : 1, ln = look.config.name, en = l.config.name;
    const fused = ctx.derived('fused_table', fusedShape(layout, d), { kind: 'fusedTable', vocabulary: `${ln}/vocabulary_table`, embeddings: `${en}/embeddings`, rows: v, width: d, bits: layout.bits, slots: layout.slots });
    const oov = ctx.derived('fused_oov', [d], { kind: 'tableRow', table: `${en}/embeddings`, rows: v, width: d, row: empty });
    const codes = look.class_name === 'IntegerLookup';
    const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => reshape(fusedRows(x as PrivateTensor, p[fused], p[oov], layout, split, d, codes), [...x.shape, d]);
    return { step, comparisons: true, exactOnly: true };
  }
  // Ids as columns (columnReaders): the rows read at them from the table in blocks (the owner's).
  if (ctx.idColumns) {
    const b = rowBlocksLayout(v, d);
    const blocks = ctx.derived('embedding_blocks', rowBlocksShape(b, d), { kind: 'rowBlocks', table: `${l.config.name}/embeddings`, rows: v, width: d, ...b });
    const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => reshape(tableRows(x as PrivateTensor, p[blocks], b.hiBits, b.loBits, d), [...x.shape, d]);
    return { step, comparisons: false, exactOnly: true };
  }
  const k = ctx.take('embeddings');
  const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => {
    // predict() is given the shared input as it is: in process, a caller may share the ids
    // themselves instead of their one-hot (PrivateModel.defineInput encodes them).
    if (x.rank < 2 || x.shape[x.rank - 1] !== v)
      refuse(l, `takes the one-hot encoding [batch, ..., ${v}] of its token ids, got a tensor of shape [${x.shape}]; share the ids with model.defineInput (or a client), which encodes them`);
    return dense(x, p[k], null);
  };
  return { step, comparisons: false, exactOnly: false };
}

/**
 * The layers (by name) whose ids travel as columns: each StringLookup, TextVectorization or
 * IntegerLookup read as a bucket table (bucket_table.ts VOCABULARY_TABLE) in int mode whose every reader is an Embedding
 * without mask_zero, and those Embeddings, every call of which reads such ids. The Embedding then
 * reads its rows at the columns (table_read.ts tableRows: per id, 2^(hiBits+1) + 2^(loBits+1) (d + 1)
 * values opened) instead of a product with the ids' one-hot rows (V values per id).
 */
export function columnReaders(graph: LayerGraph): Set<string> {
  const tableIds = (l: LayerConfig) => ['StringLookup', 'TextVectorization', 'IntegerLookup'].includes(l.class_name) && l.config[VOCABULARY_TABLE] === true && (l.config.output_mode ?? 'int') === 'int';
  // Rows up to 2^22 (a row read's one-hot rows stay within sharedOneHots' 2^24 values), and blocks
  // of at most 2^26 values (layers_spec.ts MAX_DERIVED_VALUES: the owner derives them); a larger
  // Embedding keeps the one-hot form, whose cost the memory limits weigh.
  const fits = (c: Record<string, unknown>) => Number(c.input_dim) <= 2 ** 22 && 2 ** Math.ceil(Math.log2(Number(c.input_dim))) * Number(c.output_dim) <= 2 ** 26;
  const embeds = (n: LayerNode) => n.layer.class_name === 'Embedding' && n.layer.config.mask_zero !== true && fits(n.layer.config);
  const calls = (name: string) => graph.nodes.filter((n) => n.layer.config.name === name);
  const readersOf = (name: string) => graph.nodes.filter((r) => calls(name).some((c) => r.inputs.includes(c.id)));
  const makerOf = (id: string) => graph.nodes.find((n) => n.id === id)?.layer.config.name;
  // Narrowed until both sides agree: a lookup every call of which only such Embeddings read (and
  // no output), an Embedding every call of which reads such a lookup.
  let lookups = new Set(graph.nodes.filter((n) => tableIds(n.layer)).map((n) => n.layer.config.name));
  let embeddings = new Set<string>();
  for (;;) {
    const kept = [...lookups].filter((name) => readersOf(name).length > 0 && readersOf(name).every(embeds) && !calls(name).some((c) => graph.outputs.includes(c.id)));
    const readers = new Set(graph.nodes.filter(embeds).map((n) => n.layer.config.name).filter((name) => calls(name).every((c) => c.inputs.length === 1 && kept.includes(makerOf(c.inputs[0]) ?? ''))));
    const both = kept.filter((name) => readersOf(name).every((r) => readers.has(r.layer.config.name)));
    if (both.length === lookups.size && readers.size === embeddings.size) return new Set([...both, ...readers]);
    [lookups, embeddings] = [new Set(both), readers];
  }
}

/** Values per example up to which a lookup and its Embedding are read as one table (fusedReads). */
export const FUSE_MAX_VALUES = 16;
/**
 * And at most this many of the fused table's values times the values per example: its read's
 * products multiply each value's one-hot rows by the whole table (on each compute server, and on
 * server2 for the masks), so a wide one read often costs more time than two rounds save (a
 * 12-token query over 20 000 words into Embedding(16): 56 M, 36 -> 62 ms on loopback under FSS).
 */
export const FUSE_MAX_PRODUCT = 2 ** 22;

/**
 * Among columnReaders' pairs (`columns`, when the caller has them), a StringLookup, IntegerLookup or TextVectorization (table, int mode)
 * read by one Embedding alone, every call of which reads it, for at most FUSE_MAX_VALUES values
 * per example (a model input's size; a text's output_sequence_length): the two read as one table
 * (fused_table.ts), the lookup handing its ids on unread. By name: each such Embedding's lookup,
 * and the lookups. Longer inputs (texts of 64 or 500 tokens, where the wider slots cost more than
 * the two rounds they save) keep the columns, as do a table past the owner's derivation bound and
 * one whose read would cost more than FUSE_MAX_PRODUCT.
 */
export function fusedReads(graph: LayerGraph, columns: Set<string> = columnReaders(graph)): { lookupOf: Map<string, LayerConfig>; through: Set<string> } {
  const lookupOf = new Map<string, LayerConfig>(), through = new Set<string>();
  const calls = (name: string) => graph.nodes.filter((n) => n.layer.config.name === name);
  const maker = (id: string) => graph.nodes.find((n) => n.id === id);
  const inputSize = (id: string) => graph.inputs.find((i) => i.id === id)?.shape.reduce((a, b) => a * b, 1);
  for (const name of columns) {
    const es = calls(name);
    if (es[0]?.layer.class_name !== 'Embedding') continue;
    const lookups = new Set(es.map((e) => maker(e.inputs[0])?.layer.config.name));
    if (lookups.size !== 1) continue;
    const l = maker(es[0].inputs[0])!.layer, lcalls = calls(l.config.name);
    if (!graph.nodes.every((r) => !lcalls.some((c) => r.inputs.includes(c.id)) || r.layer.config.name === name)) continue;
    const text = l.class_name === 'TextVectorization';
    const values = (c: LayerNode) => (text ? Number(l.config.output_sequence_length) : c.inputs.length === 1 ? (inputSize(c.inputs[0]) ?? Infinity) : Infinity);
    if (!lcalls.every((c) => values(c) <= FUSE_MAX_VALUES)) continue;
    // The ids the table holds: the entries, and the mask token's (TextVectorization's is '').
    const t = bucketLayout(Number(l.config.vocabulary_size) - 1 + (text || l.config.mask_token != null ? 1 : 0));
    // At most 2^26 values (layers_spec.ts MAX_DERIVED_VALUES: the owner derives it), and FUSE_MAX_PRODUCT.
    const size = fusedShape(t, Number(es[0].layer.config.output_dim)).reduce((a, b) => a * b, 1);
    if (size > 2 ** 26 || Math.max(...lcalls.map(values)) * size > FUSE_MAX_PRODUCT) continue;
    lookupOf.set(name, l);
    through.add(l.config.name);
  }
  return { lookupOf, through };
}

/** A CategoryEncoding's vocabulary and output mode, its settings checked (Keras 3's default mode: multi_hot). */
export function categoryEncodingOf(l: LayerConfig): { v: number; mode: 'one_hot' | 'multi_hot' | 'count' } {
  const c = settings(l, { num_tokens: (v) => v !== undefined && posInt(v), output_mode: (v) => v === undefined || v === 'one_hot' || v === 'multi_hot' || v === 'count' });
  // (settings() passes sparse over as an input hint: here it is Keras's sparse output.)
  if (!isNull(l.config.sparse) && l.config.sparse !== false) refuse(l, `sparse = ${JSON.stringify(l.config.sparse)} is not supported: only dense outputs`);
  return { v: Number(c.num_tokens), mode: (c.output_mode ?? 'multi_hot') as 'one_hot' | 'multi_hot' | 'count' };
}

/** The layers that read token ids, shared one-hot, and the setting that gives their vocabulary. */
export const ID_READERS: Readonly<Record<string, string>> = { Embedding: 'input_dim', CategoryEncoding: 'num_tokens' };

/** An id reader's vocabulary (Embedding's input_dim, CategoryEncoding's num_tokens). */
export const vocabularyOf = (l: LayerConfig): number => Number(l.config[ID_READERS[l.class_name]]);

/** The layers that make ids privately (output_mode int, Keras's default for each): a bin, a vocabulary index, a cross's bin. */
const ID_MAKERS = new Set(['Discretization', 'IntegerLookup', 'StringLookup', 'Hashing', 'HashedCrossing', 'TextVectorization']);
export const makesIds = (l: LayerConfig): boolean => ID_MAKERS.has(l.class_name) && (l.config.output_mode ?? 'int') === 'int';
/**
 * LayerContext.idsOneHot for an id maker read by HashedCrossing layers only, which take a one-hot
 * of any width: its own ids' count.
 */
export const ANY_WIDTH = 0;
const crosses = (n: LayerNode) => n.layer.class_name === 'HashedCrossing';

/**
 * The id-making layers (by name) whose ids only id readers read, with the readers' vocabulary:
 * such a layer gives the one-hot of its ids over it (LayerContext.idsOneHot), which the readers
 * take as they take a model input's. Refused: one whose ids some readers take as ids and others
 * (or the model's output) as numbers, and readers that disagree on the vocabulary.
 */
export function idMakersOf(graph: LayerGraph): Map<string, number> {
  const found = new Map<string, number>(), plain = new Set<string>();
  for (const node of graph.nodes) {
    if (!makesIds(node.layer)) continue;
    const readers = graph.nodes.filter((n) => n.inputs.includes(node.id));
    const idReaders = readers.filter((n) => n.layer.class_name in ID_READERS), asIds = readers.filter((n) => n.layer.class_name in ID_READERS || crosses(n));
    const name = node.layer.config.name;
    if (asIds.length === 0) {
      plain.add(name);
      continue;
    }
    const other = readers.find((n) => !(n.layer.class_name in ID_READERS) && !crosses(n));
    if (other || graph.outputs.includes(node.id))
      refuse(node.layer, `its ids are read by ${asIds[0].layer.class_name} '${asIds[0].layer.config.name}' and also ${other ? `by ${other.layer.class_name} '${other.layer.config.name}'` : 'returned by the model'}, which would take them as numbers: an id-making layer read as ids must be read only by Embedding, CategoryEncoding and HashedCrossing layers`);
    // A crossing takes the one-hot at any width: the readers' vocabulary if any, else the ids' own.
    if (idReaders.length === 0) {
      if (found.has(name) && found.get(name) !== ANY_WIDTH) refuse(node.layer, `its calls' ids are read over vocabularies of ${found.get(name)} and its own ids' count: a shared layer gives one encoding`);
      found.set(name, ANY_WIDTH);
      continue;
    }
    const first = idReaders[0].layer, v = vocabularyOf(first);
    for (const { layer } of idReaders)
      if (vocabularyOf(layer) !== v) refuse(layer, `${ID_READERS[layer.class_name]} = ${vocabularyOf(layer)} differs from the ${v} of ${first.class_name} '${first.config.name}', which reads the same ids of '${name}': they are one-hot encoded over one vocabulary`);
    if (found.has(name) && found.get(name) !== v) refuse(node.layer, `its calls' ids are read over vocabularies of ${found.get(name)} and ${v}: a shared layer gives one encoding`);
    found.set(name, v);
  }
  for (const name of plain)
    if (found.has(name)) throw new Error(`layer '${name}': some of its calls' ids are read by Embedding or CategoryEncoding layers and others as numbers: a shared layer gives one encoding`);
  return found;
}

/**
 * Refuses an id maker of `n` ids (0 to n - 1) whose readers take a narrower one-hot (`width`,
 * LayerContext.idsOneHot; undefined or ANY_WIDTH: none to check): checked when the layer is
 * planned, and again on the rows it makes.
 */
export function checkIdWidth(l: LayerConfig, n: number, width: number | undefined): void {
  if (width !== undefined && width !== ANY_WIDTH && width < n) refuse(l, `makes ids up to ${n - 1}, but the layers that read them take ids below ${width}`);
}

/**
 * An id-making layer's one-hot rows [values, n] (n ids, 0 to n - 1) as its readers take them:
 * [...shape, v] for `shape` the ids' shape, zero columns for the vocabulary's ids it never makes.
 */
export function idsOneHot(l: LayerConfig, rows: AnyTensor, shape: readonly number[], width: number): AnyTensor {
  const n = rows.shape[1], v = width === ANY_WIDTH ? n : width;
  checkIdWidth(l, n, v);
  return reshape(n < v ? pad(rows, [[0, 0], [0, v - n]]) : rows, [...shape, v]);
}

/**
 * Keras's CategoryEncoding on token ids (structured data's categorical features): one_hot
 * ([batch] or [batch, 1] ids: [batch, V]; [batch, k]: [batch, k, V]), multi_hot and count
 * ([batch, k] ids: [batch, V], 1 where an id occurs, or how often). The ids arrive one-hot, as an
 * Embedding's (the input owner encodes them), so one_hot is that encoding itself, count its sum
 * over the ids (local), and multi_hot min(count, 1) (exact protocols: categorical_encoding.ts atMostOne).
 */
export function categoryEncoding(l: LayerConfig): LayerPlan {
  const { v, mode } = categoryEncodingOf(l);
  const step = () => ([x]: AnyTensor[]) => {
    if (x.rank < 2 || x.shape[x.rank - 1] !== v) refuse(l, `takes the one-hot encoding [batch, ..., ${v}] of its token ids, got a tensor of shape [${x.shape}]; share the ids with model.defineInput (or a client), which encodes them`);
    if (x.rank > 3) refuse(l, `takes ids of shape [batch] or [batch, k], got [${x.shape.slice(0, -1)}]`);
    if (x.rank === 2) return x;
    const [n, k] = x.shape;
    if (mode === 'one_hot') return k === 1 ? reshape(x, [n, v]) : x;
    const count = reshape(reduceSum(x, 1), [n, v]);
    return mode === 'count' || k === 1 ? count : atMostOne(count, k);
  };
  return { step, comparisons: mode === 'multi_hot', exactOnly: mode === 'multi_hot' };
}

/**
 * Each model input's encoding: one-hot over the vocabulary when Embeddings read it, after
 * checking that they read a model input directly (the one-hot exists only there), that nothing
 * else reads that input (another layer would get the one-hot, not the ids), that they agree on
 * its vocabulary, and that an input_length matches its shape. In graph.inputs order; undefined
 * for an input no Embedding reads.
 */
export function inputEncodingsOf(graph: LayerGraph): (InputEncoding | undefined)[] {
  // Id readers of an id-making layer take its one-hot (idMakersOf), not a model input's.
  const makers = new Set(graph.nodes.filter((n) => makesIds(n.layer)).map((n) => n.id));
  const embeddings = graph.nodes.filter((n) => n.layer.class_name in ID_READERS && !(n.inputs.length === 1 && makers.has(n.inputs[0])));
  if (embeddings.length === 0) return graph.inputs.map(() => undefined);
  const ids = graph.inputs.map((i) => i.id);
  const what = graph.inputs.length > 1 ? 'one of the model\'s inputs' : "the model's input";
  for (const { layer, inputs } of embeddings)
    if (inputs.length !== 1 || !ids.includes(inputs[0]))
      refuse(layer, `reads '${inputs.join("', '")}', not ${what}: ${/^[AEIOU]/.test(layer.class_name) ? 'an' : 'a'} ${layer.class_name} must read ${what} directly (the input owner one-hot encodes the token ids before sharing them), or the ids of a Discretization, IntegerLookup, StringLookup, Hashing or HashedCrossing`);
  return graph.inputs.map((input) => {
    const readers = embeddings.filter((n) => n.inputs[0] === input.id);
    if (readers.length === 0) return undefined;
    const first = readers[0].layer, vocab = vocabularyOf(first);
    for (const { layer } of readers) {
      if (vocabularyOf(layer) !== vocab)
        refuse(layer, `${ID_READERS[layer.class_name]} = ${layer.config[ID_READERS[layer.class_name]]} differs from the ${vocab} of ${first.class_name} '${first.config.name}', which reads the same input: the input is one-hot encoded over one vocabulary`);
      const il = layer.config.input_length;
      if (isNull(il)) continue;
      const lengths = Array.isArray(il) ? il : [il];
      if (lengths.length !== input.shape.length || lengths.some((n, i) => !isNull(n) && n !== input.shape[i]))
        refuse(layer, `input_length = ${JSON.stringify(il)} does not match ${graph.inputs.length > 1 ? `the shape [${input.shape}] of input '${input.id}'` : `the model's input shape [${input.shape}]`}`);
    }
    for (const { layer, inputs } of graph.nodes)
      if (!(layer.class_name in ID_READERS) && inputs.includes(input.id))
        refuse(layer, `reads ${graph.inputs.length > 1 ? `input '${input.id}'` : "the model's input"}, which holds token ids for ${first.class_name} '${first.config.name}' (shared one-hot): only Embedding and CategoryEncoding layers may read it`);
    if (graph.outputs.includes(input.id)) throw new Error(`input '${input.id}' holds token ids for ${first.class_name} '${first.config.name}' and is also an output of the model, which is not supported`);
    return { oneHot: vocab };
  });
}
