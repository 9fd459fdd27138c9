// Some layers keep learned values in their config, and the config is part of the topology every
// server reads: Keras's Normalization(mean=..., variance=...) (Keras 3's own applications give
// ImageNet's statistics there, EfficientNetV2 and ConvNeXt; users give their data's),
// Discretization's bin_boundaries (adapt() writes its quantiles there), IntegerLookup's,
// StringLookup's and TextVectorization's vocabularies and tf_idf's weights. The owner moves them
// into weights before anything reads the topology: then they are shared privately as weights are,
// and no server sees them. What stays public is their count (the weights' shapes).
import { type LayerConfig, refuse } from './layers_graph';
import type { LayersModelJson, WeightSpec } from './layers_spec';
import { MAX_LOOKUP_ID } from './layers_lookup';
import { idHalves, stringId } from './string_ids';
import { bucketLayout, buildBucketTable, TABLE_FROM_ENTRIES, tableShape, VOCABULARY_TABLE } from './bucket_table';

/** A weight's values and shape, as readWeights returns them. */
type Weight = { data: Float32Array; shape: number[] };

/** More values than this in a config's list is not a per-channel statistic or a set of bins. */
const MAX_VALUES = 1 << 20;

/** A config's list of numbers as a flat array: a number, or a list of numbers (Keras writes both). */
function valuesOf(l: LayerConfig, key: string, what: string): number[] {
  const v = l.config[key];
  // Nested lists: a statistic per position of several axes, which Normalization does not support.
  if (Array.isArray(v) && v.some((x) => Array.isArray(x))) refuse(l, `axis = ${JSON.stringify(l.config.axis)}: its config's ${key} has a value per position of several axes; only the last axis (one value per channel) or None (one value) is supported`);
  const values = typeof v === 'number' ? [v] : Array.isArray(v) && v.length <= MAX_VALUES && v.every((x) => typeof x === 'number') ? (v as number[]) : null;
  if (!values || values.length === 0) refuse(l, `${key} = ${JSON.stringify(v)?.slice(0, 60)} in its config is not a number or a list of at most ${MAX_VALUES} numbers (${what})`);
  const bad = values.findIndex((x) => !Number.isFinite(x) || (key === 'variance' && x < 0));
  if (bad >= 0) refuse(l, `${key}[${bad}] = ${values[bad]} in its config is not ${key === 'variance' ? 'a finite number >= 0' : 'finite'}`);
  return values;
}

/** Per class, the config keys holding learned values, and how the owner makes weights of them. */
const MOVERS: Record<string, { keys: string[]; move: (l: LayerConfig) => [key: string, values: ArrayLike<number>, shape?: number[]][] }> = {
  // A list of C values and a single one broadcast to C, as Keras broadcasts them; two single ones: [1].
  Normalization: {
    keys: ['mean', 'variance'],
    move: (l) => {
      if (l.config.mean == null || l.config.variance == null) refuse(l, `its config gives ${l.config.mean == null ? 'a variance but no mean' : 'a mean but no variance'}: Keras takes both or neither`);
      const mean = valuesOf(l, 'mean', 'one per channel of its axis'), variance = valuesOf(l, 'variance', 'one per channel of its axis');
      const c = Math.max(mean.length, variance.length);
      if ((mean.length !== c && mean.length !== 1) || (variance.length !== c && variance.length !== 1))
        refuse(l, `its config's mean (${mean.length} values) and variance (${variance.length}) do not broadcast together`);
      const spread = (values: number[]) => Array.from({ length: c }, (_, i) => values[values.length === 1 ? 0 : i]);
      return [['mean', spread(mean)], ['variance', spread(variance)]];
    },
  },
  // Sorted, as Keras's digitize needs (equal neighbours leave a bin empty); num_bins becomes their
  // count + 1, which Keras's config leaves null when the boundaries are given.
  Discretization: {
    keys: ['bin_boundaries'],
    move: (l) => {
      const b = valuesOf(l, 'bin_boundaries', 'the bins\' boundaries, in increasing order');
      const down = b.findIndex((v, i) => i > 0 && v < b[i - 1]);
      if (down >= 0) refuse(l, `bin_boundaries[${down}] = ${b[down]} is below bin_boundaries[${down - 1}] = ${b[down - 1]}: the boundaries must be in increasing order`);
      if (l.config.num_bins != null && l.config.num_bins !== b.length + 1) refuse(l, `num_bins = ${JSON.stringify(l.config.num_bins)} does not match its ${b.length} bin_boundaries (num_bins is their count + 1)`);
      l.config.num_bins = b.length + 1;
      return [['bin_boundaries', b]];
    },
  },
  // Keras strips a leading [mask token, OOV token] (get_vocabulary()'s own start) and refuses
  // repeated entries and the mask token elsewhere; entries are whole numbers a float32 weight
  // holds exactly. vocabulary_size becomes their count + the OOV index, as Keras writes it. From
  // TABLE_FROM_ENTRIES entries on, a bucket table (bucketTableOf), as StringLookup's.
  IntegerLookup: {
    keys: ['vocabulary', 'idf_weights'],
    move: (l) => {
      if (!Array.isArray(l.config.vocabulary)) refuse(l, `vocabulary = ${JSON.stringify(l.config.vocabulary)?.slice(0, 60)} is not a list of integers (a file's path is not read: give the list)`);
      const given = valuesOf(l, 'vocabulary', 'the integer ids'), mask = l.config.mask_token;
      const { tokens: v, found } = withoutSpecials(l, given, mask, l.config.oov_token ?? -1);
      const bad = v.findIndex((x) => !Number.isSafeInteger(x) || Math.abs(x) > MAX_LOOKUP_ID);
      if (bad >= 0) refuse(l, `vocabulary[${bad}] = ${v[bad]} is not a whole number within +-2^24 (the ids a float32 weight holds exactly)`);
      const seen = new Set<number>();
      for (const x of v) {
        if (seen.has(x)) refuse(l, `vocabulary repeats ${x}: Keras refuses repeated entries`);
        seen.add(x);
      }
      if (mask != null && seen.has(mask as number)) refuse(l, `vocabulary holds the mask token ${mask} other than at its start: Keras refuses it`);
      l.config.vocabulary_size = v.length + 1;
      const table = bucketTableOf(l, v, mask == null ? null : Number(mask));
      return [...(table ? [table] : [['vocabulary', v] as [string, number[]]]), ...idfWeights(l, given.length, found)];
    },
  },
  // The same for strings, each as its id (string_ids.ts: what clients send for a string), in two
  // halves a float32 weight holds exactly. Two entries sharing an id (a 2^-46 chance per pair)
  // could not be told apart: refused.
  StringLookup: { keys: ['vocabulary', 'idf_weights'], move: (l) => moveStrings(l, l.config.mask_token, l.config.oov_token ?? '[UNK]') },
  // TextVectorization's lookup is a StringLookup of mask token '' and one OOV index, '[UNK]'.
  TextVectorization: { keys: ['vocabulary', 'idf_weights'], move: (l) => moveStrings(l, '', '[UNK]') },
};

