// `npm run train [-- --only A,B] [--epochs N] [--limit N] [--seed N]`: trains the MNIST networks
// A, B, C, B_max and C_max in plaintext with TensorFlow.js on its WASM backend and saves each as a
// LayersModel under bench/models/<name>/ (model.json, weights.bin, meta.json with the test
// accuracy). Also writes bench/models/sample-digits.json, the first ten test digits, for `npm start`.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { loadMnist, type MnistData, MNIST_PIXELS } from '../lib/data/mnist';
import { accuracy, imagesTensor, train } from './train/fit';
import { buildNetwork, HYPER, inputShape, NETWORKS, type NetworkName } from './train/networks';
import { saveLayersModel } from './train/save';
import { tf, useWasm } from './train/tf';
import { registerWasmConvGrad } from './train/wasm_conv_grad';
import { registerWasmMatMul } from './train/wasm_matmul';
import { positiveInt } from './flag_values';

const ROOT = path.join(__dirname, '..', '..');
const MODELS = path.join(ROOT, 'bench', 'models');

interface Args {
  only: NetworkName[];
  epochs?: number;
  limit?: number;
  seed: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { only: [...NETWORKS], seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, v] = [argv[i], argv[i + 1]];
    if (flag === '--only') {
      const names = (v ?? '').split(',').filter(Boolean);
      const bad = names.find((n) => !(NETWORKS as readonly string[]).includes(n));
      if (bad !== undefined || names.length === 0) throw new Error(`--only takes a comma-separated list of ${NETWORKS.join(', ')}; got '${v}'`);
      args.only = names as NetworkName[];
    } else if (flag === '--epochs') args.epochs = positiveInt(flag, v);
    else if (flag === '--limit') args.limit = positiveInt(flag, v);
    else if (flag === '--seed') args.seed = positiveInt(flag, v);
    else throw new Error(`unknown argument '${flag}' (try --only A,B --epochs N --limit N --seed N)`);
    i++;
  }
  return args;
}

/** The first ten test digits, pixels rounded to 4 decimals, as `npm start` and `tfe predict` read them. */
function writeSampleDigits(test: MnistData): void {
  const k = 10;
  const images = Array.from({ length: k }, (_, i) => Array.from(test.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS), (v) => Math.round(v * 1e4) / 1e4));
  fs.mkdirSync(MODELS, { recursive: true });
  fs.writeFileSync(path.join(MODELS, 'sample-digits.json'), `${JSON.stringify({ images, labels: Array.from(test.labels.subarray(0, k)) })}\n`);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  await useWasm();
  registerWasmConvGrad();
  registerWasmMatMul();
  const trainSet = loadMnist('train', { limit: args.limit });
  const testSet = loadMnist('test');
  writeSampleDigits(testSet);
  console.log(`MNIST: ${trainSet.n} training, ${testSet.n} test images; backend ${tf.getBackend()}; seed ${args.seed}`);
  const summary: string[] = [];
  for (const name of args.only) {
    const h = { ...HYPER[name], ...(args.epochs ? { epochs: args.epochs } : {}) };
    const shape = inputShape(name);
    const model = buildNetwork(name, args.seed);
    console.log(`\n${name}: ${model.countParams()} parameters, ${h.epochs} epochs, batch ${h.batchSize}, Adam lr ${h.lr} x${h.decay}/epoch${h.shift ? `, random shifts <= ${h.shift} px` : ''}`);
    const xTest = imagesTensor(testSet, shape);
    const fit = await train(model, trainSet, shape, h, args.seed, (l) => console.log(`  ${l}`), () => accuracy(model, xTest, testSet.labels));
    const acc = accuracy(model, xTest, testSet.labels);
    xTest.dispose();
    const dir = path.join(MODELS, name);
    await saveLayersModel(model, dir);
    const meta = {
      network: name,
      testAccuracy: Number(acc.toFixed(4)),
      epochs: fit.epochs,
      batchSize: h.batchSize,
      optimizer: { name: 'adam', learningRate: h.lr, decayPerEpoch: h.decay },
      augmentation: h.shift ? `random shifts of up to ${h.shift} pixels per axis` : 'none',
      seed: args.seed,
      trainingExamples: trainSet.n,
      trainingSeconds: Number(fit.seconds.toFixed(1)),
      finalLoss: Number(fit.losses[fit.losses.length - 1].toFixed(4)),
      output: 'logits (softmax is applied by the client)',
      backend: tf.getBackend(),
      tfjsVersion: (require('@tensorflow/tfjs/package.json') as { version: string }).version,
    };
    fs.writeFileSync(path.join(dir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    const line = `${name}: test accuracy ${(100 * acc).toFixed(2)}% after ${fit.epochs} epochs, ${fit.seconds.toFixed(0)} s training -> ${path.relative(process.cwd(), dir)}/`;
    summary.push(line);
    console.log(line);
  }
  console.log(`\n${summary.join('\n')}`);
}

main().catch((e: Error) => {
  console.error(`train: ${e.message}`);
  process.exit(1);
});
