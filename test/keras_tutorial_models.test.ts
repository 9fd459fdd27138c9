// TensorFlow's "Transfer learning and fine-tuning" tutorial model, as tf-keras saves it and
// tensorflowjs_converter keeps it: data augmentation inside the model (a nested Sequential of
// RandomFlip and RandomRotation, the identity at inference), MobileNetV2's preprocess_input
// written as operations (x / 127.5 - 1: two TFOpLambda layers), the base model nested and called
// with training=False (here a small stand-in with MobileNetV2's first block: Conv2D, BatchNorm,
// ReLU(6)), then GlobalAveragePooling2D, Dropout and a Dense logit. TensorFlow.js cannot load it
// (TFOpLambda, the augmentation layers). Against the same computation written with tfjs's ops,
// privately (SecureNN, FSS), in plaintext and through the service. And CenterCrop.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { rnd } from './helpers/model_files';
import { startCluster, type TestCluster } from './helpers/service';
import { expectRowsMatch } from './helpers/tfjs_compare';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

const S = 8, C = 3, K = 4;
const kernel = rnd(3 * 3 * C * K, 0.4), gamma = Float32Array.from(rnd(K, 0.5), (v) => v + 1), beta = rnd(K, 0.3), mean = rnd(K, 0.3), variance = Float32Array.from(rnd(K, 0.5), (v) => v + 1), wd = rnd(K, 1), bd = rnd(1, 0.2);
const WEIGHTS: [string, number[], Float32Array][] = [
  ['Conv1/kernel', [3, 3, C, K], kernel],
  ['bn_Conv1/gamma', [K], gamma],
  ['bn_Conv1/beta', [K], beta],
  ['bn_Conv1/moving_mean', [K], mean],
  ['bn_Conv1/moving_variance', [K], variance],
  ['dense/kernel', [K, 1], wd],
  ['dense/bias', [1], bd],
];

const call = (from: string, node = 0, kwargs: object = {}) => [[[from, node, 0, kwargs]]];
const op = (name: string, fn: string, node: unknown[]) => ({ class_name: 'TFOpLambda', config: { name, trainable: true, dtype: 'float32', function: fn }, name, inbound_nodes: [node] });

