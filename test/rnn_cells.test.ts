// RNN over cells (lib/api/rnn_cells.ts): TensorFlow.js's tf.layers.rnn over one cell and over
// stacked cells, against tfjs's own predict, privately under the exact protocols and in plaintext;
// what is refused. (Keras 3's RNN(LSTMCell), StackedRNNCells, Bidirectional(RNN(cell)), masks and
// return_state: test/keras3_saved_models.test.ts on keras3_more_layer_models.json.)
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { tfjsArtifacts } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

const STEPS = 5, FEATURES = 3, BATCH = 3;
const L = () => tf.layers;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const CASES: [string, () => any][] = [
  ['rnn(lstmCell), every step -> rnn([gruCell, simpleRNNCell])', () =>
    tf.sequential({ layers: [L().rnn({ cell: L().lstmCell({ units: 4, biasInitializer: 'randomNormal' }), returnSequences: true, inputShape: [STEPS, FEATURES] }), L().rnn({ cell: [L().gruCell({ units: 3 }), L().simpleRNNCell({ units: 2 })] })] })],
  ['rnn([simpleRNNCell, lstmCell]) backwards, every step -> Flatten -> Dense', () =>
    tf.sequential({ layers: [L().rnn({ cell: [L().simpleRNNCell({ units: 3, biasInitializer: 'randomNormal' }), L().lstmCell({ units: 2, recurrentActivation: 'sigmoid' })], goBackwards: true, returnSequences: true, inputShape: [STEPS, FEATURES] }), L().flatten(), L().dense({ units: 2 })] })],
];

const input = () => Float32Array.from({ length: BATCH * STEPS * FEATURES }, () => 4 * Math.random() - 2);

for (const [name, build] of CASES)
  test(`${name}: tfjs's predictions, privately (SecureNN, FSS) and in plaintext`, async (t) => {
    const m = build();
    const a = (await tfjsArtifacts(tf, m)) as tfe.ModelArtifacts;
    const x = input();
    const want: number[] = m.predict(tf.tensor(x, [BATCH, STEPS, FEATURES])).arraySync().flat(2);
    const plain = tfe.loadPlainModel(a).predict({ data: Float64Array.from(x), shape: [BATCH, STEPS, FEATURES] });
    t.true(Math.max(...Array.from(plain.data, (g, i) => Math.abs(g - want[i]))) < 1e-4, 'plaintext');
    for (const protocol of ['securenn', 'fss'] as const) {
      const c = new tfe.Cluster({ protocol });
      try {
        const lm = tfe.loadLayersModel(a, { cluster: c });
        const out = await tfe.defineOutput('prediction-client', lm.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [BATCH, STEPS, FEATURES] }), c)));
        const err = Math.max(...Array.from(out.data, (g, i) => Math.abs(g - want[i])));
        t.true(err < 5e-3, `${protocol}: max |private - tfjs| = ${err}`);
      } finally {
        await c.close();
      }
    }
    // The servers receive the layers the cells are: no RNN.
    const classes = (readLayersModel(a).json.modelTopology as unknown as { config: { layers: { class_name: string }[] } }).config.layers.map((l) => l.class_name);
    t.false(classes.includes('RNN'), `[${classes}]`);
  });

test('RNN: other cells, stacked cells with their states or inside Bidirectional, and settings its cell lacks are refused by name', async (t) => {
  type Cfg = Record<string, unknown>;
  const base = (await tfjsArtifacts(tf, tf.sequential({ layers: [L().rnn({ cell: L().lstmCell({ units: 2 }), inputShape: [STEPS, FEATURES] })] }))) as tfe.ModelArtifacts;
  const stacked = (await tfjsArtifacts(tf, tf.sequential({ layers: [L().rnn({ cell: [L().gruCell({ units: 2 }), L().gruCell({ units: 2 })], inputShape: [STEPS, FEATURES] })] }))) as tfe.ModelArtifacts;
  const edited = (a: tfe.ModelArtifacts, edit: (rnn: { config: Cfg }) => void) => {
    const b = structuredClone(a);
    edit((b.modelTopology as unknown as { config: { layers: { config: Cfg }[] } }).config.layers[0]);
    return b;
  };
  const refused = (a: tfe.ModelArtifacts, message: RegExp) => t.throws(() => tfe.loadPlainModel(a), { message });
  refused(edited(base, (r) => ((r.config.cell as { class_name: string }).class_name = 'PeepholeLSTMCell')), /\(RNN\): its cell '.*' \(PeepholeLSTMCell\) is not supported; an RNN over LSTMCell, GRUCell, SimpleRNNCell is/);
  refused(edited(base, (r) => delete r.config.cell), /\(RNN\): has no cell/);
  refused(edited(base, (r) => (r.config.zero_output_for_mask = true)), /zero_output_for_mask = true is not supported/);
  refused(edited(base, (r) => (r.config.units = 7)), /\(RNN\): its setting units = 7 differs from its cell's 2/);
  refused(edited(base, (r) => (r.config.stateful = true)), /stateful = true is not supported/);
  refused(edited(stacked, (r) => (r.config.return_state = true)), /return_state = true with stacked cells/);
  refused(edited(stacked, (r) => (r.config.some_setting = 1)), /\(RNN\): setting 'some_setting' is not supported/);
  const bidi = structuredClone(base);
  const layers = (bidi.modelTopology as unknown as { config: { layers: Cfg[] } }).config.layers;
  const rnn = structuredClone((stacked.modelTopology as unknown as { config: { layers: Cfg[] } }).config.layers[0]);
  layers[0] = { class_name: 'Bidirectional', config: { name: 'bi', layer: rnn, merge_mode: 'concat', batch_input_shape: [null, STEPS, FEATURES] } };
  refused(bidi, /stacked cells inside a wrapper \(Bidirectional\) are not supported/);
});
