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

/**
 * The native memory once the frees a query left in flight (each party's, after its last message)
 * have run: readings 25 ms apart until two agree (2 s at most). Taken before and after, so a
 * baseline read while the warm-up's frees ran (CI once saw 140 tensors then, 50 after) is not
 * one.
 */
async function settled(): Promise<{ tensors: number; bytes: number }> {
  let last = memory();
  for (let i = 0; i < 80; i++) {
    await new Promise((r) => setTimeout(r, 25));
    const now = memory();
    if (now.tensors === last.tensors && now.bytes === last.bytes) return now;
    last = now;
  }
  return last;
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
      const base = await settled();
      for (const [k, m] of models.entries()) for (let q = 0; q < 3; q++) await query(m, k === 1);
      const after = await settled();
      t.is(after.tensors, base.tensors, 'native tensors');
      t.is(after.bytes, base.bytes, 'native bytes');
    } finally {
      await c.close();
    }
  });