/**
 * A lookup's vocabulary without the special tokens Keras lets it start with (get_vocabulary()'s:
 * the mask token, in int mode only, then the OOV token), and whether it started with them.
 * (num_oov_indices is 1: layers_lookup.ts refuses others.)
 */
function withoutSpecials<T>(l: LayerConfig, v: T[], mask: unknown, oov: unknown): { tokens: T[]; found: boolean } {
  const int = (l.config.output_mode ?? 'int') === 'int';
  const special = [...(mask == null || !int ? [] : [mask]), oov];
  const found = v.length > special.length && special.every((t, i) => v[i] === t);
  return { tokens: found ? v.slice(special.length) : v, found };
}

/**
 * tf_idf's weights as Keras sets them: one per vocabulary entry as given (`n`, its special tokens
 * with it), OOV's first; without the special tokens OOV's is the entries' mean.
 */
function idfWeights(l: LayerConfig, n: number, found: boolean): [string, number[]][] {
  if (l.config.output_mode !== 'tf_idf') {
    if (l.config.idf_weights != null) refuse(l, `idf_weights given with output_mode ${JSON.stringify(l.config.output_mode ?? 'int')}: Keras reads them under tf_idf only, and refuses them otherwise`);
    return [];
  }
  if (l.config.idf_weights == null) refuse(l, `output_mode 'tf_idf' with a vocabulary needs idf_weights, as Keras does`);
  const w = valuesOf(l, 'idf_weights', 'one per vocabulary entry');
  if (w.length !== n) refuse(l, `idf_weights has ${w.length} values for ${n} vocabulary entries: Keras takes one per entry`);
  return [['idf_weights', found ? w : [w.reduce((a, b) => a + b, 0) / w.length, ...w]]];
}

/**
 * From TABLE_FROM_ENTRIES entries on, a lookup's vocabulary (whole ids: strings' or integer codes)
 * as a bucket table of ids and output columns: the mask token's (column 0) with them, the entries
 * from column 1 or 2, OOV's an empty slot's; VOCABULARY_TABLE set. null below that, or when its
 * ids crowd one bucket (bucket_table.ts): the caller keeps the entries as they are.
 */
function bucketTableOf(l: LayerConfig, entries: number[], maskId: number | null): [string, ArrayLike<number>, number[]] | null {
  if (entries.length < TABLE_FROM_ENTRIES) return null;
  const first = maskId === null ? 1 : 2;
  const stored = maskId === null ? entries : [maskId, ...entries];
  const columns = [...(maskId === null ? [] : [0]), ...entries.map((_, j) => j + first)];
  const layout = bucketLayout(stored.length), table = buildBucketTable(stored, columns, first - 1, layout);
  if (!table) return null;
  l.config[VOCABULARY_TABLE] = true;
  return ['vocabulary_table', table, tableShape(layout)];
}

