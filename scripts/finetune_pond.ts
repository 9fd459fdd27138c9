// `npm run finetune:pond [-- --only A,B] [--epochs N] [--lr X] [--decay X] [--batch N] [--seed N]
// [--degree 2|3] [--fixed-coeffs] [--images N] [--shift N]`: Pond variants trained with their polynomial
// activations in the loop. Pond has no comparisons, so each ReLU of a trained model becomes a
// polynomial p(x) = c0 + c1 x + c2 x^2 (a TfePolynomial layer); bench/calibrate.ts only fits p to
// ReLU, which costs about a point of accuracy. Here the network, starting from the trained
// weights and those fits (layer by layer on --images training images), is fine-tuned in plaintext
// with TensorFlow.js (wasm) for a few epochs of Adam at a small learning rate, the coefficients
// trained too unless --fixed-coeffs, so it adapts to the polynomials. Writes bench/models/<net>_pond/
// (model.json with TfePolynomial layers, weights.bin, meta.json with the accuracies measured in
// float64 by bench/lib/plain_forward.ts, as the private evaluation approximates). Deterministic for
// a seed: shuffles come from a seeded PRNG and the wasm backend runs single-threaded.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { loadMnist } from '../lib/data/mnist';
import { plainModel } from '../bench/lib/plain_forward';
import { initialFits, plainAccuracy, withPolynomials } from '../bench/lib/pond_variant';
import { readSource, writeVariant } from './finetune/pond_model';
import { TfePolynomial, tfx } from './finetune/poly_layer';
import { accuracy, imagesTensor, train } from './train/fit';
import { HYPER, NETWORKS, type NetworkName } from './train/networks';
import { tf, useWasm } from './train/tf';
import { registerWasmConvGrad } from './train/wasm_conv_grad';
import { registerWasmMatMul } from './train/wasm_matmul';
import { positiveInt, positiveNumber } from './flag_values';

const ROOT = path.join(__dirname, '..', '..');
const MODELS = path.join(ROOT, 'bench', 'models');

interface Args {
  only: NetworkName[];
  epochs: number;
  lr: number;
  decay: number;
  batch: number;
  seed: number;
  degree: number;
  trainCoeffs: boolean;
  images: number;
  /** Largest random shift of a training image (default: the network's training setting). */
  shift?: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { only: [...NETWORKS], epochs: 10, lr: 5e-4, decay: 0.8, batch: 128, seed: 1, degree: 2, trainCoeffs: true, images: 2000 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, v] = [argv[i], argv[i + 1]];
    if (flag === '--fixed-coeffs') {
      a.trainCoeffs = false;
      continue;
    }
    if (flag === '--only') {
      const names = (v ?? '').split(',').filter(Boolean);
      const bad = names.find((n) => !(NETWORKS as readonly string[]).includes(n));
      if (bad !== undefined || names.length === 0) throw new Error(`--only takes a comma-separated list of ${NETWORKS.join(', ')}; got '${v}'`);
      a.only = names as NetworkName[];
    } else if (flag === '--epochs') a.epochs = positiveInt(flag, v);
    else if (flag === '--lr') a.lr = positiveNumber(flag, v);
    else if (flag === '--decay') a.decay = positiveNumber(flag, v);
    else if (flag === '--batch') a.batch = positiveInt(flag, v);
    else if (flag === '--seed') a.seed = positiveInt(flag, v);
    else if (flag === '--images') a.images = positiveInt(flag, v);
    else if (flag === '--shift') {
      a.shift = Number(v);
      if (!Number.isInteger(a.shift) || a.shift < 0) throw new Error(`--shift needs an integer >= 0, got '${v}'`);
    }
    else if (flag === '--degree') {
      a.degree = positiveInt(flag, v);
      if (a.degree > 3) throw new Error('--degree is 1, 2 or 3 (a TfePolynomial layer has at most 4 coefficients)');
    } else throw new Error(`unknown argument '${flag}' (try --only A --epochs N --lr X --decay X --batch N --seed N --degree 2 --fixed-coeffs --images N --shift N)`);
    i++;
  }
  return a;
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

