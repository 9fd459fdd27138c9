// Keras's HashedCrossing (lib/api/layers_crossing.ts), beyond its Keras 3 models' predictions
// (test/keras3_saved_models.test.ts on keras3_more_layer_models.json, hc*: a FeatureSpace model
// with its crosses, crosses by hand, rank-1 ids): the bins against Keras's own on pairs and
// triples (cross_reference.json, made by its .py beside it), fresh random crosses of lookups'
// ids under both exact protocols against a cross written here, refusals by name, the memory
// estimate, and a FeatureSpace model over the service.
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../lib';
import { crossBin, MAX_CROSS_TUPLES } from '../lib/api/layers_crossing';
import { estimateQueryBytes } from '../lib/serve/limits';
import { answersAsKeras, FIXTURES, fromFixture } from './helpers/more_layer_models';

const REF: { pairs: number[][]; triples: number[][] } = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', 'cross_reference.json'), 'utf8'));

test("a tuple's bin is Keras 3's HashedCrossing's (TensorFlow's sparse cross) on pairs and triples, ids up to 2^53, 1 to 2^24 bins", (t) => {
  for (const [a, b, bins, want] of REF.pairs) t.is(crossBin([a, b], bins), want, `(${a}, ${b}) into ${bins}`);
  for (const [a, b, c, bins, want] of REF.triples) t.is(crossBin([a, b, c], bins), want, `(${a}, ${b}, ${c}) into ${bins}`);
  // The reference is not degenerate: the bins of 2^24 spread.
  t.true(new Set(REF.pairs.filter((p) => p[2] === 2 ** 24).map((p) => p[3])).size > 10);
});

type Layer = { class_name: string; name: string; config: Record<string, unknown>; inputs: string[] };

/** A Keras 3 functional topology of `layers` over int64 inputs named in `inputs` (shape [1]). */
function functional(inputs: string[], layers: Layer[], outputs: string[]): tfe.ModelArtifacts {
  const ref = (n: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 1], dtype: 'int64', keras_history: [n, 0, 0] } });
  const all = [
    ...inputs.map((n) => ({ module: 'keras.layers', class_name: 'InputLayer', name: n, config: { name: n, batch_shape: [null, 1], dtype: 'int64' }, inbound_nodes: [] })),
    ...layers.map((l) => ({ module: 'keras.layers', class_name: l.class_name, name: l.name, config: { name: l.name, dtype: 'float32', ...l.config }, inbound_nodes: [{ args: [l.inputs.length > 1 ? l.inputs.map(ref) : ref(l.inputs[0])], kwargs: {} }] })),
  ];
  return {
    modelTopology: { class_name: 'Functional', keras_version: '3.15.1', config: { name: 'm', layers: all, input_layers: inputs.map((n) => [n, 0, 0]), output_layers: outputs.map((n) => [n, 0, 0]) } },
    weightSpecs: [],
    weightData: new ArrayBuffer(0),
  } as unknown as tfe.ModelArtifacts;
}

/** m distinct whole numbers in [0, 40). */
const vocabulary = (m: number) => [...new Set(Array.from({ length: 4 * m }, () => randomInt(40)))].slice(0, m);

const crossModel = (va: number[], vb: number[], mask: number | null, bins: number, readBins: number) =>
  functional(
    ['a', 'b'],
    [
      { class_name: 'IntegerLookup', name: 'la', config: { vocabulary: va, output_mode: 'int' }, inputs: ['a'] },
      { class_name: 'IntegerLookup', name: 'lb', config: { vocabulary: vb, mask_token: mask, output_mode: 'int' }, inputs: ['b'] },
      { class_name: 'HashedCrossing', name: 'one', config: { num_bins: bins, output_mode: 'one_hot', sparse: false }, inputs: ['la', 'lb'] },
      { class_name: 'HashedCrossing', name: 'ids', config: { num_bins: bins, output_mode: 'int', sparse: false }, inputs: ['lb', 'la'] },
      { class_name: 'CategoryEncoding', name: 'count', config: { num_tokens: readBins, output_mode: 'count' }, inputs: ['ids'] },
    ],
    ['one', 'count'],
  );

