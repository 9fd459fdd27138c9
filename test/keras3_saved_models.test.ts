// Small real Keras 3 models (test/fixtures/keras3_models.py made them with Keras 3.15.1: their
// model.to_json(), weights by path, an input and Keras's own predict on it), using what Keras
// writes for operations between layers, slicing, reductions, causal attention, Masking and
// Embedding(mask_zero) masks before recurrent layers and masked means (Keras 3 writes the mask
// out: NotEqual, Any, and a `mask` argument),
// augmentation layers (recorded with training=True), CenterCrop, Conv1DTranspose, and resizes
// (Resizing, bilinear UpSampling2D: keras3_resize_models.json), recurrent layers' states
// (return_state, initial_state: keras3_state_models.json), MultiHeadAttention on a masked
// sequence (keras3_attention_mask_models.json), outputs ending with exponential or log_softmax
// (keras3_final_models.json), SpectralNormalization (keras3_more_layer_models.json). Each loads as
// saved and as tensorflowjs_converter writes it (every module key deleted), and predicts what Keras
// predicted: privately under SecureNN and FSS, and in the float64 plaintext.
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { type Final, finalRows } from './helpers/final_rows';

interface Fixture {
  topology: object;
  weights: { name: string; shape: number[]; data: number[] }[];
  /** One input; or `inputs`, several (keras3_state_models.json). Strings for a string input. */
  x?: (number | string)[];
  shape?: number[];
  inputs?: { x: (number | string)[]; shape: number[]; name?: string }[];
  y: number[];
  yshape: number[];
  /** Refused, its message containing this (a model Keras computes in a way not supported). */
  refused?: string;
}
const fixtures = (file: string): Record<string, Fixture> => JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', file), 'utf8'));
// keras3_resize_models.json (keras3_resize_models.py): Resizing and bilinear UpSampling2D.
// keras3_state_models.json (keras3_state_models.py): recurrent layers' return_state and initial_state.
// keras3_attention_mask_models.json: MultiHeadAttention over a sequence Embedding(mask_zero) masks.
const FIXTURES: Record<string, Fixture> = {
  ...fixtures('keras3_models.json'),
  ...fixtures('keras3_resize_models.json'),
  ...fixtures('keras3_state_models.json'),
  ...fixtures('keras3_attention_mask_models.json'),
  // keras3_walkthrough_models.json: what a user walkthrough found refused (seq2seq with masks and
  // a bare initial_state, TimeDistributed's Keras 3 weight names, Normalization constants, Identity).
  ...fixtures('keras3_walkthrough_models.json'),
  // keras3_application_models.json: keras.applications' ConvNeXt and EfficientNetV2 made small,
  // Normalization with config constants.
  ...fixtures('keras3_application_models.json'),
  // keras3_final_models.json: outputs ending with exponential or log_softmax (the client applies
  // them), as activations and keras.ops; hidden ones refused.
  ...fixtures('keras3_final_models.json'),
  // keras3_more_layer_models.json: SpectralNormalization (GANs' wrapper).
  ...fixtures('keras3_more_layer_models.json'),
};

/** The model's input as the clients take it: one {data, shape}, or a list of them. */
const inputOf = (f: Fixture): tfe.ClientInput => {
  // A string input's values stay strings (a client sends each as its id).
  const values = (x: (number | string)[]) => (typeof x[0] === 'string' ? x : Float64Array.from(x as number[]));
  if (!f.inputs) return { data: values(f.x!), shape: f.shape! } as tfe.ClientInput;
  const each = f.inputs.map((i) => ({ data: values(i.x), shape: i.shape }));
  // Named (a dict, as Keras's predict took it): by name.
  return (f.inputs.every((i) => i.name) ? Object.fromEntries(f.inputs.map((i, k) => [i.name, each[k]])) : each) as tfe.ClientInput;
};

/** As tensorflowjs_converter writes a .keras model: every module and registered_name key deleted. */
const converted = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(converted) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== 'module' && k !== 'registered_name').map(([k, e]) => [k, converted(e)])) : v;

function artifacts(f: Fixture, topology: unknown = f.topology): tfe.ModelArtifacts {
  return { modelTopology: topology, weightSpecs: f.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })), weightData: new Float32Array(f.weights.flatMap((w) => w.data)).buffer } as unknown as tfe.ModelArtifacts;
}

/** The largest difference from Keras's predict, with the model's final activation applied as Keras did. */
function worst(f: Fixture, got: Float64Array, finalActivation: Final): number {
  const g = finalRows(got, finalActivation, f.yshape[f.yshape.length - 1]);
  return Math.max(...f.y.map((v, i) => Math.abs(g[i] - v)));
}

for (const [name, f] of Object.entries(FIXTURES))
  test(`Keras 3 model ${name}: as saved and as converted, privately and in plaintext, as Keras predicted`, async (t) => {
    const x = inputOf(f);
    for (const [form, topology] of [['saved', f.topology], ['converted', converted(f.topology)]] as const) {
      const a = artifacts(f, topology);
      if (f.refused) {
        t.throws(() => tfe.loadPlainModel(a), { message: new RegExp(f.refused.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) }, form);
        continue;
      }
      const plain = tfe.loadPlainModel(a);
      t.true(worst(f, plain.forward(x).data, plain.finalActivation) < 1e-5, `${form}: plaintext`);
      for (const protocol of form === 'saved' ? (['securenn', 'fss'] as const) : (['securenn'] as const)) {
        const c = new tfe.Cluster({ protocol });
        try {
          const m = tfe.loadLayersModel(a, { cluster: c });
          const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => x)));
          const err = worst(f, out.data, m.finalActivation);
          t.true(err < 2e-3, `${form}, ${protocol}: max |private - Keras| = ${err}`);
        } finally {
          await c.close();
        }
      }
    }
  });