function tutorialModel(): object {
  const augmentation = {
    class_name: 'Sequential',
    config: {
      name: 'sequential',
      layers: [
        { class_name: 'InputLayer', config: { batch_input_shape: [null, S, S, C], dtype: 'float32', sparse: false, ragged: false, name: 'random_flip_input' } },
        { class_name: 'RandomFlip', config: { name: 'random_flip', trainable: true, dtype: 'float32', mode: 'horizontal', seed: null } },
        { class_name: 'RandomRotation', config: { name: 'random_rotation', trainable: true, dtype: 'float32', factor: 0.2, fill_mode: 'reflect', fill_value: 0.0, interpolation: 'bilinear', seed: null } },
      ],
    },
    name: 'sequential',
    inbound_nodes: call('input_2'),
  };
  const base = {
    class_name: 'Functional',
    config: {
      name: 'mobilenetv2_1.00_160',
      trainable: false,
      layers: [
        { class_name: 'InputLayer', config: { batch_input_shape: [null, S, S, C], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' }, name: 'input_1', inbound_nodes: [] },
        { class_name: 'Conv2D', config: { name: 'Conv1', trainable: false, dtype: 'float32', filters: K, kernel_size: [3, 3], strides: [2, 2], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'linear', use_bias: false }, name: 'Conv1', inbound_nodes: call('input_1') },
        { class_name: 'BatchNormalization', config: { name: 'bn_Conv1', trainable: false, dtype: 'float32', axis: 3, momentum: 0.999, epsilon: 0.001, center: true, scale: true }, name: 'bn_Conv1', inbound_nodes: call('Conv1') },
        { class_name: 'ReLU', config: { name: 'Conv1_relu', trainable: false, dtype: 'float32', max_value: 6.0, negative_slope: 0.0, threshold: 0.0 }, name: 'Conv1_relu', inbound_nodes: call('bn_Conv1') },
      ],
      input_layers: [['input_1', 0, 0]],
      output_layers: [['Conv1_relu', 0, 0]],
    },
    name: 'mobilenetv2_1.00_160',
    inbound_nodes: call('tf.math.subtract', 0, { training: false }),
  };
  return {
    class_name: 'Functional',
    keras_version: '2.15.0',
    backend: 'tensorflow',
    config: {
      name: 'model',
      trainable: true,
      layers: [
        { class_name: 'InputLayer', config: { batch_input_shape: [null, S, S, C], dtype: 'float32', sparse: false, ragged: false, name: 'input_2' }, name: 'input_2', inbound_nodes: [] },
        augmentation,
        op('tf.math.truediv', 'math.truediv', ['sequential', 1, 0, { y: 127.5, name: null }]),
        op('tf.math.subtract', 'math.subtract', ['tf.math.truediv', 0, 0, { y: 1.0, name: null }]),
        base,
        { class_name: 'GlobalAveragePooling2D', config: { name: 'global_average_pooling2d', trainable: true, dtype: 'float32', data_format: 'channels_last', keepdims: false }, name: 'global_average_pooling2d', inbound_nodes: call('mobilenetv2_1.00_160', 1) },
        { class_name: 'Dropout', config: { name: 'dropout', trainable: true, dtype: 'float32', rate: 0.2, noise_shape: null, seed: null }, name: 'dropout', inbound_nodes: call('global_average_pooling2d') },
        { class_name: 'Dense', config: { name: 'dense', trainable: true, dtype: 'float32', units: 1, activation: 'linear', use_bias: true }, name: 'dense', inbound_nodes: call('dropout') },
      ],
      input_layers: [['input_2', 0, 0]],
      output_layers: [['dense', 0, 0]],
    },
  };
}

function artifacts(): tfe.ModelArtifacts {
  const data = new Float32Array(WEIGHTS.flatMap(([, , v]) => [...v]));
  return { modelTopology: tutorialModel(), weightSpecs: WEIGHTS.map(([name, shape]) => ({ name, shape, dtype: 'float32' })), weightData: data.buffer } as unknown as tfe.ModelArtifacts;
}

/** The tutorial's forward pass at inference, with tfjs's ops. */
function reference(x: Float64Array, batch: number): number[][] {
  return tf.tidy(() => {
    const pre = tf.tensor4d(Array.from(x), [batch, S, S, C]).div(127.5).sub(1);
    const conv = tf.conv2d(pre, tf.tensor4d(kernel, [3, 3, C, K]), 2, 'same');
    const bn = conv.sub(tf.tensor1d(mean)).div(tf.tensor1d(variance).add(0.001).sqrt()).mul(tf.tensor1d(gamma)).add(tf.tensor1d(beta));
    const pooled = tf.clipByValue(bn, 0, 6).mean([1, 2]);
    return tf.matMul(pooled, tf.tensor2d(wd, [K, 1])).add(tf.tensor1d(bd)).arraySync();
  });
}

/** Images as the tutorial feeds them: pixel values in [0, 255]; one all black, one all white. */
function images(batch: number): Float64Array {
  const x = Float64Array.from({ length: batch * S * S * C }, () => Math.floor(Math.random() * 256));
  x.fill(0, 0, S * S * C);
  x.fill(255, S * S * C, 2 * S * S * C);
  return x;
}

test('the transfer-learning tutorial model (augmentation, preprocess_input as operations, a nested base) predicts as its computation: SecureNN, FSS, plaintext', async (t) => {
  const a = artifacts(), x = images(6), want = reference(x, 6);
  expectRowsMatch(t, tfe.loadPlainModel(a).forward({ data: x, shape: [6, S, S, C] }).data, want, undefined, 1e-4);
  for (const protocol of [undefined, 'fss'] as const) {
    const c = new tfe.Cluster(protocol ? { protocol } : {});
    try {
      const m = tfe.loadLayersModel(a, { cluster: c });
      const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: [6, S, S, C] }))));
      expectRowsMatch(t, out.data, want, undefined, 1e-2);
    } finally {
      await c.close();
    }
  }
});

test('augmentation layers that are not the identity at inference, or are called in training, are refused by name', (t) => {
  const topo = tutorialModel() as { config: { layers: { name: string; config: { layers?: { class_name: string; config: Record<string, unknown> }[] }; inbound_nodes: unknown }[] } };
  const aug = topo.config.layers[1].config.layers!;
  aug[2] = { class_name: 'RandomCrop', config: { name: 'random_crop', height: 6, width: 6, seed: null } };
  const a = { ...artifacts(), modelTopology: topo } as tfe.ModelArtifacts;
  t.throws(() => tfe.loadPlainModel(a), { message: /random_crop.*RandomCrop is not supported: at inference tf-keras and Keras before 3.8 centre-crop and resize/ });
  const training = tutorialModel() as { config: { layers: { inbound_nodes: unknown }[] } };
  training.config.layers[1].inbound_nodes = call('input_2', 0, { training: true });
  t.throws(() => tfe.loadPlainModel({ ...artifacts(), modelTopology: training } as tfe.ModelArtifacts), { message: /training=True/ });
});

