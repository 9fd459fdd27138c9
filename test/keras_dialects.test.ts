// Activation names whose function depends on what saved the model, and the names only Keras 3
// writes. Keras 3 changed hard_sigmoid from clip(0.2 x + 0.5, 0, 1) (tfjs, Keras 2) to
// relu6(x + 3) / 6: a model is run with the function its own Keras computed, known from
// modelTopology.keras_version or, without one, from Keras 3's `keras_history` form of layer
// calls. References are the formulas written here, in float64.
import test from 'ava';

import * as tfe from '../lib';
import { erf, erfc } from '../lib/math/erf';
import { rnd } from './helpers/model_files';

type F = (v: number) => number;
const clip01 = (v: number) => Math.min(Math.max(v, 0), 1);
const HARD_TFJS: F = (v) => clip01(0.2 * v + 0.5);
const HARD_K3: F = (v) => clip01(v / 6 + 0.5);

const IN = 6, HID = 16, OUT = 3;
const k1 = rnd(IN * HID, 1.5), b1 = rnd(HID, 1), k2 = rnd(HID * OUT, 0.5), b2 = rnd(OUT, 0.2);
const dense = (x: number[], k: Float32Array, b: Float32Array, n: number) => Array.from({ length: n }, (_, j) => x.reduce((a, v, q) => a + v * k[q * n + j], b[j]));
const forward = (x: number[], f: F) => dense(dense(x, k1, b1, HID).map(f), k2, b2, OUT);

/** in(6) -> Dense(16, `activation`) -> Dense(3), Sequential or (keras3Calls) Functional in Keras 3's call form. */
function artifacts(activation: string, topo: { kerasVersion?: string; keras3Calls?: boolean }): tfe.ModelArtifacts {
  const weightSpecs = [
    { name: 'h/kernel', shape: [IN, HID], dtype: 'float32' as const },
    { name: 'h/bias', shape: [HID], dtype: 'float32' as const },
    { name: 'o/kernel', shape: [HID, OUT], dtype: 'float32' as const },
    { name: 'o/bias', shape: [OUT], dtype: 'float32' as const },
  ];
  const data = new Float32Array([...k1, ...b1, ...k2, ...b2]);
  const version = topo.kerasVersion === undefined ? {} : { keras_version: topo.kerasVersion };
  const call = (n: string) => [{ args: [{ class_name: '__keras_tensor__', config: { shape: [null, IN], dtype: 'float32', keras_history: [n, 0, 0] } }], kwargs: {} }];
  const modelTopology = topo.keras3Calls
    ? {
        class_name: 'Functional',
        ...version,
        config: {
          name: 'f',
          layers: [
            { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, IN] }, inbound_nodes: [] },
            { class_name: 'Dense', config: { name: 'h', units: HID, activation }, inbound_nodes: call('in') },
            { class_name: 'Dense', config: { name: 'o', units: OUT, activation: 'linear' }, inbound_nodes: call('h') },
          ],
          input_layers: [['in', 0, 0]],
          output_layers: [['o', 0, 0]],
        },
      }
    : {
        class_name: 'Sequential',
        ...version,
        config: { name: 's', layers: [{ class_name: 'Dense', config: { name: 'h', units: HID, activation, batch_input_shape: [null, IN] } }, { class_name: 'Dense', config: { name: 'o', units: OUT } }] },
      };
  return { modelTopology, weightSpecs, weightData: data.buffer } as unknown as tfe.ModelArtifacts;
}

/** The private prediction of 16 random rows against `f`'s forward pass (SecureNN, the default). */
/**
 * A random input row whose hidden values all lie more than 1e-3 from a jump of f (hard_shrink's at
 * +-0.5): the private hidden value is the plaintext one within a unit or two of 2^-16, so one
 * within that of a jump could land on its other side, and the jump (0.5) would dominate the
 * comparison (a CI run drew such a row).
 */
function rowAwayFromJumps(f: F): number[] {
  for (;;) {
    const row = Array.from({ length: IN }, () => Math.random() * 4 - 2);
    if (dense(row, k1, b1, HID).every((h) => Math.abs(f(h + 1e-3) - f(h - 1e-3)) < 0.01)) return row;
  }
}