/**
 * StringLookup's vocabulary (and TextVectorization's), get_vocabulary()'s leading special tokens
 * dropped, as its ids' halves, or from TABLE_FROM_ENTRIES entries on as a bucket table of ids and
 * output columns (the mask token's, column 0, with them; OOV's is an empty slot's), unless its ids
 * crowd one bucket (bucket_table.ts: then the halves); tf_idf's weights.
 */
function moveStrings(l: LayerConfig, mask: unknown, oov: unknown): [string, ArrayLike<number>, number[]?][] {
  const given = l.config.vocabulary;
  if (!Array.isArray(given) || given.length === 0 || given.length > MAX_VALUES || !given.every((x) => typeof x === 'string'))
    refuse(l, `vocabulary = ${JSON.stringify(given)?.slice(0, 60)} is not a list of at most ${MAX_VALUES} strings (a file's path is not read: give the list)`);
  const { tokens: v, found } = withoutSpecials(l, given as string[], mask, oov);
  const ids = new Map<number, string>();
  for (const x of v) {
    const id = stringId(x), other = ids.get(id);
    if (other === x) refuse(l, `vocabulary repeats ${JSON.stringify(x).slice(0, 60)}: Keras refuses repeated entries`);
    if (other !== undefined) refuse(l, `vocabulary entries ${JSON.stringify(other).slice(0, 60)} and ${JSON.stringify(x).slice(0, 60)} have the same 46-bit id, so the servers could not tell them apart`);
    ids.set(id, x);
  }
  if (mask != null && ids.get(stringId(String(mask))) === mask) refuse(l, `vocabulary holds the mask token ${JSON.stringify(mask)} other than at its start: Keras refuses it`);
  const maskId = mask == null ? null : stringId(String(mask));
  if (maskId !== null && ids.has(maskId)) refuse(l, `vocabulary entry ${JSON.stringify(ids.get(maskId)).slice(0, 60)} has the same 46-bit id as the mask token ${JSON.stringify(mask)}, so the servers could not tell them apart`);
  l.config.vocabulary_size = v.length + 1;
  const table = bucketTableOf(l, [...ids.keys()], maskId);
  if (table) return [table, ...idfWeights(l, given.length, found)];
  const halves = [...ids.keys()].map(idHalves);
  return [['vocabulary_hi', halves.map((h) => h[0])], ['vocabulary_lo', halves.map((h) => h[1])], ...idfWeights(l, given.length, found)];
}

/** The layers (anywhere in the topology) whose config gives learned values MOVERS moves. */
function withConstants(topology: unknown): LayerConfig[] {
  const found: LayerConfig[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== 'object') return;
    const o = v as { class_name?: unknown; config?: Record<string, unknown> };
    const mover = typeof o.class_name === 'string' && Object.hasOwn(MOVERS, o.class_name) ? MOVERS[o.class_name] : undefined;
    if (mover && o.config && typeof o.config === 'object' && mover.keys.some((k) => o.config![k] != null)) found.push(o as unknown as LayerConfig);
    Object.values(o).forEach(visit);
  };
  visit(topology);
  return found;
}

/**
 * The model with the learned values in its layers' configs moved into weights `name/key`
 * (Normalization's mean and variance, Discretization's bin_boundaries, IntegerLookup's
 * vocabulary, StringLookup's as two halves of its ids), the config's set to null as an adapted layer's are. `constants` holds their values, for the caller to add to the weights
 * it read; the manifest lists them in a group of their own, with no files.
 */
export function configConstantsAsWeights(json: LayersModelJson): { json: LayersModelJson; constants: Map<string, Weight> } {
  const constants = new Map<string, Weight>();
  if (withConstants(json.modelTopology).length === 0) return { json, constants };
  // A copy: the caller's topology (artifacts in memory) is left as it was.
  const topology = JSON.parse(JSON.stringify(json.modelTopology));
  const names = new Set((Array.isArray(json.weightsManifest) ? json.weightsManifest : []).flatMap((g) => (Array.isArray(g?.weights) ? g.weights.map((w) => w.name) : [])));
  const specs: WeightSpec[] = [];
  for (const l of withConstants(topology)) {
    const mover = MOVERS[l.class_name];
    for (const [key, values, shape = [values.length]] of mover.move(l)) {
      const name = `${l.config.name}/${key}`;
      if (names.has(name) || constants.has(name)) refuse(l, `its config gives a ${key}, and the model also has a weight '${name}'`);
      constants.set(name, { data: Float32Array.from(values), shape });
      specs.push({ name, shape, dtype: 'float32' });
    }
    for (const key of mover.keys) l.config[key] = null;
  }
  return { json: { modelTopology: topology, weightsManifest: [...json.weightsManifest, { paths: [], weights: specs }] }, constants };
}
