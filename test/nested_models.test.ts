// Models inside models (transfer learning: a base model as one layer of a Sequential or
// Functional model) load and predict as TensorFlow.js predicts them: a Sequential in a
// Sequential, a base first in a Sequential, a Functional base in a Functional model (called at
// node 1, as tfjs and Keras save it), a Functional in a Sequential, a Sequential block on a
// residual path, two levels deep, bases whose layer names the outer model shares; Keras 2's and Keras 3's serialisations with the nested models'
// names before their weights' names; through the service, under FSS and under Pond's calibrated
// relu. What cannot be flattened is refused by name: a nested model called twice, with two inputs,
// with training=True, or whose layers share a name with the outer model's.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { clusterForFile } from './helpers/service';
import { expectRowsMatch } from './helpers/tfjs_compare';
import { saveTfjsModel, tfjsArtifacts } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const L = tf.layers;
const cluster = clusterForFile(test);

const artifactsOf = (m: unknown) => tfjsArtifacts(tf, m);

const rand = (n: number) => Float64Array.from({ length: n }, () => Math.random() * 2 - 1);

/** The nested shapes transfer learning makes, each a fresh tfjs model. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function nestedModels(): Record<string, any> {
  const base = tf.sequential({ layers: [L.dense({ inputShape: [4], units: 6, activation: 'relu' }), L.dense({ units: 3, activation: 'relu' })] });
  const seqInSeq = tf.sequential({ layers: [L.dense({ inputShape: [5], units: 4 }), base, L.dense({ units: 2 })] });
  const first = tf.sequential({ layers: [L.dense({ inputShape: [5], units: 6, activation: 'relu' })] });
  const baseFirst = tf.sequential({ layers: [first, L.dense({ units: 2 })] });
  const fin = tf.input({ shape: [6] });
  const fbase = tf.model({ inputs: fin, outputs: L.dense({ units: 4, activation: 'relu' }).apply(L.dense({ units: 5 }).apply(fin)), name: 'fbase' });
  const fx = tf.input({ shape: [6] });
  const funcInFunc = tf.model({ inputs: fx, outputs: L.dense({ units: 2 }).apply(fbase.apply(fx)) });
  const sin = tf.input({ shape: [6] });
  const sbase = tf.model({ inputs: sin, outputs: L.dense({ units: 4, activation: 'relu' }).apply(sin), name: 'sbase' });
  const funcInSeq = tf.sequential({ layers: [sbase, L.dense({ units: 3 })] });
  const rx = tf.input({ shape: [5] });
  const block = tf.sequential({ layers: [L.dense({ inputShape: [5], units: 5, activation: 'relu' }), L.dense({ units: 5 })], name: 'block' });
  const residual = tf.model({ inputs: rx, outputs: L.dense({ units: 2 }).apply(L.add().apply([rx, block.apply(rx)])) });
  const inner = tf.sequential({ layers: [L.dense({ inputShape: [3], units: 3, activation: 'relu' })], name: 'inner' });
  const middle = tf.sequential({ layers: [L.dense({ inputShape: [4], units: 3 }), inner], name: 'middle' });
  const twoDeep = tf.sequential({ layers: [middle, L.dense({ units: 2 })] });
  // Names a base shares with the outer model, as a base loaded in another session does: an outer
  // layer named as the base's input layer (a first version rewired the outer layer's readers to
  // the base's argument, silently), the outer input named as the base's, two bases with one input name.
  const bx = tf.input({ shape: [4], name: 'x' });
  const xbase = tf.model({ inputs: bx, outputs: L.dense({ units: 4, name: 'bd' }).apply(bx), name: 'xbase' });
  const cx = tf.input({ shape: [4], name: 'cin' });
  const clashInput = tf.model({ inputs: cx, outputs: L.add().apply([L.dense({ units: 4, name: 'x' }).apply(cx), xbase.apply(L.dense({ units: 4, name: 'y' }).apply(cx))]) });
  const sin2 = tf.input({ shape: [3], name: 'input_same' });
  const same = tf.model({ inputs: sin2, outputs: L.dense({ units: 2, name: 'sd' }).apply(sin2), name: 'same' });
  const so = tf.input({ shape: [3], name: 'input_same' });
  const sameInputName = tf.model({ inputs: so, outputs: same.apply(L.rescaling({ scale: 0.5 }).apply(so)) });
  const s1in = tf.input({ shape: [3], name: 'in_s' }), s2in = tf.input({ shape: [3], name: 'in_s' });
  const s1 = tf.model({ inputs: s1in, outputs: L.dense({ units: 3, name: 's1d', activation: 'relu' }).apply(s1in), name: 's1' });
  const s2 = tf.model({ inputs: s2in, outputs: L.dense({ units: 2, name: 's2d' }).apply(s2in), name: 's2' });
  const so3 = tf.input({ shape: [3] });
  const stacked = tf.model({ inputs: so3, outputs: s2.apply(s1.apply(so3)) });
  return { seqInSeq, baseFirst, funcInFunc, funcInSeq, residual, twoDeep, clashInput, sameInputName, stacked };
}

test('nested tfjs models load and predict as tfjs does', async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  try {
    for (const [name, m] of Object.entries(nestedModels())) {
      const artifacts = await artifactsOf(m);
      const saved = JSON.stringify(artifacts.modelTopology);
      const model = tfe.loadLayersModel(artifacts, { cluster: c });
      t.is(JSON.stringify(artifacts.modelTopology), saved, `${name}: the caller's artifacts are not edited`);
      const shape = m.inputs[0].shape.slice(1) as number[];
      const x = rand(3 * shape.reduce((a, b) => a * b, 1));
      const got = (await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => ({ data: x, shape: [3, ...shape] }))))).data;
      const want: number[] = Array.from(m.predict(tf.tensor(Array.from(x), [3, ...shape])).dataSync());
      const err = Math.max(...want.map((w, i) => Math.abs(w - got[i])));
      t.true(err < 1e-3, `${name}: max |private - tfjs| = ${err}`);
    }
  } finally {
    await c.close();
  }
});

/** A Keras-saved model: input [3] -> base (Dense 'dense', relu, 4 units) -> Dense 'head' (2 units). */
function kerasNested(form: 'keras2' | 'keras3', prefix: string): { artifacts: tfe.ModelArtifacts; forward: (x: number[]) => number[] } {
  const kernel = Array.from(rand(12)), bias = Array.from(rand(4)), hk = Array.from(rand(8)), hb = Array.from(rand(2));
  const ref = (name: string, node: number) =>
    form === 'keras2' ? [[[name, node, 0, { training: false }]]] : [{ args: [{ class_name: '__keras_tensor__', config: { shape: [null, 3], dtype: 'float32', keras_history: [name, node, 0] } }], kwargs: { training: false } }];
  const shapeKey = form === 'keras2' ? 'batch_input_shape' : 'batch_shape';
  const base = {
    class_name: 'Functional',
    name: 'base',
    config: {
      name: 'base',
      layers: [
        { class_name: 'InputLayer', name: 'input_1', config: { name: 'input_1', [shapeKey]: [null, 3], dtype: 'float32' }, inbound_nodes: [] },
        { class_name: 'Dense', name: 'dense', config: { name: 'dense', units: 4, activation: 'relu', use_bias: true }, inbound_nodes: ref('input_1', 0) },
      ],
      input_layers: form === 'keras2' ? [['input_1', 0, 0]] : ['input_1', 0, 0],
      output_layers: form === 'keras2' ? [['dense', 0, 0]] : ['dense', 0, 0],
    },
    inbound_nodes: ref('input_2', 0),
  };
  const topology = {
    keras_version: form === 'keras2' ? '2.15.0' : '3.5.0',
    backend: 'tensorflow',
    model_config: {
      class_name: 'Functional',
      config: {
        name: 'model',
        layers: [
          { class_name: 'InputLayer', name: 'input_2', config: { name: 'input_2', [shapeKey]: [null, 3], dtype: 'float32' }, inbound_nodes: [] },
          base,
          { class_name: 'Dense', name: 'head', config: { name: 'head', units: 2, activation: 'linear', use_bias: true }, inbound_nodes: ref('base', 1) },
        ],
        input_layers: [['input_2', 0, 0]],
        output_layers: [['head', 0, 0]],
      },
    },
  };
  const specs = [
    { name: `${prefix}dense/kernel`, shape: [3, 4], dtype: 'float32' as const },
    { name: `${prefix}dense/bias`, shape: [4], dtype: 'float32' as const },
    { name: 'head/kernel', shape: [4, 2], dtype: 'float32' as const },
    { name: 'head/bias', shape: [2], dtype: 'float32' as const },
  ];
  const data = new Float32Array([...kernel, ...bias, ...hk, ...hb]);
  const forward = (x: number[]) => {
    const h = [0, 1, 2, 3].map((j) => Math.max(0, x.reduce((a, v, i) => a + v * Math.fround(kernel[i * 4 + j]), Math.fround(bias[j]))));
    return [0, 1].map((j) => h.reduce((a, v, i) => a + v * Math.fround(hk[i * 2 + j]), Math.fround(hb[j])));
  };
  return { artifacts: { modelTopology: topology, weightSpecs: specs, weightData: data.buffer } as unknown as tfe.ModelArtifacts, forward };
}

