// Text models: Keras/tfjs Embedding layers, built and saved by TensorFlow.js itself, loaded with
// default options and compared with tfjs's model.predict on fresh random token ids (0 and V-1
// among them). The input owner one-hot encodes the ids before sharing (lib/api/input_encoding.ts)
// and the Embedding is a private product with the table, under every protocol that runs the rest
// of the model. Every setting that cannot be honoured is refused, naming the layer.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { calibrateForPond } from '../lib/api/calibrate';
import { describeInput, encodeInput, sharedInputShape } from '../lib/api/input_encoding';
import { readLayersModel } from '../lib/api/model';
import { checkDeploySize, checkPredictRequest, DEFAULT_LIMITS, estimateQueryBytes } from '../lib/serve/limits';
import { enc } from './helpers/fixed';
import { expectRefused, type Refusal } from './helpers/refusals';
import { expectRowsMatch } from './helpers/tfjs_compare';
import { saveTfjsModel } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const save = (model: any) => saveTfjsModel(tf, model, 'tfe-embedding-');
const L = () => tf.layers;

const V = 50, T = 12;

/** Random ids in [0, V), with 0 and V - 1 among them. */
function ids(batch: number): Float64Array {
  const x = Float64Array.from({ length: batch * T }, () => Math.floor(Math.random() * V));
  x[0] = 0;
  x[1] = V - 1;
  x[x.length - 1] = V - 1;
  return x;
}

type Protocol = 'securenn' | 'fss' | 'pond';
const CASES: { name: string; build: () => unknown; protocols: (Protocol | undefined)[] }[] = [
  {
    name: 'Embedding -> GlobalAveragePooling1D -> Dense(relu) -> Dense',
    build: () => tf.sequential({ layers: [L().embedding({ inputDim: V, outputDim: 8, inputLength: T }), L().globalAveragePooling1d({}), L().dense({ units: 16, activation: 'relu' }), L().dense({ units: 4 })] }),
    protocols: [undefined, 'fss'],
  },
  {
    name: 'Embedding -> Conv1D(relu) -> GlobalMaxPooling1D -> Dense (Functional)',
    build: () => {
      const x = tf.input({ shape: [T] });
      const e = L().embedding({ inputDim: V, outputDim: 6 }).apply(x);
      const c = L().conv1d({ filters: 8, kernelSize: 3, activation: 'relu', biasInitializer: 'randomNormal' }).apply(e);
      return tf.model({ inputs: x, outputs: L().dense({ units: 3, activation: 'softmax' }).apply(L().globalMaxPooling1d({}).apply(c)) });
    },
    protocols: [undefined, 'fss'],
  },
  {
    name: 'Embedding -> Flatten -> Dense (no relu: Pond too)',
    build: () => tf.sequential({ layers: [L().embedding({ inputDim: V, outputDim: 5, inputLength: T }), L().flatten(), L().dense({ units: 4 })] }),
    protocols: [undefined, 'fss', 'pond'],
  },
];

for (const k of CASES)
  for (const protocol of k.protocols)
    test(`${k.name}, ${protocol ?? 'default protocol'}: private predictions match tfjs`, async (t) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const model: any = k.build();
      const file = await save(model);
      const batch = 6, x = ids(batch);
      const want: number[][] = model.predict(tf.tensor(Array.from(x), [batch, T])).arraySync();
      const c = new tfe.Cluster(protocol ? { protocol } : {});
      try {
        const m = tfe.loadLayersModel(file, { cluster: c });
        t.deepEqual(m.inputShape, [T]);
        t.deepEqual(m.inputEncoding, { oneHot: V });
        const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: [batch, T] }))));
        // 16 fractional bits: each product rounds by a unit or so; a few layers stay far below 1e-2.
        expectRowsMatch(t, out.data, want, m.finalActivation);
      } finally {
        await c.close();
      }
    });