let service: TestCluster | undefined;
test.after.always(async () => service?.stop());

test.serial('the tutorial model deploys and predicts through the service', async (t) => {
  service = await startCluster();
  await service.ready();
  const owner = await service.connect({ asOwner: true });
  await owner.deploy(artifacts(), { name: 'tutorial' });
  await owner.close();
  const client = await service.connect();
  const x = images(3);
  const p = await client.predict('tutorial', { data: x, shape: [3, S, S, C] });
  expectRowsMatch(t, p.data, reference(x, 3), undefined, 1e-2);
  await client.close();
});

// tfjs has a CenterCrop layer, but its model.predict then expects the cropped shape as the
// input's (tfjs 4.22): the reference is the crop written with tfjs's ops.
test('CenterCrop crops the centred window, odd excesses rounded down; a smaller input is resized as Keras resizes it (refused in a model tfjs saved)', async (t) => {
  const kd = rnd(6 * 4 * 2 * 3, 0.3), bdc = rnd(3, 0.1);
  const topo = (h: number, keras_version = '3.10.0') => ({
    class_name: 'Sequential',
    keras_version,
    config: {
      name: 's',
      layers: [
        { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, h, 9, 2] } },
        { class_name: 'CenterCrop', config: { name: 'crop', height: 6, width: 4, data_format: 'channels_last', trainable: true, dtype: 'float32' } },
        { class_name: 'Flatten', config: { name: 'flat' } },
        { class_name: 'Dense', config: { name: 'd', units: 3 } },
      ],
    },
  });
  const a = (h: number, version?: string) => ({ modelTopology: topo(h, version), weightSpecs: [{ name: 'd/kernel', shape: [48, 3], dtype: 'float32' }, { name: 'd/bias', shape: [3], dtype: 'float32' }], weightData: new Float32Array([...kd, ...bdc]).buffer }) as unknown as tfe.ModelArtifacts;
  const data = Float64Array.from({ length: 4 * 10 * 9 * 2 }, () => Math.random() * 4 - 2);
  const want: number[][] = tf.tidy(() => tf.matMul(tf.tensor4d(Array.from(data), [4, 10, 9, 2]).slice([0, 2, 2, 0], [4, 6, 4, 2]).reshape([4, 48]), tf.tensor2d(kd, [48, 3])).add(tf.tensor1d(bdc)).arraySync());
  expectRowsMatch(t, tfe.loadPlainModel(a(10)).forward({ data, shape: [4, 10, 9, 2] }).data, want, undefined, 1e-4);
  const c = new tfe.Cluster();
  try {
    const m = tfe.loadLayersModel(a(10), { cluster: c });
    expectRowsMatch(t, (await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data, shape: [4, 10, 9, 2] }))))).data, want, undefined, 1e-2);
    // Smaller: smart_resize, the window of the target's aspect ratio (3 x 2 at column 3), then bilinear with half-pixel centres.
    const small = data.subarray(0, 4 * 3 * 9 * 2);
    const resized: number[][] = tf.tidy(() => tf.matMul(tf.image.resizeBilinear(tf.tensor4d(Array.from(small), [4, 3, 9, 2]).slice([0, 0, 3, 0], [4, 3, 2, 2]), [6, 4], false, true).reshape([4, 48]), tf.tensor2d(kd, [48, 3])).add(tf.tensor1d(bdc)).arraySync());
    expectRowsMatch(t, tfe.loadPlainModel(a(3)).forward({ data: small, shape: [4, 3, 9, 2] }).data, resized, undefined, 1e-4);
    const ms = tfe.loadLayersModel(a(3), { cluster: c });
    expectRowsMatch(t, (await tfe.defineOutput('prediction-client', ms.predict(ms.defineInput('prediction-client', () => ({ data: small, shape: [4, 3, 9, 2] }))))).data, resized, undefined, 1e-2);
    t.throws(() => tfe.loadLayersModel(a(3, 'tfjs-layers 4.22.0'), { cluster: c }), { message: /crops \[3,9\] to \[6, 4\]: an input smaller than the target, in a model saved by TensorFlow.js/ });
  } finally {
    await c.close();
  }
});