test("Keras 2's and Keras 3's nested Functional bases load, with or without the base's name before their weights' names", async (t) => {
  const c = new tfe.Cluster({ protocol: 'fss' });
  try {
    for (const form of ['keras2', 'keras3'] as const)
      for (const prefix of ['', 'base/', 'model/base/']) {
        const { artifacts, forward } = kerasNested(form, prefix);
        const model = tfe.loadLayersModel(artifacts, { cluster: c });
        const x = [0.5, -0.25, 1, -1, 0.75, 0.1];
        const got = (await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => ({ data: x, shape: [2, 3] }))))).data;
        const want = [...forward(x.slice(0, 3)), ...forward(x.slice(3))];
        t.true(want.every((w, i) => Math.abs(w - got[i]) < 1e-3), `${form} '${prefix}': ${[...got]} vs ${want}`);
      }
  } finally {
    await c.close();
  }
});

test('a nested model called more than once (a siamese encoder on two inputs, a base on two paths) loads and predicts as tfjs does', async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  try {
    // A Sequential base on one input and on a projection of it.
    const x = tf.input({ shape: [4], name: 'x' });
    const shared = tf.sequential({ layers: [L.dense({ inputShape: [4], units: 4, activation: 'relu' }), L.dense({ units: 3 })], name: 'shared' });
    const twice = tf.model({ inputs: x, outputs: L.add().apply([shared.apply(x), shared.apply(L.dense({ units: 4 }).apply(x))]) });
    // A Functional encoder (built on its own Input) on two inputs, its outputs compared by a head, and one of them returned too.
    const e = tf.input({ shape: [5] });
    const encoder = tf.model({ inputs: e, outputs: L.dense({ units: 3, activation: 'tanh' }).apply(L.dense({ units: 6, activation: 'relu' }).apply(e)), name: 'encoder' });
    const a = tf.input({ shape: [5], name: 'a' }), b = tf.input({ shape: [5], name: 'b' });
    const ea = encoder.apply(a), eb = encoder.apply(b);
    const siamese = tf.model({ inputs: [a, b], outputs: [L.dense({ units: 2, activation: 'softmax' }).apply(L.multiply().apply([ea, eb])), eb] });
    for (const [what, model, shapes] of [['a Sequential base on two paths', twice, [[4]]], ['a siamese Functional encoder', siamese, [[5], [5]]]] as const) {
      const batch = 4, xs = shapes.map((sh) => Float32Array.from({ length: batch * sh[0] }, () => Math.random() * 4 - 2));
      const tfIn = xs.map((v, k) => tf.tensor(v, [batch, ...shapes[k]]));
      const predicted = model.predict(tfIn.length === 1 ? tfIn[0] : tfIn);
      const want: number[][][] = (Array.isArray(predicted) ? predicted : [predicted]).map((p: { arraySync(): number[][] }) => p.arraySync());
      const m = tfe.loadLayersModel(await artifactsOf(model), { cluster: c });
      // The outputs are named as tfjs names them: a nested model's output by the model's name.
      t.deepEqual(m.outputs.map((o) => o.name), model.outputNames);
      const outs = m.predictOutputs(m.defineInput('prediction-client', () => xs.map((v, k) => ({ data: v, shape: [batch, ...shapes[k]] }))));
      const got = await Promise.all(outs.map((o) => tfe.defineOutput('prediction-client', o)));
      got.forEach((g, k) => expectRowsMatch(t, g.data, want[k], m.outputs[k].finalActivation));
      t.pass(what);
    }
  } finally {
    await c.close();
  }
});