async function check(t: import('ava').ExecutionContext, a: tfe.ModelArtifacts, f: F, what: string): Promise<void> {
  const x = Array.from({ length: 16 }, () => rowAwayFromJumps(f)).flat();
  const c = new tfe.Cluster();
  try {
    const m = tfe.loadLayersModel(a, { cluster: c });
    const out = (await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [16, IN] }), c)))).data;
    let worst = 0;
    for (let r = 0; r < 16; r++) {
      const want = forward(x.slice(r * IN, (r + 1) * IN), f);
      for (let j = 0; j < OUT; j++) worst = Math.max(worst, Math.abs(out[r * OUT + j] - want[j]));
    }
    t.true(worst < 3e-3, `${what}: max |private - reference| = ${worst}`);
    // And the plaintext model the library itself uses for verify agrees with the same formula.
    const plain = tfe.loadPlainModel(a).forward({ data: Float64Array.from(x), shape: [16, IN] });
    let plainWorst = 0;
    for (let r = 0; r < 16; r++) forward(x.slice(r * IN, (r + 1) * IN), f).forEach((v, j) => (plainWorst = Math.max(plainWorst, Math.abs(plain.data[r * OUT + j] - v))));
    t.true(plainWorst < 1e-4, `${what}: plaintext model differs by ${plainWorst}`);
  } finally {
    await c.close();
  }
}

test('hard_sigmoid is clip(0.2 x + 0.5) for tfjs and Keras 2 models, and for a model that does not say', async (t) => {
  await check(t, artifacts('hard_sigmoid', { kerasVersion: 'tfjs-layers 4.22.0' }), HARD_TFJS, 'tfjs');
  await check(t, artifacts('hard_sigmoid', { kerasVersion: '2.15.0' }), HARD_TFJS, 'Keras 2.15');
  await check(t, artifacts('hard_sigmoid', {}), HARD_TFJS, 'no keras_version, Sequential');
});

test("hard_sigmoid is relu6(x + 3) / 6 for Keras 3 models: by keras_version, or by Keras 3's form of layer calls", async (t) => {
  await check(t, artifacts('hard_sigmoid', { kerasVersion: '3.5.0' }), HARD_K3, 'Keras 3.5');
  await check(t, artifacts('hard_sigmoid', { keras3Calls: true }), HARD_K3, 'no keras_version, keras_history calls');
  await check(t, artifacts('hard_sigmoid', { keras3Calls: true, kerasVersion: '3.10.0' }), HARD_K3, 'Keras 3.10, functional');
});

test("Keras 3's hard_silu (hard_swish) and leaky_relu activations", async (t) => {
  await check(t, artifacts('hard_silu', { kerasVersion: '3.5.0' }), (v) => v * HARD_K3(v), 'hard_silu');
  await check(t, artifacts('hard_swish', { kerasVersion: '3.5.0' }), (v) => v * HARD_K3(v), 'hard_swish');
  await check(t, artifacts('leaky_relu', { kerasVersion: '3.5.0' }), (v) => (v >= 0 ? v : 0.2 * v), 'leaky_relu');
});

test("Keras 3's piecewise-linear activations: hard_tanh and soft_shrink", async (t) => {
  await check(t, artifacts('hard_tanh', { kerasVersion: '3.5.0' }), (v) => Math.min(Math.max(v, -1), 1), 'hard_tanh');
  await check(t, artifacts('soft_shrink', { kerasVersion: '3.5.0' }), (v) => (v > 0.5 ? v - 0.5 : v < -0.5 ? v + 0.5 : 0), 'soft_shrink');
});