test('the table rows come out exactly: Embedding alone equals the fixed-point table, and the plaintext twin equals tfjs', async (t) => {
  const model = tf.sequential({ layers: [L().embedding({ inputDim: V, outputDim: 4, inputLength: T })] });
  // Row 0 on encoding ties (k + 1/2 units, exact in float32), which the encoder rounds to even.
  const emb = model.layers[0].getWeights()[0].arraySync() as number[][];
  emb[0] = [2.5, 3.5, -2.5, -3.5].map((k) => k * 2 ** -16);
  model.layers[0].setWeights([tf.tensor(emb)]);
  const file = await save(model);
  const x = ids(3);
  x[0] = 0;
  const want: number[][][] = model.predict(tf.tensor(Array.from(x), [3, T])).arraySync();
  const plain = tfe.loadPlainModel(file).predict({ data: x, shape: [3, T] });
  t.deepEqual(plain.shape, [3, T, 4]);
  t.true(plain.data.every((v, i) => Math.abs(v - want[Math.floor(i / (T * 4))][Math.floor(i / 4) % T][i % 4]) < 1e-6));
  const table = readLayersModel(file).params[0].data;
  for (const protocol of ['securenn', 'pond'] as const) {
    const c = new tfe.Cluster({ protocol });
    try {
      const m = tfe.loadLayersModel(file, { cluster: c });
      const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: [3, T] }))));
      // A one-hot row times the table is 2^16 times the row's fixed-point value: it truncates
      // without rounding, so each output is the table entry as the encoder rounds it (to nearest,
      // ties to even: a float32 entry lands on a tie about once in 4096, where Math.round, ties
      // up, made this test fail now and then).
      const wrong = [...out.data].map((v, i) => ({ i, v, want: enc(table[x[Math.floor(i / 4)] * 4 + (i % 4)]) })).filter((e) => e.v !== e.want);
      t.deepEqual(wrong, [], `${protocol}: bit-identical to the fixed-point table`);
    } finally {
      await c.close();
    }
  }
});

test('verify runs an Embedding model privately and in float64 side by side', async (t) => {
  const file = await save(CASES[0].build());
  const c = new tfe.Cluster();
  try {
    const m = tfe.loadLayersModel(file, { cluster: c });
    // The model's weights are random, so two of a row's logits can be nearly equal: the argmax may
    // differ there (fixed point against float64), and only there (a row whose two largest float64
    // logits are further apart than twice the largest logit difference must agree).
    const plain = tfe.loadPlainModel(file);
    const onlyNearTies = (r: tfe.VerifyReport, x: { data: Float64Array; shape: number[] }) =>
      r.disagreements.every((s) => {
        const row = [...plain.predict(x).data.slice(s * 4, s * 4 + 4)].sort((a, b) => b - a);
        return row[0] - row[1] < 2 * r.maxAbsLogitDiff;
      });
    const x = { data: ids(5), shape: [5, T] };
    const r = await m.verify(x, { batchSize: 2 });
    t.true(r.maxAbsLogitDiff < 1e-2, `${r.maxAbsLogitDiff}`);
    t.true(onlyNearTies(r, x), `disagreements at ${r.disagreements} beyond near-ties`);
    t.is(r.agreement.agreed, 5 - r.disagreements.length, "the report counts each disagreeing row once");
    // Samples as one array per sample, too; an out-of-range id is refused by name.
    const rows = Array.from({ length: 2 }, () => Array.from({ length: T }, (_, i) => i % V));
    const r2 = await m.verify(rows);
    t.true(onlyNearTies(r2, { data: Float64Array.from(rows.flat()), shape: [2, T] }), `disagreements at ${r2.disagreements}`);
    await t.throwsAsync(m.verify([[...rows[0].slice(0, -1), V]]), { message: /layer 'embedding_\w+' \(Embedding\): the value at index \[0, 11\] is 50, out of range: token ids must be in \[0, 50\)/ });
  } finally {
    await c.close();
  }
});

