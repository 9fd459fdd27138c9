// What keras.applications' ConvNeXt and EfficientNetV2 needed beyond keras.layers, checked where
// it is read (the models themselves, against Keras's predict, are in keras3_saved_models.test.ts):
// Normalization's config mean and variance become private weights before anything reads the
// topology, so the topology a deploy sends holds neither; ConvNeXt's LayerScale and
// StochasticDepth are Keras's own only.
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { manifestShapes, parseTopology } from '../lib/api/layers_spec';

const MEAN = [0.123457, -7.654321, 3.141593], VARIANCE = [0.271828, 1.414214, 9.869604];

const ref = (name: string, shape: (number | null)[]) => ({ class_name: '__keras_tensor__', config: { shape, dtype: 'float32', keras_history: [name, 0, 0] } });
const input = (shape: number[]) => ({ module: 'keras.layers', class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_shape: [null, ...shape] }, inbound_nodes: [] });
const layer = (class_name: string, name: string, config: object, from: string, shape: (number | null)[], module: string | null = 'keras.layers') => ({
  ...(module === null ? {} : { module }),
  class_name,
  name,
  config: { name, trainable: true, dtype: 'float32', ...config },
  inbound_nodes: [{ args: [ref(from, shape)], kwargs: {} }],
});
const art = (layers: object[], output: string, weights: { name: string; shape: number[]; data?: number[] }[] = []) =>
  ({
    modelTopology: { class_name: 'Functional', keras_version: '3.15.1', config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [[output, 0, 0]] } },
    weightSpecs: weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })),
    weightData: new Float32Array(weights.flatMap((w) => w.data ?? new Array(w.shape.reduce((a, b) => a * b, 1)).fill(0.5))).buffer,
  }) as unknown as tfe.ModelArtifacts;
const normalization = (config: object) => art([input([4, 3]), layer('Normalization', 'norm', { axis: -1, invert: false, ...config }, 'in', [null, 4, 3])], 'norm');

test("Normalization's config mean and variance become weights: the topology a deploy sends holds neither, and the caller's artifacts are unchanged", (t) => {
  const a = normalization({ mean: MEAN, variance: VARIANCE });
  const before = JSON.stringify(a.modelTopology);
  const { json, weights } = readLayersModel(a);
  const sent = JSON.stringify(json.modelTopology);
  for (const v of [...MEAN, ...VARIANCE]) t.false(sent.includes(String(v)), `${v} is in the topology`);
  t.deepEqual(Array.from(weights.get('norm/mean')!.data), Array.from(Float32Array.from(MEAN)));
  t.deepEqual(Array.from(weights.get('norm/variance')!.data), Array.from(Float32Array.from(VARIANCE)));
  t.true(json.weightsManifest.some((g) => g.weights.some((w) => w.name === 'norm/mean' && w.shape.join() === '3')));
  t.is(JSON.stringify(a.modelTopology), before);
  // And computes (x - mean) / sqrt(variance) per channel.
  const x = Float64Array.from({ length: 24 }, () => Math.random() * 10 - 5);
  const got = tfe.loadPlainModel(a).forward({ data: x, shape: [2, 4, 3] }).data;
  const err = Math.max(...Array.from(x, (v, i) => Math.abs(got[i] - (v - Math.fround(MEAN[i % 3])) / Math.sqrt(Math.fround(VARIANCE[i % 3])))));
  t.true(err < 1e-6, `max |plain - reference| = ${err}`);
});

test('a single mean or variance broadcasts over the channels, as Keras broadcasts it', (t) => {
  const { weights } = readLayersModel(normalization({ mean: 2, variance: VARIANCE }));
  t.deepEqual(Array.from(weights.get('norm/mean')!.data), [2, 2, 2]);
  t.is(weights.get('norm/variance')!.data.length, 3);
});

test('the servers still refuse a topology that carries a mean or variance (a deploy that did not come through the owner)', (t) => {
  const a = normalization({ mean: MEAN, variance: VARIANCE });
  t.throws(() => parseTopology(a.modelTopology as never, () => undefined, []), { message: /layer 'norm' \(Normalization\): mean = .* given in its config would travel in the topology every server reads/ });
  // What the owner reads parses (the weights are in the manifest).
  const { json } = readLayersModel(a);
  const shapes = manifestShapes(json);
  t.notThrows(() => parseTopology(json.modelTopology, (n) => shapes.get(n), [...shapes.keys()]));
});

