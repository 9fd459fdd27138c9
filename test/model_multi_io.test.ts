// Functional models with several inputs, several outputs and shared layers (a layer called more
// than once: a siamese encoder, a block applied twice), as TensorFlow.js users build them, loaded
// privately with default options and under FSS, and compared output by output with tfjs's own
// model.predict on fresh random inputs; the float64 plaintext model too.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { encodeClientInput } from '../lib/api/client_input';
import { inputSpecOf, listedInputSpec } from '../lib/api/input_encoding';
import { expectRowsMatch } from './helpers/tfjs_compare';
import { saveTfjsModel } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const L = () => tf.layers;

type Case = {
  name: string;
  /** Each input's name, shape, and token vocabulary when it holds ids. */
  inputs: { name: string; shape: number[]; vocab?: number }[];
  build: () => unknown;
  /** How the test hands the inputs to defineInput. */
  givenAs: 'list' | 'names';
  protocols: ('default' | 'fss')[];
};

const CASES: Case[] = [
  {
    name: 'siamese: one Dense encoder shared by two inputs, their product, a softmax head',
    inputs: [{ name: 'left', shape: [6] }, { name: 'right', shape: [6] }],
    givenAs: 'list',
    protocols: ['default', 'fss'],
    build: () => {
      const a = tf.input({ shape: [6], name: 'left' }), b = tf.input({ shape: [6], name: 'right' });
      const enc = L().dense({ units: 8, activation: 'relu', name: 'encoder' });
      const d = L().multiply().apply([enc.apply(a), enc.apply(b)]);
      return tf.model({ inputs: [a, b], outputs: L().dense({ units: 3, activation: 'softmax' }).apply(d) });
    },
  },
  {
    name: 'one block applied twice to its own output (a shared layer reading its first call)',
    inputs: [{ name: 'x', shape: [8] }],
    givenAs: 'list',
    protocols: ['default'],
    build: () => {
      const x = tf.input({ shape: [8], name: 'x' });
      const block = L().dense({ units: 8, activation: 'relu', name: 'block' });
      return tf.model({ inputs: x, outputs: L().dense({ units: 4 }).apply(block.apply(block.apply(x))) });
    },
  },
  {
    name: 'four heads: softmax classes, a regression, a sigmoid that another head also reads',
    inputs: [{ name: 'features', shape: [10] }],
    givenAs: 'list',
    protocols: ['default', 'fss'],
    build: () => {
      const x = tf.input({ shape: [10], name: 'features' });
      const h = L().dense({ units: 12, activation: 'relu' }).apply(x);
      const classes = L().dense({ units: 3, activation: 'softmax', name: 'classes' }).apply(h);
      const value = L().dense({ units: 1, name: 'value' }).apply(h);
      const gates = L().dense({ units: 2, activation: 'sigmoid', name: 'gates' }).apply(h);
      const after = L().dense({ units: 2, name: 'after_gates' }).apply(gates);
      return tf.model({ inputs: x, outputs: [classes, value, gates, after] });
    },
  },
  {
    name: 'an image and a vector in, two heads out (a conv branch and a dense branch concatenated)',
    inputs: [{ name: 'image', shape: [6, 6, 1] }, { name: 'meta', shape: [4] }],
    givenAs: 'names',
    protocols: ['default'],
    build: () => {
      const img = tf.input({ shape: [6, 6, 1], name: 'image' }), meta = tf.input({ shape: [4], name: 'meta' });
      const c = L().flatten().apply(L().maxPooling2d({ poolSize: 2 }).apply(L().conv2d({ filters: 3, kernelSize: 3, activation: 'relu' }).apply(img)));
      const m = L().dense({ units: 5, activation: 'relu' }).apply(meta);
      const joined = L().concatenate().apply([c, m]);
      return tf.model({ inputs: [img, meta], outputs: [L().dense({ units: 2, activation: 'softmax' }).apply(joined), L().dense({ units: 3 }).apply(joined)] });
    },
  },
  {
    name: 'token ids through an Embedding beside numeric features (each input encoded on its own)',
    inputs: [{ name: 'numbers', shape: [3] }, { name: 'tokens', shape: [5], vocab: 20 }],
    givenAs: 'names',
    protocols: ['default'],
    build: () => {
      const nums = tf.input({ shape: [3], name: 'numbers' }), ids = tf.input({ shape: [5], name: 'tokens' });
      const e = L().flatten().apply(L().embedding({ inputDim: 20, outputDim: 4 }).apply(ids));
      const joined = L().concatenate().apply([L().dense({ units: 4, activation: 'tanh' }).apply(nums), e]);
      return tf.model({ inputs: [nums, ids], outputs: L().dense({ units: 2 }).apply(joined) });
    },
  },
];