test('nested models that cannot be flattened are refused, naming the model and why', async (t) => {
  const c = new tfe.Cluster({ protocol: 'securenn' });
  try {
    const load = (a: tfe.ModelArtifacts) => () => tfe.loadLayersModel(a, { cluster: c });
    // A base with two inputs.
    const a = tf.input({ shape: [3] }), b = tf.input({ shape: [3] });
    const pair = tf.model({ inputs: [a, b], outputs: L.add().apply([a, b]), name: 'pair' });
    const y = tf.input({ shape: [3] });
    const twoInputs = tf.model({ inputs: y, outputs: L.dense({ units: 2 }).apply(pair.apply([y, L.dense({ units: 3 }).apply(y)])) });
    t.throws(load(await artifactsOf(twoInputs)), { message: /nested model 'pair' is called with 2 input tensors/ });
    // A base called with training=True (tf-keras would run it as in training).
    const training = kerasNested('keras2', '').artifacts;
    const layers = (training.modelTopology as unknown as { model_config: { config: { layers: { inbound_nodes: unknown[][][] }[] } } }).model_config.config.layers;
    (layers[1].inbound_nodes[0][0] as unknown[])[3] = { training: true };
    t.throws(load(training), { message: /nested model 'base' is called with training=True/ });
    // A base's layer named as the outer model's.
    const clash = kerasNested('keras2', '').artifacts;
    const cl = (clash.modelTopology as unknown as { model_config: { config: { layers: { config: { layers: { name: string; config: { name: string } }[] } }[] } } }).model_config.config.layers;
    cl[1].config.layers[1].name = cl[1].config.layers[1].config.name = 'head';
    t.throws(load(clash), { message: /two layers are named 'head' once the nested models of 'model' \(base\) are taken apart/ });
  } finally {
    await c.close();
  }
});