test("a Normalization config's mean and variance are checked, naming the layer", (t) => {
  const refused = (config: object, message: RegExp) => t.throws(() => tfe.loadPlainModel(normalization(config)), { message }, JSON.stringify(config));
  refused({ mean: MEAN, variance: null }, /layer 'norm' \(Normalization\): its config gives a mean but no variance: Keras takes both or neither/);
  refused({ mean: [1, 2], variance: VARIANCE }, /its config's mean \(2 values\) and variance \(3\) do not broadcast together/);
  refused({ mean: MEAN, variance: [1, -1, 1] }, /variance\[1\] = -1 in its config is not a finite number >= 0/);
  refused({ mean: 'imagenet', variance: VARIANCE }, /mean = "imagenet" in its config is not a number or a list of at most 1048576 numbers/);
  refused({ axis: [1, 2], mean: [[1, 2, 3]], variance: VARIANCE }, /layer 'norm' \(Normalization\): axis = \[1,2\]: its config's mean has a value per position of several axes; only the last axis/);
  refused({ mean: [1, 2, 3, 4], variance: [1, 1, 1, 1] }, /layer 'norm' \(Normalization\): has a mean and variance for 4 channels, but its input has 3 \(its last axis\)/);
  const clash = art([input([3]), layer('Normalization', 'norm', { axis: -1, mean: MEAN, variance: VARIANCE }, 'in', [null, 3])], 'norm', [{ name: 'norm/mean', shape: [3] }]);
  t.throws(() => tfe.loadPlainModel(clash), { message: /its config gives a mean, and the model also has a weight 'norm\/mean'/ });
});

test("ConvNeXt's LayerScale and StochasticDepth are Keras's own only: a custom class of either name is refused, naming its module", (t) => {
  const cases: [string, object, { name: string; shape: number[] }[]][] = [
    ['LayerScale', { init_values: 1e-6, projection_dim: 3 }, [{ name: 'ls/variable', shape: [3] }]],
    ['StochasticDepth', { drop_path_rate: 0.1 }, []],
  ];
  for (const [cls, config, weights] of cases) {
    const a = art([input([3]), layer(cls, 'ls', config, 'in', [null, 3], 'my_project.layers')], 'ls', weights);
    t.throws(() => tfe.loadPlainModel(a), { message: new RegExp(`layer 'ls' \\(${cls}\\): is a custom layer from module 'my_project.layers', not Keras's own`) });
    // Keras's own, or with the module deleted (tensorflowjs_converter), loads.
    for (const module of ['keras.src.applications.convnext', null]) t.notThrows(() => tfe.loadPlainModel(art([input([3]), layer(cls, 'ls', config, 'in', [null, 3], module)], 'ls', weights)));
  }
});

test("LayerScale multiplies by its gamma (Keras 3 names it variable_N), whose length must be projection_dim", (t) => {
  const gamma = [0.5, -2, 3];
  const a = art([input([3]), layer('LayerScale', 'ls', { init_values: 1e-6, projection_dim: 3 }, 'in', [null, 3], 'keras.src.applications.convnext')], 'ls', [{ name: 'ls/variable_7', shape: [3], data: gamma }]);
  t.deepEqual(Array.from(tfe.loadPlainModel(a).forward({ data: Float64Array.from([1, 1, 1, 2, 2, 2]), shape: [2, 3] }).data), [0.5, -2, 3, 1, -4, 6]);
  const wrong = art([input([3]), layer('LayerScale', 'ls', { init_values: 1e-6, projection_dim: 4 }, 'in', [null, 3], 'keras.src.applications.convnext')], 'ls', [{ name: 'ls/variable', shape: [3] }]);
  t.throws(() => tfe.loadPlainModel(wrong), { message: /layer 'ls' \(LayerScale\): .*gamma.*\[3\].*\[4\]|layer 'ls' \(LayerScale\): weight 'gamma' has shape \[3\], expected \[4\]/ });
});

test('GroupNormalization refuses groups that do not divide the channels, and groups wider than LayerNormalization rows', (t) => {
  const gn = (shape: number[], groups: number) =>
    art([input(shape), layer('GroupNormalization', 'gn', { groups, axis: -1, epsilon: 1e-3, center: true, scale: true }, 'in', [null, ...shape])], 'gn', [
      { name: 'gn/gamma', shape: [shape[shape.length - 1]] },
      { name: 'gn/beta', shape: [shape[shape.length - 1]] },
    ]);
  t.throws(() => tfe.loadPlainModel(gn([4, 4, 6], 4)), { message: /layer 'gn' \(GroupNormalization\): groups = 4 does not divide its input's 6 channels/ });
  // Refused where the model is loaded (its plaintext run), not at its first prediction.
  const c = new tfe.Cluster({ protocol: 'securenn' });
  t.teardown(() => c.close());
  t.throws(() => tfe.loadLayersModel(gn([128, 128, 8], 2), { cluster: c }), { message: /layer 'gn' \(GroupNormalization\): each group holds 65536 values \(positions x channels per group\), more than the 65535 supported/ });
});

// Separable layers (conv_kernels.ts separableInTwo): a wide one runs as two products, its depthwise
// filter and pointwise kernel shared as they are; a narrow one as one product on the kernels the
// owner folds. The real Keras models (keras3_application_models.json) are checked against Keras's
// predict in keras3_saved_models.test.ts; here, which form each took.
test('wide separable layers run as two products, narrow ones on the folded kernel', (t) => {
  const fixtures = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', 'keras3_application_models.json'), 'utf8'));
  const forms = (name: string) => {
    const f = fixtures[name];
    const a = { modelTopology: f.topology, weightSpecs: f.weights.map((w: { name: string; shape: number[] }) => ({ name: w.name, shape: w.shape, dtype: 'float32' })), weightData: new Float32Array(f.weights.flatMap((w: { data: number[] }) => w.data)).buffer } as unknown as tfe.ModelArtifacts;
    const params = tfe.loadPlainModel(a).spec.params.map((p) => p.weight).filter((w) => /separable_conv/.test(w));
    return { two: params.filter((w) => w.endsWith('/depthwise_filter')).length, folded: params.filter((w) => w.endsWith('/full_kernel')).length };
  };
  // 81 taps x 64 filters and 81 x 128 with a multiplier of 2: two products each.
  t.deepEqual(forms('x6_separable_two_products'), { two: 2, folded: 0 });
  t.deepEqual(forms('x7_separable1d_two_products'), { two: 1, folded: 0 });
  // Xception's entry flow made small (3x3, 16 and 12 filters) and the 1-D ones of 6 and 8 filters: folded.
  t.deepEqual(forms('x2_separable_xception_entry'), { two: 0, folded: 3 });
  t.deepEqual(forms('x3_depthwise_separable_1d'), { two: 0, folded: 2 });
});

// ConvNeXt's LayerScale right after its Dense is folded into that Dense's kernel and bias (as a
// BatchNormalization's scale is): one private product per block fewer. The real models, with large
// and with small (trained-like) layer scales, match Keras in keras3_saved_models.test.ts.
test("ConvNeXt's LayerScale after a Dense is folded into it; elsewhere it stays a product", (t) => {
  const fixtures = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', 'keras3_application_models.json'), 'utf8'));
  const f = fixtures.c2_convnext_mini_small_layer_scales;
  const a = { modelTopology: f.topology, weightSpecs: f.weights.map((w: { name: string; shape: number[] }) => ({ name: w.name, shape: w.shape, dtype: 'float32' })), weightData: new Float32Array(f.weights.flatMap((w: { data: number[] }) => w.data)).buffer } as unknown as tfe.ModelArtifacts;
  const spec = tfe.loadPlainModel(a).spec;
  const folded = spec.foldedBatchNorms.filter((x) => x.batchNorm.startsWith('LayerScale:'));
  t.is(folded.length, 4, 'one per block');
  t.true(folded.every((x) => x.into.startsWith('Dense:')), JSON.stringify(folded));
  t.false(spec.params.some((p) => p.weight.endsWith('layer_scale/gamma')), 'no gamma shared on its own');
  // After an activation (or read by another layer too) it is not folded.
  const ls = (inbound: string) => layer('LayerScale', 'ls', { init_values: 1e-6, projection_dim: 3 }, inbound, [null, 4, 3], 'keras.src.applications.convnext');
  const model = art([input([4, 3]), layer('Dense', 'd', { units: 3, activation: 'relu' }, 'in', [null, 4, 3]), ls('d')], 'ls', [{ name: 'd/kernel', shape: [3, 3] }, { name: 'd/bias', shape: [3] }, { name: 'ls/gamma', shape: [3] }]);
  const s2 = tfe.loadPlainModel(model).spec;
  t.deepEqual(s2.foldedBatchNorms, []);
  t.true(s2.params.some((p) => p.weight === 'ls/gamma'));
});

// InceptionResNetV2's CustomScaleLayer (x0 + x1 scale) is Keras's own only; a class no reader knows
// is refused as not supported even where it takes two inputs (it was "takes 1 input", a guess).
test("CustomScaleLayer is InceptionResNetV2's own only; an unknown class of two inputs is refused as not supported", (t) => {
  const two = (class_name: string, module: string | null, config: object) => {
    const l = layer(class_name, 'sc', config, 'in', [null, 4, 3], module);
    return art([input([4, 3]), { ...l, inbound_nodes: [{ args: [[ref('in', [null, 4, 3]), ref('in', [null, 4, 3])]], kwargs: {} }] }], 'sc');
  };
  const x = { data: Float64Array.from({ length: 12 }, (_, i) => i / 4 - 1), shape: [1, 4, 3] };
  const y = tfe.loadPlainModel(two('CustomScaleLayer', 'keras.src.applications.inception_resnet_v2', { scale: 0.17 })).forward(x).data;
  t.true(y.every((v, i) => Math.abs(v - x.data[i] * 1.17) < 1e-12), `${[...y]}`);
  t.throws(() => tfe.loadPlainModel(two('CustomScaleLayer', 'my_layers', { scale: 0.17 })), { message: /'sc' \(CustomScaleLayer\).*custom layer from module 'my_layers'/ });
  const c = new tfe.Cluster();
  t.throws(() => tfe.loadLayersModel(two('MyMerge', 'my_layers', {}), { cluster: c }), { message: /layer 'sc' of class MyMerge is not supported/ });
  void c.close();
});
