// MultiHeadAttention and Attention as Keras saves them (TensorFlow.js has neither layer, so the
// topologies are written here in Keras 2's and Keras 3's forms of a layer call, the value passed
// by keyword or by position), against Keras's equations in float64 written out below: privately
// under both exact protocols, and in the plaintext model. What is refused, with its reason.
import test from 'ava';

import * as tfe from '../lib';
import { expectRowsMatch } from './helpers/tfjs_compare';
import { rnd } from './helpers/model_files';

interface W { name: string; shape: number[]; data: Float32Array }
const T = 5, D = 6, H = 2, KD = 3, OUT = 3;

function artifactsOf(topology: unknown, weights: W[]): tfe.ModelArtifacts {
  const data = new Float32Array(weights.reduce((a, w) => a + w.data.length, 0));
  let at = 0;
  for (const w of weights) data.set(w.data, (at += w.data.length) - w.data.length);
  return { modelTopology: topology, weightSpecs: weights.map(({ name, shape }) => ({ name, shape, dtype: 'float32' })), weightData: data.buffer } as unknown as tfe.ModelArtifacts;
}

// ---------- Keras's equations, float64 ----------
const softmaxRow = (r: number[]) => {
  const m = Math.max(...r), e = r.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
/** x [T, Din] (row-major) times k [Din, ...out] plus b: [T, out]. */
const linear = (x: number[][], k: Float32Array, b: Float32Array | null, out: number) => x.map((row) => Array.from({ length: out }, (_, o) => row.reduce((a, v, d) => a + v * k[d * out + o], b ? b[o] : 0)));
function mhaRef(x: number[][], w: Map<string, Float32Array>, mask?: (i: number, j: number) => boolean): number[][] {
  const proj = (part: string) => linear(x, w.get(`mha/${part}/kernel`)!, w.get(`mha/${part}/bias`)!, H * KD); // [T, H * KD]
  const q = proj('query'), k = proj('key'), v = proj('value');
  const heads = x.map(() => new Array<number>(H * KD).fill(0));
  for (let h = 0; h < H; h++)
    for (let i = 0; i < T; i++) {
      const s = softmaxRow(Array.from({ length: T }, (_, j) => (mask && !mask(i, j) ? -Infinity : Array.from({ length: KD }, (_, d) => q[i][h * KD + d] * k[j][h * KD + d]).reduce((a, b) => a + b, 0) / Math.sqrt(KD))));
      for (let j = 0; j < T; j++) for (let d = 0; d < KD; d++) heads[i][h * KD + d] += s[j] * v[j][h * KD + d];
    }
  return linear(heads, w.get('mha/attention_output/kernel')!, w.get('mha/attention_output/bias')!, D);
}
const layerNormRef = (r: number[], g: Float32Array, b: Float32Array) => {
  const m = r.reduce((a, v) => a + v, 0) / r.length, v = r.reduce((a, x) => a + (x - m) ** 2, 0) / r.length;
  return r.map((x, i) => ((x - m) / Math.sqrt(v + 1e-3)) * g[i] + b[i]);
};

// ---------- a transformer block in Keras 2's form (tf.keras, as tensorflowjs_converter writes it) ----------
function block(mhaConfig: Record<string, unknown> = {}, mhaCall: Record<string, unknown> = { value: ['in', 0, 0] }): { a: tfe.ModelArtifacts; ref: (x: number[][]) => number[] } {
  const weights: W[] = [];
  const add = (name: string, shape: number[], s: number) => weights.push({ name, shape, data: rnd(shape.reduce((a, b) => a * b, 1), s) });
  for (const part of ['query', 'key', 'value']) {
    add(`mha/${part}/kernel`, [D, H, KD], 0.8);
    add(`mha/${part}/bias`, [H, KD], 0.2);
  }
  add('mha/attention_output/kernel', [H, KD, D], 0.6);
  add('mha/attention_output/bias', [D], 0.1);
  add('ln/gamma', [D], 1);
  add('ln/beta', [D], 0.3);
  add('out/kernel', [D, OUT], 0.7);
  add('out/bias', [OUT], 0.1);
  const layers = [
    { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, T, D] }, inbound_nodes: [] },
    { class_name: 'MultiHeadAttention', config: { name: 'mha', num_heads: H, key_dim: KD, value_dim: null, dropout: 0.1, use_bias: true, output_shape: null, attention_axes: null, kernel_initializer: { class_name: 'GlorotUniform' }, ...mhaConfig }, inbound_nodes: [[['in', 0, 0, mhaCall]]] },
    { class_name: 'Add', config: { name: 'res' }, inbound_nodes: [[['in', 0, 0, {}], ['mha', 0, 0, {}]]] },
    { class_name: 'LayerNormalization', config: { name: 'ln', axis: [2], epsilon: 1e-3, center: true, scale: true }, inbound_nodes: [[['res', 0, 0, {}]]] },
    { class_name: 'GlobalAveragePooling1D', config: { name: 'pool' }, inbound_nodes: [[['ln', 0, 0, {}]]] },
    { class_name: 'Dense', config: { name: 'out', units: OUT }, inbound_nodes: [[['pool', 0, 0, {}]]] },
  ];
  const topology = { class_name: 'Functional', keras_version: '2.15.0', config: { name: 'block', layers, input_layers: [['in', 0, 0]], output_layers: [['out', 0, 0]] } };
  const w = new Map(weights.map((x) => [x.name, x.data]));
  const ref = (x: number[][]) => {
    const m = mhaRef(x, w);
    const ln = x.map((r, i) => layerNormRef(r.map((v, d) => v + m[i][d]), w.get('ln/gamma')!, w.get('ln/beta')!));
    const pooled = Array.from({ length: D }, (_, d) => ln.reduce((a, r) => a + r[d], 0) / T);
    return linear([pooled], w.get('out/kernel')!, w.get('out/bias')!, OUT)[0];
  };
  return { a: artifactsOf(topology, weights), ref };
}