test("Keras 3's hard_shrink, sparse_plus and sparse_sigmoid: on random layers, and on their edges as Keras 3.15 computes them", async (t) => {
  await check(t, artifacts('hard_shrink', { kerasVersion: '3.5.0' }), (v) => (Math.abs(v) > 0.5 ? v : 0), 'hard_shrink');
  await check(t, artifacts('sparse_plus', { kerasVersion: '3.5.0' }), (v) => (v <= -1 ? 0 : v >= 1 ? v : (v + 1) ** 2 / 4), 'sparse_plus');
  await check(t, artifacts('sparse_sigmoid', { kerasVersion: '3.5.0' }), (v) => (v <= -1 ? 0 : v >= 1 ? 1 : (v + 1) / 2), 'sparse_sigmoid');
  // keras.activations.hard_shrink / sparse_plus / sparse_sigmoid on these values (Keras 3.15.1, float32).
  const x = [-2, -1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.5001, 0.75, 1, 1.5];
  const keras: Record<string, number[]> = {
    hard_shrink: [-2, -1, -0.75, 0, 0, 0, 0, 0, 0.5001000165939331, 0.75, 1, 1.5],
    sparse_plus: [0, 0, 0.015625, 0.0625, 0.140625, 0.25, 0.390625, 0.5625, 0.5625750422477722, 0.765625, 1, 1.5],
    sparse_sigmoid: [0, 0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.7500500082969666, 0.875, 1, 1],
  };
  for (const [activation, want] of Object.entries(keras)) {
    const a = { modelTopology: { class_name: 'Sequential', keras_version: '3.15.1', config: { name: 's', layers: [{ class_name: 'Activation', config: { name: 'a', activation, batch_input_shape: [null, x.length] } }] } }, weightSpecs: [], weightData: new ArrayBuffer(0) } as unknown as tfe.ModelArtifacts;
    const plain = tfe.loadPlainModel(a).forward({ data: Float64Array.from(x), shape: [1, x.length] }).data;
    t.true(want.every((w, i) => Math.abs(plain[i] - w) < 1e-6), `${activation} plaintext: ${Array.from(plain)}`);
    for (const protocol of ['securenn', 'fss'] as const) {
      const c = new tfe.Cluster({ protocol });
      try {
        const m = tfe.loadLayersModel(a, { cluster: c });
        const out = (await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: [1, x.length] }))))).data;
        // One unit of 2^-16 for the rounding of the product (and 0.5001's own encoding).
        t.true(want.every((w, i) => Math.abs(out[i] - w) < 3e-5), `${activation} ${protocol}: ${Array.from(out)}`);
      } finally {
        await c.close();
      }
    }
  }
});

test("Keras 3's smooth activations built on the fitted ones: celu (alpha 1), log_sigmoid, tanh_shrink", async (t) => {
  await check(t, artifacts('celu', { kerasVersion: '3.5.0' }), (v) => Math.max(v, 0) + Math.min(0, Math.expm1(v)), 'celu');
  await check(t, artifacts('log_sigmoid', { kerasVersion: '3.5.0' }), (v) => Math.log(1 / (1 + Math.exp(-v))), 'log_sigmoid');
  await check(t, artifacts('tanh_shrink', { kerasVersion: '3.5.0' }), (v) => v - Math.tanh(v), 'tanh_shrink');
});

test("a Keras 3 BatchNormalization (synchronized, renorm settings) loads and normalises with its moving statistics", async (t) => {
  const gamma = rnd(HID, 1).map((v) => v + 1.5), beta = rnd(HID, 0.5), mean = rnd(HID, 1), variance = rnd(HID, 1).map((v) => v + 1.2);
  const bn = { name: 'bn', axis: -1, momentum: 0.99, epsilon: 0.001, center: true, scale: true, synchronized: false, renorm: false, renorm_clipping: null, renorm_momentum: 0.99, beta_initializer: { module: 'keras.initializers', class_name: 'Zeros', config: {}, registered_name: null } };
  const modelTopology = {
    class_name: 'Sequential',
    keras_version: '3.10.0',
    config: { name: 's', layers: [{ class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, IN] } }, { class_name: 'Dense', config: { name: 'h', units: HID } }, { class_name: 'BatchNormalization', config: bn }, { class_name: 'Activation', config: { name: 'a', activation: 'relu' } }, { class_name: 'Dense', config: { name: 'o', units: OUT } }] },
  };
  const specs = [['h/kernel', [IN, HID]], ['h/bias', [HID]], ['bn/gamma', [HID]], ['bn/beta', [HID]], ['bn/moving_mean', [HID]], ['bn/moving_variance', [HID]], ['o/kernel', [HID, OUT]], ['o/bias', [OUT]]] as const;
  const data = new Float32Array([...k1, ...b1, ...gamma, ...beta, ...mean, ...variance, ...k2, ...b2]);
  const a = { modelTopology, weightSpecs: specs.map(([name, shape]) => ({ name, shape: [...shape], dtype: 'float32' })), weightData: data.buffer } as unknown as tfe.ModelArtifacts;
  const norm = (h: number[]) => h.map((v, j) => Math.max(0, (gamma[j] * (v - mean[j])) / Math.sqrt(variance[j] + 0.001) + beta[j]));
  const x = Array.from({ length: 8 * IN }, () => Math.random() * 4 - 2);
  const c = new tfe.Cluster();
  try {
    const m = tfe.loadLayersModel(a, { cluster: c });
    const out = (await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [8, IN] }), c)))).data;
    for (let r = 0; r < 8; r++) {
      const want = dense(norm(dense(x.slice(r * IN, (r + 1) * IN), k1, b1, HID)), k2, b2, OUT);
      for (let j = 0; j < OUT; j++) t.true(Math.abs(out[r * OUT + j] - want[j]) < 3e-3, `[${r}, ${j}]: ${out[r * OUT + j]} vs ${want[j]}`);
    }
  } finally {
    await c.close();
  }
});

