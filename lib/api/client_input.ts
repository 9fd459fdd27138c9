// A prediction's input as every client takes it (the page's, Node's PredictionClient, an
// in-process model's defineInput, the plaintext model): nested arrays, {data, shape}, TensorFlow.js
// tensors (values.ts), a typed array holding whole examples, or an image (ImageData, or a canvas)
// for an image model, turned into gray levels exactly as `tfe predict` reads a PNG
// (lib/cli/png.ts: the mean of R, G and B over 255, alpha ignored). No Node built-in here: the
// browser bundle imports it.
import { describeInput, encodeInput, hasInputs, type InputSpec, packRows } from './input_encoding';
import { imageGeometry, resizeArea } from './image_fit';
import { type Dense, toDense, type TensorValue } from './values';
import { holdsStrings, stringsToIds, stringsToNumbers } from './string_ids';
import { hashBin, type HashingSpec } from './hash_bins';
import { textsToTokens, type TextSpec } from './text_tokens';

/** An image's pixels (ImageData in a page, or any object of this form): RGBA bytes, row by row. */
export interface ImageDataLike {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray | Uint8Array;
}

/** A canvas (HTMLCanvasElement or OffscreenCanvas): its pixels through a 2D context. */
export interface CanvasLike {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): ImageDataLike } | null;
}

/** What one of a prediction's inputs may be, in every client (the in-process model's defineInput too). */
export type OneInput = TensorValue | ArrayLike<number> | ImageDataLike | CanvasLike | StringValues;

/** A string input's values (read by StringLookup): nested arrays of strings, [batch, ...shape]. */
export type StringValues = readonly (string | StringValues)[];

/**
 * What a prediction's input may be: one input; for a model with several inputs, a list of them in
 * the model's order or an object by input name (or them packed, [batch, sum of their sizes]).
 */
export type ClientInput = OneInput | readonly OneInput[] | { readonly [input: string]: OneInput };

function isImageData(v: unknown): v is ImageDataLike {
  const o = v as ImageDataLike;
  return typeof v === 'object' && v !== null && Number.isInteger(o.width) && Number.isInteger(o.height) && (o.data instanceof Uint8ClampedArray || o.data instanceof Uint8Array) && o.data.length === o.width * o.height * 4;
}

function isCanvas(v: unknown): v is CanvasLike {
  const o = v as CanvasLike;
  return typeof v === 'object' && v !== null && typeof o.getContext === 'function' && Number.isInteger(o.width) && Number.isInteger(o.height);
}

function isTypedArray(v: unknown): v is ArrayLike<number> {
  return ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array);
}

/** Gray levels in [0, 1] of an RGBA image, row by row, as decodePng computes them for RGBA. */
export function imageToGray(img: ImageDataLike): Float64Array {
  const gray = new Float64Array(img.width * img.height);
  const d = img.data;
  for (let i = 0; i < gray.length; i++) gray[i] = (d[4 * i] + d[4 * i + 1] + d[4 * i + 2]) / 3 / 255;
  return gray;
}

/** R, G and B of each pixel over 255, alpha ignored: [h, w, 3]. */
export function imageToRgb(img: ImageDataLike): Float64Array {
  const n = img.width * img.height, rgb = new Float64Array(3 * n), d = img.data;
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) rgb[3 * i + k] = d[4 * i + k] / 255;
  return rgb;
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** Whether `v` needs the model's input shape to become a tensor (an image or a bare typed array). */
export function needsInputShape(v: unknown): boolean {
  return isImageData(v) || isCanvas(v) || isTypedArray(v);
}

/**
 * The input as float64 data and a shape. Images and bare typed arrays are whole examples of the
 * model's input shape (`inputShape`, without the batch axis): [k, ...inputShape].
 */