test('a masked mean compares (its count\'s reciprocal): exact protocols only, so Pond refuses it', async (t) => {
  const c = new tfe.Cluster({ protocol: 'pond' });
  try {
    t.throws(() => tfe.loadLayersModel(artifacts(FIXTURES.e3_embedding_masked_mean), { cluster: c }), { message: /GlobalAveragePooling1D.*(exact protocol|securenn)/ });
  } finally {
    await c.close();
  }
});

test("a Keras 3 mask of another form than Keras's two stays operations, refused by name", (t) => {
  type L = { class_name: string; inbound_nodes: { kwargs: Record<string, unknown> }[] };
  // A mask of another form than Keras's two (here NotEqual against 1, not Masking's 0) stays operations: refused.
  const f = FIXTURES.k2_masking_stacked;
  const other = structuredClone(f.topology) as { config: { layers: (L & { inbound_nodes: { args: unknown[] }[] })[] } };
  other.config.layers.find((l) => l.class_name === 'NotEqual')!.inbound_nodes[0].args[1] = 1;
  t.throws(() => tfe.loadPlainModel(artifacts(f, other)), { message: /operation 'not_equal_\d+' \(keras\.ops NotEqual\): is Keras 3's own padding-mask computation .* combined in a form not supported/ });
});

test('SpectralNormalization: the wrapped layer at inference; settings it does not have, or no layer, refused by name', (t) => {
  const f = FIXTURES.sn2_spectral_generator;
  type L = { class_name: string; config: Record<string, unknown> };
  const edited = (edit: (sn: L) => void) => {
    const topo = structuredClone(f.topology) as { config: { layers: L[] } };
    edit(topo.config.layers.find((l) => l.class_name === 'SpectralNormalization')!);
    return artifacts(f, topo);
  };
  t.throws(() => tfe.loadPlainModel(edited((sn) => (sn.config.foo = 1))), { message: /layer 'spectral_normalization_\d+' \(SpectralNormalization\): setting 'foo' is not supported/ });
  t.throws(() => tfe.loadPlainModel(edited((sn) => (sn.config.power_iterations = 0))), { message: /power_iterations = 0 is not supported/ });
  t.throws(() => tfe.loadPlainModel(edited((sn) => delete sn.config.layer)), { message: /\(SpectralNormalization\): has no layer to wrap/ });
  // What the servers receive: the wrapped layers under the wrappers' names, no wrapper.
  const { json } = readLayersModel(artifacts(f));
  const classes = (json.modelTopology as unknown as { config: { layers: L[] } }).config.layers.map((l) => `${l.class_name}:${String(l.config.name)}`);
  t.deepEqual(classes.filter((c) => c.includes('spectral')), ['Dense:spectral_normalization_3', 'Conv2DTranspose:spectral_normalization_4']);
});

test('adaptive pooling: means under Pond too, maxima under the exact protocols only; settings refused by name', async (t) => {
  type L = { class_name: string; config: Record<string, unknown> };
  const edited = (f: Fixture, edit: (l: L) => void) => {
    const topo = structuredClone(f.topology) as { config: { layers: L[] } };
    edit(topo.config.layers.find((l) => l.class_name.startsWith('Adaptive'))!);
    return artifacts(f, topo);
  };
  const avg = FIXTURES.ap1_average_2d, max = FIXTURES.ap3_max_2d;
  t.throws(() => tfe.loadPlainModel(edited(avg, (l) => (l.config.data_format = 'channels_first'))), { message: /\(AdaptiveAveragePooling2D\): data_format = "channels_first" is not supported/ });
  t.throws(() => tfe.loadPlainModel(edited(avg, (l) => (l.config.output_size = [3, 2, 1]))), { message: /output_size = \[3,2,1\] is not supported: a positive integer or two/ });
  t.throws(() => tfe.loadPlainModel(edited(max, (l) => (l.config.output_size = 0))), { message: /\(AdaptiveMaxPooling2D\): output_size = 0 is not supported/ });
  // A size from the topology, refused before a window is made for it.
  t.throws(() => tfe.loadPlainModel(edited(max, (l) => (l.config.output_size = [1e6, 1e6]))), { message: /\(AdaptiveMaxPooling2D\): its output \[1000000,1000000, 3\] per example would hold .* more than the 268435456/ });
  const pond = new tfe.Cluster({ protocol: 'pond' });
  try {
    const m = tfe.loadLayersModel(artifacts(avg), { cluster: pond });
    const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => inputOf(avg) as { data: Float64Array; shape: number[] })));
    t.true(worst(avg, out.data, undefined) < 2e-3, 'Pond: the means as Keras');
    t.throws(() => tfe.loadLayersModel(artifacts(max), { cluster: pond }), { message: /AdaptiveMaxPooling2D.*(exact protocol|securenn)/ });
  } finally {
    await pond.close();
  }
});
