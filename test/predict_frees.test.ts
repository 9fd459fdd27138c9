// In process, predict and predictOutputs free every tensor they make on the way once the output
// is ready, as TensorFlow.js's predict does: the caller owns the input and the output, and after
// disposing them the native tensors are what they were. They used to hold each layer's shares
// on every party until the garbage collector ran (which native memory does not prompt).
// Alone in its file (ava gives each file its own process), so memory() counts only these tensors.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { memory } from '../lib/ring';
import { mlp } from './helpers/model_files';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

/** One query: its input and outputs disposed after the answer. */
async function query(m: tfe.PrivateModel, several: boolean): Promise<void> {
  const x = m.defineInput('prediction-client', () => ({ data: Float64Array.from({ length: m.inputShape[0] }, () => Math.random()), shape: [1, m.inputShape[0]] }));
  const ys = several ? m.predictOutputs(x) : [m.predict(x)];
  for (const y of ys) await tfe.defineOutput('prediction-client', y);
  await Promise.all([x, ...ys].map((t) => t.dispose()));
}

/** A tfjs model with two heads (predictOutputs unpacks the packed output). */
async function twoHeads(): Promise<tfe.ModelArtifacts> {
  const input = tf.input({ shape: [12] });
  const h = tf.layers.dense({ units: 8, activation: 'relu' }).apply(input);
  const model = tf.model({ inputs: input, outputs: [tf.layers.dense({ units: 3 }).apply(h), tf.layers.dense({ units: 2 }).apply(h)] });
  let saved: tfe.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a: tfe.ModelArtifacts) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  return saved!;
}

for (const protocol of ['securenn', 'fss', 'pond'] as const)
  test.serial(`${protocol}: predict and predictOutputs leave no tensor behind once their input and outputs are disposed`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    try {
      const opts = protocol === 'pond' ? { cluster: c, uncalibrated: true } : { cluster: c };
      const models = [tfe.loadLayersModel(mlp([12, 16, 10]).file, opts), tfe.loadLayersModel(await twoHeads(), opts)];
      // Two queries first: server2 keeps a weight's mask from its second use (its cache).
      for (const [k, m] of models.entries()) for (let q = 0; q < 2; q++) await query(m, k === 1);
      const base = memory();
      for (const [k, m] of models.entries()) for (let q = 0; q < 3; q++) await query(m, k === 1);
      await new Promise((r) => setTimeout(r, 50));
      t.is(memory().tensors, base.tensors, 'native tensors');
      t.is(memory().bytes, base.bytes, 'native bytes');
    } finally {
      await c.close();
    }
  });
