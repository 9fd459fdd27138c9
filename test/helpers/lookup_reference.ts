// Keras's lookups (IntegerLookup, StringLookup) written apart from the library's, for its tests:
// the column of a value among [OOV, vocabulary...] and the encodings of whole inputs.
export type LookupMode = 'one_hot' | 'multi_hot' | 'count';

/** The column of x ([OOV, vocabulary...]), -1 for the mask token. */
export function lookupColumn<T>(x: T, vocab: readonly T[], mask: T | null): number {
  if (x === mask) return -1;
  const j = vocab.indexOf(x);
  return j < 0 ? 0 : j + 1;
}

/** `values` ([rows, k] laid out flat) encoded as Keras's mode over `width` columns. */
export function lookupReference<T>(values: readonly T[], rows: number, vocab: readonly T[], mask: T | null, mode: LookupMode, width: number): number[] {
  const k = values.length / rows, out: number[] = [];
  if (mode === 'one_hot') for (const x of values) out.push(...Array.from({ length: width }, (_, c) => (lookupColumn(x, vocab, mask) === c ? 1 : 0)));
  else
    for (let r = 0; r < rows; r++) {
      const counts = new Array(width).fill(0);
      for (const x of values.slice(r * k, r * k + k)) if (lookupColumn(x, vocab, mask) >= 0) counts[lookupColumn(x, vocab, mask)]++;
      out.push(...counts.map((c) => (mode === 'count' ? c : Math.min(c, 1))));
    }
  return out;
}

/** The cases both lookups' random tests run: [mode, the input's shape, with a mask token, pad_to_max_tokens's width]. */
export const LOOKUP_CASES: readonly [LookupMode, number[], boolean, number | null][] = [
  ['one_hot', [1], false, null],
  ['one_hot', [3], true, null],
  ['count', [5], false, 12],
  ['multi_hot', [5], true, null],
  ['multi_hot', [1], false, null],
];

