// Models saved with an input's sizes left open (Keras's Input(shape=(None,)): keras.io's text
// examples, fully convolutional image models), read at a shape the caller fixes (inputShapes;
// lib/api/input_shapes.ts). test/fixtures/keras3_open_length_models.py made them with Keras 3.15.1,
// and graph_models/open_gen.py the same kind exported as GraphModels (a recurrent loop's step count
// then computed from the input's shape: graph_model_sizes.ts). Keras's predict on inputs of the
// fixed size is the reference, privately and in plaintext.
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../lib';
import type { Final } from './helpers/final_rows';
import { graphArtifacts, readGraphFixtures, withFinalActivation } from './helpers/graph_fixtures';

interface Fixture {
  topology: object;
  weights: { name: string; shape: number[]; data: number[] }[];
  x?: number[];
  shape?: number[];
  inputs?: { x: number[]; shape: number[]; name: string }[];
  y: number[];
}
const FIXTURES: Record<string, Fixture> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', 'keras3_open_length_models.json'), 'utf8'));

const artifacts = (f: Fixture, topology: unknown = f.topology): tfe.ModelArtifacts =>
  ({ modelTopology: topology, weightSpecs: f.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })), weightData: new Float32Array(f.weights.flatMap((w) => w.data)).buffer }) as unknown as tfe.ModelArtifacts;

/** The shapes the fixture's inputs have (after the batch): what the caller fixes the open sizes to. */
const shapesOf = (f: Fixture): tfe.InputShapes => (f.inputs ? Object.fromEntries(f.inputs.map((i) => [i.name, i.shape.slice(1)])) : f.shape!.slice(1));
const inputOf = (f: Fixture): tfe.ClientInput =>
  (f.inputs ? Object.fromEntries(f.inputs.map((i) => [i.name, { data: Float64Array.from(i.x), shape: i.shape }])) : { data: Float64Array.from(f.x!), shape: f.shape! }) as tfe.ClientInput;
const worst = (f: Fixture, got: Float64Array, finalActivation?: string): number =>
  Math.max(...f.y.map((v, i) => Math.abs((finalActivation === 'sigmoid' ? 1 / (1 + Math.exp(-got[i])) : got[i]) - v)));

for (const [name, f] of Object.entries(FIXTURES))
  test(`Keras 3 model ${name}, saved with open sizes: refused as saved, naming inputShapes; at the shape given, as Keras predicted, privately and in plaintext`, async (t) => {
    const before = JSON.stringify(f.topology);
    t.throws(() => tfe.loadPlainModel(artifacts(f)), { message: /open \(null\).*inputShapes.*--input-shape/ });
    const shapes = shapesOf(f);
    const plain = tfe.loadPlainModel(artifacts(f), { inputShapes: shapes });
    t.true(worst(f, plain.forward(inputOf(f)).data, plain.finalActivation) < 1e-5, 'plaintext');
    t.is(JSON.stringify(f.topology), before, "the caller's topology is not changed");
    const c = new tfe.Cluster({ protocol: 'securenn' });
    try {
      const m = tfe.loadLayersModel(artifacts(f), { cluster: c, inputShapes: shapes });
      const x = inputOf(f);
      const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => x)));
      const err = worst(f, out.data, m.finalActivation);
      t.true(err < 2e-3, `securenn: max |private - Keras| = ${err}`);
    } finally {
      await c.close();
    }
  });

const GRAPHS = readGraphFixtures('open_graph_models.json');

for (const [name, f] of Object.entries(GRAPHS))
  test(`GraphModel ${name}, exported with open sizes: refused as saved, naming inputShapes; at the shape given, as Keras predicted, privately and in plaintext`, async (t) => {
    t.throws(() => tfe.loadPlainModel(graphArtifacts(f.model)), { message: /Placeholder\): the input's shape \[-1,-1.*unknown size beyond the batch axis: fix it where the model is read, inputShapes/ });
    const x = { data: Float64Array.from(f.x), shape: f.shape };
    const classes = f.y.length / f.shape[0];
    const plain = tfe.loadPlainModel(graphArtifacts(f.model), { inputShapes: f.shape.slice(1) });
    const err = (got: Float64Array, fin?: Final) => Math.max(...withFinalActivation(got, fin, classes).map((v, i) => Math.abs(v - f.y[i])));
    t.true(err(plain.forward(x).data, plain.finalActivation) < 1e-5, 'plaintext');
    const c = new tfe.Cluster({ protocol: 'securenn' });
    try {
      const m = tfe.loadLayersModel(graphArtifacts(f.model), { cluster: c, inputShapes: f.shape.slice(1) });
      const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => x)));
      const e = err(out.data, m.finalActivation);
      t.true(e < 5e-3, `securenn: max |private - Keras| = ${e}`);
    } finally {
      await c.close();
    }
  });

test('inputShapes that do not fit the model are refused, naming the input and the sizes', (t) => {
  const one = artifacts(FIXTURES.o3_conv1d_open_steps); // [null, 4]
  const two = artifacts(FIXTURES.o5_two_open_inputs); // title [null], signal [null, 3]
  const plain = (a: tfe.ModelArtifacts, inputShapes: unknown) => tfe.loadPlainModel(a, { inputShapes: inputShapes as tfe.InputShapes });
  t.throws(() => plain(one, [10]), { message: /input '.*' has 2 axes after the batch \(\[null,4\]\), and the shape given for it has 1 \(\[10\]\)/ });
  t.throws(() => plain(one, [10, 5]), { message: /has size 4 at axis 2 \(\[null,4\]\), and the shape given for it says 5 .*only its open sizes \(null\) can be given/ });
  t.throws(() => plain(one, [0, 4]), { message: /size 0: sizes are integers from 1 to 16777216/ });
  t.throws(() => plain(one, [2.5, 4]), { message: /size 2\.5/ });
  t.throws(() => plain(one, []), { message: /must be a list of sizes after the batch axis/ });
  t.throws(() => plain(one, 'x'), { message: /one shape \(\[128\]\) or shapes by input name/ });
  t.throws(() => plain(two, [5]), { message: /the model has 2 inputs \(title, signal\): give inputShapes by name/ });
  t.throws(() => plain(two, { title: [5], sound: [7, 3] }), { message: /names 'sound', which is not an input of the model \(its inputs: title, signal\)/ });
  // Only some inputs given: the other is still open, and refused as saved.
  t.throws(() => plain(two, { title: [5] }), { message: /input layer 'signal'.*open \(null\)/ });
  // A fixed size may be given as it is; a model without open sizes loads as it would without.
  t.notThrows(() => plain(one, [3, 4]));
  const fixed = tfe.loadPlainModel(artifacts(FIXTURES.o3_conv1d_open_steps), { inputShapes: [10, 4] });
  t.deepEqual(fixed.inputShape, [10, 4]);
});