const randomInput = (shape: number[], batch: number, vocab?: number): Float32Array => {
  const n = batch * shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => (vocab ? Math.floor(Math.random() * vocab) : Math.random() * 4 - 2));
};

for (const c of CASES)
  for (const protocol of c.protocols)
    test(`${c.name} (${protocol === 'default' ? 'default options' : 'FSS'}): every output matches tfjs`, async (t) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const model: any = c.build();
      const file = await saveTfjsModel(tf, model, 'tfe-multi-io-');
      const batch = 5;
      const xs = c.inputs.map((i) => randomInput(i.shape, batch, i.vocab));
      const tfIn = c.inputs.map((i, k) => tf.tensor(xs[k], [batch, ...i.shape]));
      const predicted = model.predict(tfIn.length === 1 ? tfIn[0] : tfIn);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const want: number[][][] = (Array.isArray(predicted) ? predicted : [predicted]).map((p: any) => p.reshape([batch, -1]).arraySync());
      const given = c.inputs.map((i, k) => ({ data: xs[k], shape: [batch, ...i.shape] }));
      const cluster = new tfe.Cluster(protocol === 'fss' ? { protocol: 'fss' } : {});
      try {
        const m = tfe.loadLayersModel(file, { cluster });
        t.deepEqual(m.inputs.map((i) => i.name), c.inputs.map((i) => i.name));
        t.is(m.outputs.length, want.length);
        const input = m.defineInput('prediction-client', () => (c.givenAs === 'list' ? given : Object.fromEntries(c.inputs.map((i, k) => [i.name, given[k]]))));
        const outs = m.predictOutputs(input);
        t.is(outs.length, want.length);
        const revealed = await Promise.all(outs.map((o) => tfe.defineOutput('prediction-client', o)));
        revealed.forEach((r, k) => expectRowsMatch(t, r.data, want[k], m.outputs[k].finalActivation));
        if (want.length > 1) t.throws(() => m.predict(input), { message: /the model has \d outputs .*use predictOutputs/ });
        // verify: one output's report, on the inputs packed as rows ([batch, sum of their sizes]); refused for several outputs.
        const packed = Array.from({ length: batch }, (_, r) => c.inputs.flatMap((i, k) => { const n = i.shape.reduce((a, b) => a * b, 1); return Array.from(xs[k].subarray(r * n, (r + 1) * n)); }));
        if (want.length === 1) t.is((await m.verify(packed)).agreement.rows, batch);
        else await t.throwsAsync(m.verify(packed), { message: /verify compares one output's classes and logits, and the model has \d outputs/ });
        // The float64 plaintext model, against tfjs too (its predictOutputs applies each final activation).
        const plain = tfe.loadPlainModel(file).predictOutputs(c.givenAs === 'list' ? given : Object.fromEntries(c.inputs.map((i, k) => [i.name, given[k]])));
        plain.forEach((p, k) => expectRowsMatch(t, p.data, want[k], undefined, 1e-4));
      } finally {
        await cluster.close();
      }
    });

test('several inputs: a wrong count, a missing or unknown name, a shape that only adds up, batches that differ are refused by name', async (t) => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const model: any = CASES[0].build();
  const file = await saveTfjsModel(tf, model, 'tfe-multi-io-');
  const cluster = new tfe.Cluster();
  try {
    const m = tfe.loadLayersModel(file, { cluster });
    const six = (batch: number) => ({ data: new Float64Array(6 * batch), shape: [batch, 6] });
    const refused = (v: unknown, message: RegExp) => t.throws(() => m.defineInput('prediction-client', () => v as tfe.ClientInput), { message });
    refused([six(1)], /1 input given, but the model has 2 \('left', 'right'\)/);
    refused({ left: six(1) }, /missing input 'right' \(the model's inputs: 'left', 'right'\)/);
    refused({ left: six(1), right: six(1), centre: six(1) }, /unknown input 'centre'/);
    refused({ left: six(1), rihgt: six(1) }, /missing input 'right'; unknown input 'rihgt'/);
    // 12 values either way: packed, the servers could not tell [3] + [9] from [6] + [6].
    refused([{ data: new Float64Array(3), shape: [1, 3] }, { data: new Float64Array(9), shape: [1, 9] }], /input 'left': has shape \[1,3\]; it takes \[batch, 6\]/);
    refused([six(2), six(3)], /the inputs hold different numbers of examples \('left' 2, 'right' 3\)/);
    // Packed by the caller ([batch, 12]) is taken too; another width is refused, naming the inputs.
    t.notThrows(() => m.defineInput('prediction-client', () => ({ data: new Float64Array(24), shape: [2, 12] })));
    refused({ data: new Float64Array(22), shape: [2, 11] }, /the model takes 2 inputs, 'left' \[batch, 6\], 'right' \[batch, 6\]/);
  } finally {
    await cluster.close();
  }
});

// (Refused before: a layer's outputs past its first. An LSTM's return_state is read now: recurrent_states.test.ts.)
test('a layer output other than the first (an LSTM\'s return_state) is read, and one past its outputs refused, naming it', async (t) => {
  const x = tf.input({ shape: [4, 3], name: 'seq' });
  const [, h] = L().lstm({ units: 2, returnState: true, name: 'lstm' }).apply(x);
  const model = tf.model({ inputs: x, outputs: L().dense({ units: 2 }).apply(h) });
  const file = await saveTfjsModel(tf, model, 'tfe-multi-io-');
  const data = Float32Array.from({ length: 2 * 12 }, () => Math.random() * 2 - 1);
  const want = model.predict(tf.tensor(data, [2, 4, 3])).dataSync() as Float32Array;
  const cluster = new tfe.Cluster({ protocol: 'securenn' });
  t.teardown(() => cluster.close());
  const m = tfe.loadLayersModel(file, { cluster });
  const got = (await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data, shape: [2, 4, 3] }))))).data;
  t.true(Array.from(want).every((v, i) => Math.abs(v - got[i]) < 1e-3), `${[...got]} vs ${[...want]}`);
  const topo = JSON.parse(fs.readFileSync(file, 'utf8'));
  const dense = topo.modelTopology.config.layers.find((l: { class_name: string }) => l.class_name === 'Dense');
  dense.inbound_nodes[0][0][2] = 3;
  t.throws(() => tfe.loadPlainModel({ modelTopology: topo.modelTopology, weightSpecs: [], weightData: new ArrayBuffer(0) } as unknown as tfe.ModelArtifacts), { message: /takes output 3 of 'lstm', which returns 3 tensors/ });
});

