// An exact non-decreasing activation (relu, relu6) that feeds only a max pool runs after the pool
// (layers_spec.ts, poolFirst): the same answer bit for bit, with the activation on the pooled
// tensor. Checked under both exact protocols on fresh random inputs: against the model run in its
// own layer order (the path verify traces) for equality, against tfjs for meaning, and on the
// bytes the activation's comparisons cost; and the cases that must not move are listed.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { estimateQueryBytes } from '../lib/serve/limits';
import { saveTfjsModel } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const L = () => tf.layers;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const save = (model: any) => saveTfjsModel(tf, model, 'tfe-poolfirst-');

/** Keras's usual blocks: a fused relu, a ReLU layer with maxValue (relu6), and an Activation, each before a max pool. */
const cnn = () =>
  tf.sequential({
    layers: [
      L().conv2d({ inputShape: [10, 10, 1], filters: 3, kernelSize: 3, activation: 'relu' }),
      L().maxPooling2d({ poolSize: 2 }),
      L().conv2d({ filters: 4, kernelSize: 2, padding: 'same' }),
      L().reLU({ maxValue: 6 }),
      L().maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }),
      L().conv2d({ filters: 3, kernelSize: 1 }),
      L().leakyReLU({ alpha: 0.2 }),
      L().globalMaxPooling2d({}),
      L().dense({ units: 4 }),
    ],
  });

test('the activations that feed only a max pool are the ones moved after it', async (t) => {
  const { spec } = readLayersModel(await save(cnn()));
  t.deepEqual(
    spec.poolFirst.map((m) => `${m.activation.split(':')[0]} -> ${m.pool.split(':')[0]}`),
    ['Conv2D -> MaxPooling2D', 'ReLU -> MaxPooling2D', 'LeakyReLU -> GlobalMaxPooling2D'],
  );

  // Not moved: a negative leaky slope (decreasing below zero), a sigmoid (an approximation), an
  // average pool, a relu whose output is also read elsewhere, and a relu feeding the model's output.
  const x = tf.input({ shape: [6, 6, 1] });
  const a = L().conv2d({ filters: 2, kernelSize: 1, activation: 'relu' }).apply(x);
  const branchA = L().maxPooling2d({ poolSize: 2 }).apply(a);
  const branchB = L().averagePooling2d({ poolSize: 2 }).apply(a); // a second reader of the relu
  const leaky = L().maxPooling2d({ poolSize: 2 }).apply(L().leakyReLU({ alpha: -0.1 }).apply(L().conv2d({ filters: 2, kernelSize: 1 }).apply(x)));
  const sig = L().maxPooling2d({ poolSize: 2 }).apply(L().conv2d({ filters: 2, kernelSize: 1, activation: 'sigmoid' }).apply(x));
  const avg = L().averagePooling2d({ poolSize: 2 }).apply(L().conv2d({ filters: 2, kernelSize: 1, activation: 'relu' }).apply(x));
  const cat = L().concatenate().apply([branchA, branchB, leaky, sig, avg]);
  const out = L().dense({ units: 2, activation: 'relu' }).apply(L().flatten().apply(cat));
  const none = readLayersModel(await save(tf.model({ inputs: x, outputs: out }))).spec;
  t.deepEqual(none.poolFirst, []);

  // In a Functional model a sole reader moves as in a Sequential one.
  const y = tf.input({ shape: [6, 6, 1] });
  const p = L().maxPooling2d({ poolSize: 2 }).apply(L().conv2d({ filters: 2, kernelSize: 3, padding: 'same', activation: 'relu6' }).apply(y));
  const fn = readLayersModel(await save(tf.model({ inputs: y, outputs: L().dense({ units: 2 }).apply(L().flatten().apply(p)) }))).spec;
  t.deepEqual(fn.poolFirst.map((m) => m.pool.split(':')[0]), ['MaxPooling2D']);
});

/** Runs `step` on `x` privately; returns the decoded output and the bytes the parties sent. */
async function runPrivately(c: tfe.Cluster, step: (x: tfe.AnyTensor) => tfe.AnyTensor, x: Float32Array, shape: number[]) {
  const input = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape }), c);
  await c.ready();
  c.transport.resetTraffic();
  const out = await tfe.defineOutput('prediction-client', step(input));
  return { out: Array.from(out.data), bytes: c.transport.traffic().total.bytes };
}

/** The layer-order and pool-first steps of a saved model, its parameters shared by the owner. */
function bothOrders(file: string, c: tfe.Cluster) {
  const { spec, params } = readLayersModel(file);
  const shared = params.length ? tfe.definePrivateInput('model-owner', () => params.map((p) => ({ data: p.data, shape: p.shape })), c) : [];
  const [poolFirst] = spec.build(shared);
  const [layerOrder] = spec.build(shared, () => undefined); // observed: every layer in the model's order
  return { spec, poolFirst, layerOrder };
}