/** Keras's IntegerLookup index (OOV 0, or with a mask token: mask 0, OOV 1, entries from 2). */
const index = (v: number, vocab: number[], mask: number | null) => (mask !== null && v === mask ? 0 : vocab.includes(v) ? vocab.indexOf(v) + (mask === null ? 1 : 2) : mask === null ? 0 : 1);

for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: fresh random crosses of two lookups' ids (every tuple, out-of-vocabulary values, a mask token), one_hot and int read by a CategoryEncoding, as the cross written here`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    try {
      for (let trial = 0; trial < 3; trial++) {
        const va = vocabulary(randomInt(1, 5)), vb = vocabulary(randomInt(1, 4)), mask = trial === 1 ? 99 : null;
        const bins = [1, randomInt(2, 9), randomInt(20, 200)][trial], readBins = bins + randomInt(0, 3);
        // Every entry against every entry, then OOV values and the mask.
        const as = [...va, 41, 7.5], bs = [...vb, 42, ...(mask === null ? [] : [mask])];
        const pairs = as.flatMap((x) => bs.map((y) => [x, y]));
        const m = tfe.loadLayersModel(crossModel(va, vb, mask, bins, readBins), { cluster: c });
        const [one, count] = m.predictOutputs(m.defineInput('prediction-client', () => ({ a: pairs.map(([x]) => [Math.trunc(x)]), b: pairs.map(([, y]) => [y]) }) as never)) as unknown as tfe.PrivateTensor[];
        const [o, n] = await Promise.all([tfe.defineOutput('prediction-client', one), tfe.defineOutput('prediction-client', count)]);
        t.deepEqual(o.shape, [pairs.length, bins]);
        t.deepEqual(n.shape, [pairs.length, readBins]);
        pairs.forEach(([x, y], r) => {
          const ia = index(Math.trunc(x), va, null), ib = index(y, vb, mask);
          const want = crossBin([ia, ib], bins), swapped = crossBin([ib, ia], bins);
          const row = Array.from(o.data.slice(r * bins, (r + 1) * bins)), counts = Array.from(n.data.slice(r * readBins, (r + 1) * readBins));
          t.deepEqual(row, row.map((_, k) => (k === want ? 1 : 0)), `one_hot (${x}, ${y}) -> ids (${ia}, ${ib}) -> bin ${want}, vocabularies ${va} / ${vb}`);
          t.deepEqual(counts, counts.map((_, k) => (k === swapped ? 1 : 0)), `int (${y}, ${x}) -> bin ${swapped}`);
        });
      }
    } finally {
      await c.close();
    }
  });

test('a cross of features of one value each (Hashing into one bin): one tuple, every row in its bin', async (t) => {
  const m = (c: tfe.Cluster) =>
    tfe.loadLayersModel(functional(['a', 'b'], [
      { class_name: 'Hashing', name: 'ha', config: { num_bins: 1, output_mode: 'int' }, inputs: ['a'] },
      { class_name: 'Hashing', name: 'hb', config: { num_bins: 1, output_mode: 'int' }, inputs: ['b'] },
      { class_name: 'HashedCrossing', name: 'x', config: { num_bins: 3, output_mode: 'one_hot' }, inputs: ['ha', 'hb'] },
    ], ['x']), { cluster: c });
  const c = new tfe.Cluster();
  try {
    const model = m(c);
    const out = await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => ({ a: [[5], [9]], b: [[1], [2]] }) as never)));
    const bin = crossBin([0, 0], 3);
    t.deepEqual(Array.from(out.data), [0, 1].flatMap(() => [0, 1, 2].map((k) => (k === bin ? 1 : 0))));
  } finally {
    await c.close();
  }
});

