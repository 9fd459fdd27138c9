// How an input owner turns what it holds into the tensor it secret-shares. A model that starts
// with an Embedding takes token ids, and the servers must never see them: the owner one-hot
// encodes each id over the vocabulary before sharing, so the Embedding is an ordinary private
// product of the shared one-hot with the private table (layers_embedding.ts). This file is the
// one place that encoding happens: in-process predict and verify (model.ts, verify.ts), the Node
// client (lib/serve/client.ts) and the browser client (lib/browser/client.ts) all call it. It
// imports no Node module (the browser bundle includes it).
import type { Dense } from './values';
import type { HashingSpec } from './hash_bins';
import { isTextSpec, type TextSpec } from './text_tokens';

/** Token ids in [0, oneHot), one-hot encoded by the input owner (the model's first layers are Embeddings). */
export interface InputEncoding {
  oneHot: number;
}

/** One of a model's inputs: its name (the InputLayer's), the shape of one example and its encoding. */
export interface ModelInput {
  name: string;
  inputShape: readonly number[];
  inputEncoding?: InputEncoding;
  /** It takes strings (read by StringLookup or Hashing): a client sends each as its id (string_ids.ts) or its bin. */
  strings?: true;
  /** A Hashing layer reads it: a client sends each value's bin (hash_bins.ts), one-hot over `inputEncoding.oneHot` = numBins. */
  hashing?: HashingSpec;
  /**
   * A TextVectorization reads it: a client gives texts ([batch] or [batch, 1]) and sends each as
   * its `text.length` tokens' ids (text_tokens.ts); `inputShape` is [text.length].
   */
  text?: TextSpec;
}

/**
 * What a model says about its input: the shape of one example (no batch axis) and its encoding.
 * A model with several inputs lists them in `inputs`; its `inputShape` is then theirs packed
 * ([sum of their sizes]: each example's inputs flattened and laid end to end, packRows), and each
 * is encoded on its own before they are packed again for sharing.
 */
export interface InputSpec {
  inputShape: readonly number[];
  inputEncoding?: InputEncoding;
  /** One input that takes strings (several inputs: each says so in `inputs`). */
  strings?: true;
  /** One input that a Hashing layer reads (several inputs: each says so in `inputs`). */
  hashing?: HashingSpec;
  /** One input that a TextVectorization reads (several inputs: each says so in `inputs`). */
  text?: TextSpec;
  inputs?: readonly ModelInput[];
}

const count = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

/** Whether the model has several inputs (packed). */
export const hasInputs = (m: InputSpec): boolean => Array.isArray(m.inputs) && m.inputs.length > 1;

/** The inputs of a model that hasInputs. */
const inputsOf = (m: InputSpec): readonly ModelInput[] => m.inputs as readonly ModelInput[];

/** Several inputs' shape packed: [the sum of their sizes]. */
export function packedInputShape(inputs: readonly { inputShape: readonly number[] }[]): number[] {
  return [inputs.reduce((a, i) => a + count(i.inputShape), 0)];
}

/** The shape of one example as it is secret-shared: the input shape, with the vocabulary axis when one-hot (several inputs: each so, packed). */
export function sharedInputShape(m: InputSpec): number[] {
  if (hasInputs(m)) return [inputsOf(m).reduce((a, i) => a + count(sharedInputShape(i)), 0)];
  return m.inputEncoding ? [...m.inputShape, m.inputEncoding.oneHot] : [...m.inputShape];
}

/** Whether two descriptions of a model's input share the same tensor. */
export function sameInput(a: InputSpec, b: InputSpec): boolean {
  return describeInput(a) === describeInput(b);
}

