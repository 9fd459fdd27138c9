// Bilinear UpSampling2D in models TensorFlow.js saved, against tfjs's own predict (neither aligned
// corners nor half-pixel centres); the same models as Keras saved them, and Resizing, which only
// Keras can run (tfjs 4.22's fails in any model), with half-pixel centres as tf.image.resize:
// checked against tfjs's image ops asked for half-pixel centres (real Keras models:
// keras3_saved_models.test.ts). Privately under every protocol, in plaintext and through the
// service; and what is refused.
import { createRequire } from 'node:module';

import test, { type ExecutionContext } from 'ava';

import * as tfe from '../lib';
import { startCluster, type TestCluster } from './helpers/service';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
// eslint-disable-next-line @typescript-eslint/no-namespace, @typescript-eslint/no-unused-vars
declare namespace tf {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type Tensor = any;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function artifactsOf(model: any): Promise<tfe.ModelArtifacts> {
  let a: tfe.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (x: tfe.ModelArtifacts) => ((a = x), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  return a!;
}

const images = (n: number, [h, w, c]: number[]) => Float32Array.from({ length: n * h * w * c }, () => Math.random() * 4 - 2);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));

/** Checks a model's plaintext and private predictions under every protocol against `want`. */
async function expectPredicts(t: ExecutionContext, art: tfe.ModelArtifacts, x: Float32Array, shape: number[], want: ArrayLike<number>, outShape: number[], who: string): Promise<void> {
  const plain = tfe.loadPlainModel(art).forward({ data: x, shape });
  t.deepEqual(plain.shape, outShape, `${who}: shape`);
  t.true(maxDiff(plain.data, want) < 1e-5, `${who}, plaintext: ${maxDiff(plain.data, want)}`);
  for (const protocol of ['pond', 'securenn', 'fss'] as const) {
    const c = new tfe.Cluster({ protocol });
    try {
      const m = tfe.loadLayersModel(art, { cluster: c });
      const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape }))));
      t.true(maxDiff(out.data, want) < 1e-3, `${who}, ${protocol}: ${maxDiff(out.data, want)}`);
    } finally {
      await c.close();
    }
  }
}

for (const [size, input] of [[[2, 2], [5, 4, 2]], [[3, 2], [3, 4, 2]]])
  test(`UpSampling2D ${size.join('x')} bilinear: as tfjs predicts in a model tfjs saved, with half-pixel centres as Keras saved it; privately under every protocol and in plaintext`, async (t) => {
    const model = tf.sequential({ layers: [tf.layers.inputLayer({ inputShape: input }), tf.layers.upSampling2d({ size, interpolation: 'bilinear' })] });
    const a = await artifactsOf(model);
    t.regex(String((a.modelTopology as { keras_version?: string }).keras_version), /^tfjs-layers/);
    const x = images(2, input), shape = [2, ...input], outShape = [2, input[0] * size[0], input[1] * size[1], input[2]];
    const tfjs = model.predict(tf.tensor(x, shape)).dataSync() as Float32Array;
    const keras = tf.image.resizeBilinear(tf.tensor(x, shape), outShape.slice(1, 3), false, true).dataSync() as Float32Array;
    // The two meanings differ on these inputs, so each check below tells them apart.
    t.true(maxDiff(tfjs, keras) > 0.05, `tfjs and Keras differ by ${maxDiff(tfjs, keras)}`);
    await expectPredicts(t, a, x, shape, tfjs, outShape, 'saved by tfjs');
    await expectPredicts(t, { ...a, modelTopology: { ...(a.modelTopology as object), keras_version: '2.15.0' } } as tfe.ModelArtifacts, x, shape, keras, outShape, 'saved by Keras');
  });

/** A Keras Sequential of an input [h, w, c] and a Resizing to [4, 4] with `config`. */
const resizing = (input: number[], config: Record<string, unknown>, keras_version = '2.15.0') =>
  ({
    modelTopology: {
      class_name: 'Sequential',
      keras_version,
      config: { name: 's', layers: [{ class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, ...input] } }, { class_name: 'Resizing', config: { name: 'resize', height: 4, width: 4, ...config } }] },
    },
    weightSpecs: [],
    weightData: new ArrayBuffer(0),
  }) as unknown as tfe.ModelArtifacts;