export function toInput(v: OneInput, what: string, inputShape?: readonly number[], strings?: boolean, hashing?: HashingSpec, text?: TextSpec): Dense {
  // Texts a TextVectorization reads: each as its tokens (text_tokens.ts), sent as their ids.
  if (text) return toDense(stringsToIds(textsToTokens(v, text, what), what) as TensorValue, what);
  // An input a Hashing layer reads: its values' bins (hash_bins.ts), which encodeInput one-hot encodes.
  if (hashing && strings) return toDense(stringsToNumbers(v, what, (x) => hashBin(x, hashing, what), 'this input is hashed by a Hashing layer and takes strings') as TensorValue, what);
  if (hashing) {
    const d = toInput(v, what, inputShape);
    return { data: d.data.map((x) => hashBin(x, hashing, what)), shape: d.shape };
  }
  // A string input: nested arrays of strings, each sent as its id (string_ids.ts).
  if (strings) return toDense(stringsToIds(v, what) as TensorValue, what);
  if (typeof v !== 'string' && holdsStrings(v)) throw new TypeError(`${what}: strings given, but ${inputShape ? 'this input takes numbers' : 'the model is not known here (list the models first)'}`);
  if (!needsInputShape(v)) return toDense(v as TensorValue, what);
  if (!inputShape) throw new Error(`${what}: the model's input shape is unknown`);
  const one = size(inputShape);
  if (isImageData(v) || isCanvas(v)) {
    let img: ImageDataLike;
    if (isImageData(v)) img = v;
    else {
      const ctx = v.getContext('2d');
      if (!ctx) throw new Error(`${what}: the canvas has no 2D context (is it a WebGL canvas?)`);
      img = ctx.getImageData(0, 0, v.width, v.height);
    }
    // As `tfe predict --input x.png` reads a PNG (image_fit.ts): the model's shape gives the size
    // and the channels (gray or RGB), and an image of another size is resized by area averaging.
    // (Matching the pixel count only took a 14x56 image for a 28x28 model, and gray for RGB.)
    let geometry: { h: number; w: number; c: number };
    try {
      geometry = imageGeometry(inputShape);
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`);
    }
    const { h, w, c } = geometry;
    const src = c === 1 ? imageToGray(img) : imageToRgb(img);
    return { data: resizeArea(src, img.height, img.width, c, h, w), shape: [1, ...inputShape] };
  }
  const a = v as ArrayLike<number>;
  if (a.length === 0 || a.length % one !== 0)
    throw new Error(`${what}: ${a.length} values are not whole examples of the model's input shape [${inputShape.join(',')}] (${one} values each)`);
  return { data: Float64Array.from(a), shape: [a.length / one, ...inputShape] };
}

/**
 * `input` copied as it is now, so that a caller may reuse or free it as soon as its call returns
 * (a buffer refilled for the next query, a tfjs tensor disposed): a client reads it only after
 * looking the model up. Forms that need the model's shape stay forms (a typed array, an image's
 * pixels); the others become float64 data and a shape.
 */
export function snapshotInput(v: ClientInput, what: string): ClientInput {
  // Nested arrays are copied as they are (one input's values, or a list of several inputs: the
  // model says which); an object by input name, each of its inputs.
  if (Array.isArray(v)) return v.map((e) => (typeof e === 'number' || typeof e === 'string' ? e : snapshotInput(e as ClientInput, what))) as ClientInput;
  // {data, shape} of strings (a string input's): copied as strings.
  if (holdsStrings(v)) {
    const o = v as unknown as { data: unknown[]; shape: unknown[] };
    return { data: [...o.data], shape: [...o.shape] } as unknown as ClientInput;
  }
  if (isByName(v)) return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, snapshotInput(e, `${what} '${k}'`) as OneInput]));
  if (isImageData(v)) return { width: v.width, height: v.height, data: Uint8ClampedArray.from(v.data) };
  if (isCanvas(v)) {
    const ctx = v.getContext('2d');
    if (!ctx) throw new Error(`${what}: the canvas has no 2D context (is it a WebGL canvas?)`);
    const img = ctx.getImageData(0, 0, v.width, v.height);
    return { width: img.width, height: img.height, data: Uint8ClampedArray.from(img.data) };
  }
  if (isTypedArray(v)) return Float64Array.from(v);
  return toDense(v as TensorValue, what);
}

/** What an object of inputs by name lacks and has too many of, for an error. */
export function namesMismatch(absent: readonly string[], extra: readonly string[]): string {
  const list = (xs: readonly string[]) => xs.map((x) => `'${x}'`).join(', ');
  return [absent.length ? `missing input${absent.length > 1 ? 's' : ''} ${list(absent)}` : '', extra.length ? `unknown input${extra.length > 1 ? 's' : ''} ${list(extra)}` : ''].filter(Boolean).join('; ');
}

/** A plain object that is none of one input's forms ({data, shape}, a tfjs tensor, an image): inputs by name. */
function isByName(v: unknown, names?: readonly string[]): v is { readonly [input: string]: OneInput } {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v) || isImageData(v) || isCanvas(v)) return false;
  if (typeof (v as { dataSync?: unknown }).dataSync === 'function') return false;
  if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return false;
  // {data, shape} is one input (or several packed), unless the model's inputs have those names:
  // an input named 'data' beside another is by name.
  const keys = Object.keys(v);
  if (names && keys.length > 0 && keys.every((k) => names.includes(k))) return true;
  return !('data' in v && 'shape' in v);
}

