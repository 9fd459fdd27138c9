// What a client makes of the logits it reconstructs, the same in Node (lib/serve/client.ts), in
// the page (client.ts here) and in `tfe predict`: the servers only ever hold shares of the logits,
// so a model's final softmax or sigmoid is applied here (the servers name which, per query).

/** A final activation the client applies; absent: the model ends without one (logits, a regression). */
export type FinalActivation = 'softmax' | 'sigmoid';

export interface ReadOutputs {
  /** What tfjs's model.predict returns: the final activation applied to the logits (the logits where there is none). */
  outputs: Float64Array;
  /**
   * softmax's values; a sigmoid's (each unit its own probability); with no final activation, the
   * softmax of the logits over the last axis (a regression's are meaningless: read `outputs`).
   */
  probabilities: Float64Array;
  /**
   * Per row: the argmax of the probabilities; for one sigmoid unit (a binary classifier), 1 where
   * its probability is at least 0.5, else 0.
   */
  classes: number[];
}

/** softmax and argmax per row of width `width`. */
export function softmaxRows(logits: Float64Array, width: number): { probabilities: Float64Array; classes: number[] } {
  const probabilities = new Float64Array(logits.length);
  const classes: number[] = [];
  for (let r = 0; r * width < logits.length; r++) {
    const row = logits.subarray(r * width, (r + 1) * width);
    let best = 0;
    for (let j = 1; j < width; j++) if (row[j] > row[best]) best = j;
    let sum = 0;
    for (let j = 0; j < width; j++) sum += (probabilities[r * width + j] = Math.exp(row[j] - row[best]));
    for (let j = 0; j < width; j++) probabilities[r * width + j] /= sum;
    classes.push(best);
  }
  return { probabilities, classes };
}

/** The outputs, probabilities and classes of logits whose last axis is `width` wide, under `final`. */
export function readOutputs(logits: Float64Array, width: number, final: FinalActivation | undefined): ReadOutputs {
  // Each field its own array: a caller changing one changes no other (nor the logits).
  const soft = softmaxRows(logits, width);
  if (final === 'softmax') return { outputs: soft.probabilities.slice(), ...soft };
  if (final !== 'sigmoid') return { outputs: logits.slice(), ...soft };
  const outputs = logits.map((v) => 1 / (1 + Math.exp(-v)));
  // Multi-label: the most likely label (the logits' argmax); one unit: its probability's side of 0.5.
  const classes = width === 1 ? Array.from(outputs, (p) => (p >= 0.5 ? 1 : 0)) : soft.classes;
  return { outputs, probabilities: outputs.slice(), classes };
}

/** A final activation as a server named it (anything else: none, so a newer server's name is not misapplied). */
export const finalActivationOf = (v: unknown): FinalActivation | undefined => (v === 'softmax' || v === 'sigmoid' ? v : undefined);

/**
 * A prediction's final activation: as server0's answer names it (null: none), or, from a server
 * of an earlier release, whose answer names none, as its model list said (`listed`).
 */
export function answeredFinal(answer: object | undefined, listed: FinalActivation | undefined): FinalActivation | undefined {
  return answer && 'finalActivation' in answer ? finalActivationOf((answer as { finalActivation?: unknown }).finalActivation) : listed;
}