test('token ids out of range or not integers are refused by the input owner, naming the index and value', async (t) => {
  const file = await save(CASES[2].build());
  const c = new tfe.Cluster();
  try {
    const m = tfe.loadLayersModel(file, { cluster: c });
    const bad = (v: number, at: number) => {
      const x = ids(2);
      x[at] = v;
      return () => m.defineInput('prediction-client', () => ({ data: x, shape: [2, T] }));
    };
    t.throws(bad(V, T + 3), { message: /the value at index \[1, 3\] is 50, out of range: token ids must be in \[0, 50\) \(the Embedding's input_dim\)/ });
    t.throws(bad(-1, 2), { message: /the value at index \[0, 2\] is -1, out of range/ });
    t.throws(bad(2.5, 5), { message: /the value at index \[0, 5\] is 2.5, not an integer: token ids must be integers in \[0, 50\)/ });
    t.throws(bad(Number.NaN, 0), { message: /the value at index \[0, 0\] is NaN, not an integer/ });
    t.throws(() => m.defineInput('prediction-client', () => ({ data: new Float64Array(2 * V), shape: [2, V] })), { message: new RegExp(`the model takes token ids \\[batch, ${T}\\] \\(integers in \\[0, 50\\)\\), shared one-hot as \\[batch, ${T},50\\], got shape \\[2,50\\]`) });
    // The plaintext twin refuses the same ids.
    t.throws(() => tfe.loadPlainModel(file).predict({ data: Float64Array.from({ length: T }, (_, i) => (i === 4 ? 0.5 : 1)), shape: [1, T] }), { message: /\(Embedding\): the value at index \[0, 4\] is 0.5, not an integer/ });
    // Ids shared without their one-hot (definePrivateInput instead of model.defineInput) are refused.
    t.throws(() => m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: ids(1), shape: [1, T] }), c)), { message: /predict: the model takes token ids \[batch, 12\] .*, got a private input of shape \[1,12\]; share the ids with model.defineInput/ });
  } finally {
    await c.close();
  }
});

test('encodeInput, the one encoding every input owner uses (in process, Node client, browser client)', (t) => {
  const spec = { inputShape: [3], inputEncoding: { oneHot: 4 } };
  const e = encodeInput({ data: Float64Array.from([0, 3, 1, 2, 2, 0]), shape: [2, 3] }, spec, 'x');
  t.deepEqual(e.shape, [2, 3, 4]);
  t.deepEqual([...e.data], [1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0]);
  t.deepEqual(sharedInputShape(spec), [3, 4]);
  t.is(describeInput(spec), 'token ids [batch, 3] (integers in [0, 4)), shared one-hot as [batch, 3,4]');
  // A model without an encoding: the input as given (its shape is the servers' to check).
  const plain = { data: Float64Array.from([0.5, -1]), shape: [1, 2] };
  t.is(encodeInput(plain, { inputShape: [2] }, 'x'), plain);
  t.throws(() => encodeInput({ data: new Float64Array(3), shape: [1, 3] }, { inputShape: [3], inputEncoding: { oneHot: 0 } }, 'x'), { message: /one-hot over 0 values, not a positive integer/ });
  t.throws(() => encodeInput({ data: new Float64Array(1 << 20), shape: [1 << 10, 1 << 10] }, { inputShape: [1 << 10], inputEncoding: { oneHot: 1 << 20 } }, 'x'), { message: /more than any cluster accepts/ });
});

