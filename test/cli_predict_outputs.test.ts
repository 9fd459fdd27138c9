// tfe predict reads a model's ending (from a review: it printed the argmax for every model, so a
// one-unit sigmoid classifier predicted 0 with p = 1 for every input, and a regression never
// showed its value). Against TensorFlow.js's own predict of the same model.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';

import test from 'ava';

import { tfeCli } from '../lib/serve/local_cluster';
import { startCluster } from './helpers/service';
import { saveTfjsModel } from './helpers/tfjs_save';
import { kerasArtifacts, kerasFixtures } from './helpers/keras_fixtures';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

test('tfe predict: a binary sigmoid, a multi-label sigmoid and a regression, each predicted as the model reads', async (t) => {
  const c = await startCluster({ tls: false });
  try {
    await c.ready();
    const L = tf.layers;
    const owner = await c.connect({ asOwner: true });
    // Seeded weights: no output lands near a threshold, where the encoding's error could flip it.
    const init = (seed: number) => ({ kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' });
    const models = {
      binary: tf.sequential({ layers: [L.dense({ inputShape: [4], units: 1, activation: 'sigmoid', ...init(1) })] }),
      labels: tf.sequential({ layers: [L.dense({ inputShape: [4], units: 3, activation: 'sigmoid', ...init(3) })] }),
      value: tf.sequential({ layers: [L.dense({ inputShape: [4], units: 1, ...init(4) })] }),
    };
    for (const [name, m] of Object.entries(models)) await owner.deploy(await saveTfjsModel(tf, m, `tfe-ends-${name}-`), { name, protocol: 'pond' });
    await owner.close();
    const inputs = [[1, 2, -1, 0.5], [-1, -2, 1, -0.5], [1, 2, 3, 4]];
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-ends-')), 'in.json');
    fs.writeFileSync(file, JSON.stringify({ images: inputs }));
    const run = async (name: string) => (await promisify(execFile)(process.execPath, [tfeCli(), 'predict', '--model', name, '--input', file, '--config', c.config, '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    for (const [name, m] of Object.entries(models)) {
      const want: number[][] = m.predict(tf.tensor2d(inputs)).arraySync();
      if (name !== 'value') t.true(want.flat().every((v) => Math.abs(v - 0.5) > 0.02), `${name}: no output near 0.5 (${want})`);
      if (name === 'binary') t.true(new Set(want.map((w) => w[0] >= 0.5)).size === 2, `${name}: both classes among the answers (${want})`);
      const got = await run(name);
      t.is(got.length, inputs.length);
      got.forEach((g, i) => {
        const w = want[i];
        t.true(w.every((v, j) => Math.abs(g.outputs[j] - v) < 1e-2), `${name} ${i}: outputs ${g.outputs} vs ${w}`);
        if (name === 'binary') {
          t.is(g.prediction, w[0] >= 0.5 ? 1 : 0, `${name} ${i}`);
          t.true(Math.abs(g.probabilities[0] - w[0]) < 1e-2);
        } else if (name === 'labels') t.deepEqual(g.prediction, w.flatMap((v, j) => (v >= 0.5 ? [j] : [])), `${name} ${i}`);
        else {
          t.true(Math.abs(g.prediction - w[0]) < 1e-2, `${name} ${i}: ${g.prediction} vs ${w[0]}`);
          t.is(g.probabilities, undefined, 'a regression has no probabilities');
        }
      });
    }
    // The text form shows a binary classifier's probability and a regression's value.
    const text = (await promisify(execFile)(process.execPath, [tfeCli(), 'predict', '--model', 'value', '--input', file, '--config', c.config])).stdout;
    t.regex(text, /input 0: predicted -?\d+\.\d+.*, outputs \[-?\d/);

    // Two inputs by name, two outputs: each output predicted as it reads, under its name.
    const a = tf.input({ shape: [4], name: 'a' }), b = tf.input({ shape: [2], name: 'b' });
    const joined = L.concatenate().apply([a, b]);
    const two = tf.model({ inputs: [a, b], outputs: [L.dense({ units: 3, activation: 'softmax', name: 'kind', ...init(5) }).apply(joined), L.dense({ units: 1, name: 'size', ...init(6) }).apply(joined)] });
    const o2 = await c.connect({ asOwner: true });
    await o2.deploy(await saveTfjsModel(tf, two, 'tfe-ends-two-'), { name: 'two', protocol: 'pond' });
    await o2.close();
    const bs = [[0.5, -1], [2, 1], [-1, -3]];
    fs.writeFileSync(file, JSON.stringify({ b: bs, a: inputs, labels: [0, 1, 2] }));
    const [kind, size]: number[][][] = two.predict([tf.tensor2d(inputs), tf.tensor2d(bs)]).map((o: { arraySync(): number[][] }) => o.arraySync());
    const got = await run('two');
    t.is(got.length, 3);
    got.forEach((g, i) => {
      t.deepEqual(g.outputNames, ['kind', 'size']);
      t.is(g.predictions[0], kind[i].indexOf(Math.max(...kind[i])), `two ${i}: kind`);
      t.true(Math.abs(g.predictions[1] - size[i][0]) < 1e-2, `two ${i}: size ${g.predictions[1]} vs ${size[i][0]}`);
      t.true(kind[i].every((v, j) => Math.abs(g.outputs[0][j] - v) < 1e-2), `two ${i}: kind's outputs`);
      t.is(g.label, i);
    });
    const twoText = (await promisify(execFile)(process.execPath, [tfeCli(), 'predict', '--model', 'two', '--input', file, '--config', c.config])).stdout;
    t.regex(twoText, /input 0: kind \d \(p=0\.\d{3}\), size -?\d+\.\d+ \(true 0\)/);
    const listed = (await promisify(execFile)(process.execPath, [tfeCli(), 'models', '--config', c.config])).stdout;
    t.regex(listed, /^two {2}pond {2}inputs a \[4\], b \[2\] {2}outputs kind, size {2}InputLayer:a > InputLayer:b > Concatenate/m);
  } finally {
    await c.stop();
  }
});

test('exponential and log_softmax outputs (Keras 3 models): the client applies them, tfe predict and the Node client answer what Keras predicted', async (t) => {
  const all = kerasFixtures('keras3_final_models.json');
  const artifacts = kerasArtifacts;
  const c = await startCluster({ tls: false });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    // A one-unit rate, a classifier's log-probabilities and two rates; under the exact protocols
    // and Pond (no comparison after the last product).
    const cases = [['f1_poisson_dense_exponential', 'fss'], ['f3_dense_log_softmax', 'securenn'], ['f5_ops_exp', 'pond']] as const;
    for (const [name, protocol] of cases) await owner.deploy(artifacts(all[name]) as never, { name: name.slice(0, 2), protocol });
    const listed = await owner.models();
    t.deepEqual(cases.map(([n]) => listed.find((m) => m.name === n.slice(0, 2))?.finalActivation), ['exponential', 'log_softmax', 'exponential']);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-final-'));
    for (const [name] of cases) {
      const f = all[name], n = f.shape[0], width = f.yshape[f.yshape.length - 1], per = f.x.length / n;
      const rows = Array.from({ length: n }, (_, i) => f.x.slice(i * per, (i + 1) * per));
      const want = Array.from({ length: n }, (_, i) => f.y.slice(i * width, (i + 1) * width));
      // The Node client: outputs as Keras's predict gives them.
      const p = await owner.predict(name.slice(0, 2), { data: Float64Array.from(f.x), shape: f.shape });
      t.is(p.finalActivation, name.startsWith('f3') ? 'log_softmax' : 'exponential');
      want.flat().forEach((v, k) => t.true(Math.abs(p.outputs[k] - v) <= 2e-3 * Math.max(1, Math.abs(v)), `${name} value ${k}: ${p.outputs[k]} vs Keras ${v}`));
      // tfe predict --json: a one-unit rate's value is its prediction; a classifier's, its class.
      const file = path.join(dir, `${name}.json`);
      fs.writeFileSync(file, JSON.stringify({ images: rows }));
      const got = (await promisify(execFile)(process.execPath, [tfeCli(), 'predict', '--model', name.slice(0, 2), '--input', file, '--config', c.config, '--json'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
      t.is(got.length, n);
      got.forEach((g, i) => {
        t.true(want[i].every((v, j) => Math.abs(g.outputs[j] - v) <= 2e-3 * Math.max(1, Math.abs(v))), `${name} ${i}: outputs ${g.outputs} vs Keras ${want[i]}`);
        if (width === 1) t.true(Math.abs(g.prediction - want[i][0]) <= 2e-3 * Math.max(1, want[i][0]), `${name} ${i}: prediction ${g.prediction}`);
        else t.is(g.prediction, want[i].indexOf(Math.max(...want[i])), `${name} ${i}: class`);
      });
    }
    await owner.close();
  } finally {
    await c.stop();
  }
});
