// ConvLSTM2D and ConvLSTM1D (lib/api/layers_conv_lstm.ts), beyond their Keras 3 models'
// predictions (test/keras3_saved_models.test.ts on keras3_more_layer_models.json, cl*): tfjs's
// ConvLSTM2D (its default hard_sigmoid gates) against tfjs's own predict, every step returned or
// the last, backwards, VALID with strides; Pond, and settings the layer does not have, refused by
// name; a next-frame model over the service.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { tfjsArtifacts } from './helpers/tfjs_save';
import { answersAsKeras, FIXTURES, fromFixture } from './helpers/more_layer_models';
import { estimateQueryBytes } from '../lib/serve/limits';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

test("tfjs's ConvLSTM2D (hard_sigmoid gates) predicts as tfjs, privately (SecureNN, FSS) and in plaintext", async (t) => {
  const L = tf.layers;
  const shape = [3, 7, 6, 2];
  for (const cfg of [
    { filters: 3, kernelSize: 3, padding: 'same', returnSequences: true },
    { filters: 2, kernelSize: [3, 2], strides: [2, 1], padding: 'valid', goBackwards: true },
    { filters: 2, kernelSize: 2, activation: 'relu', recurrentActivation: 'sigmoid', useBias: false },
  ]) {
    const m = tf.sequential({ layers: [L.convLstm2d({ ...cfg, inputShape: shape, kernelInitializer: tf.initializers.randomNormal({ stddev: 0.5 }) }), L.flatten()] });
    const a = (await tfjsArtifacts(tf, m)) as tfe.ModelArtifacts;
    const x = Float64Array.from({ length: 2 * shape.reduce((p, q) => p * q, 1) }, () => 2 * Math.random() - 1);
    const want: number[] = Array.from(m.predict(tf.tensor(Array.from(x), [2, ...shape])).dataSync());
    const plain = tfe.loadPlainModel(a).predict({ data: x, shape: [2, ...shape] });
    const perr = Math.max(...want.map((v, i) => Math.abs(plain.data[i] - v)));
    t.true(perr < 1e-5, `${JSON.stringify(cfg)}: max |plain - tfjs| = ${perr}`);
    for (const protocol of ['securenn', 'fss'] as const) {
      const c = new tfe.Cluster({ protocol });
      try {
        const out = await tfe.defineOutput('prediction-client', tfe.loadLayersModel(a, { cluster: c }).predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [2, ...shape] }), c)));
        const err = Math.max(...want.map((v, i) => Math.abs(out.data[i] - v)));
        t.true(err < 2e-3, `${JSON.stringify(cfg)}, ${protocol}: max |private - tfjs| = ${err}`);
      } finally {
        await c.close();
      }
    }
  }
});

test('ConvLSTM: Pond, and settings the layer does not have, refused by name', (t) => {
  const f = FIXTURES.cl3_conv_lstm_1d;
  const edited = (edit: (c: Record<string, unknown>) => void) => {
    const topo = structuredClone(f.topology);
    edit(topo.config.layers.find((l) => l.class_name === 'ConvLSTM1D')!.config);
    return fromFixture(f, topo);
  };
  const pond = new tfe.Cluster({ protocol: 'pond' });
  try {
    t.throws(() => tfe.loadLayersModel(fromFixture(f), { cluster: pond }), { message: /ConvLSTM1D.*(exact protocol|securenn)/ });
  } finally {
    void pond.close();
  }
  t.throws(() => tfe.loadPlainModel(edited((c) => (c.dilation_rate = [2]))), { message: /\(ConvLSTM1D\): dilation_rate = \[2\] is not supported/ });
  t.throws(() => tfe.loadPlainModel(edited((c) => (c.stateful = true))), { message: /\(ConvLSTM1D\): stateful = true is not supported/ });
  t.throws(() => tfe.loadPlainModel(edited((c) => (c.data_format = 'channels_first'))), { message: /\(ConvLSTM1D\): data_format = "channels_first" is not supported/ });
  t.throws(() => tfe.loadPlainModel(edited((c) => (c.kernel_size = [2, 2]))), { message: /\(ConvLSTM1D\): kernel_size = \[2,2\] is not supported: one positive integer/ });
});

test('over the service: the next-frame model (two ConvLSTM2D, a Conv3D) answers as Keras under FSS', (t) => answersAsKeras(t, FIXTURES.cl1_next_frame, 'frames', 'fss'));

test('the per-query memory estimate follows a ConvLSTM2D: its steps, convolutions and gates, and its output\'s shape', (t) => {
  const topo = (f: number, seq: boolean) => ({ class_name: 'Sequential', config: { layers: [
    { class_name: 'ConvLSTM2D', config: { name: 'c', batch_input_shape: [null, 6, 16, 16, 2], filters: f, kernel_size: [3, 3], padding: 'same', return_sequences: seq } },
    { class_name: 'Activation', config: { name: 'a', activation: 'relu' } },
  ] } });
  const est = (f: number, seq: boolean) => estimateQueryBytes({ topology: topo(f, seq) as never, protocol: 'fss', inputShape: [6, 16, 16, 2] }, 1);
  // 6 steps x 16 x 16 cells x F filters, each with five gate activations (FSS keys of 100+ words).
  t.true(est(8, false) - est(1, false) >= 8 * 6 * 256 * 7 * 5 * 100, `${est(8, false)} vs ${est(1, false)}`);
  // Every step returned: the relu after it compares six times the values (a key each).
  t.true(est(8, true) - est(8, false) >= 8 * 5 * 256 * 8 * 100, `${est(8, true)} vs ${est(8, false)}`);
});
