// Models as TensorFlow.js users build them (Sequential and Functional, the layers and settings
// people use), saved by tfjs itself, loaded privately with default options, and compared with
// tfjs's own model.predict on fresh random inputs. And every setting that cannot be honoured is
// refused at load time with its name and value, never ignored.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { expectRefused, type Refusal } from './helpers/refusals';
import { expectRowsMatch } from './helpers/tfjs_compare';
import { saveTfjsModel, tfjsArtifacts } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const save = (model: any) => saveTfjsModel(tf, model, 'tfe-zoo-');

const L = () => tf.layers;

/** Each case: a builder, and the input shape without the batch. */
const ZOO: { name: string; shape: number[]; build: () => unknown; scale?: number }[] = [
  {
    name: 'Sequential MLP, fused relu, softmax output',
    shape: [12],
    build: () => tf.sequential({ layers: [L().dense({ inputShape: [12], units: 16, activation: 'relu' }), L().dense({ units: 8, activation: 'relu' }), L().dense({ units: 5, activation: 'softmax' })] }),
  },
  {
    name: 'ReLU layers with maxValue 6, LeakyReLU, relu6 and hard_sigmoid activations',
    shape: [10],
    scale: 20, // so that the clipping at 6 and the saturation of hard_sigmoid are reached
    build: () =>
      tf.sequential({
        layers: [
          L().dense({ inputShape: [10], units: 12 }),
          L().reLU({ maxValue: 6 }),
          L().dense({ units: 12 }),
          L().leakyReLU({ alpha: 0.1 }),
          L().dense({ units: 8, activation: 'relu6' }),
          L().dense({ units: 6, activation: 'hardSigmoid' }),
          L().dense({ units: 4 }),
        ],
      }),
  },
  {
    name: 'hidden sigmoid and tanh (Dense and Activation layers), sigmoid output',
    shape: [8],
    scale: 6,
    build: () =>
      tf.sequential({
        layers: [L().dense({ inputShape: [8], units: 10, activation: 'sigmoid' }), L().dense({ units: 10 }), L().activation({ activation: 'tanh' }), L().dense({ units: 3, activation: 'sigmoid' })],
      }),
  },
  {
    name: 'DepthwiseConv2D (depth multiplier 2, strides 2, same, relu) and SeparableConv2D (dilation 2)',
    shape: [9, 9, 3],
    build: () =>
      tf.sequential({
        layers: [
          L().depthwiseConv2d({ inputShape: [9, 9, 3], kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', activation: 'relu', depthwiseInitializer: 'glorotUniform', biasInitializer: 'randomNormal' }),
          L().separableConv2d({ filters: 4, kernelSize: 3, dilationRate: 2, padding: 'same', depthMultiplier: 2, biasInitializer: 'randomNormal' }),
          L().flatten(),
          L().dense({ units: 3 }),
        ],
      }),
  },
  {
    name: 'PReLU with shared axes: over height and width, over the width, over a Conv1D\'s steps',
    shape: [6, 5, 2],
    build: () => {
      const alpha = () => tf.initializers.randomUniform({ minval: 0.05, maxval: 0.6 });
      return tf.sequential({
        layers: [
          L().conv2d({ inputShape: [6, 5, 2], filters: 3, kernelSize: 2, biasInitializer: 'randomNormal' }),
          L().prelu({ sharedAxes: [1, 2], alphaInitializer: alpha() }),
          L().conv2d({ filters: 3, kernelSize: 1, biasInitializer: 'randomNormal' }),
          L().prelu({ sharedAxes: 2, alphaInitializer: alpha() }), // alpha [5, 1, 3]: per row and channel
          L().reshape({ targetShape: [20, 3] }),
          L().conv1d({ filters: 4, kernelSize: 3 }),
          L().prelu({ sharedAxes: 1, alphaInitializer: alpha() }),
          L().flatten(),
          L().dense({ units: 3 }),
        ],
      });
    },
  },
  {
    name: 'Conv2D with dilationRate 2 (valid), then a depthwise layer without bias',
    shape: [10, 10, 2],
    build: () =>
      tf.sequential({
        layers: [L().conv2d({ inputShape: [10, 10, 2], filters: 3, kernelSize: 3, dilationRate: 2, activation: 'relu' }), L().depthwiseConv2d({ kernelSize: 2, useBias: false }), L().flatten(), L().dense({ units: 2 })],
      }),
  },
  {
    name: 'Conv1D (dilated; strided with same padding) and PReLU',
    shape: [16, 3],
    build: () =>
      tf.sequential({
        layers: [
          L().conv1d({ inputShape: [16, 3], filters: 4, kernelSize: 3, dilationRate: 2, activation: 'relu', biasInitializer: 'randomNormal' }),
          L().conv1d({ filters: 5, kernelSize: 2, strides: 2, padding: 'same' }),
          L().prelu({ alphaInitializer: tf.initializers.randomUniform({ minval: 0.1, maxval: 0.6 }) }),
          L().flatten(),
          L().dense({ units: 3 }),
        ],
      }),
  },
  {
    // An autoencoder's decoder: strided transposed convolutions, SAME (even and odd kernels) and
    // VALID (a kernel narrower than its stride along one axis: zeros between the copies).
    // Sub-pixel forms (kernel >= stride; kernel 5 at stride 2 crops one output first, stride 1 is
    // one phase) and the spread form (kernel 2 < stride 3).
    name: 'Conv2DTranspose: strides 2 SAME (kernels 4, 5 and 3, relu), stride 1 VALID, strides [2,3] VALID with kernel [3,2], no bias',
    shape: [4, 3, 2],
    build: () =>
      tf.sequential({
        layers: [
          L().conv2dTranspose({ inputShape: [4, 3, 2], filters: 3, kernelSize: 4, strides: 2, padding: 'same', activation: 'relu', biasInitializer: 'randomNormal' }),
          L().conv2dTranspose({ filters: 2, kernelSize: 5, strides: 2, padding: 'same', biasInitializer: 'randomNormal' }),
          L().conv2dTranspose({ filters: 2, kernelSize: 2, strides: 1, padding: 'valid' }),
          L().conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, padding: 'same', biasInitializer: 'randomNormal' }),
          L().conv2dTranspose({ filters: 2, kernelSize: [3, 2], strides: [2, 3], padding: 'valid', useBias: false }),
          L().flatten(),
          L().dense({ units: 3 }),
        ],
      }),
  },
  {
    // A mixture-of-experts style gate: softmax weights inside the model, then more layers.
    name: 'hidden softmax: a Softmax layer and a Dense softmax activation before more layers',
    shape: [6],
    build: () =>
      tf.sequential({
        layers: [L().dense({ inputShape: [6], units: 5, biasInitializer: 'randomNormal' }), L().softmax(), L().dense({ units: 4, activation: 'softmax' }), L().dense({ units: 3 })],
      }),
  },
  {
    // A pairwise-interaction head: dot products between two projections of one input, and RepeatVector.
    name: 'Dot (axes 2, axes 1, [1, 1], and rank-2 axes -1) between branches, and RepeatVector',
    shape: [4, 3],
    build: () => {
      const x = tf.input({ shape: [4, 3] });
      const p = L().dense({ units: 3 }).apply(x), q = L().dense({ units: 2 }).apply(x);
      const d2 = L().dot({ axes: 2 }).apply([p, x]); // [4, 4]
      const d1 = L().dot({ axes: 1 }).apply([x, q]); // [3, 2]
      const v = L().flatten().apply(d1), u = L().dense({ units: 6 }).apply(v);
      const d0 = L().dot({ axes: -1 }).apply([u, L().dense({ units: 6 }).apply(v)]); // [1]
      const d3 = L().dot({ axes: [1, 1] }).apply([q, x]); // [2, 3]
      const rep = L().flatten().apply(L().repeatVector({ n: 2 }).apply(L().concatenate().apply([d0, L().flatten().apply(d2), L().flatten().apply(d3)])));
      return tf.model({ inputs: x, outputs: L().dense({ units: 3 }).apply(rep) });
    },
  },
  {
    name: 'hidden swish, softplus and elu activations and an ELU layer',
    shape: [8],
    scale: 6,
    build: () =>
      tf.sequential({
        layers: [
          L().dense({ inputShape: [8], units: 10, activation: 'swish' }),
          L().dense({ units: 10, activation: 'softplus' }),
          L().dense({ units: 10, activation: 'elu' }),
          L().dense({ units: 8 }),
          L().elu(),
          L().dense({ units: 4 }),
        ],
      }),
  },
  {
    name: 'hidden gelu, gelu_new (tanh form), mish and selu activations',
    shape: [8],
    scale: 5,
    build: () =>
      tf.sequential({
        layers: [
          L().dense({ inputShape: [8], units: 10, activation: 'gelu', biasInitializer: 'randomNormal' }),
          L().dense({ units: 10, activation: 'gelu_new', biasInitializer: 'randomNormal' }),
          L().dense({ units: 10, activation: 'mish', biasInitializer: 'randomNormal' }),
          L().dense({ units: 8, activation: 'selu', biasInitializer: 'randomNormal' }),
          L().dense({ units: 4 }),
        ],
      }),
  },
  {
    name: 'LayerNormalization between Dense layers, with learned gamma and beta',
    shape: [8],
    build: () =>
      tf.sequential({
        layers: [
          L().dense({ inputShape: [8], units: 12, biasInitializer: 'randomNormal' }),
          L().layerNormalization({ gammaInitializer: 'randomNormal', betaInitializer: 'randomNormal' }),
          L().dense({ units: 4 }),
        ],
      }),
  },
  {
    name: 'Dense on a rank-3 input (applied to the last axis)',
    shape: [3, 6],
    build: () => tf.sequential({ layers: [L().dense({ inputShape: [3, 6], units: 5, activation: 'relu' }), L().flatten(), L().dense({ units: 3 })] }),
  },
  {
    name: 'Functional chain',
    shape: [9],
    build: () => {
      const x = tf.input({ shape: [9] });
      const y = L().dense({ units: 4 }).apply(L().dense({ units: 7, activation: 'relu' }).apply(x));
      return tf.model({ inputs: x, outputs: y });
    },
  },
  {
    name: 'Functional residual CNN: Conv2D same, Add, GlobalAveragePooling2D',
    shape: [6, 6, 2],
    build: () => {
      const x = tf.input({ shape: [6, 6, 2] });
      const c1 = L().conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x);
      const c2 = L().conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(c1);
      const r = L().reLU().apply(L().add().apply([c1, c2]));
      const y = L().dense({ units: 3 }).apply(L().globalAveragePooling2d({}).apply(r));
      return tf.model({ inputs: x, outputs: y });
    },
  },
  {
    name: 'BatchNormalization after Conv2D and after Dense (random moving statistics)',
    shape: [5, 5, 2],
    build: () => {
      const bn1 = L().batchNormalization({ epsilon: 0.01 }), bn2 = L().batchNormalization({ center: false });
      const m = tf.sequential({ layers: [L().conv2d({ inputShape: [5, 5, 2], filters: 3, kernelSize: 3 }), bn1, L().reLU(), L().flatten(), L().dense({ units: 4 }), bn2, L().dense({ units: 3 })] });
      // Fresh layers have gamma 1, beta 0, mean 0, variance 1: give them values that matter.
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      for (const bn of [bn1, bn2] as any[]) bn.setWeights(bn.getWeights().map((w: any, i: number) => tf.randomUniform(w.shape, i === bn.getWeights().length - 1 ? 0.2 : -1, i === bn.getWeights().length - 1 ? 3 : 1)));
      return m;
    },
  },
  {
    name: 'Functional branches: Concatenate, Maximum, MaxPooling2D, ZeroPadding2D, Cropping2D, GlobalMaxPooling2D',
    shape: [6, 6, 1],
    build: () => {
      const x = tf.input({ shape: [6, 6, 1] });
      const a = L().conv2d({ filters: 2, kernelSize: 3, padding: 'valid' }).apply(L().zeroPadding2d({ padding: 1 }).apply(x));
      const b = L().conv2d({ filters: 2, kernelSize: 1 }).apply(x);
      const m = L().maximum().apply([a, b]);
      const cat = L().concatenate().apply([m, L().cropping2D({ cropping: 0 }).apply(a)]);
      const p = L().maxPooling2d({ poolSize: 2 }).apply(cat);
      const y = L().dense({ units: 3 }).apply(L().globalMaxPooling2d({}).apply(p));
      return tf.model({ inputs: x, outputs: y });
    },
  },
  {
    name: 'Conv1D blocks: MaxPooling1D after a fused relu, AveragePooling1D (SAME), GlobalMaxPooling1D and GlobalAveragePooling1D',
    shape: [16, 3],
    build: () => {
      const x = tf.input({ shape: [16, 3] });
      const a = L().maxPooling1d({ poolSize: 2 }).apply(L().conv1d({ filters: 4, kernelSize: 3, activation: 'relu' }).apply(x));
      const b = L().averagePooling1d({ poolSize: 3, strides: 1, padding: 'same' }).apply(L().conv1d({ filters: 4, kernelSize: 2, padding: 'same' }).apply(a));
      const c = L().maxPooling1d({ poolSize: 3, strides: 2, padding: 'same' }).apply(L().reLU().apply(b));
      const y = L().concatenate().apply([L().globalMaxPooling1d({}).apply(c), L().globalAveragePooling1d({}).apply(b)]);
      return tf.model({ inputs: x, outputs: L().dense({ units: 3 }).apply(y) });
    },
  },
  {
    name: 'UpSampling2D (nearest, 2x2 and 1x3) between convolutions',
    shape: [3, 4, 2],
    build: () =>
      tf.sequential({
        layers: [
          L().upSampling2d({ inputShape: [3, 4, 2], size: [2, 2] }),
          L().conv2d({ filters: 3, kernelSize: 3, activation: 'relu' }),
          L().upSampling2d({ size: [1, 3] }),
          L().flatten(),
          L().dense({ units: 4 }),
        ],
      }),
  },
  {
    name: 'Rescaling (scale and offset), GaussianNoise, GaussianDropout, AlphaDropout, a Softmax layer on the output',
    shape: [10],
    scale: 100, // pixel-like inputs, rescaled to about [-1, 1]
    build: () =>
      tf.sequential({
        layers: [
          L().rescaling({ inputShape: [10], scale: 1 / 127.5, offset: -1 }),
          L().dense({ units: 8, activation: 'relu' }),
          L().gaussianNoise({ stddev: 0.3 }),
          L().dense({ units: 6 }),
          L().gaussianDropout({ rate: 0.2 }),
          L().alphaDropout({ rate: 0.1 }),
          L().dense({ units: 4 }),
          L().softmax(),
        ],
      }),
  },
];