/**
 * Keras's own serialisations of a shared layer and several inputs and outputs, by hand (tf-keras's
 * nested arrays and Keras 3's keras_history): in x (4) and y (4); s = Dense(4, relu), called on x,
 * on its own output and on y; outputs o(s(s(x))) and s(y). References computed here in float64.
 */
function kerasShared(dialect: 'keras2' | 'keras3'): { artifacts: tfe.ModelArtifacts; reference: (x: number[], y: number[]) => number[][] } {
  const n = 4, rand = (k: number) => Array.from({ length: k }, () => Math.random() * 2 - 1);
  const sk = rand(n * n), sb = rand(n), ok = rand(n * 2), ob = rand(2);
  const dense = (v: number[], k: number[], b: number[], m: number) => Array.from({ length: m }, (_, j) => v.reduce((a, x, q) => a + x * k[q * m + j], b[j]));
  const s = (v: number[]) => dense(v, sk, sb, n).map((z) => Math.max(z, 0));
  const ref = (name: string, node: number) =>
    dialect === 'keras3' ? { class_name: '__keras_tensor__', config: { shape: [null, n], dtype: 'float32', keras_history: [name, node, 0] } } : [name, node, 0, {}];
  const call = (name: string, node: number) => (dialect === 'keras3' ? { args: [ref(name, node)], kwargs: {} } : [ref(name, node)]);
  const input = (name: string) => ({ class_name: 'InputLayer', name, config: { name, [dialect === 'keras3' ? 'batch_shape' : 'batch_input_shape']: [null, n] }, inbound_nodes: [] });
  const modelTopology = {
    class_name: 'Functional',
    keras_version: dialect === 'keras3' ? '3.5.0' : '2.15.0',
    config: {
      name: 'shared',
      layers: [
        input('x'),
        input('y'),
        { class_name: 'Dense', name: 's', config: { name: 's', units: n, activation: 'relu' }, inbound_nodes: [call('x', 0), call('s', 0), call('y', 0)] },
        { class_name: 'Dense', name: 'o', config: { name: 'o', units: 2, activation: 'linear' }, inbound_nodes: [call('s', 1)] },
      ],
      input_layers: [['x', 0, 0], ['y', 0, 0]],
      output_layers: [['o', 0, 0], ['s', 2, 0]],
    },
  };
  const weightSpecs = [
    { name: 's/kernel', shape: [n, n], dtype: 'float32' as const },
    { name: 's/bias', shape: [n], dtype: 'float32' as const },
    { name: 'o/kernel', shape: [n, 2], dtype: 'float32' as const },
    { name: 'o/bias', shape: [2], dtype: 'float32' as const },
  ];
  // The reference takes the float32 weights the file holds.
  const f32 = (v: number[]) => Array.from(Float32Array.from(v));
  [sk, sb, ok, ob].forEach((w) => w.splice(0, w.length, ...f32(w)));
  const weightData = new Float32Array([...sk, ...sb, ...ok, ...ob]).buffer;
  return { artifacts: { modelTopology, weightSpecs, weightData } as unknown as tfe.ModelArtifacts, reference: (x, y) => [dense(s(s(x)), ok, ob, 2), s(y)] };
}