/** A Sequential of `layers` with these weights (name, shape, values), as in-memory artifacts. */
function seq(layers: object[], weights: [string, number[], Float32Array][], kerasVersion = '3.13.0'): tfe.ModelArtifacts {
  const data = new Float32Array(weights.flatMap(([, , v]) => [...v]));
  return { modelTopology: { class_name: 'Sequential', keras_version: kerasVersion, config: { name: 's', layers } }, weightSpecs: weights.map(([name, shape]) => ({ name, shape, dtype: 'float32' })), weightData: data.buffer } as unknown as tfe.ModelArtifacts;
}

const POLICY = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
const denseWeights: [string, number[], Float32Array][] = [['h/kernel', [IN, HID], k1], ['h/bias', [HID], b1], ['o/kernel', [HID, OUT], k2], ['o/bias', [OUT], b2]];

test("Keras 3.13's always-written defaults load (InputLayer optional: false, Dense quantization_config: null, a float DTypePolicy) and compute the float model", async (t) => {
  const layers = [
    { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, IN], dtype: 'float32', sparse: false, ragged: false, optional: false } },
    { class_name: 'Dense', config: { name: 'h', units: HID, activation: 'relu', use_bias: true, dtype: POLICY, quantization_config: null } },
    { class_name: 'Dense', config: { name: 'o', units: OUT, dtype: POLICY, quantization_config: null } },
  ];
  await check(t, seq(layers, denseWeights), (v) => Math.max(v, 0), 'Keras 3.13 MLP');
});

test('quantized layers and optional inputs are refused, naming the setting', (t) => {
  const input = (extra: object) => ({ class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, IN], ...extra } });
  const dense = (extra: object) => ({ class_name: 'Dense', config: { name: 'h', units: HID, ...extra } });
  const out = { class_name: 'Dense', config: { name: 'o', units: OUT } };
  const cases: [object[], RegExp][] = [
    [[input({}), dense({ quantization_config: { mode: 'int8' } }), out], /layer 'h' \(Dense\): quantization_config = \{"mode":"int8"\} is not supported/],
    [[input({}), dense({ dtype: { module: 'keras', class_name: 'QuantizedDTypePolicy', config: { name: 'int8_from_float32', source_name: 'float32' } } }), out], /layer 'h' \(Dense\): dtype policy 'int8_from_float32' quantizes the layer/],
    [[input({}), dense({ dtype: 'int4_from_float32' }), out], /dtype policy 'int4_from_float32' quantizes the layer/],
    [[input({ optional: true }), dense({}), out], /layer 'in' \(InputLayer\): optional = true is not supported/],
  ];
  for (const [layers, message] of cases) t.throws(() => tfe.loadPlainModel(seq(layers, denseWeights)), { message });
  // Mixed precision only changes Keras's rounding: accepted.
  t.notThrows(() => tfe.loadPlainModel(seq([input({}), dense({ dtype: { module: 'keras', class_name: 'DTypePolicy', config: { name: 'mixed_float16' } } }), out], denseWeights)));
});

