// The --input of `tfe predict` for a model with an input of strings or texts (StringLookup,
// Hashing, TextVectorization): JSON whose examples the client encodes as a program's would (each
// string as its id or bin, each text as its tokens' ids: lib/api/client_input.ts), so the file
// keeps them as they are. One input: an array of examples ([["thal value"], ...], or texts
// ["a review", ...]); several: an object by name, each an array of examples ("labels" beside them
// if wanted), or a list of such arrays in the model's order. Queries take slices of the examples.
import type { ClientInput } from '../api/client_input';
import type { ModelInput } from '../api/input_encoding';
import { inputsByName } from './named_inputs';

export interface RawInputs {
  /** Examples in the file. */
  count: number;
  /** Examples [at, at + m) as one query's input. */
  slice(at: number, m: number): ClientInput;
  labels?: number[];
}

export function readRawInputs(file: string, j: unknown, inputs: readonly ModelInput[]): RawInputs {
  const names = inputs.map((i) => i.name);
  // One input: its array of examples as it is; several (or one by name): as named_inputs.ts reads them.
  const { given, labels } = names.length === 1 && Array.isArray(j) ? { given: [j], labels: undefined } : inputsByName(file, j, names);
  given.forEach((g, i) => {
    if (!Array.isArray(g) || g.length === 0) throw new Error(`input ${file}: input '${names[i]}' must be a non-empty array of examples, got ${JSON.stringify(g)?.slice(0, 60)}`);
  });
  const counts = (given as unknown[][]).map((g) => g.length);
  if (new Set(counts).size > 1) throw new Error(`input ${file}: the inputs hold different numbers of examples (${counts.map((c, i) => `'${names[i]}' ${c}`).join(', ')})`);
  if (labels && labels.length !== counts[0]) throw new Error(`input ${file}: 'labels' must be an array with one label per example (${counts[0]})`);
  const rows = given as unknown[][];
  const slice = (at: number, m: number): ClientInput =>
    (names.length === 1 ? rows[0].slice(at, at + m) : Object.fromEntries(names.map((n, i) => [n, rows[i].slice(at, at + m)]))) as ClientInput;
  return { count: counts[0], slice, ...(labels ? { labels } : {}) };
}
