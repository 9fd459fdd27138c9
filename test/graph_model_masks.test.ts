// Keras's padding mask in a GraphModel (lib/api/graph_model_masks.ts): Embedding(mask_zero=True)
// reaches the graph as NotEqual(ids, 0), applied by a masked mean over the steps and by
// self-attention's scores. Each becomes the Keras layer handed the mask (GlobalAveragePooling1D,
// MultiHeadAttention), the mask named by the input whose ids give it: the servers build it from
// the shared one-hot, never from an id. TensorFlow.js's executor is the reference (Keras's own
// predict: graph_model_keras's padded fixtures). Any other use of the mask is refused.
import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { attentionGraph, type AttentionOptions } from './helpers/graph_attention';
import { MASK_VOCAB, maskedMeanGraph, type MeanOptions } from './helpers/graph_masks';
import { reference } from './helpers/graph_models';

const maxDiff = (a: ArrayLike<number>, c: ArrayLike<number>) => Array.from(a).reduce((m, v, k) => Math.max(m, Math.abs(v - c[k])), 0);

/** Rows of `steps` ids: padding at the end, in the middle, none, one real id; random ids elsewhere. */
function paddedIds(steps: number): Float64Array {
  const rows = [
    (k: number) => (k < 2 ? 1 : 0),
    (k: number) => (k === 1 || k === steps - 1 ? 0 : 1),
    () => 1,
    (k: number) => (k === 0 ? 1 : 0),
  ];
  return Float64Array.from(rows.flatMap((keep) => Array.from({ length: steps }, (_, k) => (keep(k) ? 1 + Math.floor(Math.random() * (MASK_VOCAB - 1)) : 0))));
}

type Layers = { class_name: string; inbound_nodes: [string, number, number, { mask?: { config: { source: string } } }][][] }[];
const layersOf = (file: string) => (readLayersModel(file).json.modelTopology as unknown as { config: { layers: Layers } }).config.layers;

async function checkAgainst(t: import('ava').ExecutionContext, file: string, want: Float64Array, x: Float64Array, shape: number[]) {
  const plain = tfe.loadPlainModel(file).predict({ data: x, shape }) as { data: Float64Array };
  t.true(maxDiff(plain.data, want) < 1e-5, `plaintext ${[...plain.data].slice(0, 6)} vs tfjs ${[...want].slice(0, 6)}`);
  for (const protocol of ['securenn', 'fss'] as const) {
    const c = new tfe.Cluster({ protocol });
    try {
      const m = tfe.loadLayersModel(file, { cluster: c });
      t.deepEqual(m.inputEncoding, { oneHot: MASK_VOCAB }, 'the ids are shared one-hot');
      const y = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape }))));
      t.true(maxDiff(y.data, want) < 5e-3, `${protocol}: ${[...y.data].slice(0, 6)} vs tfjs ${[...want].slice(0, 6)}`);
    } finally {
      await c.close();
    }
  }
}

for (const [what, o] of [
  ['as Keras 3.15 writes it (SelectV2 of the values)', {}],
  ['the values times the cast mask', { form: 'mul' }],
  ['keepdims', { keepdims: true }],
] as [string, MeanOptions][])
  test(`a masked mean over the steps, ${what}: GlobalAveragePooling1D handed the ids' mask, TensorFlow.js's answers`, async (t) => {
    const { file, artifacts } = maskedMeanGraph(o);
    const x = paddedIds(5);
    const want = await reference(artifacts, x, [4, 5], 'int32');
    const gap = layersOf(file).find((l) => l.class_name === 'GlobalAveragePooling1D');
    t.deepEqual(gap?.inbound_nodes[0][0][3].mask?.config, { source: 'ids' });
    await checkAgainst(t, file, want, x, [4, 5]);
  });

for (const [what, padding] of [
  ['self-attention', {}],
  ['causal self-attention (a constant triangle)', { causal: true }],
] as [string, NonNullable<AttentionOptions['padding']>][])
  test(`${what} on token ids with their padding mask: MultiHeadAttention handed it, TensorFlow.js's answers`, async (t) => {
    const { g, out } = attentionGraph({ padding: { ...padding, ones: 'const' } });
    const { file, artifacts } = g.save({ y: out }, { ids: 'ids' });
    const x = paddedIds(4);
    const want = await reference(artifacts, x, [4, 4], 'int32');
    const mha = layersOf(file).find((l) => l.class_name === 'MultiHeadAttention');
    t.deepEqual(mha?.inbound_nodes[0][0][3], { ...(padding.causal ? { use_causal_mask: true } : {}), mask: { class_name: '__tfe_padding_mask__', config: { source: 'ids' } } });
    await checkAgainst(t, file, want, x, [4, 4]);
  });

