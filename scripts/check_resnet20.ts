// `npm run check:resnet20 [-- --model DIR]`: checks bench/models/resnet20 on the committed sample
// of 1,000 CIFAR-10 test images (bench/data/) three ways before it is benchmarked privately:
// TensorFlow.js's own predict (float32, wasm backend), the library's float64 plaintext forward
// pass (lib/api/plain_forward.ts, what `tfe verify` and bench:resnet20 compare the private model
// with), and the labels. Prints both accuracies, their argmax agreement and the largest
// probability difference, and records them in the model's meta.json under `sample`. Also writes
// the model's sample-images.json (the first ten images, {images, labels}, pixels / 255 to six
// decimals) for `tfe verify --input` and `tfe predict --input`.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { plainLogits } from '../bench/lib/resnet20_plain';
import { loadCifarSample, toFloat } from './resnet20/cifar';
import { type Tensor, tf, useWasm } from './train/tf';

const argmax = (r: ArrayLike<number>) => {
  let b = 0;
  for (let i = 1; i < r.length; i++) if (r[i] > r[b]) b = i;
  return b;
};

type LoadFromMemory = {
  loadLayersModel(handler: unknown): Promise<{ predict(x: Tensor): Tensor }>;
  io: { fromMemory(a: object): unknown };
};

async function main(): Promise<void> {
  const i = process.argv.indexOf('--model');
  const dir = i >= 0 ? path.resolve(process.argv[i + 1] ?? '') : path.join(__dirname, '..', '..', 'bench', 'models', 'resnet20');
  const modelJson = path.join(dir, 'model.json');
  const json = JSON.parse(fs.readFileSync(modelJson, 'utf8'));
  const bin = fs.readFileSync(path.join(dir, json.weightsManifest[0].paths[0]));
  await useWasm();
  const t = tf as unknown as LoadFromMemory;
  const model = await t.loadLayersModel(t.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length) }));
  const sample = loadCifarSample();
  const x = toFloat(sample.images);
  const probs = tf.tidy(() => model.predict(tf.tensor(x, [sample.n, 32, 32, 3], 'float32'))).dataSync() as Float32Array;
  const logits = plainLogits(modelJson, Float64Array.from(x), sample.n, (m) => console.log(m));
  let tfCorrect = 0, plainCorrect = 0, agreed = 0, maxDiff = 0;
  for (let r = 0; r < sample.n; r++) {
    const l = logits.subarray(r * 10, (r + 1) * 10);
    const m = Math.max(...l);
    const e = Array.from(l, (v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    const p = probs.subarray(r * 10, (r + 1) * 10);
    for (let k = 0; k < 10; k++) maxDiff = Math.max(maxDiff, Math.abs(e[k] / s - p[k]));
    const [a, b] = [argmax(p), argmax(l)];
    if (a === b) agreed++;
    if (a === sample.labels[r]) tfCorrect++;
    if (b === sample.labels[r]) plainCorrect++;
  }
  const result = {
    images: sample.n,
    source: 'bench/data/cifar10-test-1000.bin (the first 1,000 CIFAR-10 test images)',
    plaintextFloat64Accuracy: plainCorrect / sample.n,
    tfjsFloat32Accuracy: tfCorrect / sample.n,
    tfjsVsFloat64ArgmaxAgreement: agreed / sample.n,
    tfjsVsFloat64MaxAbsProbabilityDiff: Number(maxDiff.toExponential(2)),
  };
  console.log(JSON.stringify(result, null, 2));
  const images = Array.from({ length: 10 }, (_, r) => Array.from(x.subarray(r * 3072, (r + 1) * 3072), (v) => Math.round(v * 1e6) / 1e6));
  fs.writeFileSync(path.join(dir, 'sample-images.json'), `${JSON.stringify({ images, labels: Array.from(sample.labels.subarray(0, 10)) })}\n`);
  const metaFile = path.join(dir, 'meta.json');
  if (fs.existsSync(metaFile)) {
    const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
    fs.writeFileSync(metaFile, `${JSON.stringify({ ...meta, sample: result }, null, 2)}\n`);
    console.log(`recorded in ${path.relative(process.cwd(), metaFile)}`);
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