for (const z of ZOO)
  test(`${z.name}: private predictions with default options match tfjs`, async (t) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const model: any = z.build();
    const file = await save(model);
    const batch = 8, per = z.shape.reduce((a, b) => a * b, 1);
    const x = Float32Array.from({ length: batch * per }, () => (Math.random() * 2 - 1) * (z.scale ?? 2));
    const want: number[][] = model.predict(tf.tensor(x, [batch, ...z.shape])).arraySync();
    const c = new tfe.Cluster(); // default options: the protocol is chosen by the library
    try {
      const m = tfe.loadLayersModel(file, { cluster: c });
      const input = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [batch, ...z.shape] }), c);
      const out = await tfe.defineOutput('prediction-client', m.predict(input));
      // 16 fractional bits: each product rounds by a unit or so; a few layers stay far below 1e-2.
      expectRowsMatch(t, out.data, want, m.finalActivation);
      // The float64 plaintext the service's verify and calibration compare with, against tfjs too.
      const plain = tfe.loadPlainModel(file).forward({ data: Float64Array.from(x), shape: [batch, ...z.shape] });
      expectRowsMatch(t, plain.data, want, m.finalActivation, 1e-4);
    } finally {
      await c.close();
    }
  });

// Settings Keras writes that tfjs's own layers never do are patched into the saved model.json.
const REFUSED: Refusal[] = [
  {
    name: 'Conv2D with dilation and strides above 1 together (Keras)',
    build: () => tf.sequential({ layers: [L().conv2d({ inputShape: [9, 9, 1], filters: 2, kernelSize: 3, dilationRate: 2 })] }),
    patch: (layers) => void (layers[0].config.strides = [2, 2]),
    message: /\(Conv2D\): dilation_rate \[2,2\] with strides \[2,2\]: TensorFlow allows one of them above 1, not both/,
  },
  {
    name: 'PReLU sharing the batch axis',
    build: () => tf.sequential({ layers: [L().dense({ inputShape: [4], units: 3 }), L().prelu()] }),
    patch: (layers) => void (layers[1].config.shared_axes = [0]),
    message: /\(PReLU\): shared_axes = \[0\] is not supported/,
  },
  {
    name: 'PReLU with shared axes its input does not have (at load, not at the first prediction)',
    build: () => tf.sequential({ layers: [L().dense({ inputShape: [4], units: 3 }), L().prelu()] }),
    patch: (layers) => void (layers[1].config.shared_axes = [2]),
    message: /\(PReLU\): shared_axes = \[2\] names an axis its rank-2 input \(batch axis 0\) does not have/,
  },
  {
    name: 'ReLU with a threshold (Keras)',
    build: () => tf.sequential({ layers: [L().dense({ inputShape: [4], units: 2 }), L().reLU()] }),
    patch: (layers) => void (layers[1].config.threshold = 0.5),
    message: /\(ReLU\): threshold = 0.5 is not supported/,
  },
  {
    name: 'an unknown setting',
    build: () => tf.sequential({ layers: [L().dense({ inputShape: [4], units: 2 })] }),
    patch: (layers) => void (layers[0].config.lora_rank = 4),
    message: /\(Dense\): setting 'lora_rank' is not supported/,
  },
  {
    name: 'UpSampling2D with bicubic interpolation in a model tfjs saved (Keras\'s runs: image_resize.test.ts)',
    build: () => tf.sequential({ layers: [L().upSampling2d({ inputShape: [2, 2, 1], size: [2, 2], interpolation: 'bilinear' }), L().flatten()] }),
    patch: (layers) => void (layers[0].config.interpolation = 'bicubic'),
    message: /\(UpSampling2D\): interpolation 'bicubic' in a model saved by TensorFlow.js, which has only nearest and bilinear/,
  },
  {
    name: 'Rescaling with per-channel values for another number of channels (at load, not at the first prediction)',
    build: () => tf.sequential({ layers: [L().rescaling({ inputShape: [4, 4, 2], scale: 0.5 }), L().flatten()] }),
    patch: (layers) => void (layers[0].config.scale = [0.5, 0.25, 0.125]),
    message: /\(Rescaling\): has 3 per-channel values, but its input has 2 channels/,
  },
  {
    name: "Keras 3's LayerNormalization with rms_scaling",
    build: () => tf.sequential({ layers: [L().layerNormalization({ inputShape: [4] })] }),
    patch: (layers) => void (layers[0].config.rms_scaling = true),
    message: /\(LayerNormalization\): rms_scaling = true is not supported/,
  },
  {
    // (Every activation tfjs has runs now: Keras's exponential, written into the saved model. On
    // the output layer the client applies it: test/keras3_saved_models.test.ts.)
    name: 'a hidden exponential',
    build: () => tf.sequential({ layers: [L().dense({ inputShape: [4], units: 3, activation: 'softsign' }), L().dense({ units: 2 })] }),
    patch: (layers) => void (layers[0].config.activation = 'exponential'),
    message: /activation 'exponential' is supported on the output layer only \(the client applies it to the logits; e\^x of a hidden value would leave fixed point's range\): in a hidden layer use one of .*softsign, .*gelu, gelu_new, mish/,
  },
  { name: 'a Masking layer whose mask a mean would read (Keras applies it there, tfjs does not)', build: () => tf.sequential({ layers: [L().masking({ inputShape: [3, 2] }), L().globalAveragePooling1d()] }), message: /reads the mask of Masking '.*', which Keras applies here and tfjs does not/ },
  {
    name: 'an activation not supported (Keras 3 squareplus)',
    build: () => tf.sequential({ layers: [L().dense({ inputShape: [4], units: 3, activation: 'relu' }), L().dense({ units: 2 })] }),
    patch: (layers) => void (layers[0].config.activation = 'squareplus'),
    message: /activation 'squareplus' is not supported in a hidden layer \(supported: .*mish.*\), and softmax, sigmoid, exponential and log_softmax on the output layer\)/,
  },
  { name: 'a dilated ConvLSTM2D (its kernel would need spreading; a class not in the catalog is model_loading\'s and service_e2e\'s)', build: () => tf.sequential({ layers: [L().convLstm2d({ filters: 2, kernelSize: 2, dilationRate: 2, inputShape: [3, 6, 6, 1] })] }), message: /\(ConvLSTM2D\): dilation_rate = \[2,2\] is not supported/ },
];

