// What a client makes of the logits it reconstructs, the same in Node (lib/serve/client.ts), in
// the page (client.ts here) and in `tfe predict`: the servers only ever hold shares of the logits,
// so a model's final softmax, sigmoid, exponential or log_softmax is applied here (the servers name
// which, per query; lib/api/final_activation.ts).
import { answerFinal, applyFinalActivation, type FinalActivation, finalActivationOf } from '../api/final_activation';
import { packRows, splitRows } from '../api/input_encoding';

export { type FinalActivation, finalActivationOf };

export interface ReadOutputs {
  /** What tfjs's model.predict returns: the final activation applied to the logits (the logits where there is none). */
  outputs: Float64Array;
  /**
   * softmax's values; a sigmoid's (each unit its own probability); otherwise (no final activation,
   * exponential, log_softmax) the softmax of the logits over the last axis (a regression's are
   * meaningless: read `outputs`).
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
  const outputs = applyFinalActivation(logits, width, final);
  if (final !== 'sigmoid') return { outputs, ...soft };
  // Multi-label: the most likely label (the logits' argmax); one unit: its probability's side of 0.5.
  const classes = width === 1 ? Array.from(outputs, (p) => (p >= 0.5 ? 1 : 0)) : soft.classes;
  return { outputs, probabilities: outputs.slice(), classes };
}

/** One output of a model with several: its name, its logits as [batch, ...shape], and what readOutputs makes of them. */
export interface OutputPart extends ReadOutputs {
  name: string;
  data: Float64Array;
  shape: number[];
  finalActivation?: FinalActivation;
}

/** What a client reads from a prediction's answer: ReadOutputs, the final activation applied, and each output of a model with several. */
export interface ReadAnswer extends ReadOutputs {
  /** The model's final activation, which `outputs` applied (absent: none, `outputs` are the logits). */
  finalActivation?: FinalActivation;
  /**
   * A model with several outputs: each one (in the model's order), as tfjs's predict returns them.
   * The answer's own `outputs` and `probabilities` are then theirs laid end to end per row, and
   * `classes` is empty: read each output's here.
   */
  perOutput?: OutputPart[];
}

const isDims = (v: unknown): v is number[] => Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d > 0);

/**
 * The logits `data` ([batch, width]) of a prediction as a client reads them: under the final
 * activation server0's answer names (or the model list's, `listed`, from an earlier release), or,
 * when the answer lists several outputs (name, shape, final activation each), split into them. A
 * list whose sizes do not add up to the answer's width is refused.
 */
export function readAnswer(data: Float64Array, shape: readonly number[], answer: object | undefined, listed: FinalActivation | undefined): ReadAnswer {
  const parts = answer && (answer as { outputs?: unknown }).outputs;
  if (parts === undefined) {
    const finalActivation = answeredFinal(answer, listed);
    return { ...readOutputs(data, shape[shape.length - 1] ?? 1, finalActivation), ...(finalActivation ? { finalActivation } : {}) };
  }
  const list = parts as { name?: unknown; shape?: unknown; finalActivation?: unknown }[];
  const batch = shape[0], width = shape[1];
  if (!Array.isArray(list) || list.length < 2 || shape.length !== 2 || !list.every((o) => o && typeof o.name === 'string' && isDims(o.shape)))
    throw new Error(`the servers answered outputs ${JSON.stringify(parts)?.slice(0, 200)} for a result of shape [${shape}]: not a list of outputs with shapes`);
  const sizes = list.map((o) => (o.shape as number[]).reduce((a, b) => a * b, 1));
  if (sizes.reduce((a, b) => a + b, 0) !== width) throw new Error(`the servers answered outputs of ${sizes.join(' + ')} values per example for a result of ${width}`);
  const own = list.map((o) => o.shape as number[]);
  const perOutput = splitRows({ data, shape: [batch, width] }, own).map((part, i): OutputPart => {
    const finalActivation = answerFinal(list[i].finalActivation), last = own[i][own[i].length - 1];
    return { name: list[i].name as string, ...part, ...readOutputs(part.data, last, finalActivation), ...(finalActivation ? { finalActivation } : {}) };
  });
  // The answer's own fields: each output's, laid end to end per row as the logits are.
  const joined = (pick: (p: OutputPart) => Float64Array): Float64Array => packRows(perOutput.map((p) => ({ data: pick(p), shape: p.shape }))).data;
  return { outputs: joined((p) => p.outputs), probabilities: joined((p) => p.probabilities), classes: [], perOutput };
}

/**
 * A prediction's final activation: as server0's answer names it (null: none), or, from a server
 * of an earlier release, whose answer names none, as its model list said (`listed`).
 */
export function answeredFinal(answer: object | undefined, listed: FinalActivation | undefined): FinalActivation | undefined {
  return answer && 'finalActivation' in answer ? answerFinal((answer as { finalActivation?: unknown }).finalActivation) : listed;
}