for (const dialect of ['keras2', 'keras3'] as const)
  test(`a shared layer called three times (on an input, on its own output, on a second input) and two outputs, saved by ${dialect === 'keras2' ? 'tf-keras' : 'Keras 3'}`, async (t) => {
    const { artifacts, reference } = kerasShared(dialect);
    const batch = 6, x = Array.from({ length: batch * 4 }, () => Math.random() * 4 - 2), y = Array.from({ length: batch * 4 }, () => Math.random() * 4 - 2);
    const want = [0, 1].map((k) => Array.from({ length: batch }, (_, r) => reference(x.slice(4 * r, 4 * r + 4), y.slice(4 * r, 4 * r + 4))[k]));
    const cluster = new tfe.Cluster();
    try {
      const m = tfe.loadLayersModel(artifacts, { cluster });
      t.deepEqual(m.outputs.map((o) => o.name), ['o', 's']); // tfjs's outputNames: the layers'
      t.deepEqual(m.layers, ['InputLayer:x', 'Dense:s', 'Dense:s[1]', 'Dense:o', 'InputLayer:y', 'Dense:s[2]']);
      const outs = m.predictOutputs(m.defineInput('prediction-client', () => ({ x: { data: x, shape: [batch, 4] }, y: { data: y, shape: [batch, 4] } })));
      const got = await Promise.all(outs.map((o) => tfe.defineOutput('prediction-client', o)));
      got.forEach((g, k) => expectRowsMatch(t, g.data, want[k], undefined, 2e-3));
    } finally {
      await cluster.close();
    }
  });