for (const r of REFUSED) test(`refused at load time, naming the setting: ${r.name}`, (t) => expectRefused(t, r, save));

test('a model passed as tfjs artifacts (no files) or as a file:// URL loads and predicts as from its path', async (t) => {
  const model = tf.sequential({ layers: [L().dense({ inputShape: [6], units: 5, activation: 'relu' }), L().dense({ units: 3 })] });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let artifacts: any;
  await model.save(tf.io.withSaveHandler(async (a: unknown) => ((artifacts = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  const file = await save(model);
  const x = Float32Array.from({ length: 12 }, () => Math.random() * 2 - 1);
  const want: number[][] = model.predict(tf.tensor(x, [2, 6])).arraySync();
  for (const source of [artifacts, new URL(`file://${file}`), `file://${file}`]) {
    const c = new tfe.Cluster();
    try {
      const m = tfe.loadLayersModel(source, { cluster: c });
      const out = await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [2, 6] }), c)));
      t.true([...out.data].every((v, i) => Math.abs(v - want[Math.floor(i / 3)][i % 3]) < 1e-2), `${typeof source === 'string' ? source : source instanceof URL ? 'URL' : 'artifacts'}: ${[...out.data]}`);
    } finally {
      await c.close();
    }
  }
  const c = new tfe.Cluster();
  t.throws(() => tfe.loadLayersModel('https://example.org/model.json', { cluster: c }), { message: /only paths and file:\/\/ URLs are read/ });
  t.throws(() => tfe.loadLayersModel({ ...artifacts, weightData: new ArrayBuffer(4) }, { cluster: c }), { message: /weightData holds 4 bytes, but weightSpecs declare 212/ });
  await c.close();
});

