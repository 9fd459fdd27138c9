// Keras's IntegerLookup (lib/api/layers_lookup.ts) and ids made privately (Discretization's,
// IntegerLookup's int output read by Embedding and CategoryEncoding), beyond their Keras 3 models'
// predictions (test/keras3_saved_models.test.ts on keras3_more_layer_models.json, il*): fresh
// random vocabularies and ids against a lookup written here, every output mode, with and without a
// mask token, under both exact protocols; the vocabulary becomes a private weight before anything
// reads the topology; settings Keras has and the layer does not, refused by name; a heart-disease
// model over the service.
import { randomInt } from 'node:crypto';

import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { manifestShapes, parseTopology } from '../lib/api/layers_spec';
import { estimateQueryBytes } from '../lib/serve/limits';
import { answersAsKeras, type Fixture, FIXTURES, fromFixture } from './helpers/more_layer_models';
import { oneLayerModel } from './helpers/one_layer_model';
import { LOOKUP_CASES, lookupReference } from './helpers/lookup_reference';

const lookup = (config: Record<string, unknown>, shape: number[]) =>
  oneLayerModel('IntegerLookup', { invert: false, max_tokens: null, num_oov_indices: 1, oov_token: -1, mask_token: null, output_mode: 'int', sparse: false, pad_to_max_tokens: false, vocabulary_dtype: 'int64', idf_weights: null, ...config }, shape, { name: 'codes', dtype: 'int64' });

/** m distinct ids, large and negative ones among them, in no order. */
function vocabulary(m: number): number[] {
  const v = new Set<number>();
  while (v.size < m) v.add(randomInt(3) === 0 ? randomInt(-3, 3) : randomInt(-(2 ** 24), 2 ** 24));
  // Not first: the OOV token -1 (or the mask token 0), which Keras takes for get_vocabulary()'s own start and drops.
  const out = [...v], first = out.findIndex((x) => x !== -1 && x !== 0);
  if (first < 0) return [5, ...out.slice(1)];
  return [out[first], ...out.filter((_, i) => i !== first)];
}