// Through the service: the owner's client flattens the model before deploying it, so the servers
// see one graph. A small convolutional base under FSS, and a dense base under Pond, whose relus
// the owner calibrates (its edits of the topology reach into the base).
test.serial('a transfer-learning model deploys and predicts through the service, under FSS and under Pond', async (t) => {
  const base = tf.sequential({ layers: [L.conv2d({ inputShape: [6, 6, 1], filters: 3, kernelSize: 3, activation: 'relu' }), L.maxPooling2d({ poolSize: 2 }), L.flatten()], name: 'convbase' });
  const cnn = tf.sequential({ layers: [base, L.dense({ units: 3 })] });
  const dbase = tf.sequential({ layers: [L.dense({ inputShape: [4], units: 6, activation: 'relu' })], name: 'densebase' });
  const dx = tf.input({ shape: [4] });
  const dense = tf.model({ inputs: dx, outputs: L.dense({ units: 2 }).apply(dbase.apply(dx)) });
  const owner = await cluster().connect({ asOwner: true });
  await owner.deploy(await saveTfjsModel(tf, cnn, 'tfe-nested-cnn-'), { name: 'cnn', protocol: 'fss' });
  const { calibration } = await owner.deploy(await saveTfjsModel(tf, dense, 'tfe-nested-dense-'), { name: 'dense', protocol: 'pond', calibrate: { inputs: { data: rand(64 * 4), shape: [64, 4] }, minAgreement: 0 } });
  t.truthy(calibration, 'Pond calibrated the base\'s relu');
  // The coefficients are on the cluster's fixed-point grid; another grid is refused.
  t.is(calibration!.fracBits, 16);
  t.true(calibration!.relus[0].coeffs.every((c) => Number.isInteger(c * 2 ** 16)));
  await t.throwsAsync(owner.deploy(await saveTfjsModel(tf, dense, 'tfe-nested-dense-'), { name: 'dense12', protocol: 'pond', calibrate: { inputs: { data: rand(64 * 4), shape: [64, 4] }, fracBits: 12 } }), { message: /calibrate\.fracBits 12 differs from the cluster's fracBits 16/ });
  await owner.close();
  const client = await cluster().connect();
  const x = rand(2 * 36);
  const p = await client.predict('cnn', { data: x, shape: [2, 6, 6, 1] });
  expectRowsMatch(t, p.data, tf.unstack(cnn.predict(tf.tensor(Array.from(x), [2, 6, 6, 1]))).map((r: { arraySync(): number[] }) => r.arraySync()), undefined, 1e-3);
  // Pond runs the base's relu as the polynomial the owner fitted: the reference is the model with
  // that polynomial in place of relu, from tfjs's own weights.
  const fitted = calibration!.relus;
  t.is(fitted.length, 1);
  const [k, b] = dbase.layers[0].getWeights().map((w: { arraySync(): unknown }) => w.arraySync()) as [number[][], number[]];
  const [hk, hb] = dense.layers[dense.layers.length - 1].getWeights().map((w: { arraySync(): unknown }) => w.arraySync()) as [number[][], number[]];
  const poly = (v: number) => fitted[0].coeffs.reduce((a, c, i) => a + c * v ** i, 0);
  const dxv = rand(2 * 4);
  const want = [0, 1].map((r) => {
    const h = b.map((bj, j) => poly([0, 1, 2, 3].reduce((a, i) => a + dxv[r * 4 + i] * k[i][j], bj)));
    return hb.map((bj, j) => h.reduce((a, v, i) => a + v * hk[i][j], bj));
  });
  const q = await client.predict('dense', { data: dxv, shape: [2, 4] });
  expectRowsMatch(t, q.data, want, undefined, 1e-2);
  await client.close();
});