test("Rescaling's scale and offset as Keras 3 writes NumPy values ('__numpy__'), and a per-channel list of another length than the channels refused", async (t) => {
  const numpy = (value: unknown) => ({ class_name: '__numpy__', config: { value, dtype: 'float32' } });
  const layers = (scale: unknown, offset: unknown) => [
    { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, IN] } },
    { class_name: 'Rescaling', config: { name: 'r', scale, offset } },
    { class_name: 'Dense', config: { name: 'h', units: HID, activation: 'relu' } },
    { class_name: 'Dense', config: { name: 'o', units: OUT } },
  ];
  // Rescaling by 0.5 then + 0.25 ahead of the same MLP: the reference rescales the input itself.
  const a = seq(layers(numpy([[0.5, 0.5, 0.5]]), numpy(0.25)), denseWeights);
  const x = Array.from({ length: 4 * IN }, () => Math.random() * 4 - 2);
  const got = tfe.loadPlainModel(a).forward({ data: Float64Array.from(x), shape: [4, IN] }).data;
  for (let r = 0; r < 4; r++) forward(x.slice(r * IN, (r + 1) * IN).map((v) => v * 0.5 + 0.25), (v) => Math.max(v, 0)).forEach((v, j) => t.true(Math.abs(got[r * OUT + j] - v) < 1e-9));
  const c = new tfe.Cluster();
  try {
    const m = tfe.loadLayersModel(a, { cluster: c });
    const out = (await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [4, IN] }), c)))).data;
    for (let i = 0; i < out.length; i++) t.true(Math.abs(out[i] - got[i]) < 3e-3, `${out[i]} vs ${got[i]}`);
  } finally {
    await c.close();
  }
  // Per channel, one value per channel of the last axis; 2 values for 6 channels do not broadcast.
  t.throws(() => tfe.loadPlainModel(seq(layers(numpy([0.5, 0.25]), 0), denseWeights)).forward({ data: new Float64Array(IN), shape: [1, IN] }), { message: /layer 'r' \(Rescaling\): has 2 per-channel values, but its input has 6 channels/ });
});

test("tf-keras's DepthwiseConv2D and SeparableConv2D with groups: 1 load and compute as without it; other groups are refused", (t) => {
  const dw = rnd(3 * 3 * 2 * 2, 0.5), pw = rnd(4 * 3, 0.5), bias = rnd(3, 0.2);
  const topo = (cls: string, extra: object) => [
    { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 6, 6, 2] } },
    { class_name: cls, config: { name: 'c', kernel_size: [3, 3], depth_multiplier: 2, padding: 'valid', ...(cls === 'SeparableConv2D' ? { filters: 3 } : {}), use_bias: cls === 'SeparableConv2D', ...extra } },
  ];
  const weights = (cls: string): [string, number[], Float32Array][] =>
    cls === 'SeparableConv2D' ? [['c/depthwise_kernel', [3, 3, 2, 2], dw], ['c/pointwise_kernel', [1, 1, 4, 3], pw], ['c/bias', [3], bias]] : [['c/depthwise_kernel', [3, 3, 2, 2], dw]];
  const x = { data: Float64Array.from({ length: 2 * 72 }, () => Math.random() * 2 - 1), shape: [2, 6, 6, 2] };
  for (const cls of ['DepthwiseConv2D', 'SeparableConv2D']) {
    const plain = tfe.loadPlainModel(seq(topo(cls, {}), weights(cls), '2.15.0')).forward(x).data;
    const grouped = tfe.loadPlainModel(seq(topo(cls, { groups: 1 }), weights(cls), '2.15.0')).forward(x).data;
    t.deepEqual([...grouped], [...plain], cls);
    t.throws(() => tfe.loadPlainModel(seq(topo(cls, { groups: 2 }), weights(cls), '2.15.0')), { message: new RegExp(`layer 'c' \\(${cls}\\): groups = 2 is not supported`) });
  }
});

