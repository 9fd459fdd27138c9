// The --input of `tfe predict` and `tfe verify` for a model with several inputs: JSON holding
// each input by name ({"numbers": [...], "tokens": [...]}, with "labels" beside them if wanted)
// or a list of them in the model's order. Each input's values are one example or a batch along
// the first axis, laid out as the file likes; every input must hold as many examples. The
// examples come back packed as the servers take them (lib/api/input_encoding.ts packRows: each
// example's inputs flattened and laid end to end), token ids as ids (the client encodes them).
import { namesMismatch } from '../api/client_input';
import type { ModelInput } from '../api/input_encoding';
import type { Inputs } from './inputs';

const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [Number(v)]);

export function namedInputs(file: string, j: unknown, inputs: readonly ModelInput[]): Inputs {
  const names = inputs.map((i) => i.name);
  const { given, labels } = inputsByName(file, j, names);
  const values = given.map((v, i) => Float64Array.from(flat(v)));
  const sizes = inputs.map((i) => i.inputShape.reduce((a, b) => a * b, 1));
  const counts = values.map((v, i) => {
    if (v.length === 0 || v.length % sizes[i] !== 0) throw new Error(`input ${file}: input '${names[i]}' has ${v.length} values, not whole examples of its shape [${inputs[i].inputShape}] (${sizes[i]} values each)`);
    if (!v.every(Number.isFinite)) throw new Error(`input ${file}: input '${names[i]}' has a value that is not a finite number`);
    return v.length / sizes[i];
  });
  if (new Set(counts).size > 1) throw new Error(`input ${file}: the inputs hold different numbers of examples (${counts.map((c, i) => `'${names[i]}' ${c}`).join(', ')})`);
  const n = counts[0], total = sizes.reduce((a, b) => a + b, 0);
  if (labels && labels.length !== n) throw new Error(`input ${file}: 'labels' must be an array with one label per example (${n})`);
  const images = Array.from({ length: n }, (_, k) => {
    const row = new Float64Array(total);
    let at = 0;
    values.forEach((v, i) => {
      row.set(v.subarray(k * sizes[i], (k + 1) * sizes[i]), at);
      at += sizes[i];
    });
    return row;
  });
  return { images, ...(labels ? { labels } : {}) };
}

/**
 * Each input's part of --input's JSON: a list of them in the model's order, or an object by name
 * with `labels` beside them (numbers) if wanted; missing and unknown names refused together.
 */
export function inputsByName(file: string, j: unknown, names: readonly string[]): { given: unknown[]; labels?: number[] } {
  const list = names.map((n) => `'${n}'`).join(', ');
  const o = j as Record<string, unknown> | unknown[] | null;
  if (Array.isArray(o)) {
    if (o.length !== names.length) throw new Error(`input ${file}: a list of ${o.length} input${o.length === 1 ? '' : 's'}, but the model takes ${names.length} (${list}), in this order`);
    return { given: o };
  }
  if (!o || typeof o !== 'object') throw new Error(`input ${file}: the model takes ${names.length} input${names.length === 1 ? '' : 's'} (${list}): give JSON with each by name, or a list of them in this order`);
  const extra = Object.keys(o).filter((k) => k !== 'labels' && !names.includes(k)), absent = names.filter((n) => !(n in o));
  if (absent.length || extra.length) throw new Error(`input ${file}: ${namesMismatch(absent, extra)} (the model's inputs: ${list})`);
  if (o.labels !== undefined && (!Array.isArray(o.labels) || !o.labels.every((x) => typeof x === 'number'))) throw new Error(`input ${file}: 'labels' must be an array of numbers, one per example`);
  return { given: names.map((n) => o[n]), ...(o.labels !== undefined ? { labels: o.labels as number[] } : {}) };
}