// Settings and graphs that cannot be honoured, patched into tfjs's own model.json where tfjs
// cannot write them (Keras 3's sparse, dtype policies; an input_length that disagrees).
const emb = (extra: object = {}) => L().embedding({ inputDim: V, outputDim: 4, inputLength: T, ...extra });
const REFUSED: Refusal[] = [
  // (mask_zero before recurrent layers loads: test/embedding_mask.test.ts.)
  { name: 'mask_zero true before a mean over the steps (masked in Keras, not in tfjs)', build: () => tf.sequential({ layers: [emb({ maskZero: true }), L().globalAveragePooling1d({}), L().dense({ units: 2 })] }), message: /\(GlobalAveragePooling1D\): reads the padding mask of Embedding '.*' \(mask_zero = true\), which Keras applies here and tfjs does not/ },
  {
    name: 'an Embedding not fed by the input',
    build: () => {
      const x = tf.input({ shape: [T] });
      const d = L().dense({ units: T, name: 'pre' }).apply(x);
      return tf.model({ inputs: x, outputs: L().dense({ units: 2 }).apply(L().flatten().apply(L().embedding({ inputDim: V, outputDim: 4, name: 'late' }).apply(d))) });
    },
    message: /layer 'late' \(Embedding\): reads 'pre', not the model's input: an Embedding must read the model's input directly/,
  },
  {
    name: 'another layer reading the token ids beside the Embedding',
    build: () => {
      const x = tf.input({ shape: [T] });
      const a = L().flatten().apply(L().embedding({ inputDim: V, outputDim: 2 }).apply(x));
      return tf.model({ inputs: x, outputs: L().dense({ units: 2 }).apply(L().concatenate().apply([a, L().dense({ units: 3, name: 'side' }).apply(x)])) });
    },
    message: /layer 'side' \(Dense\): reads the model's input, which holds token ids for Embedding '.*' \(shared one-hot\): only Embedding and CategoryEncoding layers may read it/,
  },
  {
    name: 'two Embeddings of different vocabularies on one input',
    build: () => {
      const x = tf.input({ shape: [T] });
      const a = L().embedding({ inputDim: V, outputDim: 2 }).apply(x), b = L().embedding({ inputDim: V + 1, outputDim: 2, name: 'other' }).apply(x);
      return tf.model({ inputs: x, outputs: L().dense({ units: 2 }).apply(L().flatten().apply(L().add().apply([a, b]))) });
    },
    message: /layer 'other' \(Embedding\): input_dim = 51 differs from the 50 of Embedding/,
  },
  { name: 'input_length that disagrees with the input shape', build: () => tf.sequential({ layers: [emb(), L().flatten()] }), patch: (ls) => void (ls[0].config.input_length = T + 1), message: /\(Embedding\): input_length = 13 does not match the model's input shape \[12\]/ },
  { name: "Keras 3's sparse true", build: () => tf.sequential({ layers: [emb(), L().flatten()] }), patch: (ls) => void (ls[0].config.sparse = true), message: /\(Embedding\): sparse = true is not supported/ },
  {
    name: 'a quantized dtype policy',
    build: () => tf.sequential({ layers: [emb(), L().flatten()] }),
    patch: (ls) => void (ls[0].config.dtype = { module: 'keras', class_name: 'QuantizedDTypePolicy', config: { name: 'int8_from_float32', source_name: 'float32' } }),
    message: /\(Embedding\): dtype policy 'int8_from_float32' quantizes the layer/,
  },
  { name: 'an unknown setting (LoRA)', build: () => tf.sequential({ layers: [emb(), L().flatten()] }), patch: (ls) => void (ls[0].config.lora_rank = 4), message: /\(Embedding\): setting 'lora_rank' is not supported/ },
];

for (const r of REFUSED) test(`refused at load time, naming the layer: ${r.name}`, (t) => expectRefused(t, r, save, { plain: true }));

test('the service limits count the one-hot: a huge vocabulary is refused at deploy, and the servers check the encoded shape', (t) => {
  const topology = (vocab: number, length: number) => ({
    class_name: 'Sequential',
    config: { layers: [{ class_name: 'Embedding', config: { name: 'e', input_dim: vocab, output_dim: 4, batch_input_shape: [null, length] } }, { class_name: 'Flatten', config: { name: 'f' } }, { class_name: 'Dense', config: { name: 'd', units: 2 } }] },
  });
  const req = (vocab: number, length: number) => ({ topology: topology(vocab, length) as never, protocol: 'securenn' as const, weights: [{ shape: [vocab, 4] }, { shape: [4 * length, 2] }, { shape: [2] }] });
  const spec = (vocab: number, length: number) => ({ inputShape: [length], inputEncoding: { oneHot: vocab } });
  // The estimate grows with the vocabulary: the one-hot input is V values per token, each counted
  // as any input element is (its share, received bytes and the product's masked copies).
  const est = (vocab: number) => estimateQueryBytes({ ...req(vocab, 20), inputShape: sharedInputShape(spec(vocab, 20)) }, 1);
  t.true(est(10_000) - est(1000) >= 8 * 6 * 20 * 9000, `${est(10_000)} vs ${est(1000)}`);
  t.notThrows(() => checkDeploySize(DEFAULT_LIMITS, req(1000, 20), spec(1000, 20)));
  t.throws(() => checkDeploySize(DEFAULT_LIMITS, req(1_000_000, 100), spec(1_000_000, 100)), {
    message: /one example of this model's input, token ids \[batch, 100\] \(integers in \[0, 1000000\)\), shared one-hot as \[batch, 100,1000000\], is 800000000 bytes as shares, over the limit of 67108864 \(maxInputBytes\): the one-hot costs V values per token/,
  });
  // The estimate alone refuses what fits the input limit but not the memory one (maxQueryBytes).
  t.throws(() => checkDeploySize({ ...DEFAULT_LIMITS, maxInputBytes: 2 ** 31 }, req(1_000_000, 100), spec(1_000_000, 100)), { message: /one prediction of this model would need about \d+ MiB per server, over the limit of 1024 MiB \(maxQueryBytes\)/ });
  const m = { ...req(1000, 20), spec: spec(1000, 20) };
  t.true(checkPredictRequest(DEFAULT_LIMITS, m, { model: 'txt', shape: [2, 20, 1000] }, () => ['txt']) > 0);
  // Ids sent without their one-hot, or a one-hot of another vocabulary: refused before anything is allocated.
  for (const shape of [[2, 20], [2, 20, 999]])
    t.throws(() => checkPredictRequest(DEFAULT_LIMITS, m, { model: 'txt', shape }, () => ['txt']), { message: new RegExp(`model 'txt' takes token ids \\[batch, 20\\] \\(integers in \\[0, 1000\\)\\), shared one-hot as \\[batch, 20,1000\\], got \\[${shape}\\]`) });
});

test('Pond calibration fits the relus of an Embedding model on token ids, and the calibrated model runs privately like its plaintext', async (t) => {
  const L = tf.layers, v = 50, steps = 8;
  const file = await save(tf.sequential({ layers: [L.embedding({ inputDim: v, outputDim: 8, inputLength: steps }), L.globalAveragePooling1d({}), L.dense({ units: 16, activation: 'relu' }), L.dense({ units: 3 })] }));
  const n = 100, data = Float64Array.from({ length: n * steps }, () => Math.floor(Math.random() * v));
  const { artifacts, report } = calibrateForPond(file, { data, shape: [n, steps] });
  t.is(report.relus.length, 1);
  const c = new tfe.Cluster({ protocol: 'pond' });
  try {
    const lm = tfe.loadLayersModel(artifacts, { cluster: c });
    t.deepEqual(lm.inputEncoding, { oneHot: v });
    // verify shares the ids one-hot (encodeInput) and compares with the calibrated model's float64 twin.
    const rep = await lm.verify({ data: data.subarray(0, 10 * steps), shape: [10, steps] });
    t.true(rep.maxAbsLogitDiff < 1e-2, `max |private - plain| = ${rep.maxAbsLogitDiff}`);
  } finally {
    await c.close();
  }
});