test("Keras's grouped convolutions (Conv2D and Conv1D groups > 1) against a direct convolution; filters that do not split are refused", async (t) => {
  /** Direct grouped convolution, VALID, stride 1: x [n, h, w, c], k [kh, kw, c/g, f]. */
  const grouped = (x: number[], [n, h, w, c]: number[], k: Float32Array, [kh, kw, cg, f]: number[], bias: Float32Array, g: number) => {
    const oh = h - kh + 1, ow = w - kw + 1, fg = f / g, out: number[] = [];
    for (let b = 0; b < n; b++)
      for (let y = 0; y < oh; y++)
        for (let z = 0; z < ow; z++)
          for (let o = 0; o < f; o++) {
            const q = Math.floor(o / fg);
            let acc = bias[o];
            for (let dy = 0; dy < kh; dy++) for (let dz = 0; dz < kw; dz++) for (let i = 0; i < cg; i++) acc += x[((b * h + y + dy) * w + z + dz) * c + q * cg + i] * k[((dy * kw + dz) * cg + i) * f + o];
            out.push(acc);
          }
    return out;
  };
  const cases = [
    { cls: 'Conv2D', input: [2, 5, 5, 4], kshape: [3, 3, 2, 6], groups: 2, config: { kernel_size: [3, 3], filters: 6 } },
    { cls: 'Conv1D', input: [2, 1, 7, 6], kshape: [1, 2, 2, 3], groups: 3, config: { kernel_size: [2], filters: 3 } },
  ];
  for (const { cls, input, kshape, groups, config } of cases) {
    const k = rnd(kshape.reduce((a, b) => a * b, 1), 0.6), bias = rnd(kshape[3], 0.3);
    const inShape = cls === 'Conv1D' ? [input[2], input[3]] : input.slice(1);
    const layers = (g: number) => [
      { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, ...inShape] } },
      { class_name: cls, config: { name: 'c', padding: 'valid', groups: g, use_bias: true, ...config } },
    ];
    const kernelShape = cls === 'Conv1D' ? kshape.slice(1) : kshape;
    const a = seq(layers(groups), [['c/kernel', kernelShape, k], ['c/bias', [kshape[3]], bias]]);
    const x = Array.from({ length: input.reduce((p, q) => p * q, 1) }, () => Math.random() * 2 - 1);
    const want = grouped(x, input, k, kshape, bias, groups);
    const c = new tfe.Cluster();
    try {
      const m = tfe.loadLayersModel(a, { cluster: c });
      const out = (await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [input[0], ...inShape] }), c)))).data;
      t.is(out.length, want.length, cls);
      t.true(want.every((v, i) => Math.abs(out[i] - v) < 2e-3), `${cls}: private vs direct`);
      const plain = tfe.loadPlainModel(a).forward({ data: Float64Array.from(x), shape: [input[0], ...inShape] }).data;
      t.true(want.every((v, i) => Math.abs(plain[i] - v) < 1e-9), `${cls}: plaintext model vs direct`);
    } finally {
      await c.close();
    }
    t.throws(() => tfe.loadPlainModel(seq(layers(4), [['c/kernel', kernelShape, k], ['c/bias', [kshape[3]], bias]])), { message: new RegExp(`layer 'c' \\(${cls}\\): groups = 4 does not divide its ${kshape[3]} filters`) });
  }
});

