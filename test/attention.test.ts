// MultiHeadAttention and Attention as Keras saves them (TensorFlow.js has neither layer, so the
// topologies are written here in Keras 2's and Keras 3's forms of a layer call, the value passed
// by keyword or by position), against Keras's equations in float64 written out below: privately
// under both exact protocols, and in the plaintext model. What is refused, with its reason.
import test from 'ava';

import * as tfe from '../lib';
import { expectRowsMatch } from './helpers/tfjs_compare';
import { addMhaWeights, artifactsOf, block, D, H, KD, layerNormRef, linear, mhaRef, softmaxRow, T, type W, weightList } from './helpers/attention_models';
import { rnd } from './helpers/model_files';

async function checkModel(t: import('ava').ExecutionContext, a: tfe.ModelArtifacts, ref: (x: number[][]) => number[], shape: [number, number], protocol: 'securenn' | 'fss') {
  const batch = 4;
  const x = Float32Array.from({ length: batch * shape[0] * shape[1] }, () => Math.random() * 3 - 1.5);
  const rows = (b: number) => Array.from({ length: shape[0] }, (_, i) => Array.from(x.subarray((b * shape[0] + i) * shape[1], (b * shape[0] + i + 1) * shape[1])));
  const want = Array.from({ length: batch }, (_, b) => ref(rows(b)));
  const plain = tfe.loadPlainModel(a).predict({ data: Float64Array.from(x), shape: [batch, ...shape] }); // with the final activation, as Keras predicts
  const width = want[0].length;
  for (let b = 0; b < batch; b++) t.true(want[b].every((v, j) => Math.abs(plain.data[b * width + j] - v) < 1e-9), `plain row ${b}`);
  const c = new tfe.Cluster({ protocol });
  try {
    const m = tfe.loadLayersModel(a, { cluster: c });
    const out = await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [batch, ...shape] }), c)));
    expectRowsMatch(t, out.data, want, m.finalActivation);
  } finally {
    await c.close();
  }
}

for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: a transformer block (self-attention by MultiHeadAttention with the value by keyword, Add, LayerNormalization) computes Keras's equations`, async (t) => {
    const { a, ref } = block();
    await checkModel(t, a, ref, [T, D], protocol);
  });

// A decoder's self-attention: step i attends to steps j <= i only (Keras's use_causal_mask). The
// reference hides the later steps with -Infinity before its softmax, as Keras's 1e9 does.
for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: a causal transformer block (MultiHeadAttention called with use_causal_mask) computes Keras's equations`, async (t) => {
    const { a, ref } = block({}, { value: ['in', 0, 0], use_causal_mask: true }, (i, j) => j <= i);
    await checkModel(t, a, ref, [T, D], protocol);
  });

for (const causal of [false, true])
test(`Keras 3's form: Attention with use_scale between a projected query and the input (called with [query, value])${causal ? ', causal' : ''}`, async (t) => {
  const Tq = 4, Dm = 5;
  const weights: W[] = [
    { name: 'qp/kernel', shape: [Dm, Dm], data: rnd(Dm * Dm, 0.8) },
    { name: 'qp/bias', shape: [Dm], data: rnd(Dm, 0.2) },
    { name: 'att/scale', shape: [], data: Float32Array.of(0.7) },
    { name: 'out/kernel', shape: [Tq * Dm, 2], data: rnd(Tq * Dm * 2, 0.5) },
    { name: 'out/bias', shape: [2], data: rnd(2, 0.1) },
  ];
  const tensor = (name: string, shape: (number | null)[]) => ({ class_name: '__keras_tensor__', config: { shape, dtype: 'float32', keras_history: [name, 0, 0] } });
  const call = (args: unknown[], kwargs: Record<string, unknown> = {}) => [{ args, kwargs }];
  const layers = [
    { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, Tq, Dm] }, inbound_nodes: [] },
    { class_name: 'Dense', config: { name: 'qp', units: Dm }, inbound_nodes: call([tensor('in', [null, Tq, Dm])]) },
    { class_name: 'Attention', config: { name: 'att', use_scale: true, score_mode: 'dot', dropout: 0 }, inbound_nodes: call([[tensor('qp', [null, Tq, Dm]), tensor('in', [null, Tq, Dm])]], { use_causal_mask: causal, training: false }) },
    { class_name: 'Flatten', config: { name: 'flat' }, inbound_nodes: call([tensor('att', [null, Tq, Dm])]) },
    { class_name: 'Dense', config: { name: 'out', units: 2 }, inbound_nodes: call([tensor('flat', [null, Tq * Dm])]) },
  ];
  const a = artifactsOf({ class_name: 'Functional', keras_version: '3.5.0', config: { name: 'att', layers, input_layers: [['in', 0, 0]], output_layers: [['out', 0, 0]] } }, weights);
  const w = new Map(weights.map((x) => [x.name, x.data]));
  const ref = (x: number[][]) => {
    const q = linear(x, w.get('qp/kernel')!, w.get('qp/bias')!, Dm);
    const att = q.map((qi, i) => {
      const s = softmaxRow(x.map((kj, j) => (causal && j > i ? -Infinity : w.get('att/scale')![0] * qi.reduce((acc, v, d) => acc + v * kj[d], 0))));
      return Array.from({ length: Dm }, (_, d) => s.reduce((acc, sj, j) => acc + sj * x[j][d], 0));
    });
    return linear([att.flat()], w.get('out/kernel')!, w.get('out/bias')!, 2)[0];
  };
  await checkModel(t, a, ref, [Tq, Dm], 'securenn');
});