async function finetune(name: NetworkName, args: Args, argv: string[]): Promise<string> {
  const src = path.join(MODELS, name, 'model.json');
  const source = readSource(src);
  const plain = plainModel(src);
  const trainSet = loadMnist('train');
  const testSet = loadMnist('test');
  const fits0 = initialFits(src, loadMnist('train', { limit: args.images }), args.degree);
  console.log(`\n${name}: ${plain.relus} ReLUs -> degree-${args.degree} polynomials fitted on ${args.images} training images:`);
  for (const f of fits0) console.log(`  [${f.map((c) => c.toPrecision(5)).join(', ')}]`);

  // The variant in tfjs, from the topology with TfePolynomial layers, then the trained weights.
  TfePolynomial.trainCoeffs = args.trainCoeffs;
  const topo = source.json.modelTopology;
  const model = await tfx.models.modelFromJSON({ modelTopology: { ...topo, config: { ...topo.config, layers: withPolynomials(topo.config.layers, fits0) } } });
  for (const layer of model.layers) {
    if (layer instanceof TfePolynomial || layer.weights.length === 0) continue;
    const ws = layer.weights.map((w) => {
      const v = source.weights.get(w.originalName);
      if (!v) throw new Error(`${name}: no weight '${w.originalName}' in ${src}`);
      return tf.tensor(v.data, v.shape, 'float32');
    });
    layer.setWeights(ws);
    for (const t of ws) t.dispose();
  }
  const shape = plain.inputShape;
  const xTest = imagesTensor(testSet, shape);
  const evaluate = () => accuracy(model, xTest, testSet.labels);
  const accStart = evaluate();
  const h = { epochs: args.epochs, batchSize: args.batch, lr: args.lr, decay: args.decay, shift: args.shift ?? HYPER[name].shift ?? 0 };
  console.log(
    `${name}: float32 test accuracy with the fitted polynomials ${pct(accStart)}; fine-tuning ${h.epochs} epochs, batch ${h.batchSize}, Adam lr ${h.lr} x${h.decay}/epoch${h.shift ? `, random shifts <= ${h.shift} px` : ''}, coefficients ${args.trainCoeffs ? 'trained' : 'fixed'}, seed ${args.seed}`,
  );
  const fit = await train(model, trainSet, shape, h, args.seed, (l) => console.log(`  ${l}`), evaluate);

  // Largest |input| of each polynomial over the test set (fixed point wants these well below ~1000).
  TfePolynomial.probe = new Map();
  evaluate();
  const maxAbs = Object.fromEntries([...TfePolynomial.probe].map(([k, v]) => [k, Number(v.toFixed(2))]));
  TfePolynomial.probe = null;
  xTest.dispose();

  const polys = model.layers.filter((l): l is TfePolynomial => l instanceof TfePolynomial);
  const fits = polys.map((p) => p.currentCoeffs());
  const byName = new Map(model.layers.flatMap((l) => l.weights.map((w) => [w.originalName, w] as const)));
  const dir = path.join(MODELS, `${name}_pond`);
  const file = writeVariant(dir, source.json, fits, (n) => {
    const w = byName.get(n);
    if (!w) throw new Error(`${name}: the fine-tuned model has no weight '${n}'`);
    return Float32Array.from(w.read().dataSync());
  });
  const accOriginal = plainAccuracy(plain.forward, testSet);
  const accVariant = plainAccuracy(plainModel(file).forward, testSet);
  const meta = {
    source: name,
    method: 'ReLU -> TfePolynomial (least-squares fit of ReLU to each layer\'s pre-activations), then fine-tuned in plaintext with the polynomials in the loop (TensorFlow.js wasm, softmax cross-entropy)',
    degree: args.degree,
    calibrationImages: args.images,
    initialCoefficients: fits0,
    coefficients: fits,
    coefficientsTrained: args.trainCoeffs,
    epochs: h.epochs,
    batchSize: h.batchSize,
    optimizer: { name: 'adam', learningRate: h.lr, decayPerEpoch: h.decay },
    augmentation: h.shift ? `random shifts of up to ${h.shift} pixels per axis` : 'none',
    seed: args.seed,
    trainingExamples: trainSet.n,
    trainingSeconds: Number(fit.seconds.toFixed(1)),
    epochLosses: fit.losses.map((l) => Number(l.toFixed(4))),
    testAccuracyOriginal: accOriginal,
    testAccuracyPolynomialBeforeFinetune: plainAccuracy(plain.forward, testSet, (i, v) => v.map((t) => fits0[i].reduceRight((acc, k) => acc * t + k, 0))),
    testAccuracyPolynomial: accVariant,
    accuracyNote: 'float64 plaintext forward pass (bench/lib/plain_forward.ts) on the 10000 MNIST test images',
    maxAbsPolynomialInputTest: maxAbs,
    backend: tf.getBackend(),
    tfjsVersion: (require('@tensorflow/tfjs/package.json') as { version: string }).version,
    command: `npm run finetune:pond --${argv.length ? ` ${argv.join(' ')}` : ''}`.replace(/ --$/, ''),
  };
  fs.writeFileSync(path.join(dir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return `${name}: plaintext float64 test accuracy ${pct(accOriginal)} original, ${pct(meta.testAccuracyPolynomialBeforeFinetune)} with fitted polynomials, ${pct(accVariant)} fine-tuned (${fit.seconds.toFixed(0)} s); max |poly input| ${JSON.stringify(maxAbs)} -> ${path.relative(process.cwd(), dir)}/`;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv);
  await useWasm();
  registerWasmConvGrad();
  registerWasmMatMul();
  const nets = args.only.filter((n) => fs.existsSync(path.join(MODELS, n, 'model.json')));
  const missing = args.only.filter((n) => !nets.includes(n));
  if (missing.length) console.log(`no trained model for ${missing.join(', ')} (npm run train first); skipped`);
  const summary: string[] = [];
  for (const n of nets) {
    const line = await finetune(n, args, argv);
    summary.push(line);
    console.log(line);
  }
  console.log(`\n${summary.join('\n')}`);
}

main().catch((e: Error) => {
  console.error(`finetune:pond: ${e.stack ?? e.message}`);
  process.exit(1);
});
