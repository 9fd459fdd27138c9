// The CIFAR-10 ResNet-20 benchmark's inputs (bench:resnet20, check:resnet20): the committed sample
// reads back as the CIFAR-10 test set's first images (labels as in the original batch, every
// class present), CIFAR's binary layout round-trips random images exactly and bad files are
// refused naming the problem, and the committed model (Functional: BatchNormalization, Add,
// GlobalAveragePooling2D) loads with default options into the float64 plaintext, which gives
// distributions better than chance on the first sample images.
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import { loadPlainModel } from '../lib/api/model';
import { fromCifarBinary, IMAGE_BYTES, loadCifarSample, toCifarBinary, toFloat } from '../scripts/resnet20/cifar';

const MODEL = path.join(__dirname, '..', '..', 'bench', 'models', 'resnet20');

test('the committed sample is the first 1,000 CIFAR-10 test images', (t) => {
  const s = loadCifarSample();
  t.is(s.n, 1000);
  t.is(s.images.length, 1000 * IMAGE_BYTES);
  t.deepEqual(Array.from(s.labels.subarray(0, 10)), [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
  const counts = new Array(10).fill(0);
  for (const l of s.labels) counts[l]++;
  t.deepEqual(counts, [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]);
});

test("CIFAR's binary layout round-trips random images; bad files are refused", (t) => {
  const n = 3;
  const images = Uint8Array.from({ length: n * IMAGE_BYTES }, () => Math.floor(Math.random() * 256));
  const labels = Uint8Array.from({ length: n }, () => Math.floor(Math.random() * 10));
  const bin = toCifarBinary({ n, images, labels });
  t.is(bin.length, n * (IMAGE_BYTES + 1));
  // Planar: record 0's red plane starts after the label byte, its green plane 1024 bytes later.
  t.is(bin[1], images[0]);
  t.is(bin[1 + 1024], images[1]);
  const back = fromCifarBinary(bin, 'x');
  t.deepEqual(Array.from(back.images), Array.from(images));
  t.deepEqual(Array.from(back.labels), Array.from(labels));
  t.throws(() => fromCifarBinary(bin.subarray(0, bin.length - 1), 'short.bin'), { message: /short\.bin: 9218 bytes is not a whole number of 3073-byte CIFAR-10 records/ });
  const bad = Buffer.from(bin);
  bad[IMAGE_BYTES + 1] = 10;
  t.throws(() => fromCifarBinary(bad, 'bad.bin'), { message: /bad\.bin: record 1 has label 10, expected 0\.\.9/ });
});

test('ResNet-20 loads with default options; its float64 plaintext beats chance on the sample', (t) => {
  const plain = loadPlainModel(path.join(MODEL, 'model.json'));
  t.deepEqual(plain.inputShape, [32, 32, 3]);
  t.is(plain.finalActivation, 'softmax');
  for (const kind of ['BatchNormalization', 'Add', 'GlobalAveragePooling2D']) t.true(plain.layers.some((l) => l.startsWith(`${kind}:`)), kind);
  const meta = JSON.parse(fs.readFileSync(path.join(MODEL, 'meta.json'), 'utf8'));
  t.is(meta.sample.tfjsVsFloat64ArgmaxAgreement, 1);
  // Ten images: each output a distribution, the true class more likely than chance (0.1) on average.
  const s = loadCifarSample(10);
  const y = plain.predict({ data: Float64Array.from(toFloat(s.images)), shape: [10, 32, 32, 3] });
  let sum = 0;
  for (let r = 0; r < 10; r++) {
    const row = Array.from(y.data.subarray(r * 10, (r + 1) * 10));
    t.true(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-9);
    sum += row[s.labels[r]];
  }
  t.true(sum / 10 > 0.1, `mean probability of the true class ${sum / 10} is no better than chance`);
});
