// A model's final activation applied to the logits a private prediction returns, as Keras's and
// tfjs's predict apply it: the tests' own float64 reference, written apart from the library's
// (lib/api/final_activation.ts) so that a mistake there shows as a difference here.

/** The final activations a model's output may end with (undefined: none). */
export type Final = 'softmax' | 'sigmoid' | 'exponential' | 'log_softmax' | undefined;

/** One row (the last axis) after `f`. */
export function finalRow(row: readonly number[], f: Final): number[] {
  if (f === 'sigmoid') return row.map((v) => 1 / (1 + Math.exp(-v)));
  if (f === 'exponential') return row.map((v) => Math.exp(v));
  if (f !== 'softmax' && f !== 'log_softmax') return [...row];
  const top = Math.max(...row), e = row.map((v) => Math.exp(v - top)), s = e.reduce((a, v) => a + v, 0);
  return f === 'softmax' ? e.map((v) => v / s) : row.map((v) => v - top - Math.log(s));
}

/** Logits laid out in rows of `width` after `f`. */
export function finalRows(y: ArrayLike<number>, f: Final, width: number): Float64Array {
  const out = new Float64Array(y.length);
  for (let r = 0; r < y.length; r += width) out.set(finalRow(Array.from({ length: width }, (_, k) => y[r + k]), f), r);
  return out;
}