test("Keras's Normalization layer (after adapt: mean and variance are weights) normalises, or with invert undoes it; a mean in the config without a variance is refused", async (t) => {
  const mean = rnd(IN, 2), variance = Float32Array.from(rnd(IN, 1), (v) => Math.abs(v) + 0.2);
  const count = new Float32Array([1000]);
  const layers = (extra: object) => [
    { class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, IN] } },
    { class_name: 'Normalization', config: { name: 'norm', axis: -1, invert: false, mean: null, variance: null, ...extra } },
    { class_name: 'Dense', config: { name: 'h', units: HID, activation: 'relu' } },
    { class_name: 'Dense', config: { name: 'o', units: OUT } },
  ];
  const weights: [string, number[], Float32Array][] = [['norm/mean', [IN], mean], ['norm/variance', [IN], variance], ['norm/count', [], count], ...denseWeights];
  for (const invert of [false, true]) {
    const sd = (i: number) => Math.max(Math.sqrt(variance[i]), 1e-7);
    const pre = (v: number, i: number) => (invert ? v * sd(i) + mean[i] : (v - mean[i]) / sd(i));
    const a = seq(layers({ invert }), weights);
    const x = Array.from({ length: 8 * IN }, () => Math.random() * 4 - 2);
    const want = (r: number) => forward(x.slice(r * IN, (r + 1) * IN).map(pre), (v) => Math.max(v, 0));
    const plain = tfe.loadPlainModel(a).forward({ data: Float64Array.from(x), shape: [8, IN] }).data;
    for (let r = 0; r < 8; r++) want(r).forEach((v, j) => t.true(Math.abs(plain[r * OUT + j] - v) < 1e-6 * Math.max(1, Math.abs(v)), `plain invert=${invert}`));
    const c = new tfe.Cluster();
    try {
      const m = tfe.loadLayersModel(a, { cluster: c });
      const out = (await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [8, IN] }), c)))).data;
      for (let r = 0; r < 8; r++) want(r).forEach((v, j) => t.true(Math.abs(out[r * OUT + j] - v) < 5e-3, `private invert=${invert} [${r}, ${j}]: ${out[r * OUT + j]} vs ${v}`));
    } finally {
      await c.close();
    }
  }
  // Both in the config become weights (application_layers.test.ts); one alone is not Keras's.
  t.throws(() => tfe.loadPlainModel(seq(layers({ mean: [0, 0, 0, 0, 0, 0] }), weights)), { message: /layer 'norm' \(Normalization\): its config gives a mean but no variance: Keras takes both or neither/ });
  // axis None: one mean and variance (keras3_walkthrough_models.json runs one); per-feature ones disagree with it.
  t.throws(() => tfe.loadPlainModel(seq(layers({ axis: null }), weights)), { message: /layer 'norm' \(Normalization\): axis = None takes one mean and variance, but 'norm\/variance' has shape \[6\]/ });
  // A constant feature (variance 0): Keras divides by 1e-7, which fixed point cannot follow.
  const flat: [string, number[], Float32Array][] = weights.map(([n, s, v]) => [n, s, n === 'norm/variance' ? Float32Array.from(v, (e, i) => (i === 2 ? 0 : e)) : v]);
  t.throws(() => tfe.loadPlainModel(seq(layers({}), flat)), { message: /norm\/variance: feature 2 has standard deviation 1.00e-7 \(a constant feature\?\)/ });
});

test('erf and erfc against tabulated values, and their symmetries', (t) => {
  // Abramowitz and Stegun, table 7.1, and erfc's asymptotic tail.
  const table: [number, number][] = [[0.1, 0.1124629160182849], [0.5, 0.5204998778130465], [1, 0.8427007929497149], [1.5, 0.9661051464753108], [2, 0.9953222650189527], [3, 0.9999779095030014]];
  for (const [x, v] of table) {
    t.true(Math.abs(erf(x) - v) < 1e-15, `erf(${x}) = ${erf(x)}, table ${v}`);
    t.is(erf(-x), -erf(x));
    t.true(Math.abs(erfc(-x) - (1 + v)) < 1e-15);
  }
  const tails: [number, number][] = [[2, 4.677734981047266e-3], [3, 2.209049699858544e-5], [5, 1.5374597944280349e-12], [10, 2.088487583762545e-45]];
  for (const [x, v] of tails) t.true(Math.abs(erfc(x) / v - 1) < 1e-13, `erfc(${x}) = ${erfc(x)}, table ${v}`);
  t.is(erf(0), 0);
  t.true(Number.isNaN(erf(Number.NaN)) && Number.isNaN(erfc(Number.NaN)));
  t.is(erfc(40), 0);
  t.is(erf(40), 1);
});

// A Keras 3 Sequential model has no layer calls, so without keras_version (model.to_json(), a
// config assembled by hand) its hard_sigmoid was taken as Keras 2's; what only Keras 3 writes (an
// input's batch_shape, dtype policy objects) says which it is. tf-keras's mixed-precision
// `Policy` object is not one of them.
test("hard_sigmoid is Keras 3's in a Keras 3 Sequential config without keras_version (batch_shape, DTypePolicy dtypes); tf-keras's forms stay Keras 2's", async (t) => {
  const sequential = (first: object, dtype: unknown) => {
    const a = artifacts('hard_sigmoid', {}) as unknown as { modelTopology: { config: { layers: object[] } } };
    a.modelTopology.config.layers = [first, { class_name: 'Dense', config: { name: 'h', units: HID, activation: 'hard_sigmoid', dtype } }, { class_name: 'Dense', config: { name: 'o', units: OUT, dtype } }];
    return a as unknown as tfe.ModelArtifacts;
  };
  const input = (shape: object) => ({ class_name: 'InputLayer', config: { name: 'in', ...shape } });
  await check(t, sequential(input({ batch_shape: [null, IN] }), 'float32'), HARD_K3, 'batch_shape');
  await check(t, sequential(input({ batch_input_shape: [null, IN] }), POLICY), HARD_K3, 'DTypePolicy dtypes');
  await check(t, sequential(input({ batch_input_shape: [null, IN] }), 'float32'), HARD_TFJS, 'tf-keras: batch_input_shape, dtype strings');
  await check(t, sequential(input({ batch_input_shape: [null, IN] }), { class_name: 'Policy', config: { name: 'float32' } }), HARD_TFJS, "tf-keras's Policy object");
});