test('a mean over 1000 steps, then a BatchNormalization that magnifies it 20 times, answers as tfjs (the reciprocal 1/1000 at 16 bits alone was 0.7% off)', async (t) => {
  const model = tf.sequential({ layers: [L().globalAveragePooling1d({ inputShape: [1000, 1] }), L().batchNormalization({ epsilon: 1e-3 })] });
  model.layers[1].setWeights([tf.ones([1]), tf.zeros([1]), tf.tensor([5]), tf.tensor([0.0025])]);
  const x = Float32Array.from({ length: 2000 }, (_, i) => 5 + (i < 1000 ? 0.02 : -0.03) + 0.01 * Math.sin(i));
  const want: number[][] = model.predict(tf.tensor(x, [2, 1000, 1])).arraySync();
  const c = new tfe.Cluster();
  try {
    const m = tfe.loadLayersModel(await save(model), { cluster: c });
    const got = await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [2, 1000, 1] }), c)));
    expectRowsMatch(t, got.data, want, undefined);
  } finally {
    await c.close();
  }
});

test('a per-channel Rescaling (EfficientNet\'s 1/std after its Normalization) answers as tfjs, each channel to a small scale\'s precision', async (t) => {
  const scale = [1 / Math.sqrt(0.229), 1 / Math.sqrt(0.224), 1 / 255], offset = [-0.5, 0, 0.25];
  const model = tf.sequential({ layers: [L().rescaling({ inputShape: [4, 4, 3], scale, offset }), L().conv2d({ filters: 2, kernelSize: 3 }), L().flatten(), L().dense({ units: 3 })] });
  const x = Float32Array.from({ length: 2 * 48 }, (_, i) => (i % 3 === 2 ? 255 : 1) * Math.random());
  const want: number[][] = model.predict(tf.tensor(x, [2, 4, 4, 3])).arraySync();
  const file = await save(model);
  const c = new tfe.Cluster();
  try {
    const m = tfe.loadLayersModel(file, { cluster: c });
    const got = await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [2, 4, 4, 3] }), c)));
    expectRowsMatch(t, got.data, want, undefined);
    expectRowsMatch(t, tfe.loadPlainModel(file).forward({ data: Float64Array.from(x), shape: [2, 4, 4, 3] }).data, want, undefined, 1e-4);
  } finally {
    await c.close();
  }
});

