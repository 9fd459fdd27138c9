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
import { type Layer, plainModel } from './lib/plain_forward';
import { initialFits, plainAccuracy, polynomialHook, withPolynomials } from './lib/pond_variant';
import { checkOptions } from './lib/args';

const MODELS = path.join(__dirname, '..', '..', 'bench', 'models');

function calibrate(net: string, images: number, degree: number): void {
  const src = path.join(MODELS, net, 'model.json');
  const train = loadMnist('train', { limit: images });
  const fits = initialFits(src, train, degree);
  const test = loadMnist('test');
  const { forward } = plainModel(src);
  const accPlain = plainAccuracy(forward, test);
  const accPoly = plainAccuracy(forward, test, polynomialHook(fits));
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
  checkOptions(argv, { values: ['--only', '--images', '--degree'], usage: 'npm run calibrate [-- --only A,B,C] [--images N] [--degree D]' });
  const opt = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
  const nets = (opt('--only') ?? 'A,B,C').split(',').filter((n) => fs.existsSync(path.join(MODELS, n, 'model.json')));
  for (const n of nets) calibrate(n, Number(opt('--images') ?? 2000), Number(opt('--degree') ?? 2));
}