/**
 * The input of model `m` as float64 data and a shape: [batch, ...inputShape] for a model with one
 * input; for several, each input (from a list in the model's order, or an object by name) checked
 * against its own shape and packed ([batch, sum of their sizes], packRows), or them packed already.
 */
export function toModelInput(v: ClientInput, what: string, m: InputSpec | undefined): Dense {
  if (!m || !hasInputs(m)) {
    // As tfjs's predict takes them: a list of one input, or an object naming it.
    const name = m?.inputs?.[0]?.name;
    if (isByName(v)) {
      const keys = Object.keys(v);
      if (name === undefined || keys.length !== 1 || keys[0] !== name) throw new Error(`${what}: an object of inputs by name (${keys.map((k) => `'${k}'`).join(', ')}), but the model has one input${name !== undefined ? `, '${name}'` : ''}${m ? ` (${describeInput(m)})` : ''}`);
      return toInput(v[name], what, m?.inputShape, m?.strings, m?.hashing, m?.text);
    }
    if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'object' && v[0] !== null && !Array.isArray(v[0])) return toInput(v[0] as OneInput, what, m?.inputShape, m?.strings, m?.hashing, m?.text);
    const d = toInput(v as OneInput, what, m?.inputShape, m?.strings, m?.hashing, m?.text);
    // Nested arrays in a list of one ([rows]): one axis more than a batch of the model's input, the first of 1.
    const shape = m?.inputShape;
    if (shape && Array.isArray(v) && v.length === 1 && d.shape.length === shape.length + 2 && shape.every((n, k) => n === d.shape[k + 2])) return { data: d.data, shape: d.shape.slice(1) };
    return d;
  }
  const inputs = m.inputs!, names = inputs.map((i) => i.name);
  let given: OneInput[];
  if (Array.isArray(v) && !v.every((e) => typeof e === 'number')) {
    if (v.length !== names.length) throw new Error(`${what}: ${v.length} input${v.length === 1 ? '' : 's'} given, but the model has ${names.length} (${names.map((n) => `'${n}'`).join(', ')}): pass one per input, in this order, or an object by name`);
    given = v as OneInput[];
  } else if (isByName(v, names)) {
    const extra = Object.keys(v).filter((k) => !names.includes(k)), absent = names.filter((n) => !(n in v));
    if (extra.length || absent.length) throw new Error(`${what}: ${namesMismatch(absent, extra)} (the model's inputs: ${names.map((n) => `'${n}'`).join(', ')})`);
    given = names.map((n) => v[n]);
  } else {
    // Packed already ([batch, sum of the sizes]): encodeInput checks its shape.
    return toInput(v as OneInput, what, m.inputShape);
  }
  const parts = given.map((g, i) => {
    const input = inputs[i], where = `${what}, input '${input.name}'`;
    const d = toInput(g, where, input.inputShape, input.strings, input.hashing, input.text);
    // Packed, the servers see only the total: each input's shape is checked here.
    const fits = (shape: readonly number[]) => d.shape.length === shape.length + 1 && shape.every((n, k) => n === d.shape[k + 1]);
    if (!fits(input.inputShape)) {
      // Given as a list, in another order than the model's?
      const other = Array.isArray(v) ? inputs.find((o, k) => k !== i && fits(o.inputShape)) : undefined;
      throw new Error(`${where}: has shape [${d.shape}]; it takes [batch, ${input.inputShape}]${input.inputEncoding ? ' (token ids)' : ''}${other ? `, and input '${other.name}' takes that shape: a list is read in the model's order (${names.map((n) => `'${n}'`).join(', ')}); or pass an object by name` : ''}`);
    }
    return d;
  });
  const batches = new Set(parts.map((p) => p.shape[0]));
  if (batches.size > 1) throw new Error(`${what}: the inputs hold different numbers of examples (${parts.map((p, i) => `'${names[i]}' ${p.shape[0]}`).join(', ')})`);
  return packRows(parts);
}

/**
 * `input` as the tensor a client shares for `model` (`m`: its input as the servers list it;
 * undefined: not deployed, as far as the client knows): whole examples of its shape, token ids
 * one-hot (lib/api/input_encoding.ts). Sent as given for a model the client does not know, so
 * that the servers' refusal names it.
 */
export function encodeClientInput(model: string, input: ClientInput, m: InputSpec | undefined): Dense {
  const what = `predict(${model}) input`;
  // Forms only a model's description can read (a list of several inputs among them).
  const several = Array.isArray(input) && input.some((e) => typeof e === 'object' && e !== null && !Array.isArray(e));
  if (!m && (needsInputShape(input) || isByName(input) || several)) throw new Error(`model '${model}' is not deployed`);
  const dense = toModelInput(input, what, m);
  return m ? encodeInput(dense, m, what) : dense;
}
