// How an input owner turns what it holds into the tensor it secret-shares. A model that starts
// with an Embedding takes token ids, and the servers must never see them: the owner one-hot
// encodes each id over the vocabulary before sharing, so the Embedding is an ordinary private
// product of the shared one-hot with the private table (layers_embedding.ts). This file is the
// one place that encoding happens: in-process predict and verify (model.ts, verify.ts), the Node
// client (lib/serve/client.ts) and the browser client (lib/browser/client.ts) all call it. It
// imports no Node module (the browser bundle includes it).
import type { Dense } from './values';

/** Token ids in [0, oneHot), one-hot encoded by the input owner (the model's first layers are Embeddings). */
export interface InputEncoding {
  oneHot: number;
}

/** What a model says about its input: the shape of one example (no batch axis) and its encoding. */
export interface InputSpec {
  inputShape: readonly number[];
  inputEncoding?: InputEncoding;
}

/** The shape of one example as it is secret-shared: the input shape, with the vocabulary axis when one-hot. */
export function sharedInputShape(m: InputSpec): number[] {
  return m.inputEncoding ? [...m.inputShape, m.inputEncoding.oneHot] : [...m.inputShape];
}

/** Whether two descriptions of a model's input share the same tensor. */
export function sameInput(a: InputSpec, b: InputSpec): boolean {
  return sharedInputShape(a).join() === sharedInputShape(b).join() && (a.inputEncoding?.oneHot ?? 0) === (b.inputEncoding?.oneHot ?? 0);
}

/** Says what a model takes, for errors: '[batch, 8]', or token ids and their one-hot shares. */
export function describeInput(m: InputSpec): string {
  if (!m.inputEncoding) return `[batch, ${m.inputShape}]`;
  const v = m.inputEncoding.oneHot;
  return `token ids [batch, ${m.inputShape}] (integers in [0, ${v})), shared one-hot as [batch, ${[...m.inputShape, v]}]`;
}

/** `flat` as a multi-index of `shape` ('[1, 3]'), so that an error points at the offending element. */
function indexOf(flat: number, shape: readonly number[]): string {
  const idx: number[] = [];
  for (let i = shape.length - 1; i >= 0; i--) {
    idx.unshift(flat % shape[i]);
    flat = Math.floor(flat / shape[i]);
  }
  return `[${idx.join(', ')}]`;
}

/**
 * An input refused for its values (a token id out of range or not an integer), not its shape. A
 * client never retries such a refusal with a fresh lookup of the model: the servers would see a
 * request that only a bad value causes (a bit about the private input).
 */
export class InputValueError extends Error {}

/**
 * Refuses any id that is not an integer in [0, vocab): tfjs casts a fraction to int32 and gives an
 * out-of-range id zeros or an error, and a one-hot of such an id has no row to select. The message
 * names the element's index and value.
 */
export function checkTokenIds(data: ArrayLike<number>, shape: readonly number[], vocab: number, what: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (Number.isInteger(v) && v >= 0 && v < vocab) continue;
    const why = Number.isInteger(v) ? `out of range: token ids must be in [0, ${vocab}) (the Embedding's input_dim)` : `not an integer: token ids must be integers in [0, ${vocab})`;
    throw new InputValueError(`${what}: the value at index ${indexOf(i, shape)} is ${v}, ${why}`);
  }
}

/**
 * The most bytes of shares any cluster accepts as one input (lib/serve/limits.ts: maxInputBytes is
 * at most 2^31): a one-hot above it is refused before it is allocated.
 */
const MAX_SHARED_BYTES = 2 ** 31;

/**
 * The tensor the owner shares for `m`'s input `x` ([batch, ...inputShape]): `x` itself for a
 * model without encoding (its shape is the servers' to check), or, for token ids, their one-hot
 * [batch, ...inputShape, V] after checking the shape and every id.
 */
export function encodeInput(x: Dense, m: InputSpec, what: string): Dense {
  const enc = m.inputEncoding;
  if (!enc) return x;
  if (x.shape.length !== m.inputShape.length + 1 || x.shape.slice(1).some((d, i) => d !== m.inputShape[i]))
    throw new Error(`${what}: the model takes ${describeInput(m)}, got shape [${x.shape}]`);
  const v = enc.oneHot;
  // The encoding may come from a server's model list: checked before it sizes anything.
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${what}: the model's input encoding is one-hot over ${JSON.stringify(v)} values, not a positive integer`);
  if (8 * x.data.length * v > MAX_SHARED_BYTES)
    throw new Error(`${what}: ${x.data.length} token ids one-hot over ${v} values would be ${8 * x.data.length * v} bytes of shares, more than any cluster accepts (2^31); send fewer ids per query`);
  checkTokenIds(x.data, x.shape, v, what);
  const out = new Float64Array(x.data.length * v);
  for (let i = 0; i < x.data.length; i++) out[i * v + x.data[i]] = 1;
  return { data: out, shape: [...x.shape, v] };
}

/**
 * A client's predict: `run` on the input encoded for the model as last looked up (`lookup(false)`;
 * undefined: not known to the servers, sent as given for them to refuse by name). When the servers
 * refuse its shape because the model was redeployed with another input since, or the encoding
 * refuses the input by the model's input as last looked up (a redeployed Embedding model with
 * another sequence length or vocabulary: every later query failed on the stale description),
 * looks it up again (`lookup(true)`) and retries once. The Node and browser clients share this.
 * Never for an input refused for its values (InputValueError): that lookup would tell the servers
 * the private input held a bad value. The message says how to look the model up again.
 */
export async function predictEncoded<P>(lookup: (again: boolean) => Promise<InputSpec | undefined>, encode: (m: InputSpec | undefined) => Dense, run: (x: Dense) => Promise<P>): Promise<P> {
  const known = await lookup(false);
  let dense: Dense;
  try {
    dense = encode(known);
  } catch (e) {
    if (e instanceof InputValueError)
      throw new InputValueError(`${e.message} (as the model was when this client last looked it up: if it has been redeployed since, list the models again, client.models(), and retry)`);
    if (!known) throw e;
    const fresh = await lookup(true);
    if (!fresh || sameInput(fresh, known)) throw e;
    return run(encode(fresh));
  }
  try {
    return await run(dense);
  } catch (e) {
    if (!/takes (inputs of shape|token ids)/.test((e as Error).message)) throw e;
    const fresh = await lookup(true);
    if (!fresh || (known && sameInput(fresh, known))) throw e;
    return run(encode(fresh));
  }
}