/** Says what a model takes, for errors: '[batch, 8]', or token ids and their one-hot shares; several inputs by name. */
export function describeInput(m: InputSpec): string {
  if (hasInputs(m)) {
    const each = inputsOf(m).map((i) => `'${i.name}' ${describeInput({ inputShape: i.inputShape, ...(i.inputEncoding ? { inputEncoding: i.inputEncoding } : {}), ...(i.strings ? { strings: true as const } : {}), ...(i.hashing ? { hashing: i.hashing } : {}), ...(i.text ? { text: i.text } : {}) })}`);
    return `${each.length} inputs, ${each.join(', ')} (given as a list in this order or an object by name, or packed as [batch, ${m.inputShape}]; shared as [batch, ${sharedInputShape(m)}])`;
  }
  if (m.text) return `texts [batch] or [batch, 1] (TextVectorization: each sent as its first ${m.text.length} tokens' ids)`;
  if (m.hashing) return `${m.strings ? 'strings' : 'values'} [batch, ${m.inputShape}] hashed into ${m.hashing.numBins} bins (Hashing; shared one-hot)`;
  if (m.strings) return `strings [batch, ${m.inputShape}] (each sent as its id)`;
  if (!m.inputEncoding) return `[batch, ${m.inputShape}]`;
  const v = m.inputEncoding.oneHot;
  return `token ids [batch, ${m.inputShape}] (integers in [0, ${v})), shared one-hot as [batch, ${[...m.inputShape, v]}]`;
}

/** A Hashing's settings as a server lists them: bins one-hot over as many values, a mask value or null. */
const isHashing = (h: unknown, oneHot: unknown): boolean => {
  const o = h as Partial<HashingSpec> | null;
  const word = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  return (
    !!o && typeof o === 'object' && Number.isSafeInteger(o.numBins) && (o.numBins as number) >= 1 && o.numBins === oneHot &&
    (o.maskValue === null || typeof o.maskValue === 'string' || Number.isSafeInteger(o.maskValue)) && (o.salt === null || (Array.isArray(o.salt) && o.salt.length === 2 && o.salt.every(word)))
  );
};

/** A listed split, copied field by field (nothing else a server sent comes along). */
const copyText = (t: TextSpec): TextSpec => ({ standardize: t.standardize, split: t.split, ngrams: t.ngrams ? [...t.ngrams] : null, length: t.length, ...(t.bag ? { bag: t.bag } : {}) });

const isDims = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every((d) => Number.isSafeInteger(d) && d > 0);

/**
 * A model's input as a server lists it (inputShape, inputEncoding, and `inputs` for several),
 * checked before a client sizes anything by it: each input's name, shape and vocabulary, and
 * their sizes adding up to the packed shape.
 */
export function inputSpecOf(m: { name?: string; inputShape: readonly number[]; inputEncoding?: InputEncoding; inputs?: readonly ModelInput[] }): InputSpec {
  const own: InputSpec = { inputShape: [...m.inputShape], ...(m.inputEncoding ? { inputEncoding: m.inputEncoding } : {}) };
  if (m.inputs === undefined) return own;
  const list = m.inputs as unknown[];
  const ok = Array.isArray(list) && list.length >= 1 && list.length <= 4096 && list.every((i) => {
    const o = i as Partial<ModelInput>;
    return o && typeof o.name === 'string' && isDims(o.inputShape) && (o.inputEncoding === undefined || (Number.isSafeInteger(o.inputEncoding.oneHot) && o.inputEncoding.oneHot > 0)) && (o.strings === undefined || o.strings === true) && (o.hashing === undefined ? !(o.strings && o.inputEncoding) : isHashing(o.hashing, o.inputEncoding?.oneHot)) && (o.text === undefined || (isTextSpec(o.text) && o.strings === true && o.hashing === undefined && o.inputEncoding === undefined && o.inputShape.length === 1 && o.inputShape[0] === o.text.length));
  });
  const inputs: ModelInput[] = ok
    ? (m.inputs as ModelInput[]).map((i) => ({ name: i.name, inputShape: [...i.inputShape], ...(i.inputEncoding ? { inputEncoding: { oneHot: i.inputEncoding.oneHot } } : {}), ...(i.strings ? { strings: true as const } : {}), ...(i.hashing ? { hashing: { numBins: i.hashing.numBins, maskValue: i.hashing.maskValue, salt: i.hashing.salt ? [i.hashing.salt[0], i.hashing.salt[1]] : null } } : {}), ...(i.text ? { text: copyText(i.text) } : {}) }))
    : [];
  // One input: the list only names it (its shape and encoding are the model's own).
  const fits = inputs.length === 1 ? inputs[0].inputShape.join() === own.inputShape.join() && (inputs[0].inputEncoding?.oneHot ?? 0) === (own.inputEncoding?.oneHot ?? 0) : m.inputShape.length === 1 && inputs.reduce((a, i) => a + count(i.inputShape), 0) === m.inputShape[0];
  if (!ok || !fits) throw new Error(`the servers list model '${m.name}' with inputs ${JSON.stringify(m.inputs)?.slice(0, 200)} that do not describe its input [${m.inputShape}]`);
  // One input that takes strings: the model's own input does (the list says so for it).
  return { ...own, ...(inputs.length === 1 && inputs[0].strings ? { strings: true as const } : {}), ...(inputs.length === 1 && inputs[0].hashing ? { hashing: inputs[0].hashing } : {}), ...(inputs.length === 1 && inputs[0].text ? { text: inputs[0].text } : {}), inputs };
}