async function checkModel(t: import('ava').ExecutionContext, a: tfe.ModelArtifacts, ref: (x: number[][]) => number[], shape: [number, number], protocol: 'securenn' | 'fss') {
  const batch = 4;
  const x = Float32Array.from({ length: batch * shape[0] * shape[1] }, () => Math.random() * 3 - 1.5);
  const rows = (b: number) => Array.from({ length: shape[0] }, (_, i) => Array.from(x.subarray((b * shape[0] + i) * shape[1], (b * shape[0] + i + 1) * shape[1])));
  const want = Array.from({ length: batch }, (_, b) => ref(rows(b)));
  const plain = tfe.loadPlainModel(a).forward({ data: Float64Array.from(x), shape: [batch, ...shape] });
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

test("Keras 3's form: Attention with use_scale between a projected query and the input (called with [query, value])", async (t) => {
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
    { class_name: 'Attention', config: { name: 'att', use_scale: true, score_mode: 'dot', dropout: 0 }, inbound_nodes: call([[tensor('qp', [null, Tq, Dm]), tensor('in', [null, Tq, Dm])]], { use_causal_mask: false, training: false }) },
    { class_name: 'Flatten', config: { name: 'flat' }, inbound_nodes: call([tensor('att', [null, Tq, Dm])]) },
    { class_name: 'Dense', config: { name: 'out', units: 2 }, inbound_nodes: call([tensor('flat', [null, Tq * Dm])]) },
  ];
  const a = artifactsOf({ class_name: 'Functional', keras_version: '3.5.0', config: { name: 'att', layers, input_layers: [['in', 0, 0]], output_layers: [['out', 0, 0]] } }, weights);
  const w = new Map(weights.map((x) => [x.name, x.data]));
  const ref = (x: number[][]) => {
    const q = linear(x, w.get('qp/kernel')!, w.get('qp/bias')!, Dm);
    const att = q.map((qi) => {
      const s = softmaxRow(x.map((kj) => w.get('att/scale')![0] * qi.reduce((acc, v, d) => acc + v * kj[d], 0)));
      return Array.from({ length: Dm }, (_, d) => s.reduce((acc, sj, j) => acc + sj * x[j][d], 0));
    });
    return linear([att.flat()], w.get('out/kernel')!, w.get('out/bias')!, 2)[0];
  };
  await checkModel(t, a, ref, [Tq, Dm], 'securenn');
});

test('attention: masks, causal masks, returned scores, concat scores and other output shapes are refused, naming them; Pond refuses attention', async (t) => {
  const cases: [ReturnType<typeof block>, RegExp][] = [
    [block({}, { value: ['in', 0, 0], attention_mask: ['in', 0, 0] }), /layer 'mha' \(MultiHeadAttention\): is called with a tensor as 'attention_mask'; masks and other tensor arguments are not supported/],
    [block({}, { value: ['in', 0, 0], use_causal_mask: true }), /layer 'mha' \(MultiHeadAttention\): is called with use_causal_mask = true; causal masks are not supported/],
    [block({}, { value: ['in', 0, 0], return_attention_scores: true }), /layer 'mha' \(MultiHeadAttention\): is called with return_attention_scores = true/],
    [block({ output_shape: [4] }), /layer 'mha' \(MultiHeadAttention\): output_shape = \[4\] is not supported/],
    [block({ attention_axes: [1, 2] }), /layer 'mha' \(MultiHeadAttention\): attention_axes = \[1,2\] is not supported/],
  ];
  for (const [{ a }, message] of cases) t.throws(() => tfe.loadPlainModel(a), { message }, String(message));
  const concat = { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'Attention', config: { name: 'att', score_mode: 'concat', batch_input_shape: [null, 4, 5] } }] } };
  t.throws(() => tfe.loadPlainModel(artifactsOf(concat, [])), { message: /layer 'att' \(Attention\): score_mode = "concat" is not supported/ });
  const c = new tfe.Cluster({ protocol: 'pond' });
  try {
    t.throws(() => tfe.loadLayersModel(block().a, { cluster: c }), { message: /MultiHeadAttention.*(exact protocol|securenn)/ });
  } finally {
    await c.close();
  }
});