const RESIZING: [string, number[], Record<string, unknown>, (x: tf.Tensor) => tf.Tensor][] = [
  ['5x9 -> 7x5 bilinear (the default)', [5, 9, 3], { height: 7, width: 5 }, (x) => tf.image.resizeBilinear(x, [7, 5], false, true)],
  ['4x9 -> 6x6 nearest', [4, 9, 1], { height: 6, width: 6, interpolation: 'nearest' }, (x) => tf.image.resizeNearestNeighbor(x, [6, 6], false, true)],
  ['8x8 -> 3x3 bilinear', [8, 8, 2], { height: 3, width: 3, interpolation: 'bilinear' }, (x) => tf.image.resizeBilinear(x, [3, 3], false, true)],
  ['3x1 -> 1x4 bilinear (axes of one)', [3, 1, 2], { height: 1, width: 4 }, (x) => tf.image.resizeBilinear(x, [1, 4], false, true)],
  // The centred window of the target's aspect ratio: 6x10 -> rows 0..5, columns 2..7.
  ['6x10 -> 4x4 cropped to the aspect ratio', [6, 10, 2], { crop_to_aspect_ratio: true }, (x) => tf.image.resizeBilinear(tf.slice(x, [0, 0, 2, 0], [-1, 6, 6, -1]), [4, 4], false, true)],
];

for (const [name, input, config, ref] of RESIZING)
  test(`Resizing ${name} in a Keras model, as tf.image.resize computes it; privately under every protocol and in plaintext`, async (t) => {
    const x = images(2, input), shape = [2, ...input];
    const want = ref(tf.tensor(x, shape));
    await expectPredicts(t, resizing(input, config), x, shape, want.dataSync() as Float32Array, want.shape, 'Keras');
  });

test('resize settings that are not supported are refused, naming the layer and the setting', (t) => {
  const cases: [Record<string, unknown>, RegExp, string?][] = [
    [{ interpolation: 'gaussian' }, /'resize' \(Resizing\).*interpolation 'gaussian' is not supported \(bilinear, nearest, bicubic, area, lanczos3, lanczos5 are\)/],
    [{ interpolation: 'mitchellcubic' }, /interpolation 'mitchellcubic' is not supported/],
    [{ antialias: true }, /antialias = true is not supported/],
    [{ pad_to_aspect_ratio: true }, /pad_to_aspect_ratio = true is not supported/],
    [{ data_format: 'channels_first' }, /data_format = "channels_first" is not supported/],
    [{ height: 0 }, /height = 0 is not supported/],
    [{ some_new_setting: 1 }, /setting 'some_new_setting' is not supported/],
    // Refused before the taps (arrays of the output's height) are made: a height of 1e9 ended the process.
    [{ height: 1e9, width: 2 }, /'resize' \(Resizing\): its output \[1000000000, 2, 2\] per example would hold 4000000000 values, more than the 268435456 one tensor may/],
    [{}, /'resize' \(Resizing\).*in a model saved by TensorFlow.js, which cannot run its own Resizing/, 'tfjs-layers 4.22.0'],
  ];
  for (const [config, message, version] of cases) {
    const a = resizing([6, 10, 2], config, version);
    t.throws(() => tfe.loadPlainModel(a), { message }, JSON.stringify(config));
    const c = new tfe.Cluster();
    t.throws(() => tfe.loadLayersModel(a, { cluster: c }), { message }, JSON.stringify(config));
    void c.close();
  }
  const noHeight = resizing([6, 10, 2], {});
  delete (noHeight.modelTopology as { config: { layers: { config: Record<string, unknown> }[] } }).config.layers[1].config.height;
  t.throws(() => tfe.loadPlainModel(noHeight), { message: /'resize' \(Resizing\).*needs height and width/ });
  const up = { class_name: 'Sequential', keras_version: '3.10.0', config: { name: 's', layers: [{ class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, 4, 4, 2] } }, { class_name: 'UpSampling2D', config: { name: 'up', size: [2, 2], interpolation: 'gaussian' } }] } };
  t.throws(() => tfe.loadPlainModel({ modelTopology: up, weightSpecs: [], weightData: new ArrayBuffer(0) } as unknown as tfe.ModelArtifacts), { message: /'up' \(UpSampling2D\).*interpolation 'gaussian' is not supported/ });
  // Bicubic, area and lanczos are TensorFlow's: in a model TensorFlow.js saved (whose UpSampling2D
  // has nearest and bilinear only) they are refused, whatever its config says.
  const tfjsUp = { ...up, keras_version: 'tfjs-layers 4.22.0', config: { ...up.config, layers: [up.config.layers[0], { ...up.config.layers[1], config: { ...up.config.layers[1].config, interpolation: 'bicubic' } }] } };
  t.throws(() => tfe.loadPlainModel({ modelTopology: tfjsUp, weightSpecs: [], weightData: new ArrayBuffer(0) } as unknown as tfe.ModelArtifacts), { message: /'up' \(UpSampling2D\): interpolation 'bicubic' in a model saved by TensorFlow.js, which has only nearest and bilinear/ });
  // The library's TfeResize (a GraphModel's TensorFlow 1 resize; test/graph_model_keras.test.ts
  // checks it against TensorFlow): its settings checked as a deploy request may carry any.
  const tfeResize = (config: Record<string, unknown>) =>
    ({ modelTopology: { ...up, config: { ...up.config, layers: [up.config.layers[0], { class_name: 'TfeResize', config: { name: 'r', ...config } }] } }, weightSpecs: [], weightData: new ArrayBuffer(0) }) as unknown as tfe.ModelArtifacts;
  const ok = { height: 7, width: 5, interpolation: 'bilinear', rule: 'align_corners' };
  t.is(tfe.loadPlainModel(tfeResize(ok)).forward({ data: new Float64Array(32), shape: [1, 4, 4, 2] }).shape.join(), '1,7,5,2');
  for (const [config, message] of [
    [{ ...ok, rule: 'half_pixel' }, /'r' \(TfeResize\): rule = "half_pixel" is not supported/],
    [{ ...ok, interpolation: 'bicubic' }, /'r' \(TfeResize\): interpolation = "bicubic" is not supported/],
    [{ height: 7, width: 5, interpolation: 'bilinear' }, /'r' \(TfeResize\): needs rule/],
    [{ ...ok, crop_to_aspect_ratio: true }, /'r' \(TfeResize\): setting 'crop_to_aspect_ratio' is not supported/],
  ] as const)
    t.throws(() => tfe.loadPlainModel(tfeResize(config)), { message }, JSON.stringify(config));
});