for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: every output mode on fresh random vocabularies and ids (the vocabulary's own, a unit either side, the mask token, others), as Keras's lookup`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    try {
      for (const [mode, shape, masked, padTo] of LOOKUP_CASES) {
        const vocab = vocabulary(randomInt(1, 7)), mask = masked ? 0 : null;
        const v = vocab.filter((x) => x !== mask);
        const pool = [...v, ...v.map((x) => x + 1), ...v.map((x) => x - 1), 0, -1, 2 ** 30];
        const rows = 6, ids = Array.from({ length: rows * shape.reduce((p, q) => p * q, 1) }, (_, i) => (i < pool.length ? pool[i] : pool[randomInt(pool.length)]));
        const config = { vocabulary: v, mask_token: mask, output_mode: mode, ...(padTo ? { pad_to_max_tokens: true, max_tokens: padTo } : {}) };
        const m = tfe.loadLayersModel(lookup(config, shape), { cluster: c });
        const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: Float64Array.from(ids), shape: [rows, ...shape] }))));
        const want = lookupReference(ids, rows, v, mask, mode, padTo ?? v.length + 1);
        t.is(out.data.length, want.length, `${mode} [${shape}]`);
        const bad = want.findIndex((w, i) => Math.abs(out.data[i] - w) > 1e-9);
        t.is(bad, -1, `${mode} [${shape}], vocabulary [${v}], mask ${mask}: at ${bad} got ${out.data[bad]}, the lookup gives ${want[bad]}`);
      }
    } finally {
      await c.close();
    }
  });

test('the vocabulary becomes a private weight (get_vocabulary()\'s leading special tokens dropped, the mask\'s in int mode only, as Keras does): the topology a deploy sends holds none of it', (t) => {
  // get_vocabulary() of a one_hot lookup with a mask token: OOV's first; the mask's too is Keras's refusal.
  const a = lookup({ vocabulary: [-1, 94110, 10001, 60601], mask_token: 0, output_mode: 'one_hot' }, [1]);
  t.throws(() => readLayersModel(lookup({ vocabulary: [0, -1, 94110], mask_token: 0, output_mode: 'one_hot' }, [1])), { message: /vocabulary holds the mask token 0 other than at its start: Keras refuses it/ });
  const before = JSON.stringify(a.modelTopology);
  const { json, weights } = readLayersModel(a);
  const sent = JSON.stringify(json.modelTopology);
  for (const v of [94110, 10001, 60601]) t.false(sent.includes(String(v)), `${v} is in the topology`);
  const config = (json.modelTopology as unknown as Fixture['topology']).config.layers[1].config;
  t.is(config.vocabulary, null);
  t.is(config.vocabulary_size, 4, 'its size stays public (with the OOV index, as Keras writes it)');
  t.deepEqual(Array.from(weights.get('codes/vocabulary')!.data), [94110, 10001, 60601]);
  t.is(JSON.stringify(a.modelTopology), before, "the caller's artifacts are unchanged");
  t.throws(() => parseTopology(a.modelTopology as never, () => undefined, []), { message: /layer 'codes' \(IntegerLookup\): vocabulary given in its config would travel in the topology every server reads/ });
  const shapes = manifestShapes(json);
  t.notThrows(() => parseTopology(json.modelTopology, (n) => shapes.get(n), [...shapes.keys()]));
  // A vocabulary_size the weight does not have (the servers size a query's memory by it): refused.
  const lying = structuredClone(json.modelTopology) as unknown as { config: { layers: { config: Record<string, unknown> }[] } };
  lying.config.layers[1].config.vocabulary_size = 2;
  t.throws(() => parseTopology(lying as never, (n) => shapes.get(n), [...shapes.keys()]), { message: /\(IntegerLookup\): vocabulary_size = 2 does not match its 3 vocabulary entries/ });
});

test('IntegerLookup: Pond, and what Keras refuses or the layer does not do, refused by name', (t) => {
  const pond = new tfe.Cluster({ protocol: 'pond' });
  try {
    t.throws(() => tfe.loadLayersModel(lookup({ vocabulary: [3, 5], output_mode: 'one_hot' }, [1]), { cluster: pond }), { message: /IntegerLookup.*(exact protocol|securenn)/ });
  } finally {
    void pond.close();
  }
  const refused = (config: Record<string, unknown>, message: RegExp) => t.throws(() => tfe.loadPlainModel(lookup({ output_mode: 'one_hot', ...config }, [1])), { message });
  refused({ vocabulary: [3, 5, 3] }, /\(IntegerLookup\): vocabulary repeats 3: Keras refuses repeated entries/);
  refused({ vocabulary: [3, 0, 5], mask_token: 0 }, /\(IntegerLookup\): vocabulary holds the mask token 0 other than at its start/);
  refused({ vocabulary: [3, 2 ** 25] }, /\(IntegerLookup\): vocabulary\[1\] = 33554432 is not a whole number within \+-2\^24/);
  refused({ vocabulary: [3, 5.5] }, /\(IntegerLookup\): vocabulary\[1\] = 5.5 is not a whole number/);
  refused({ vocabulary: 'vocab.txt' }, /\(IntegerLookup\): vocabulary = "vocab.txt" is not a list of integers \(a file's path is not read: give the list\)/);
  refused({ vocabulary: null, vocabulary_size: 4 }, /\(IntegerLookup\): has no vocabulary in its config and no weight 'codes\/vocabulary': an adapt\(\)ed vocabulary is saved apart from the config/);
  refused({ vocabulary: [3], output_mode: 'tf_idf' }, /\(IntegerLookup\): output_mode 'tf_idf' with a vocabulary needs idf_weights/);
  refused({ vocabulary: [3], num_oov_indices: 2 }, /\(IntegerLookup\): num_oov_indices = 2 is not supported/);
  refused({ vocabulary: [3], invert: true }, /\(IntegerLookup\): invert = true is not supported/);
  refused({ vocabulary: [3, 5], pad_to_max_tokens: true, max_tokens: 2, output_mode: 'count' }, /\(IntegerLookup\): max_tokens = 2 is below its 3 indices/);
  // int: vocabulary indices, read here as the model's output (numbers).
  refused({ vocabulary: [3, 5], output_mode: 'int' }, /\(IntegerLookup\): output_mode 'int' gives vocabulary indices, which only Embedding, CategoryEncoding and HashedCrossing layers may read/);
});

test('ids made privately: readers that disagree on the vocabulary, ids read as ids and as numbers, and a vocabulary beyond the reader\'s, refused by name', (t) => {
  const f = FIXTURES.il2_lookup_embedding;
  const edited = (edit: (layers: Fixture['topology']['config']['layers'], outputs: unknown[][]) => void) => {
    const topo = structuredClone(f.topology) as Fixture['topology'] & { config: { output_layers: unknown[] } };
    // Keras 3 writes a single output as one [name, 0, 0].
    const outputs = (topo.config.output_layers = [topo.config.output_layers]) as unknown[][];
    edit(topo.config.layers, outputs);
    return fromFixture(f, topo);
  };
  const emb = (ls: Fixture['topology']['config']['layers']) => ls.find((l) => l.class_name === 'Embedding')!;
  // Embedding(4) over ids up to 4 (mask, OOV, three entries).
  t.throws(() => tfe.loadPlainModel(edited((ls) => (emb(ls).config.input_dim = 4))), { message: /\(IntegerLookup\): makes ids up to 4, but the layers that read them take ids below 4/ });
  // A second reader of the ids: a Dense (numbers) beside the Embedding, a second output.
  const both = edited((ls, outputs) => {
    const e = emb(ls);
    const dense = { class_name: 'Dense', config: { name: 'extra', units: 1 }, inbound_nodes: structuredClone(e.inbound_nodes) };
    ls.splice(ls.indexOf(e) + 1, 0, dense);
    outputs.push(['extra', 0, 0]);
  });
  t.throws(() => tfe.loadPlainModel(both), { message: /its ids are read by Embedding '.*' and also by Dense 'extra', which would take them as numbers/ });
  // A second Embedding over another vocabulary.
  const wider = edited((ls, outputs) => {
    const e = emb(ls);
    ls.splice(ls.indexOf(e) + 1, 0, { class_name: 'Embedding', config: { ...structuredClone(e.config), name: 'wide', input_dim: 6 }, inbound_nodes: structuredClone(e.inbound_nodes) });
    outputs.push(['wide', 0, 0]);
  });
  t.throws(() => tfe.loadPlainModel(wider), { message: /layer 'wide' \(Embedding\): input_dim = 6 differs from the 5 of Embedding '.*', which reads the same ids of '.*'/ });
});

test('over the service: a heart-disease model (codes through IntegerLookup, an age through Discretization) answers as Keras, its vocabularies shared as weights', (t) => answersAsKeras(t, FIXTURES.il1_heart_disease, 'heart'));

test("the per-query memory estimate counts a lookup's comparisons: two per value and vocabulary entry", (t) => {
  const topo = (size: number) => ({ class_name: 'Sequential', config: { layers: [{ class_name: 'IntegerLookup', config: { name: 'd', batch_input_shape: [null, 64], vocabulary: null, vocabulary_size: size, output_mode: 'multi_hot' } }] } });
  const est = (size: number) => estimateQueryBytes({ topology: topo(size) as never, protocol: 'fss', inputShape: [64] }, 1);
  t.true(est(200) - est(2) >= 8 * 64 * 2 * 198, `${est(200)} vs ${est(2)}`);
});

test('a max_tokens the ids could not reach is refused before any output row is made, and the estimate counts a padded row', (t) => {
  t.throws(() => tfe.loadPlainModel(lookup({ vocabulary: [3, 5], output_mode: 'count', pad_to_max_tokens: true, max_tokens: 2 ** 30 }, [1])), { message: /\(IntegerLookup\): max_tokens = 1073741824 is not supported/ });
  const topo = (max: number) => ({ class_name: 'Sequential', config: { layers: [{ class_name: 'IntegerLookup', config: { name: 'd', batch_input_shape: [null, 4], vocabulary: null, vocabulary_size: 3, output_mode: 'count', pad_to_max_tokens: true, max_tokens: max } }] } });
  const est = (max: number) => estimateQueryBytes({ topology: topo(max) as never, protocol: 'fss', inputShape: [4] }, 1);
  t.true(est(1_000_000) - est(3) >= 8 * 1_000_000, `${est(1_000_000)} vs ${est(3)}`);
});
