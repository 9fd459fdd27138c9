// The activations a model's output layer may end with that the client applies, not the servers:
// the servers compute shares of the logits, and the client, who reconstructs them, applies the
// function in float64. Each one is a function of the logits alone, so what the client learns is
// what the logits say:
// - softmax and log_softmax: the logits up to a shift per row (the softmax hides the shift; the
//   logits show it, one number per row);
// - sigmoid and exponential: one-to-one, nothing more than the outputs themselves.
// exponential is only ever applied here: e^x leaves fixed point's range past x = 32 at 16
// fractional bits, so a hidden one is refused (layers_activations.ts).
// Shared by the Node client, the page's client, `tfe verify` and the plaintext model
// (plain_forward.ts): one definition of each.

/** A final activation the client applies; absent: the model ends without one (logits, a regression). */
export type FinalActivation = 'softmax' | 'sigmoid' | 'exponential' | 'log_softmax';

/** Every final activation this release applies: a client names them in each prediction request, so servers refuse it a model ending with another. */
export const FINAL_ACTIVATIONS: readonly FinalActivation[] = ['softmax', 'sigmoid', 'exponential', 'log_softmax'];
const FINALS: ReadonlySet<string> = new Set<string>(FINAL_ACTIVATIONS);

/** A final activation as a model list named it (anything else: none, so a newer server's name is not misapplied). */
export const finalActivationOf = (v: unknown): FinalActivation | undefined => (typeof v === 'string' && FINALS.has(v) ? (v as FinalActivation) : undefined);

/**
 * A final activation as an answer names it, to be applied: null or absent is none; a name this
 * release does not know is an error (read as logits, the answer would be wrong), where a model
 * list only leaves it out (finalActivationOf).
 */
export function answerFinal(v: unknown): FinalActivation | undefined {
  if (v === undefined || v === null) return undefined;
  const f = finalActivationOf(v);
  if (!f) throw new Error(`the servers answered with the final activation ${JSON.stringify(v)?.slice(0, 60)}, which this client does not apply: update the client`);
  return f;
}

/** Each row's maximum and the sum of e^(x - max) over it: softmax's and log_softmax's. */
function rowsOf(x: Float64Array, width: number, each: (row: Float64Array, at: number, max: number, sum: number) => void): void {
  for (let at = 0; at < x.length; at += width) {
    const row = x.subarray(at, at + width);
    let max = -Infinity, sum = 0;
    for (let j = 0; j < width; j++) if (row[j] > max) max = row[j];
    for (let j = 0; j < width; j++) sum += Math.exp(row[j] - max);
    each(row, at, max, sum);
  }
}

/** `f` on logits laid out in rows of `width` (softmax and log_softmax over each row; the others value by value); a new array. */
export function applyFinalActivation(x: Float64Array, width: number, f: FinalActivation | undefined): Float64Array {
  const out = new Float64Array(x.length);
  switch (f) {
    case undefined:
      out.set(x);
      break;
    case 'sigmoid':
      for (let i = 0; i < x.length; i++) out[i] = 1 / (1 + Math.exp(-x[i]));
      break;
    case 'exponential':
      for (let i = 0; i < x.length; i++) out[i] = Math.exp(x[i]);
      break;
    case 'softmax':
      rowsOf(x, width, (row, at, max, sum) => row.forEach((v, j) => (out[at + j] = Math.exp(v - max) / sum)));
      break;
    case 'log_softmax':
      rowsOf(x, width, (row, at, max, sum) => row.forEach((v, j) => (out[at + j] = v - max - Math.log(sum))));
      break;
  }
  return out;
}
