// Pond variants of the trained models: each ReLU becomes the polynomial fitted, by least squares,
// to the values that ReLU actually sees on training images (so the fit is tight where the data
// is, instead of uniform over a guessed interval). Layers are fitted in order, each on inputs
// computed through the polynomials already chosen upstream, so the errors' compounding is seen.
// Writes bench/models/<net>_pond/ (same weights, TfePolynomial layers) with a meta.json giving
// the plaintext test accuracy of the original and of the variant.
//   npm run calibrate [-- --only A] [-- --images 2000]
import * as fs from 'node:fs';
import * as path from 'node:path';

import { loadMnist } from '../lib/data/mnist';
import { POLYNOMIAL_LAYER } from '../lib/api/layers_spec';
import { type Layer, plainModel, type ReluHook } from './lib/plain_forward';
import { fitRelu } from './lib/relu_fit';

const MODELS = path.join(__dirname, '..', '..', 'bench', 'models');

const evalPoly = (c: number[], v: number) => c.reduceRight((acc, k) => acc * v + k, 0);

function accuracy(forward: (x: Float64Array, n: number, hook?: ReluHook) => Float64Array, images: Float32Array, labels: Uint8Array, hook?: ReluHook): number {
  let correct = 0;
  const n = labels.length;
  for (let s = 0; s < n; s += 500) {
    const m = Math.min(500, n - s);
    const out = forward(Float64Array.from(images.subarray(s * 784, (s + m) * 784)), m, hook);
    for (let r = 0; r < m; r++) {
      const row = out.subarray(r * 10, r * 10 + 10);
      let best = 0;
      for (let j = 1; j < 10; j++) if (row[j] > row[best]) best = j;
      if (best === labels[s + r]) correct++;
    }
  }
  return correct / n;
}

/** The variant's layers: every relu (layer or activation) replaced by a TfePolynomial layer. */
function withPolynomials(layers: Layer[], fits: number[][]): Layer[] {
  const out: Layer[] = [];
  let i = 0;
  for (const l of layers) {
    if (l.class_name === 'ReLU') {
      out.push({ class_name: POLYNOMIAL_LAYER, config: { name: `${l.config.name}_poly`, coeffs: fits[i++] } });
    } else if (l.config.activation === 'relu') {
      out.push({ ...l, config: { ...l.config, activation: 'linear' } });
      out.push({ class_name: POLYNOMIAL_LAYER, config: { name: `${l.config.name}_poly`, coeffs: fits[i++] } });
    } else out.push(l);
  }
  return out;
}

function calibrate(net: string, images: number, degree: number): void {
  const src = path.join(MODELS, net, 'model.json');
  const plain = plainModel(src);
  const train = loadMnist('train', { limit: images });
  const x = Float64Array.from(train.images);
  const fits: number[][] = [];
  for (let j = 0; j < plain.relus; j++) {
    let seen: Float64Array | undefined;
    plain.forward(x, train.n, (i, v) => {
      if (i === j) seen = v;
      return i < j ? v.map((t) => evalPoly(fits[i], t)) : v.map((t) => (t > 0 ? t : 0));
    });
    fits.push(fitRelu(seen!, degree));
  }
  const test = loadMnist('test');
  const hook: ReluHook = (i, v) => v.map((t) => evalPoly(fits[i], t));
  const accPlain = accuracy(plain.forward, test.images, test.labels);
  const accPoly = accuracy(plain.forward, test.images, test.labels, hook);
  const dstDir = path.join(MODELS, `${net}_pond`);
  fs.mkdirSync(dstDir, { recursive: true });
  const json = JSON.parse(fs.readFileSync(src, 'utf8')) as { modelTopology: { config: { layers: Layer[] } }; weightsManifest: { paths: string[] }[] };
  json.modelTopology.config.layers = withPolynomials(json.modelTopology.config.layers, fits);
  for (const g of json.weightsManifest) for (const p of g.paths) fs.copyFileSync(path.join(MODELS, net, p), path.join(dstDir, p));
  fs.writeFileSync(path.join(dstDir, 'model.json'), JSON.stringify(json));
  const meta = { source: net, degree, calibrationImages: train.n, coefficients: fits, testAccuracyOriginal: accPlain, testAccuracyPolynomial: accPoly, command: 'npm run calibrate' };
  fs.writeFileSync(path.join(dstDir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  console.log(`${net}: degree ${degree}, plaintext test accuracy ${(100 * accPlain).toFixed(2)}% -> with polynomials ${(100 * accPoly).toFixed(2)}%  (${dstDir})`);
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const opt = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const nets = (opt('--only') ?? 'A,B,C').split(',').filter((n) => fs.existsSync(path.join(MODELS, n, 'model.json')));
  for (const n of nets) calibrate(n, Number(opt('--images') ?? 2000), Number(opt('--degree') ?? 2));
}