/** inputSpecOf for a client's model list: a listing it cannot read fails that model's predictions only (`listingError`), not the list. */
export function listedInputSpec(m: Parameters<typeof inputSpecOf>[0]): InputSpec & { listingError?: string } {
  try {
    return inputSpecOf(m);
  } catch (e) {
    return { inputShape: [], listingError: (e as Error).message };
  }
}

/**
 * Tensors of one batch as one [batch, total]: each example's parts flattened and laid end to end,
 * in order (several inputs as the servers take them, several outputs as they return them).
 */
export function packRows(parts: readonly Dense[]): Dense {
  const batch = parts[0].shape[0], sizes = parts.map((p) => count(p.shape.slice(1))), total = sizes.reduce((a, b) => a + b, 0);
  const out = new Float64Array(batch * total);
  for (let r = 0, at = 0; r < batch; r++)
    for (const [i, p] of parts.entries()) {
      out.set(p.data.subarray(r * sizes[i], (r + 1) * sizes[i]), at);
      at += sizes[i];
    }
  return { data: out, shape: [batch, total] };
}

/** packRows undone: [batch, total] as one tensor per shape (each without the batch axis), whose sizes must add up to total. */
export function splitRows(x: Dense, shapes: readonly (readonly number[])[]): Dense[] {
  const batch = x.shape[0], sizes = shapes.map(count), total = sizes.reduce((a, b) => a + b, 0);
  if (x.shape.length !== 2 || x.data.length !== batch * total) throw new Error(`a tensor of shape [${x.shape}] is not [batch, ${total}]`);
  const outs = sizes.map((n) => new Float64Array(batch * n));
  for (let r = 0, at = 0; r < batch; r++)
    for (const [i, n] of sizes.entries()) {
      outs[i].set(x.data.subarray(at, at + n), r * n);
      at += n;
    }
  return outs.map((data, i) => ({ data, shape: [batch, ...shapes[i]] }));
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
  if (hasInputs(m)) {
    // Packed as the model's inputs: each encoded on its own, then packed again as shared.
    if (x.shape.length !== 2 || x.shape[1] !== m.inputShape[0] || x.data.length !== x.shape[0] * x.shape[1]) throw new Error(`${what}: the model takes ${describeInput(m)}, got shape [${x.shape}]`);
    const inputs = inputsOf(m);
    if (!inputs.some((i) => i.inputEncoding)) return x;
    // The encodings may come from a server's model list: their total is checked before any is made.
    const bytes = 8 * x.shape[0] * sharedInputShape(m)[0];
    if (!(bytes <= MAX_SHARED_BYTES)) throw new Error(`${what}: ${x.shape[0]} example${x.shape[0] === 1 ? '' : 's'} of ${describeInput(m)} would be ${bytes} bytes of shares, more than any cluster accepts (2^31); send fewer per query`);
    const parts = splitRows(x, inputs.map((i) => i.inputShape));
    return packRows(parts.map((p, i) => encodeInput(p, inputs[i], `${what}, input '${inputs[i].name}'`)));
  }
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