// TensorFlow.js's DepthwiseConv2D computes without its dilation_rate (tfjs-layers 4.22 passes no
// dilation to its depthwise convolution), Keras with it: a model TensorFlow.js saved predicted
// there unlike what the library computed. Such a model is refused; a Keras model keeps Keras's
// meaning, checked against the same layer on the kernel dilated by hand (zeros between taps).
test("DepthwiseConv2D's dilation_rate: refused in a model saved by TensorFlow.js, which ignores it; a Keras model's equals the hand-dilated kernel", (t) => {
  const k = rnd(3 * 3 * 2 * 1, 0.5);
  const dilatedByHand = new Float32Array(5 * 5 * 2);
  for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) for (let c = 0; c < 2; c++) dilatedByHand[((2 * y) * 5 + 2 * x) * 2 + c] = k[(y * 3 + x) * 2 + c];
  const layers = (size: number, dilation: number) => [
    { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 9, 9, 2] } },
    { class_name: 'DepthwiseConv2D', config: { name: 'c', kernel_size: [size, size], dilation_rate: [dilation, dilation], padding: 'same', use_bias: false } },
  ];
  const x = { data: Float64Array.from({ length: 2 * 162 }, () => Math.random() * 2 - 1), shape: [2, 9, 9, 2] };
  const dilated = tfe.loadPlainModel(seq(layers(3, 2), [['c/depthwise_kernel', [3, 3, 2, 1], k]], '2.15.0')).forward(x).data;
  const byHand = tfe.loadPlainModel(seq(layers(5, 1), [['c/depthwise_kernel', [5, 5, 2, 1], dilatedByHand]], '2.15.0')).forward(x).data;
  t.is(dilated.length, byHand.length);
  t.true(dilated.every((v, i) => Math.abs(v - byHand[i]) < 1e-6), 'Keras 2.15: the dilated layer');
  t.throws(() => tfe.loadPlainModel(seq(layers(3, 2), [['c/depthwise_kernel', [3, 3, 2, 1], k]], 'tfjs-layers 4.22.0')), { message: /layer 'c' \(DepthwiseConv2D\): dilation_rate \[2,2\] in a model saved by TensorFlow\.js, whose DepthwiseConv2D ignores it/ });
  t.notThrows(() => tfe.loadPlainModel(seq(layers(3, 1), [['c/depthwise_kernel', [3, 3, 2, 1], k]], 'tfjs-layers 4.22.0')), 'undilated: loads');
});

test("tf-keras's Conv2DTranspose with groups: 1 (written by its base convolution) loads and computes as without it; other groups are refused", (t) => {
  const k = rnd(3 * 3 * 2 * 2, 0.5);
  const layers = (extra: object) => [
    { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 4, 4, 2] } },
    { class_name: 'Conv2DTranspose', config: { name: 'c', filters: 2, kernel_size: [3, 3], strides: [2, 2], padding: 'same', use_bias: false, ...extra } },
  ];
  const x = { data: Float64Array.from({ length: 32 }, () => Math.random() * 2 - 1), shape: [1, 4, 4, 2] };
  const plain = tfe.loadPlainModel(seq(layers({}), [['c/kernel', [3, 3, 2, 2], k]], '2.15.0')).forward(x).data;
  const grouped = tfe.loadPlainModel(seq(layers({ groups: 1 }), [['c/kernel', [3, 3, 2, 2], k]], '2.15.0')).forward(x).data;
  t.deepEqual([...grouped], [...plain]);
  t.throws(() => tfe.loadPlainModel(seq(layers({ groups: 2 }), [['c/kernel', [3, 3, 2, 2], k]], '2.15.0')), { message: /layer 'c' \(Conv2DTranspose\): groups = 2 is not supported/ });
});