test("Keras's own form (ones filled to the scores' shape) translates alike; other masks on the scores are refused", (t) => {
  const translated = (padding: NonNullable<AttentionOptions['padding']>) => {
    const { g, out } = attentionGraph({ padding });
    return layersOf(g.save({ y: out }, { ids: 'ids' }).file).map((l) => l.class_name);
  };
  t.deepEqual(translated({}), ['InputLayer', 'Embedding', 'MultiHeadAttention']);
  t.deepEqual(translated({ causal: true }), ['InputLayer', 'Embedding', 'MultiHeadAttention']);
  const refused = (padding: NonNullable<AttentionOptions['padding']>) =>
    t.throws(() => translated(padding), { message: /GraphModel node 'mha\/einsum(_1)?\/Einsum' \(Einsum\): this op is not supported on its own/ }, JSON.stringify(padding));
  // The queries' mask alone or the keys' alone is another computation (a padded query then attends as usual).
  refused({ key: false });
  refused({ query: false });
  // The mask on the batch's axis, and masks of two inputs (cross-attention's).
  refused({ at: 0 });
  refused({ keysFrom: 'ids2' });
});

test('the mask read any other way is refused, naming the op', (t) => {
  // A count of ids other than 0 (not the padding mask), and a masked sum (no mean: not a layer).
  t.throws(() => tfe.loadPlainModel(maskedMeanGraph({ countPad: 1 }).file), { message: /GraphModel node 'NotEqual_\d' \(NotEqual\): reads token ids \(the int input 'ids'\)/ });
  t.throws(() => tfe.loadPlainModel(maskedMeanGraph({ sumOnly: true }).file), { message: /GraphModel node 'NotEqual_\d' \(NotEqual\): reads token ids \(the int input 'ids'\)/ });
});

test("a translation's mask notes are honoured only where they are a mask of the model's own ids or values", (t) => {
  // The translated padded mean as a LayersModel (its topology keeps the translation's keras_version).
  const { json, weights } = readLayersModel(maskedMeanGraph().file);
  const specs = json.weightsManifest[0].weights;
  const data = Buffer.concat(specs.map((s) => Buffer.from(weights.get(s.name)!.data.buffer.slice(0))));
  type L = { class_name: string; config: Record<string, unknown>; inbound_nodes: [string, number, number, Record<string, unknown>][][] };
  const load = (edit: (layers: L[]) => void) => {
    const topo = structuredClone(json.modelTopology) as unknown as { config: { layers: L[] } };
    edit(topo.config.layers);
    return tfe.loadPlainModel({ modelTopology: topo, weightSpecs: specs, weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) } as unknown as tfe.ModelArtifacts);
  };
  t.notThrows(() => load(() => {}));
  const gap = (layers: L[]) => layers.find((l) => l.class_name === 'GlobalAveragePooling1D')!;
  const dense = (layers: L[]) => layers.find((l) => l.class_name === 'Dense')!;
  // On a layer that does not apply masks.
  t.throws(() => load((ls) => (dense(ls).inbound_nodes[0][0][3] = { mask: gap(ls).inbound_nodes[0][0][3].mask })), { message: /\(Dense\): is given a padding mask, which only GlobalAveragePooling1D, MultiHeadAttention, Attention and the recurrent layers apply/ });
  // From a node that is not an input of token ids.
  t.throws(() => load((ls) => (gap(ls).inbound_nodes[0][0][3] = { mask: { class_name: '__tfe_padding_mask__', config: { source: ls[1].config.name } } })), { message: /is given the padding mask of '.*', which is not an input of token ids an Embedding reads/ });
  // A Masking mask (values and mask_value) of a node the layer does not depend on.
  t.throws(() => load((ls) => (gap(ls).inbound_nodes[0][0][3] = { mask: { class_name: '__tfe_padding_mask__', config: { source: dense(ls).config.name, maskValue: 0 } } })), { message: /is given the mask of the values of '.*' \(mask_value 0\), which it does not read/ });
  // An Embedding with mask_zero in a translation (its mask would travel by Keras's rules).
  t.throws(() => load((ls) => (ls.find((l) => l.class_name === 'Embedding')!.config.mask_zero = true)), { message: /has mask_zero in a GraphModel translation/ });
});