test('HashedCrossing: raw inputs, numbers, one feature, settings it does not have and crosses too large, refused by name', (t) => {
  const lookups: Layer[] = [
    { class_name: 'IntegerLookup', name: 'la', config: { vocabulary: [1, 2], output_mode: 'int' }, inputs: ['a'] },
    { class_name: 'IntegerLookup', name: 'lb', config: { vocabulary: [1, 2], output_mode: 'int' }, inputs: ['b'] },
  ];
  const refused = (layers: Layer[], message: RegExp) => t.throws(() => tfe.loadPlainModel(functional(['a', 'b'], layers, ['x'])), { message });
  const cross = (config: Record<string, unknown>, inputs = ['la', 'lb']): Layer => ({ class_name: 'HashedCrossing', name: 'x', config: { num_bins: 4, output_mode: 'one_hot', ...config }, inputs });
  refused([cross({}, ['a', 'b'])], /\(HashedCrossing\): crosses 'a', a model input: .* crossing a model's raw inputs is not supported/);
  refused([...lookups, { class_name: 'Dense', name: 'd', config: { units: 1 }, inputs: ['a'] }, cross({}, ['la', 'd'])], /crosses 'd', the output of Dense 'd': .* crossing other values is not supported/);
  refused([...lookups, cross({}, ['la'])], /\(HashedCrossing\) is called with 1 input tensors, but takes 2 or more inputs/);
  refused([...lookups, cross({ sparse: true })], /\(HashedCrossing\): sparse = true is not supported: only dense outputs/);
  refused([...lookups, cross({ output_mode: 'multi_hot' })], /\(HashedCrossing\): output_mode = "multi_hot" is not supported/);
  refused([...lookups, cross({ num_bins: 2 ** 25 })], /\(HashedCrossing\): num_bins = 33554432 is not supported/);
  refused([...lookups, cross({ output_mode: 'int' })], /\(HashedCrossing\): output_mode 'int' gives bins, which only Embedding, CategoryEncoding and HashedCrossing layers may read/);
  // Ids read as ids by a crossing and as numbers by a Dense.
  t.throws(() => tfe.loadPlainModel(functional(['a', 'b'], [...lookups, cross({}), { class_name: 'Dense', name: 'd', config: { units: 1 }, inputs: ['la'] }], ['x', 'd'])), {
    message: /\(IntegerLookup\): its ids are read by HashedCrossing 'x' and also by Dense 'd', which would take them as numbers/,
  });
  // A cross of more tuples than the bound: its one-hot row over them is refused before any query.
  const big = Array.from({ length: 1100 }, (_, i) => i);
  const huge = functional(['a', 'b'], [{ ...lookups[0], config: { vocabulary: big, output_mode: 'int' } }, { ...lookups[1], config: { vocabulary: big, output_mode: 'int' } }, cross({})], ['x']);
  const c = new tfe.Cluster();
  try {
    const m = tfe.loadLayersModel(huge, { cluster: c });
    t.throws(() => m.predict(m.defineInput('prediction-client', () => ({ a: [[1]], b: [[2]] }) as never)), { message: new RegExp(`\\(HashedCrossing\\): crosses features of 1101 x 1101 values, 1212201 tuples: at most ${MAX_CROSS_TUPLES}`) });
  } finally {
    void c.close();
  }
});

test("the per-query memory estimate counts a crossing's one-hot row over its tuples of ids", (t) => {
  const est = (m: number) =>
    estimateQueryBytes({ topology: (functional(['a', 'b'], [
      { class_name: 'IntegerLookup', name: 'la', config: { vocabulary: null, vocabulary_size: m + 1, output_mode: 'int' }, inputs: ['a'] },
      { class_name: 'IntegerLookup', name: 'lb', config: { vocabulary: null, vocabulary_size: m + 1, output_mode: 'int' }, inputs: ['b'] },
      { class_name: 'HashedCrossing', name: 'x', config: { num_bins: 8, output_mode: 'one_hot' }, inputs: ['la', 'lb'] },
    ], ['x']) as unknown as { modelTopology: object }).modelTopology as never, protocol: 'fss', inputShape: [1] }, 1);
  // (m + 1)^2 tuples: from 9 to 1681, a dealt row of 2048 words (and its rotated and scaled copies).
  t.true(est(40) - est(2) >= 8 * 4 * (2048 - 16), `${est(40)} vs ${est(2)}`);
});

test('over the service: a FeatureSpace model with its crosses answers as Keras', async (t) => {
  await answersAsKeras(t, FIXTURES.hc1_feature_space_crosses, 'feature-space', 'fss');
  // And the plaintext twin, which the random-model tests hold the private models to.
  const plain = tfe.loadPlainModel(fromFixture(FIXTURES.hc2_crossings_by_hand));
  t.true(plain.spec.layers.some((l) => l.startsWith('HashedCrossing:')));
});
