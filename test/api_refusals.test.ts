// The in-process API refuses what it would otherwise ignore or get wrong (from a review of the
// API's surfaces): options it does not know or that belong to another protocol, a relu model
// under Pond without the owner's consent (deploy refused it; loadLayersModel ran it and gave
// wrong answers), a protocol changed under a loaded model, and inputs that were never shared.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { saveTfjsModel } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const L = tf.layers;

test('new Cluster refuses an option it does not know, naming where cluster.json\'s belong, and another protocol\'s options', (t) => {
  const opts = (o: object) => o as tfe.ClusterOptions;
  t.throws(() => new tfe.Cluster(opts({ protocl: 'pond' })), { message: /Cluster: unknown option 'protocl'; the options are players, fixedPoint, .*protocol/ });
  t.throws(() => new tfe.Cluster(opts({ fracBits: 20 })), { message: /unknown option 'fracBits' \(did you mean fixedPoint: \{ fracBits \}\?\)/ });
  t.throws(() => new tfe.Cluster({ fixedPoint: opts({ fracBit: 20 }) as never }), { message: /unknown fixedPoint option 'fracBit'; the options are fracBits, truncation/ });
  t.throws(() => new tfe.Cluster({ protocol: 'securenn', fssGate: 'compact' }), { message: /fssGate is an option of the fss protocol, and this cluster runs securenn: it would have no effect/ });
  t.throws(() => new tfe.Cluster({ fssBits: 32 }), { message: /fssBits is an option of the fss protocol, and this cluster runs securenn \(the default\)/ });
  t.throws(() => new tfe.Cluster({ protocol: 'pond', securennDrelu: 'paper' }), { message: /securennDrelu is an option of the securenn protocol, and this cluster runs pond/ });
  t.throws(() => new tfe.Cluster({ protocol: 'pond', fssCompactFrom: 10 }), { message: /fssCompactFrom is an option of the fss protocol/ });
  // What each protocol does take.
  for (const o of [{ protocol: 'fss', fssGate: 'compact', fssBits: 32, fssCompactFrom: 64 }, { securennDrelu: 'paper' }, { protocol: 'pond', fixedPoint: { fracBits: 12, truncation: 'interactive' } }] as const) {
    const c = new tfe.Cluster(o as tfe.ClusterOptions);
    t.teardown(() => c.close());
  }
  t.pass();
});

async function reluModel(): Promise<string> {
  return saveTfjsModel(tf, tf.sequential({ layers: [L.dense({ inputShape: [4], units: 6, activation: 'relu' }), L.dense({ units: 2 })] }), 'tfe-refusals-');
}