test('a reference past a layer\'s calls, and a shared layer called with different arguments, are refused at load', async (t) => {
  const cluster = new tfe.Cluster();
  t.teardown(() => cluster.close());
  const { artifacts } = kerasShared('keras2');
  const topo = structuredClone(artifacts.modelTopology) as { config: { layers: { inbound_nodes: unknown[] }[]; output_layers: unknown[] } };
  topo.config.output_layers = [['s', 3, 0]];
  t.throws(() => tfe.loadLayersModel({ ...artifacts, modelTopology: topo } as tfe.ModelArtifacts, { cluster }), { message: /the model's output takes call 4 of 's', which is called 3 times/ });
  const k3 = structuredClone(kerasShared('keras3').artifacts.modelTopology) as { config: { layers: { inbound_nodes: { kwargs: object }[] }[] } };
  k3.config.layers[2].inbound_nodes[1].kwargs = { training: false }; // what predict does: the same call
  t.notThrows(() => tfe.loadLayersModel({ ...artifacts, modelTopology: k3 } as tfe.ModelArtifacts, { cluster }));
  // Arguments left unset (None, false) are the same call too.
  k3.config.layers[2].inbound_nodes[1].kwargs = { mask: null };
  t.notThrows(() => tfe.loadLayersModel({ ...artifacts, modelTopology: k3 } as tfe.ModelArtifacts, { cluster }));
  // An argument Dense does not read would be ignored in that call: refused, naming it.
  k3.config.layers[2].inbound_nodes[1].kwargs = { use_causal_mask: true };
  t.throws(() => tfe.loadLayersModel({ ...artifacts, modelTopology: k3 } as tfe.ModelArtifacts, { cluster }), { message: /layer 's' \(Dense\), call 2 of 3, is called with use_causal_mask = true, which this layer does not take/ });
});

test('a list in another order than the model\'s is told so; one input\'s nested arrays in a list of one read as that input', async (t) => {
  const a = tf.input({ shape: [3], name: 'numbers' }), b = tf.input({ shape: [5], name: 'words' });
  const two = tf.model({ inputs: [a, b], outputs: L().dense({ units: 2 }).apply(L().concatenate().apply([a, b])) });
  const x = tf.input({ shape: [7], name: 'x' });
  const one = tf.model({ inputs: x, outputs: L().dense({ units: 2 }).apply(x) });
  const cluster = new tfe.Cluster();
  t.teardown(() => cluster.close());
  const m2 = tfe.loadLayersModel(await saveTfjsModel(tf, two, 'tfe-multi-io-'), { cluster });
  t.throws(() => m2.defineInput('prediction-client', () => [[[1, 2, 3, 4, 5]], [[1, 2, 3]]]), { message: /input 'numbers': has shape \[1,5\]; it takes \[batch, 3\], and input 'words' takes that shape: a list is read in the model's order \('numbers', 'words'\)/ });
  const m1 = tfe.loadLayersModel(await saveTfjsModel(tf, one, 'tfe-multi-io-'), { cluster });
  const rows = [[1, 2, 3, 4, 5, 6, 7], [0, 0, 1, 0, 0, 1, 0]];
  const want: number[][] = one.predict(tf.tensor2d(rows)).arraySync();
  const got = await tfe.defineOutput('prediction-client', m1.predict(m1.defineInput('prediction-client', () => [rows])));
  t.deepEqual(got.shape, [2, 2]);
  expectRowsMatch(t, got.data, want, undefined);
});

test('from the diff review: an input named data, a lone later call of a relu layer under Pond, a dict of outputs, nesting that multiplies, a listing a client cannot read', async (t) => {
  const cluster = new tfe.Cluster();
  t.teardown(() => cluster.close());
  // Inputs named 'data' and 'meta': by name, not taken for {data, shape}.
  const d = tf.input({ shape: [2], name: 'data' }), meta = tf.input({ shape: [2], name: 'meta' });
  const dm = tf.model({ inputs: [d, meta], outputs: L().dense({ units: 1 }).apply(L().concatenate().apply([d, meta])) });
  const rows = { data: [[1, 2], [3, 4]], meta: [[5, 6], [7, 8]] };
  const want: number[][] = dm.predict([tf.tensor2d(rows.data), tf.tensor2d(rows.meta)]).arraySync();
  const m = tfe.loadLayersModel(await saveTfjsModel(tf, dm, 'tfe-multi-io-'), { cluster });
  expectRowsMatch(t, (await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => rows)))).data, want, undefined);

  // Only call 1 of a relu layer in the graph: still a relu, refused under Pond without consent.
  const { artifacts } = kerasShared('keras2');
  const topo = structuredClone(artifacts.modelTopology) as { config: { layers: { inbound_nodes: unknown[] }[]; output_layers: unknown } };
  topo.config.layers = topo.config.layers.slice(0, 3);
  topo.config.layers[2].inbound_nodes = [[['x', 0, 0, {}]], [['y', 0, 0, {}]]];
  topo.config.output_layers = [['s', 1, 0]];
  const lone = { ...artifacts, modelTopology: topo, weightSpecs: artifacts.weightSpecs!.slice(0, 2), weightData: (artifacts.weightData as ArrayBuffer).slice(0, 4 * 20) } as tfe.ModelArtifacts;
  const pond = new tfe.Cluster({ protocol: 'pond' });
  t.teardown(() => pond.close());
  t.throws(() => tfe.loadLayersModel(lone, { cluster: pond }), { message: /the model has relu \(s\)/ });

  // A dict of outputs (Keras 3): named by its keys.
  const k3 = kerasShared('keras3').artifacts;
  const dict = structuredClone(k3.modelTopology) as { config: { output_layers: unknown } };
  dict.config.output_layers = { score: ['o', 0, 0], code: ['s', 2, 0] };
  t.deepEqual(tfe.loadLayersModel({ ...k3, modelTopology: dict } as tfe.ModelArtifacts, { cluster }).outputs.map((o) => o.name), ['score', 'code']);

  // A model called twice inside a model called twice, 17 deep: 2^17 layer calls, refused.
  const i0 = tf.input({ shape: [2] });
  let nested = tf.model({ inputs: i0, outputs: L().dense({ units: 2 }).apply(i0), name: 'm0' });
  for (let k = 1; k <= 17; k++) {
    const i = tf.input({ shape: [2] });
    nested = tf.model({ inputs: i, outputs: nested.apply(nested.apply(i)), name: `m${k}` });
  }
  const top = tf.input({ shape: [2] });
  const deep = await saveTfjsModel(tf, tf.model({ inputs: top, outputs: nested.apply(top) }), 'tfe-multi-io-');
  t.throws(() => tfe.loadLayersModel(deep, { cluster }), { message: /make more than 100000 layer calls once taken apart/ });
});

test('a client reads a model list safely: one input by name, token inputs whose one-hot would exceed 2^31 bytes refused before any is made, a listing it cannot read fails that model only', (t) => {
  const one = inputSpecOf({ name: 'm', inputShape: [3], inputs: [{ name: 'x', inputShape: [3] }] });
  t.deepEqual(encodeClientInput('m', { x: [[1, 2, 3]] }, one).shape, [1, 3]);
  const huge = inputSpecOf({ name: 'm', inputShape: [2], inputs: [{ name: 'a', inputShape: [1], inputEncoding: { oneHot: 2 ** 28 - 1 } }, { name: 'b', inputShape: [1], inputEncoding: { oneHot: 2 ** 28 - 1 } }] });
  t.throws(() => encodeClientInput('m', [[[1]], [[1]]], huge), { message: /would be \d+ bytes of shares, more than any cluster accepts/ });
  t.regex(listedInputSpec({ name: 'm', inputShape: [5], inputs: [{ name: 'a', inputShape: [2] }, { name: 'b', inputShape: [2] }] }).listingError ?? '', /the servers list model 'm' with inputs .* that do not describe its input \[5\]/);
});