let service: TestCluster | undefined;
test.after.always(async () => service?.stop());

test.serial('a Keras model that resizes its input, convolves, upsamples (bilinear) and classifies predicts through the service as tf.image.resize and tfjs compute it', async (t) => {
  const kernel = Float32Array.from({ length: 3 * 3 * 3 * 4 }, () => Math.random() - 0.5), dense = Float32Array.from({ length: 4 * 3 }, () => Math.random() - 0.5);
  const layer = (class_name: string, config: object) => ({ class_name, config: { name: class_name.toLowerCase(), ...config } });
  const a = {
    modelTopology: {
      class_name: 'Sequential',
      keras_version: '2.15.0',
      config: {
        name: 's',
        layers: [
          { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 9, 7, 3] } },
          layer('Resizing', { height: 6, width: 6, interpolation: 'bilinear', crop_to_aspect_ratio: false }),
          layer('Conv2D', { filters: 4, kernel_size: [3, 3], activation: 'relu', use_bias: false }),
          layer('UpSampling2D', { size: [2, 2], interpolation: 'bilinear' }),
          layer('GlobalAveragePooling2D', {}),
          layer('Dense', { units: 3, use_bias: false }),
        ],
      },
    },
    weightSpecs: [{ name: 'conv2d/kernel', shape: [3, 3, 3, 4], dtype: 'float32' }, { name: 'dense/kernel', shape: [4, 3], dtype: 'float32' }],
    weightData: new Float32Array([...kernel, ...dense]).buffer,
  } as unknown as tfe.ModelArtifacts;
  const x = images(3, [9, 7, 3]);
  const hidden = tf.relu(tf.conv2d(tf.image.resizeBilinear(tf.tensor(x, [3, 9, 7, 3]), [6, 6], false, true), tf.tensor(kernel, [3, 3, 3, 4]), 1, 'valid'));
  const want = tf.matMul(tf.mean(tf.image.resizeBilinear(hidden, [8, 8], false, true), [1, 2]), tf.tensor(dense, [4, 3])).dataSync() as Float32Array;
  service = await startCluster();
  await service.ready();
  const owner = await service.connect({ asOwner: true });
  await owner.deploy(a, { name: 'resize' });
  await owner.close();
  // An owner's model whose resize could not fit is refused at deploy, and the service goes on.
  const huge = JSON.parse(JSON.stringify(a.modelTopology));
  huge.config.layers[1].config.height = 1e9;
  const owner2 = await service.connect({ asOwner: true });
  await t.throwsAsync(owner2.deploy({ ...a, modelTopology: huge }, { name: 'huge' }), { message: /'resizing' \(Resizing\): its output \[1000000000, 6, 3\] per example would hold/ });
  await owner2.close();
  const client = await service.connect();
  const p = await client.predict('resize', { data: x, shape: [3, 9, 7, 3] });
  t.true(maxDiff(p.data, want) < 1e-2, `through the service: ${maxDiff(p.data, want)}`);
  await client.close();
});