test('a relu model under Pond is refused unless loaded with uncalibrated, as a deploy is; uncalibrated is Pond\'s only', async (t) => {
  const file = await reluModel();
  const pond = new tfe.Cluster({ protocol: 'pond' });
  const exact = new tfe.Cluster();
  t.teardown(async () => void (await Promise.all([pond.close(), exact.close()])));
  t.throws(() => tfe.loadLayersModel(file, { cluster: pond }), { message: /loadLayersModel: the model has relu \(dense_Dense\d+\), and pond replaces relu by a polynomial that is wrong outside \[-4, 4\]: use an exact protocol .* or load it with \{ uncalibrated: true \}/ });
  const m = tfe.loadLayersModel(file, { cluster: pond, uncalibrated: true });
  const x = tfe.definePrivateInput('prediction-client', () => ({ data: [0.5, -0.5, 1, 0], shape: [1, 4] }), pond);
  t.deepEqual((await tfe.defineOutput('prediction-client', m.predict(x))).shape, [1, 2]);
  t.throws(() => tfe.loadLayersModel(file, { cluster: exact, uncalibrated: true }), { message: /uncalibrated applies to Pond only: securenn computes relu exactly/ });
  t.throws(() => tfe.loadLayersModel(file, { cluster: exact, protocol: 'pond' } as never), { message: /unknown option 'protocol' \(the protocol is the cluster's: new tfe.Cluster\(\{ protocol \}\)\)/ });
  t.throws(() => tfe.loadLayersModel(file, { cluster: pond, uncalibrated: 'yes' } as never), { message: /uncalibrated must be true or false/ });
  // A model without relu (linear layers) runs under Pond as it is.
  const linear = await saveTfjsModel(tf, tf.sequential({ layers: [L.dense({ inputShape: [4], units: 2 })] }), 'tfe-refusals-');
  t.notThrows(() => tfe.loadLayersModel(linear, { cluster: pond }));
});

test.serial('predict refuses a protocol set under a loaded model that cannot run it (setProtocol changes the default cluster\'s)', async (t) => {
  const file = await reluModel();
  const before = tfe.getProtocol();
  const c = tfe.local();
  t.teardown(async () => {
    tfe.setProtocol(before);
    await c.close();
  });
  const m = tfe.loadLayersModel(file); // the default cluster, SecureNN
  const x = () => tfe.definePrivateInput('prediction-client', () => ({ data: [1, 2, 3, 4], shape: [1, 4] }), c);
  await tfe.defineOutput('prediction-client', m.predict(x()));
  tfe.setProtocol('pond');
  t.throws(() => m.predict(x()), { message: /predict: the model has relu .* pond replaces relu by a polynomial/ });
  tfe.setProtocol('fss'); // exact too: runs
  t.deepEqual((await tfe.defineOutput('prediction-client', m.predict(x()))).shape, [1, 2]);
});

test('predict names an input that was never shared, and how to share it', async (t) => {
  const c = new tfe.Cluster();
  t.teardown(() => c.close());
  const m = tfe.loadLayersModel(await reluModel(), { cluster: c });
  const share = /predict: takes a private input, which a player shares: model.defineInput\(player, \(\) => x\) or tfe.definePrivateInput\(player, \(\) => x\); got /;
  t.throws(() => m.predict(tf.tensor2d([[1, 2, 3, 4]]) as never), { message: new RegExp(share.source + 'a TensorFlow.js tensor') });
  t.throws(() => m.predict([[1, 2, 3, 4]] as never), { message: new RegExp(share.source + 'an array') });
  t.throws(() => m.predict(new Float32Array(4) as never), { message: new RegExp(share.source + 'a Float32Array') });
  t.throws(() => m.predict(tfe.definePublicInput('prediction-client', () => [[1, 2, 3, 4]], c) as never), { message: new RegExp(share.source + 'a public tensor') });
  // Shared, it runs; defineInput takes what the service's clients take, whole examples in a typed array too.
  const x = m.defineInput('prediction-client', () => [[1, 2, 3, 4]]);
  const one = await tfe.defineOutput('prediction-client', m.predict(x));
  t.deepEqual(one.shape, [1, 2]);
  const two = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => Float32Array.from([1, 2, 3, 4, 1, 2, 3, 4]))));
  t.deepEqual(two.shape, [2, 2]);
  t.true([0, 1].every((j) => Math.abs(two.data[j] - one.data[j]) < 1e-3 && Math.abs(two.data[2 + j] - one.data[j]) < 1e-3));
  t.throws(() => m.defineInput('prediction-client', () => new Float32Array(6)), { message: /6 values are not whole examples of the model's input shape \[4\]/ });
});

test('the plaintext model takes what a client\'s prediction takes, and names anything else', async (t) => {
  const file = await reluModel();
  const plain = tfe.loadPlainModel(file);
  const rows = [[1, 2, 3, 4], [-1, 0.5, 0, 2]];
  const want = [...plain.predict({ data: Float64Array.from(rows.flat()), shape: [2, 4] }).data];
  for (const x of [rows, tf.tensor2d(rows), Float32Array.from(rows.flat()), { data: rows.flat(), shape: [2, 4] }]) t.deepEqual([...plain.predict(x).data], want);
  t.throws(() => plain.predict('rows' as never), { message: /the input: unsupported value \(expected nested arrays, \{data, shape\} or a TensorFlow.js tensor\)/ });
  t.throws(() => plain.predict([[1, 2, 3]]), { message: /the input has shape \[1,3\] \(3 values\); the model takes \[batch, 4\]/ });
});

test('a tfjs model object passed for its artifacts is named, with how to save it', (t) => {
  const model = tf.sequential({ layers: [L.dense({ inputShape: [4], units: 2 })] });
  const c = new tfe.Cluster();
  t.teardown(() => c.close());
  t.throws(() => tfe.loadLayersModel(model, { cluster: c }), { message: /loadLayersModel: this is a TensorFlow.js model object, not its artifacts: save it with tf.io.withSaveHandler/ });
  t.throws(() => tfe.loadPlainModel(model), { message: /this is a TensorFlow.js model object/ });
});

test('a provider\'s list of nested arrays is one tensor; a ragged one says how to give several', async (t) => {
  const c = new tfe.Cluster();
  t.teardown(() => c.close());
  t.throws(() => tfe.definePrivateInput('model-owner', () => [[[1, 2], [3, 4]], [5, 6]] as never, c), { message: /ragged nested array .*; a provider returning several tensors returns each as \{data, shape\} or a TensorFlow.js tensor/ });
  const two = tfe.definePrivateInput('model-owner', () => [{ data: [1, 2, 3, 4], shape: [2, 2] }, { data: [5, 6], shape: [2] }], c);
  t.deepEqual(two.map((x) => x.shape), [[2, 2], [2]]);
});
