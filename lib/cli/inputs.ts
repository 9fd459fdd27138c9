// The inputs of `tfe predict` and `tfe verify` (--input): a PNG, fitted to the model's input
// shape, or JSON ({images, labels}, {data, shape}, or an array).
//
// A PNG is fitted to the model: its input shape [h, w, c] (or [h, w], or a flat [h*w] or
// [h*w*3] with a square image) gives the size and the channels. One channel takes the gray level
// (the mean of R, G and B), three take R, G and B; values are in [0, 1]; alpha is ignored. An
// image of another size is resized by area averaging: each output pixel is the mean of the input
// area it covers (exact for integer factors, e.g. a 280x280 drawing to 28x28; when enlarging, the
// nearest pixel's value).
import * as fs from 'node:fs';

import { imageGeometry, resizeArea } from '../api/image_fit';
import type { ModelInput } from '../api/input_encoding';
import { namedInputs } from './named_inputs';
import { decodePng } from './png';

export interface Inputs {
  images: Float64Array[];
  labels?: number[];
  /** How a PNG was fitted, for the user ("280x280 RGB -> 28x28x1"). */
  note?: string;
}

/** A PNG fitted to `inputShape` (see the file's comment). */
export function pngInput(buf: Buffer, name: string, inputShape: readonly number[]): { image: Float64Array; note: string } {
  const img = decodePng(buf, name);
  const { h, w, c } = imageGeometry(inputShape);
  const src = c === 1 ? img.gray : img.rgb;
  const image = resizeArea(src, img.height, img.width, c, h, w);
  const note = `${name}: ${img.width}x${img.height} -> ${w}x${h}, ${c === 1 ? 'gray' : 'RGB'}${img.width !== w || img.height !== h ? ' (resized by area averaging)' : ''}`;
  return { image, note };
}

/** Reads --input: a PNG (fitted to `inputShape`) or JSON: {images, labels}, {data, shape} or an array. */
/** Fails, naming `what` (as readInputs names an input), when `file` cannot be read: checked before a command reaches the cluster, so a missing file is named first. */
export function checkReadable(file: string, what = 'input'): void {
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch (e) {
    throw new Error(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}

export function readInputs(file: string, inputShape: readonly number[], inputs?: readonly ModelInput[]): Inputs {
  const several = inputs && inputs.length > 1 ? inputs : undefined;
  if (several && file.toLowerCase().endsWith('.png')) throw new Error(`input ${file}: the model takes ${several.length} inputs (${several.map((i) => `'${i.name}'`).join(', ')}): give JSON with each by name`);
  if (file.toLowerCase().endsWith('.png')) {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(file);
    } catch (e) {
      throw new Error(`cannot read input ${file}: ${(e as Error).message}`);
    }
    const { image, note } = pngInput(buf, file, inputShape);
    return { images: [image], note };
  }
  const j = readJson(file);
  // Several inputs by name or in a list; {data, shape} holds them packed, as below.
  // Packed only as {data} or {data, shape} where no input is named 'data' or 'shape'.
  const packed = j && typeof j === 'object' && !Array.isArray(j) && Object.keys(j).every((k) => k === 'data' || k === 'shape') && !several?.some((i) => i.name === 'data' || i.name === 'shape');
  if (several && !packed) return namedInputs(file, j, several);
  const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flatMap(flat) : [Number(v)]);
  const per = inputShape.reduce((a, b) => a * b, 1);
  const o = j as { images?: unknown[]; labels?: unknown; data?: unknown; shape?: unknown };
  let images: Float64Array[];
  let labels: number[] | undefined;
  if (o && Array.isArray(o.images)) {
    images = o.images.map((im) => Float64Array.from(flat(im)));
    if (o.labels !== undefined) {
      if (!Array.isArray(o.labels) || o.labels.length !== images.length) throw new Error(`input ${file}: 'labels' must be an array with one label per image (${images.length})`);
      labels = o.labels.map(Number);
    }
  } else if (o && !Array.isArray(o) && o.data !== undefined) {
    // {data, shape}: the shape's leading axis is the batch when it has one more axis than the model's input.
    const data = Float64Array.from(flat(o.data));
    images = [];
    for (let at = 0; at < data.length; at += per) images.push(data.subarray(at, at + per));
    if (o.shape !== undefined) {
      const shape = Array.isArray(o.shape) ? o.shape.map(Number) : [];
      if (!Array.isArray(o.shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) throw new Error(`input ${file}: 'shape' must be an array of positive whole numbers, got ${JSON.stringify(o.shape)?.slice(0, 80)}`);
      if (shape.reduce((a, b) => a * b, 1) !== data.length) throw new Error(`input ${file}: 'shape' [${shape}] does not match the ${data.length} values of 'data'`);
      // One input, or a batch of them along the first axis, each laid out as the file likes
      // ([784] or [28, 28] for a [28, 28, 1] model): another shape of as many values, rows that
      // are not whole inputs, would be re-cut into inputs silently.
      const count = (s: number[]) => s.reduce((a, b) => a * b, 1);
      if (count(shape) !== per && count(shape.slice(1)) !== per)
        throw new Error(`input ${file}: 'shape' [${shape}] is neither one input of the model's [${inputShape}] (${per} values) nor a batch of them (its first axis the batch, the rest ${per} values)`);
    }
  } else if (Array.isArray(j)) {
    // One input, or several: an array whose elements each hold one input's values.
    const all = Float64Array.from(flat(j));
    images = j.length > 1 && Array.isArray(j[0]) && flat(j[0]).length === per && all.length === per * j.length ? j.map((e) => Float64Array.from(flat(e))) : [all];
  } else throw new Error(`input ${file}: expected a PNG, or JSON with an array, {data, shape} or {images, labels}`);
  images.forEach((im, i) => {
    if (im.length !== per) throw new Error(`input ${i} of ${file} has ${im.length} values; the model takes [${inputShape}] (${per})`);
    if (!im.every(Number.isFinite)) throw new Error(`input ${i} of ${file} has a value that is not a finite number`);
  });
  if (!images.length) throw new Error(`input ${file} holds no inputs`);
  return { images, labels };
}

/** --input's JSON, or a failure naming the file. */
export function readJson(file: string): unknown {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read input ${file}: ${(e as Error).message}`);
  }
}