test("Keras's timeseries Transformer example (pre-norm block, Conv1D feed-forward, channels_first average over each step's features) computes its equations", async (t) => {
  // keras.io/examples/timeseries/timeseries_classification_transformer, one block, in Keras 2's form.
  const FF = 8, CL = 2;
  const { weights, add } = weightList();
  add('ln1/gamma', [D], 1);
  add('ln1/beta', [D], 0.3);
  addMhaWeights(add);
  add('ln2/gamma', [D], 1);
  add('ln2/beta', [D], 0.3);
  add('ff1/kernel', [1, D, FF], 0.6);
  add('ff1/bias', [FF], 0.2);
  add('ff2/kernel', [1, FF, D], 0.5);
  add('ff2/bias', [D], 0.1);
  add('hid/kernel', [T, 6], 0.7);
  add('hid/bias', [6], 0.1);
  add('cls/kernel', [6, CL], 0.7);
  add('cls/bias', [CL], 0.1);
  const node = (...ins: string[]) => [ins.map((n) => [n, 0, 0, {}])];
  const layers = [
    { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, T, D] }, inbound_nodes: [] },
    { class_name: 'LayerNormalization', config: { name: 'ln1', axis: [2], epsilon: 1e-6 }, inbound_nodes: node('in') },
    { class_name: 'MultiHeadAttention', config: { name: 'mha', num_heads: H, key_dim: KD, dropout: 0.25 }, inbound_nodes: [[['ln1', 0, 0, { value: ['ln1', 0, 0] }]]] },
    { class_name: 'Dropout', config: { name: 'd1', rate: 0.25 }, inbound_nodes: node('mha') },
    { class_name: 'Add', config: { name: 'res1' }, inbound_nodes: node('d1', 'in') },
    { class_name: 'LayerNormalization', config: { name: 'ln2', axis: [2], epsilon: 1e-6 }, inbound_nodes: node('res1') },
    { class_name: 'Conv1D', config: { name: 'ff1', filters: FF, kernel_size: [1], activation: 'relu' }, inbound_nodes: node('ln2') },
    { class_name: 'Dropout', config: { name: 'd2', rate: 0.25 }, inbound_nodes: node('ff1') },
    { class_name: 'Conv1D', config: { name: 'ff2', filters: D, kernel_size: [1] }, inbound_nodes: node('d2') },
    { class_name: 'Add', config: { name: 'res2' }, inbound_nodes: node('ff2', 'res1') },
    { class_name: 'GlobalAveragePooling1D', config: { name: 'pool', data_format: 'channels_first' }, inbound_nodes: node('res2') },
    { class_name: 'Dense', config: { name: 'hid', units: 6, activation: 'relu' }, inbound_nodes: node('pool') },
    { class_name: 'Dropout', config: { name: 'd3', rate: 0.4 }, inbound_nodes: node('hid') },
    { class_name: 'Dense', config: { name: 'cls', units: CL, activation: 'softmax' }, inbound_nodes: node('d3') },
  ];
  const a = artifactsOf({ class_name: 'Functional', keras_version: '2.15.0', config: { name: 'ts', layers, input_layers: [['in', 0, 0]], output_layers: [['cls', 0, 0]] } }, weights);
  const w = new Map(weights.map((x) => [x.name, x.data]));
  const relu = (r: number[][]) => r.map((row) => row.map((v) => Math.max(v, 0)));
  const ref = (x: number[][]) => {
    const n1 = x.map((r) => layerNormRef(r, w.get('ln1/gamma')!, w.get('ln1/beta')!, 1e-6));
    const m = mhaRef(n1, w);
    const r1 = x.map((r, i) => r.map((v, d) => v + m[i][d]));
    const n2 = r1.map((r) => layerNormRef(r, w.get('ln2/gamma')!, w.get('ln2/beta')!, 1e-6));
    const f = linear(relu(linear(n2, w.get('ff1/kernel')!, w.get('ff1/bias')!, FF)), w.get('ff2/kernel')!, w.get('ff2/bias')!, D);
    const r2 = r1.map((r, i) => r.map((v, d) => v + f[i][d]));
    const pooled = r2.map((r) => r.reduce((acc, v) => acc + v, 0) / D); // channels_first: each step's mean
    const logits = linear(relu(linear([pooled], w.get('hid/kernel')!, w.get('hid/bias')!, 6)), w.get('cls/kernel')!, w.get('cls/bias')!, CL)[0];
    return softmaxRow(logits);
  };
  await checkModel(t, a, ref, [T, D], 'securenn');
});

