// The 3-D layers (lib/api/layers_3d.ts) beyond their Keras 3 models' predictions
// (test/keras3_saved_models.test.ts on keras3_more_layer_models.json: a CT-scan classifier, SAME
// and VALID padding, strides, dilation, average and max pools, upsampling, padding, cropping, a
// 3-D U-Net's Conv3DTranspose):
// Pond runs the linear ones and refuses the maxima; settings each layer does not have are refused.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { FIXTURES, fromFixture as artifacts } from './helpers/more_layer_models';
import { tfjsArtifacts } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');


test('Pond: Conv3D, average pooling, padding and cropping as Keras; a max pool over a volume refused', async (t) => {
  const f = FIXTURES.v2_volume_geometry;
  const pond = new tfe.Cluster({ protocol: 'pond' });
  try {
    const m = tfe.loadLayersModel(artifacts(f), { cluster: pond });
    const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: Float64Array.from(f.x!), shape: f.shape! }))));
    const err = Math.max(...f.y.map((v, i) => Math.abs(out.data[i] - v)));
    t.true(err < 2e-3, `max |Pond - Keras| = ${err}`);
    t.throws(() => tfe.loadLayersModel(artifacts(FIXTURES.v3_volume_max_upsampling), { cluster: pond }), { message: /MaxPooling3D.*(exact protocol|securenn)/ });
  } finally {
    await pond.close();
  }
});

test('3-D layers: settings they do not have, and inputs that are no volume, refused by name', (t) => {
  const f = FIXTURES.v2_volume_geometry;
  const edited = (cls: string, edit: (c: Record<string, unknown>) => void) => {
    const topo = structuredClone(f.topology);
    edit(topo.config.layers.find((l) => l.class_name === cls)!.config);
    return artifacts(f, topo);
  };
  const refused = (a: tfe.ModelArtifacts, message: RegExp) => t.throws(() => tfe.loadPlainModel(a).forward({ data: Float64Array.from(f.x!), shape: f.shape! }), { message });
  refused(edited('Conv3D', (c) => (c.data_format = 'channels_first')), /\(Conv3D\): data_format = "channels_first" is not supported/);
  refused(edited('Conv3D', (c) => (c.groups = 3)), /\(Conv3D\): groups = 3 is not supported/);
  refused(edited('Conv3D', (c) => (c.dilation_rate = [2, 1, 1])), /\(Conv3D\): dilation_rate \[2,1,1\] with strides \[2,1,2\]/);
  refused(edited('Conv3D', (c) => (c.kernel_size = [3, 2])), /\(Conv3D\): kernel_size = \[3,2\] is not supported: one positive integer or three/);
  refused(edited('AveragePooling3D', (c) => (c.pool_size = [2, 0, 2])), /\(AveragePooling3D\): pool_size = \[2,0,2\] is not supported/);
  refused(edited('Cropping3D', (c) => (c.cropping = [[9, 9], 0, 0])), /\(Cropping3D\): crops .* nothing would be left|nothing would be left/);
  refused(edited('ZeroPadding3D', (c) => (c.padding = [1, -1, 0])), /\(ZeroPadding3D\): padding = \[1,-1,0\] is not supported/);
  // Sizes from the topology, refused before anything is made for them.
  refused(edited('ZeroPadding3D', (c) => (c.padding = [1e6, 1e6, 0])), /\(ZeroPadding3D\): its output .* would hold \d+ values, more than the 268435456 one tensor may/);
  refused(edited('Conv3D', (c) => (c.strides = 1, c.kernel_size = [1, 1, 1])), /\(Conv3D\): weight 'kernel' has shape \[3,2,3,1,3\], expected \[1,1,1,_,3\]/);
  const u = FIXTURES.v4_unet_transpose;
  const up = (edit: (c: Record<string, unknown>) => void) => {
    const topo = structuredClone(u.topology);
    edit(topo.config.layers.find((l) => l.class_name === 'Conv3DTranspose')!.config);
    return artifacts(u, topo);
  };
  t.throws(() => tfe.loadPlainModel(up((c) => (c.output_padding = [1, 1, 1]))), { message: /\(Conv3DTranspose\): output_padding = \[1,1,1\] is not supported/ });
  t.throws(() => tfe.loadPlainModel(up((c) => (c.dilation_rate = 2))), { message: /\(Conv3DTranspose\): dilation_rate = 2 is not supported/ });
  // A rank-4 input to a 3-D layer.
  const flat = structuredClone(f.topology) as unknown as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
  flat.config.layers[0].config.batch_shape = [null, 8, 7, 6];
  t.throws(() => tfe.loadPlainModel(artifacts(f, flat)), { message: /\(Conv3D\).*(rank-5 input|kernel)/ });
});

test("a TensorFlow.js model over volumes (conv3d, averagePooling3d and maxPooling3d, SAME and VALID) predicts as tfjs, privately and in plaintext", async (t) => {
  const L = tf.layers;
  const m = tf.sequential({ layers: [L.conv3d({ filters: 3, kernelSize: 2, padding: 'same', strides: 2, inputShape: [6, 5, 4, 2], activation: 'relu', biasInitializer: 'randomNormal' }), L.averagePooling3d({ poolSize: 2, padding: 'same', strides: 1 }), L.maxPooling3d({ poolSize: [1, 2, 2] }), L.flatten(), L.dense({ units: 2 })] });
  const a = (await tfjsArtifacts(tf, m)) as tfe.ModelArtifacts;
  const shape = [2, 6, 5, 4, 2], x = Float64Array.from({ length: 2 * 6 * 5 * 4 * 2 }, () => 4 * Math.random() - 2);
  const want: number[] = Array.from(m.predict(tf.tensor(Array.from(x), shape)).dataSync());
  const plain = tfe.loadPlainModel(a).predict({ data: x, shape });
  t.true(Math.max(...want.map((v, i) => Math.abs(plain.data[i] - v))) < 1e-4, 'plaintext');
  const c = new tfe.Cluster({ protocol: 'fss' });
  try {
    const lm = tfe.loadLayersModel(a, { cluster: c });
    const out = await tfe.defineOutput('prediction-client', lm.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape }), c)));
    const err = Math.max(...want.map((v, i) => Math.abs(out.data[i] - v)));
    t.true(err < 2e-3, `FSS: max |private - tfjs| = ${err}`);
  } finally {
    await c.close();
  }
});