test("Keras's 1-D shape layers (UpSampling1D, ZeroPadding1D, Cropping1D; tfjs has none) between two Conv1D, against tfjs ops doing the same", async (t) => {
  // The reference: tfjs models before and after, with the three as tfjs ops between them.
  const before = tf.sequential({ layers: [L().conv1d({ inputShape: [8, 2], filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' })] });
  const after = tf.sequential({ layers: [L().conv1d({ inputShape: [22, 3], filters: 2, kernelSize: 2 }), L().flatten(), L().dense({ units: 3 })] });
  const x = Float32Array.from({ length: 2 * 16 }, () => Math.random() * 2 - 1);
  const mid = before.predict(tf.tensor(x, [2, 8, 2]));
  // UpSampling1D(3): each step three times; ZeroPadding1D([2, 1]); Cropping1D([1, 3]): 8 -> 24 -> 27 -> 23... (22 with [2, 3]).
  const up = tf.reshape(tf.tile(tf.reshape(mid, [2, 8, 1, 3]), [1, 1, 3, 1]), [2, 24, 3]);
  const padded = tf.pad(up, [[0, 0], [2, 1], [0, 0]]);
  const cropped = tf.slice(padded, [0, 2, 0], [2, 22, 3]);
  const want: number[][] = after.predict(cropped).arraySync();
  // The model as Keras saves it: the first conv, the three layers, then the rest.
  const [a, b] = [await tfjsArtifacts(tf, before), await tfjsArtifacts(tf, after)];
  const layersOf = (m: tfe.ModelArtifacts) => (m.modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } }).config.layers;
  const tail = layersOf(b).map((l, i) => (i === 0 ? { ...l, config: { ...l.config, batch_input_shape: undefined } } : l));
  const shapes = [{ class_name: 'UpSampling1D', config: { name: 'up', size: 3 } }, { class_name: 'ZeroPadding1D', config: { name: 'zp', padding: [2, 1] } }, { class_name: 'Cropping1D', config: { name: 'crop', cropping: [2, 3] } }];
  const joined = { modelTopology: { class_name: 'Sequential', keras_version: '2.15.0', config: { name: 'seq', layers: [...layersOf(a), ...shapes, ...tail] } }, weightSpecs: [...a.weightSpecs!, ...b.weightSpecs!], weightData: Uint8Array.from([...new Uint8Array(a.weightData as ArrayBuffer), ...new Uint8Array(b.weightData as ArrayBuffer)]).buffer } as unknown as tfe.ModelArtifacts;
  expectRowsMatch(t, tfe.loadPlainModel(joined).forward({ data: Float64Array.from(x), shape: [2, 8, 2] }).data, want, undefined, 1e-4);
  const c = new tfe.Cluster();
  try {
    const m = tfe.loadLayersModel(joined, { cluster: c });
    expectRowsMatch(t, (await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [2, 8, 2] }), c)))).data, want, undefined);
  } finally {
    await c.close();
  }
});