test('self-attention over 40 steps: softmax rows whose exponentials sum far above 4 (scaled into the reciprocal\'s interval)', async (t) => {
  // Inputs in [-1.5, 1.5] (checkModel): each row's exponentials sum well above 4.
  const n = 40, d = 3;
  const layers = [
    { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, n, d] }, inbound_nodes: [] },
    { class_name: 'Attention', config: { name: 'att' }, inbound_nodes: [[['in', 0, 0, {}], ['in', 0, 0, {}]]] },
    { class_name: 'GlobalAveragePooling1D', config: { name: 'pool' }, inbound_nodes: [[['att', 0, 0, {}]]] },
  ];
  const a = artifactsOf({ class_name: 'Functional', keras_version: '2.15.0', config: { name: 'long', layers, input_layers: [['in', 0, 0]], output_layers: [['pool', 0, 0]] } }, []);
  const ref = (x: number[][]) => {
    const att = x.map((qi) => {
      const w = softmaxRow(x.map((kj) => qi.reduce((acc, v, c) => acc + v * kj[c], 0)));
      return Array.from({ length: d }, (_, c) => w.reduce((acc, wj, j) => acc + wj * x[j][c], 0));
    });
    return Array.from({ length: d }, (_, c) => att.reduce((acc, r) => acc + r[c], 0) / n);
  };
  await checkModel(t, a, ref, [n, d], 'securenn');
});

test('attention: masks, returned scores, concat scores and other output shapes are refused, naming them; Pond refuses attention', async (t) => {
  const cases: [ReturnType<typeof block>, RegExp][] = [
    [block({}, { value: ['in', 0, 0], attention_mask: ['in', 0, 0] }), /layer 'mha' \(MultiHeadAttention\): is called with a tensor as 'attention_mask'; masks and other tensor arguments are not supported/],
    [block({}, { value: ['in', 0, 0], use_causal_mask: 'yes' }), /layer 'mha' \(MultiHeadAttention\): is called with use_causal_mask = "yes", which is not supported/],
    [block({}, { value: ['in', 0, 0], return_attention_scores: true }), /layer 'mha' \(MultiHeadAttention\): is called with return_attention_scores = true/],
    [block({ output_shape: [4] }), /layer 'mha' \(MultiHeadAttention\): output_shape = \[4\] is not supported/],
    // (Over an image's axes [1, 2] it runs: keras3_walkthrough_models.json w13.)
    [block({ attention_axes: [1, 2] }), /layer 'mha' \(MultiHeadAttention\): attention_axes = \[1,2\] on inputs of rank 3: only every axis between the batch and the features \(\[1\]\) is supported/],
  ];
  for (const [{ a }, message] of cases) t.throws(() => tfe.loadPlainModel(a), { message }, String(message));
  // Any layer called with a tensor by keyword other than attention's value and key (an RNN's
  // initial_state, a mask) is refused; before, such arguments were ignored.
  const dense = (kwargs: Record<string, unknown>) => ({
    class_name: 'Functional',
    config: {
      name: 'f',
      layers: [
        { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 4] }, inbound_nodes: [] },
        { class_name: 'Dense', config: { name: 'd', units: 2 }, inbound_nodes: [[['in', 0, 0, kwargs]]] },
      ],
      input_layers: [['in', 0, 0]],
      output_layers: [['d', 0, 0]],
    },
  });
  const dw = [{ name: 'd/kernel', shape: [4, 2], data: rnd(8, 1) }, { name: 'd/bias', shape: [2], data: rnd(2, 1) }];
  t.throws(() => tfe.loadPlainModel(artifactsOf(dense({ mask: ['in', 0, 0] }), dw)), { message: /layer 'd' \(Dense\): is called with a tensor as 'mask'; masks and other tensor arguments are not supported/ });
  t.notThrows(() => tfe.loadPlainModel(artifactsOf(dense({ training: false }), dw)), 'a non-tensor keyword argument such as training is not a tensor input');
  const concat = { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Attention', config: { name: 'att', score_mode: 'concat', batch_input_shape: [null, 4, 5] } }] } };
  t.throws(() => tfe.loadPlainModel(artifactsOf(concat, [])), { message: /layer 'att' \(Attention\): score_mode = "concat" is not supported/ });
  const c = new tfe.Cluster({ protocol: 'pond' });
  try {
    t.throws(() => tfe.loadLayersModel(block().a, { cluster: c }), { message: /MultiHeadAttention.*(exact protocol|securenn)/ });
  } finally {
    await c.close();
  }
});
