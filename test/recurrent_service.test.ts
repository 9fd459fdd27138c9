// A recurrent text model through the service with default options: Embedding -> LSTM -> Dense
// deployed by the owner (SecureNN, chosen for its gates' comparisons) and under FSS, queried with
// token ids by the Node client; private answers against the float64 plaintext of the same model.
import { createRequire } from 'node:module';

import test from 'ava';

import { clusterForFile } from './helpers/service';
import { saveTfjsModel } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const V = 30, T = 6;

const cluster = clusterForFile(test);

test.serial('Embedding -> LSTM -> Dense deployed with default options (and under fss) predicts like its plaintext', async (t) => {
  const L = tf.layers;
  const model = tf.sequential({ layers: [L.embedding({ inputDim: V, outputDim: 5, inputLength: T }), L.lstm({ units: 6, biasInitializer: 'randomNormal' }), L.dense({ units: 3, activation: 'softmax' })] });
  const file = await saveTfjsModel(tf, model, 'tfe-lstm-svc-');
  const owner = await cluster().connect({ asOwner: true });
  await owner.deploy(file, { name: 'lstm' });
  await owner.deploy(file, { name: 'lstm-fss', protocol: 'fss' });
  await owner.close();
  const batch = 2;
  const x = Float64Array.from({ length: batch * T }, () => Math.floor(Math.random() * V));
  const want: number[] = model.predict(tf.tensor(Int32Array.from(x), [batch, T], 'int32')).arraySync().flat();
  const client = await cluster().connect();
  try {
    t.is((await client.models()).find((m) => m.name === 'lstm')?.protocol, 'securenn');
    for (const name of ['lstm', 'lstm-fss']) {
      const p = await client.predict(name, { data: x, shape: [batch, T] });
      t.deepEqual(p.shape, [batch, 3]);
      // The softmax is the client's, over logits the service returns.
      const err = Math.max(...Array.from(p.probabilities, (v, i) => Math.abs(v - want[i])));
      t.true(err < 5e-3, `${name}: max |private - tfjs| = ${err}`);
    }
  } finally {
    await client.close();
  }
});
