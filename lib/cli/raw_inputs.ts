// The --input of `tfe predict` for a model with an input of strings or texts (StringLookup,
// Hashing, TextVectorization): JSON whose examples the client encodes as a program's would (each
// string as its id or bin, each text as its tokens' ids: lib/api/client_input.ts), so the file
// keeps them as they are. One input: an array of examples ([["thal value"], ...], or texts
// ["a review", ...]); several: an object by name, each an array of examples ("labels" beside them
// if wanted), or a list of such arrays in the model's order. Queries take slices of the examples.
import { type ClientInput, namesMismatch } from '../api/client_input';
import type { ModelInput } from '../api/input_encoding';

export interface RawInputs {
  /** Examples in the file. */
  count: number;
  /** Examples [at, at + m) as one query's input. */
  slice(at: number, m: number): ClientInput;
  labels?: number[];
}

export function readRawInputs(file: string, j: unknown, inputs: readonly ModelInput[]): RawInputs {
  const names = inputs.map((i) => i.name), list = names.map((n) => `'${n}'`).join(', ');
  let given: unknown[], labels: number[] | undefined;
  const o = j as Record<string, unknown> | unknown[] | null;
  if (names.length === 1 && Array.isArray(o)) given = [o];
  else if (Array.isArray(o)) {
    if (o.length !== names.length) throw new Error(`input ${file}: a list of ${o.length} input${o.length === 1 ? '' : 's'}, but the model takes ${names.length} (${list}), in this order`);
    given = o;
  } else if (o && typeof o === 'object') {
    const extra = Object.keys(o).filter((k) => k !== 'labels' && !names.includes(k)), absent = names.filter((n) => !(n in o));
    if (absent.length || extra.length) throw new Error(`input ${file}: ${namesMismatch(absent, extra)} (the model's inputs: ${list})`);
    given = names.map((n) => o[n]);
    if (o.labels !== undefined) {
      if (!Array.isArray(o.labels) || !o.labels.every((x) => typeof x === 'number')) throw new Error(`input ${file}: 'labels' must be an array of numbers, one per example`);
      labels = o.labels as number[];
    }
  } else throw new Error(`input ${file}: the model takes strings; give JSON: an array of examples${names.length > 1 ? `, or each input (${list}) by name` : ''}`);
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