for (const protocol of ['securenn', 'fss'] as const) {
  test(`${protocol}: pool first equals plaintext's layer-order answer bit for bit (no products, so nothing rounds)`, async (t) => {
    // relu6 then a 3x3/2 SAME pool, then relu then a global pool: every cut and every maximum
    // matters on inputs of both signs, with values on the fixed-point grid (exactly encoded).
    const model = tf.sequential({
      layers: [L().reLU({ inputShape: [9, 9, 2], maxValue: 6 }), L().maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }), L().activation({ activation: 'relu' }), L().globalMaxPooling2d({})],
    });
    const c = new tfe.Cluster({ protocol });
    try {
      const { spec, poolFirst, layerOrder } = bothOrders(await save(model), c);
      t.is(spec.poolFirst.length, 2);
      const batch = 5, shape = [batch, 9, 9, 2];
      const x = Float32Array.from({ length: batch * 162 }, () => Math.round((Math.random() * 2 - 1) * 8 * 256) / 256);
      x[0] = 6; x[1] = -6; x[2] = 0; x[3] = 6 + 1 / 256; x[4] = -1 / 256; // edges of both cuts
      for (let i = 162; i < 324; i++) x[i] = -Math.abs(x[i]) - 1 / 256; // an image below zero everywhere
      const want: number[] = model.predict(tf.tensor(x, shape)).dataSync();
      const a = await runPrivately(c, poolFirst, x, shape), b = await runPrivately(c, layerOrder, x, shape);
      t.deepEqual(a.out, Array.from(want, Number), 'pool first against plaintext');
      t.deepEqual(b.out, a.out, 'layer order against pool first');
      t.true(a.bytes < b.bytes, `bytes: pool first ${a.bytes}, layer order ${b.bytes}`);
    } finally {
      await c.close();
    }
  });

  test(`${protocol}: a CNN with Keras's usual blocks, pool first, matches tfjs with fewer comparisons`, async (t) => {
    const model = cnn();
    const c = new tfe.Cluster({ protocol });
    try {
      const { poolFirst, layerOrder } = bothOrders(await save(model), c);
      const batch = 6, shape = [batch, 10, 10, 1];
      const x = Float32Array.from({ length: batch * 100 }, () => (Math.random() * 2 - 1) * 3);
      const a = await runPrivately(c, poolFirst, x, shape), b = await runPrivately(c, layerOrder, x, shape);
      const want: number[][] = model.predict(tf.tensor(x, shape)).arraySync();
      const err = Math.max(...want.flatMap((row, r) => row.map((v, j) => Math.abs(v - a.out[r * 4 + j]))));
      t.true(err < 1e-2, `max |private - tfjs| = ${err}`);
      // Each block's activation runs on its pool's output: 8x8x3 relus become 4x4x3, 5x5x4 clips 3x3x4, 3x3x3 leaky relus 1x1x3.
      t.log(`bytes: pool first ${a.bytes}, layer order ${b.bytes}`);
      t.true(a.bytes < b.bytes * 0.75, `bytes: pool first ${a.bytes}, layer order ${b.bytes}`);
    } finally {
      await c.close();
    }
  });
}

test("the service's memory estimate counts a moved activation on the pooled shape, and only where the rewrite applies", (t) => {
  const conv = (name: string, activation = 'linear') => ({ class_name: 'Conv2D', config: { name, filters: 8, kernel_size: [3, 3], activation } });
  const pool = (name: string) => ({ class_name: 'MaxPooling2D', config: { name, pool_size: [2, 2] } });
  const relu = (name: string) => ({ class_name: 'ReLU', config: { name } });
  const seq = (layers: object[]) => ({ class_name: 'Sequential', config: { layers } }) as never;
  const est = (topology: never, protocol: 'securenn' | 'fss' = 'fss') => estimateQueryBytes({ topology, protocol, inputShape: [12, 12, 1] }, 4);
  const poolThenRelu = est(seq([conv('c'), pool('p'), relu('r')]));
  t.is(est(seq([conv('c', 'relu'), pool('p')])), poolThenRelu, 'fused relu before the pool');
  t.is(est(seq([conv('c'), relu('r'), pool('p')])), poolThenRelu, 'ReLU layer before the pool');
  t.is(est(seq([conv('c'), pool('p'), relu('r')]), 'securenn'), est(seq([conv('c', 'relu'), pool('p')]), 'securenn'));
  t.is(est(seq([conv('c'), { class_name: 'LeakyReLU', config: { name: 'r', alpha: 0.1 } }, pool('p')])), poolThenRelu, 'a leaky slope >= 0 moves too');
  // Not moved, so counted on the unpooled shape: a negative slope, or a Functional graph (the
  // estimate does not count a layer's readers, so it assumes the relu has others).
  t.true(est(seq([conv('c'), { class_name: 'LeakyReLU', config: { name: 'r', alpha: -0.1 } }, pool('p')])) > poolThenRelu);
  const functional = { class_name: 'Model', config: { layers: [conv('c', 'relu'), pool('p')] } } as never;
  t.true(est(functional) > poolThenRelu);
  // relu6 is two relus.
  t.true(est(seq([conv('c', 'relu6'), { class_name: 'Flatten', config: { name: 'f' } }])) > est(seq([conv('c', 'relu'), { class_name: 'Flatten', config: { name: 'f' } }])));
});
