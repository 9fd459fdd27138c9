// A BatchNormalization right after a linear layer has its scale folded by the owner into that
// layer's kernel and bias (layers_spec.ts, foldBatchNorms): it then costs no private product.
// Checked: which layers fold and which must not; private answers against tfjs under every
// protocol on fresh random inputs and random BatchNormalization statistics; and the rounds and
// bytes saved, against the same model with the fold prevented.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { saveTfjsModel } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const L = () => tf.layers;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const save = (model: any) => saveTfjsModel(tf, model, 'tfe-bnfold-');

/** A BatchNormalization with statistics that matter (fresh layers have gamma 1, beta 0, mean 0, variance 1). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function bn(opts: object = {}): any {
  const layer = L().batchNormalization({ epsilon: 0.01, ...opts });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (layer as any).randomise = () => layer.setWeights(layer.getWeights().map((w: any, i: number, all: any[]) => tf.randomUniform(w.shape, i === all.length - 1 ? 0.3 : -1.5, i === all.length - 1 ? 3 : 1.5)));
  return layer;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function built(model: any, bns: any[]): any {
  for (const b of bns) b.randomise();
  return model;
}

/** Every foldable class, with and without bias, and BatchNormalization with scale or center off. */
function foldable() {
  const bns = [bn(), bn({ scale: false }), bn({ center: false }), bn(), bn(), bn()];
  const x = tf.input({ shape: [8, 8, 2] });
  let h = bns[0].apply(L().conv2d({ filters: 4, kernelSize: 3, useBias: false }).apply(x)); // 6x6x4
  h = L().reLU().apply(h);
  h = bns[1].apply(L().depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'same' }).apply(h)); // 6x6x8
  h = bns[2].apply(L().separableConv2d({ filters: 3, kernelSize: 3 }).apply(h)); // 4x4x3
  h = L().reshape({ targetShape: [16, 3] }).apply(h);
  h = bns[3].apply(L().conv1d({ filters: 5, kernelSize: 2 }).apply(h)); // 15x5
  h = bns[4].apply(L().dense({ units: 4 }).apply(L().flatten().apply(h)));
  const y = bns[5].apply(L().dense({ units: 3, useBias: false }).apply(L().reLU().apply(h)));
  return built(tf.model({ inputs: x, outputs: y }), bns);
}

test('every BatchNormalization right after a linear layer that only it reads folds; the others do not', async (t) => {
  const { spec } = readLayersModel(await save(foldable()));
  t.deepEqual(
    spec.foldedBatchNorms.map((f) => f.into.split(':')[0]),
    ['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Conv1D', 'Dense', 'Dense'],
  );
  // Not folded: after an activation, after a layer another layer also reads, after Add, on axis 1.
  const bns = [bn(), bn(), bn(), bn({ axis: 1 })];
  const x = tf.input({ shape: [6, 6, 2] });
  const a = bns[0].apply(L().conv2d({ filters: 2, kernelSize: 1, activation: 'relu' }).apply(x));
  const c = L().conv2d({ filters: 2, kernelSize: 1 }).apply(x);
  const b = L().add().apply([bns[1].apply(c), c]);
  const d = bns[2].apply(L().add().apply([a, b]));
  const e = bns[3].apply(L().conv2d({ filters: 6, kernelSize: 1 }).apply(d));
  const none = readLayersModel(await save(built(tf.model({ inputs: x, outputs: L().flatten().apply(e) }), bns))).spec;
  t.deepEqual(none.foldedBatchNorms, []);
});

for (const protocol of ['securenn', 'fss', 'pond'] as const)
  test(`${protocol}: folded BatchNormalizations give tfjs's answers`, async (t) => {
    // Pond has no exact relu: the model's relus are calibrated away there, so it gets a relu-free twin.
    const pondBns = [bn(), bn()];
    const model = protocol === 'pond' ? built(tf.sequential({ layers: [L().conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3 }), pondBns[0], L().flatten(), L().dense({ units: 3 }), pondBns[1]] }), pondBns) : foldable();
    const file = await save(model);
    const c = new tfe.Cluster({ protocol });
    try {
      const m = tfe.loadLayersModel(file, { cluster: c });
      const batch = 5, shape = [batch, 8, 8, 2];
      const x = Float32Array.from({ length: batch * 128 }, () => Math.random() * 2 - 1);
      const out = await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape }), c)));
      const want: Float32Array = model.predict(tf.tensor(x, shape)).dataSync();
      const err = Math.max(...Array.from(want, (v, i) => Math.abs(v - out.data[i])));
      t.true(err < 2e-2, `max |private - tfjs| = ${err}`);
    } finally {
      await c.close();
    }
  });

test('a folded BatchNormalization costs no product: fewer rounds and bytes than the same model unfolded', async (t) => {
  // The same function twice: conv -> BN folds; conv -> linear Activation -> BN cannot.
  const conv = L().conv2d({ inputShape: [10, 10, 3], filters: 8, kernelSize: 3, useBias: false });
  const b1 = bn();
  const folded = built(tf.sequential({ layers: [conv, b1, L().flatten(), L().dense({ units: 2 })] }), [b1]);
  const unfolded = tf.sequential({ layers: [L().inputLayer({ inputShape: [10, 10, 3] }), ...folded.layers.slice(0, 1), L().activation({ activation: 'linear' }), ...folded.layers.slice(1)] });
  const files = [await save(folded), await save(unfolded)];
  t.is(readLayersModel(files[0]).spec.foldedBatchNorms.length, 1);
  t.is(readLayersModel(files[1]).spec.foldedBatchNorms.length, 0);
  const x = Float32Array.from({ length: 300 }, () => Math.random() * 2 - 1);
  const want: Float32Array = folded.predict(tf.tensor(x, [1, 10, 10, 3])).dataSync();
  const cost: { rounds: number; bytes: number }[] = [];
  for (const file of files) {
    const c = new tfe.Cluster({ protocol: 'securenn' });
    try {
      const m = tfe.loadLayersModel(file, { cluster: c });
      const input = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [1, 10, 10, 3] }), c);
      await c.ready();
      c.transport.resetTraffic();
      const out = await tfe.defineOutput('prediction-client', m.predict(input));
      cost.push(c.transport.traffic().total);
      t.true(Math.max(...Array.from(want, (v, i) => Math.abs(v - out.data[i]))) < 2e-2);
    } finally {
      await c.close();
    }
  }
  t.log(`folded: ${cost[0].rounds} rounds, ${cost[0].bytes} bytes; unfolded: ${cost[1].rounds} rounds, ${cost[1].bytes} bytes`);
  t.true(cost[0].rounds < cost[1].rounds);
  t.true(cost[0].bytes < cost[1].bytes);
});
