// Models whose string vocabularies are read as bucket tables (lib/api/bucket_table.ts, table_read.ts,
// docs/models.md "Large vocabularies"), beyond test/vocabulary_table.test.ts: StringLookup in every
// output mode with and without a mask token, TextVectorization's ids into an Embedding, both against
// references written from the words; a vocabulary whose ids crowd one bucket keeps the equality
// tests; the memory estimate follows the form; and every server's view of a whole table read for
// two sets of tokens, with the distance's mask removed as the control. Serial: the switches are
// process-wide. Texts here have 20 tokens: from 16 down, a lookup and its Embedding are read as
// one table instead (test/fused_table.test.ts).
import test from 'ava';

import * as tfe from '../lib';
import { bucketLayout } from '../lib/api/bucket_table';
import { rowBlocksLayout } from '../lib/api/row_blocks';
import { configConstantsAsWeights } from '../lib/api/config_constants';
import { readLayersModel } from '../lib/api/model';
import { columnReaders } from '../lib/api/layers_embedding';
import { stringId } from '../lib/api/string_ids';
import { columnOneHot, tableColumns } from '../lib/api/table_read';
import { estimateQueryBytes } from '../lib/serve/limits';
import { LOOKUP_CASES, lookupReference } from './helpers/lookup_reference';
import { oneLayerModel } from './helpers/one_layer_model';
import { newCluster, priv } from './helpers/suites/harness';
import { recordTensors, type Seen } from './helpers/view_stats';
import { viewsAgreeAndControlFails } from './helpers/one_hot_views';

const word = () => Math.random().toString(36).slice(2, 2 + 3 + Math.floor(Math.random() * 6));
const words = (m: number) => [...new Set(Array.from({ length: 3 * m }, word))].slice(0, m);
const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)];

for (const protocol of ['securenn', 'fss'] as const)
  test.serial(`${protocol}: StringLookup of 300 words, every output mode, with and without a mask token, as Keras's lookup written apart`, async (t) => {
    const vocab = words(300), c = new tfe.Cluster({ protocol });
    try {
      for (const [mode, shape, masked, padTo] of LOOKUP_CASES) {
        const mask = masked ? '' : null, rows = 4, k = shape[0];
        const values = Array.from({ length: rows * k }, () => (Math.random() < 0.7 ? pick(vocab) : Math.random() < 0.5 && mask !== null ? mask : `zz${word()}`));
        const config = { vocabulary: vocab, mask_token: mask, output_mode: mode, ...(padTo ? { pad_to_max_tokens: true, max_tokens: 310 } : {}) };
        const model = tfe.loadLayersModel(oneLayerModel('StringLookup', config, shape, { dtype: 'string' }), { cluster: c });
        const x: string[][] = Array.from({ length: rows }, (_, r) => values.slice(r * k, r * k + k));
        const before = c.transport.traffic().byOp.oneHot?.bytes ?? 0;
        const out = await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => x as never)));
        t.true((c.transport.traffic().byOp.oneHot?.bytes ?? 0) > before, `${mode}: the table read ran`);
        t.deepEqual([...out.data], lookupReference(values, rows, vocab, mask, mode, padTo ? 310 : 301), `${mode} ${shape} mask ${masked}`);
      }
    } finally {
      await c.close();
    }
  });

/** Texts through TextVectorization (int, `length` tokens) of `vocab` into an Embedding [vocab + 2, 2]. */
function embedded(vocab: string[], length: number, table: number[]): tfe.ModelArtifacts {
  const input = { name: 'text', batch_shape: [null, 1], dtype: 'string' };
  const ref = (from: string, shape: unknown[], dtype: string) => ({ class_name: '__keras_tensor__', config: { shape, dtype, keras_history: [from, 0, 0] } });
  const layers = [
    { module: 'keras.layers', class_name: 'InputLayer', name: 'text', config: input, inbound_nodes: [] },
    { module: 'keras.layers', class_name: 'TextVectorization', name: 'tv', config: { name: 'tv', vocabulary: vocab, output_mode: 'int', output_sequence_length: length, standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null }, inbound_nodes: [{ args: [ref('text', [null, 1], 'string')], kwargs: {} }] },
    { module: 'keras.layers', class_name: 'Embedding', name: 'emb', config: { name: 'emb', input_dim: vocab.length + 2, output_dim: 2 }, inbound_nodes: [{ args: [ref('tv', [null, length], 'int64')], kwargs: {} }] },
  ];
  return {
    modelTopology: { class_name: 'Functional', keras_version: '3.15.1', config: { name: 'm', layers, input_layers: [['text', 0, 0]], output_layers: [['emb', 0, 0]] } },
    weightSpecs: [{ name: 'emb/embeddings', shape: [vocab.length + 2, 2], dtype: 'float32' }],
    weightData: new Float32Array(table).buffer,
  } as unknown as tfe.ModelArtifacts;
}

for (const protocol of ['securenn', 'fss'] as const)
  test.serial(`${protocol}: TextVectorization of 400 words into an Embedding: each token's row, the padding's and OOV's included, from the words; the topology holds no word`, async (t) => {
    const vocab = words(400), length = 20, rows = vocab.length + 2;
    const table = Array.from({ length: rows * 2 }, () => Math.floor(Math.random() * 64 - 32) / 8);
    const texts = Array.from({ length: 3 }, (_, i) => Array.from({ length: i * 3 }, () => (Math.random() < 0.8 ? pick(vocab) : `zz${word()}`)));
    const artifacts = embedded(vocab, length, table);
    const c = new tfe.Cluster({ protocol });
    try {
      const { json, weights } = readLayersModel(artifacts);
      const sent = JSON.stringify(json.modelTopology);
      t.false(vocab.some((w) => sent.includes(`"${w}"`)), 'no word in the topology');
      t.deepEqual([...weights.keys()].filter((k) => k.startsWith('tv/')), ['tv/vocabulary_table']);
      // The Embedding reads its rows by the columns, from its table in blocks (no one-hot rows).
      t.deepEqual(readLayersModel(artifacts).spec.params.map((p) => p.weight).sort(), ['emb/embedding_blocks', 'tv/vocabulary_table']);
      const model = tfe.loadLayersModel(artifacts, { cluster: c });
      const out = await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => texts.map((ws) => [ws.join(' ')]) as never)));
      const column = (w: string | undefined) => (w === undefined ? 0 : vocab.includes(w) ? vocab.indexOf(w) + 2 : 1);
      t.deepEqual([...out.data], texts.flatMap((ws) => Array.from({ length }, (_, i) => [0, 1].map((d) => table[column(ws[i]) * 2 + d])).flat()));
      // Two one-hot ops, the bucket's and the Embedding's row's, and no third for a column's one-hot
      // row: each op r's correction, its one or two rows (one-level reads: one; as two keys each
      // under FSS) and two openings; a third op would add at least four messages.
      const rows = protocol === 'fss' ? 2 : 1, messages = c.transport.traffic().byOp.oneHot.messages;
      t.true(messages >= 2 * (3 + rows) && messages <= 2 * (3 + 2 * rows), `no one-hot row of a column: ${messages} messages`);
    } finally {
      await c.close();
    }
  });

test.serial('a vocabulary whose ids crowd one bucket keeps the equality tests, and still answers', async (t) => {
  const m = 300, l = bucketLayout(m + 1), buckets = 2 ** l.bits;
  // slots + 1 words of one bucket, then others.
  const byBucket = new Map<number, string[]>();
  let crowded: string[] | undefined;
  while (!crowded) {
    const w = word(), b = stringId(w) % buckets, list = byBucket.get(b) ?? [];
    if (!list.includes(w)) list.push(w);
    byBucket.set(b, list);
    if (list.length > l.slots) crowded = list;
  }
  const vocab = [...new Set([...crowded, ...words(m)])].slice(0, m);
  const artifacts = oneLayerModel('StringLookup', { vocabulary: vocab, output_mode: 'one_hot' }, [1], { dtype: 'string' });
  const names = (a: tfe.ModelArtifacts) => configConstantsAsWeights({ modelTopology: a.modelTopology as never, weightsManifest: [] }).constants;
  t.deepEqual([...names(artifacts).keys()].sort(), ['layer/vocabulary_hi', 'layer/vocabulary_lo']);
  t.deepEqual([...names(oneLayerModel('StringLookup', { vocabulary: words(m), output_mode: 'one_hot' }, [1], { dtype: 'string' })).keys()], ['layer/vocabulary_table'], 'a vocabulary of random words: the table');
  const c = new tfe.Cluster({ protocol: 'fss' });
  try {
    const model = tfe.loadLayersModel(artifacts, { cluster: c });
    const x = [crowded[0], crowded[crowded.length - 1], 'zzz'];
    const out = await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => x.map((w) => [w]) as never)));
    t.deepEqual([...out.data], lookupReference(x, 3, vocab, null, 'one_hot', m + 1));
    t.falsy(c.transport.traffic().byOp.oneHot, 'no table read');
  } finally {
    await c.close();
  }
});

test('the memory estimate follows the form: a 20 000-word text model fits maxQueryBytes as a table, not as tests', (t) => {
  const model = (table: boolean) => {
    const artifacts = embedded(words(300), 64, []);
    const topology = JSON.parse(JSON.stringify(artifacts.modelTopology));
    const tv = topology.config.layers[1].config;
    Object.assign(tv, { vocabulary: null, vocabulary_size: 20001, ...(table ? { vocabulary_table: true } : {}) });
    topology.config.layers[2].config.input_dim = 20002;
    return topology;
  };
  const bytes = (table: boolean) => estimateQueryBytes({ topology: model(table), inputShape: [64], protocol: 'fss' }, 1);
  t.true(bytes(true) < 2 ** 30 && bytes(false) > 2 ** 30, `table ${bytes(true)}, tests ${bytes(false)}`);
  // The Embedding reads rows by the columns: at least its row read's opened values per token, and
  // no [64, 20 002] one-hot row (what a CategoryEncoding reading the same ids needs).
  const b = rowBlocksLayout(20002, 2);
  t.true(bytes(true) > 64 * 8 * (2 ** (b.hiBits + 1) + 2 ** (b.loBits + 1) * 3), 'counts the row read');
  const withCounts = model(true);
  withCounts.config.layers[2] = { ...withCounts.config.layers[2], class_name: 'CategoryEncoding', config: { name: 'emb', num_tokens: 20002, output_mode: 'count' } };
  const counted = estimateQueryBytes({ topology: withCounts, inputShape: [64], protocol: 'fss' }, 1);
  t.true(counted > bytes(true) && counted > 64 * 20002 * 8, `one-hot rows for a CategoryEncoding: ${counted}`);
});

/** One read of `tokens`' columns (as one-hot rows) from a 300-word table under `protocol`, recorded. */
async function readViews(protocol: tfe.ProtocolName, vocab: string[], tokens: string[]): Promise<{ seen: Seen[]; out: Float64Array }> {
  const { buildBucketTable, tableShape } = await import('../lib/api/bucket_table');
  const ids = [stringId(''), ...vocab.map(stringId)], l = bucketLayout(ids.length);
  const table = buildBucketTable(ids, [0, ...vocab.map((_, j) => j + 2)], 1, l)!;
  const c = newCluster(protocol);
  try {
    const tab = priv(c, table, tableShape(l), 'model-owner');
    await tab.shares;
    const seen = recordTensors(c);
    const x = priv(c, tokens.map(stringId), [tokens.length]);
    const out = await tfe.defineOutput('output-receiver', columnOneHot(tableColumns(x, tab, l, 1) as tfe.PrivateTensor, vocab.length + 2));
    return { seen: seen.filter((s) => !s.key.includes('input')), out: out.data };
  } finally {
    await c.close();
  }
}

for (const protocol of ['securenn', 'fss'] as const)
  test.serial(`${protocol}: every server's whole view of a table read is the same for one word repeated and for random words; control: the distance unmasked is flagged`, async (t) => {
    const vocab = words(300), n = 600;
    const one = new Array(n).fill(vocab[7]), many = Array.from({ length: n }, () => (Math.random() < 0.8 ? pick(vocab) : `zz${word()}`));
    const [, b] = await viewsAgreeAndControlFails(t, async () => [await readViews(protocol, vocab, one), await readViews(protocol, vocab, many)]);
    t.deepEqual([...b.out], many.flatMap((w) => Array.from({ length: 302 }, (_, j) => (j === (vocab.includes(w) ? vocab.indexOf(w) + 2 : 1) ? 1 : 0))));
  });

test('which ids travel as columns: a table lookup read by Embeddings alone (without mask_zero), both sides of every call', (t) => {
  const node = (id: string, cls: string, config: Record<string, unknown>, inputs: string[]) => ({ id, layer: { class_name: cls, config: { name: id, ...config } as Record<string, unknown> }, inputs });
  const tv = node('tv', 'TextVectorization', { vocabulary_table: true, output_mode: 'int' }, ['text']);
  const graph = (...nodes: ReturnType<typeof node>[]) => ({ inputs: [{ id: 'text' }], outputs: ['out'], nodes: [node('text', 'InputLayer', {}, []), ...nodes] }) as never;
  const emb = (id = 'emb', config = {}, from = 'tv') => node(id, 'Embedding', { input_dim: 9, output_dim: 2, ...config }, [from]);
  t.deepEqual([...columnReaders(graph(tv, emb(), node('out', 'Dense', {}, ['emb'])))].sort(), ['emb', 'tv']);
  t.deepEqual([...columnReaders(graph(tv, emb(), emb('e2'), node('out', 'Add', {}, ['emb', 'e2'])))].sort(), ['e2', 'emb', 'tv']);
  t.deepEqual([...columnReaders(graph(tv, emb(), node('out', 'CategoryEncoding', { num_tokens: 9 }, ['tv'])))], [], 'a CategoryEncoding reads them too');
  t.deepEqual([...columnReaders(graph(tv, emb('emb', { mask_zero: true }), node('out', 'Dense', {}, ['emb'])))], [], 'mask_zero');
  t.deepEqual([...columnReaders(graph(tv, emb('emb', { input_dim: 2 ** 22 + 1 }), node('out', 'Dense', {}, ['emb'])))], [], 'more rows than a row read takes');
  t.deepEqual([...columnReaders(graph(tv, emb('emb', { input_dim: 2 ** 20, output_dim: 128 }), node('out', 'Dense', {}, ['emb'])))], [], 'blocks over 2^26 values');
  t.deepEqual([...columnReaders(graph(tv, emb('emb', { input_dim: 2 ** 19, output_dim: 128 }), node('out', 'Dense', {}, ['emb'])))].sort(), ['emb', 'tv'], 'blocks of 2^26 values');
  t.deepEqual([...columnReaders(graph({ ...tv, layer: { ...tv.layer, config: { ...tv.layer.config, vocabulary_table: null } } }, emb(), node('out', 'Dense', {}, ['emb'])))], [], 'equality tests');
  t.deepEqual([...columnReaders(graph({ ...tv, layer: { ...tv.layer, config: { ...tv.layer.config, output_mode: 'multi_hot' } } }, node('out', 'Dense', {}, ['tv'])))], [], 'a bag of words');
});

test('over the service: a 400-word TextVectorization into an Embedding and a 300-word bag of words, deployed under SecureNN and FSS, answer as their words say', async (t) => {
  const { startCluster } = await import('./helpers/service');
  const vocab = words(400), length = 20, rows = vocab.length + 2;
  const table = Array.from({ length: rows * 2 }, () => Math.floor(Math.random() * 64 - 32) / 8);
  const bag = words(300);
  const texts = [`${vocab[3]} ${vocab[399]} zzzz ${vocab[3]}`, '', `${bag[0]} ${bag[299]} ${bag[0]}`];
  const c = await startCluster({ tls: false });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    for (const protocol of ['securenn', 'fss'] as const) {
      await owner.deploy(embedded(vocab, length, table), { name: `emb-${protocol}`, protocol });
      await owner.deploy(oneLayerModel('TextVectorization', { vocabulary: bag, output_mode: 'count', standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null, output_sequence_length: null }, [1], { dtype: 'string' }), { name: `bag-${protocol}`, protocol, inputShapes: [6] });
    }
    const client = await c.connect();
    for (const protocol of ['securenn', 'fss'] as const) {
      const e = await client.predict(`emb-${protocol}`, texts);
      const column = (w: string | undefined) => (w === undefined ? 0 : vocab.includes(w) ? vocab.indexOf(w) + 2 : 1);
      t.deepEqual(Array.from(e.outputs), texts.flatMap((s) => Array.from({ length }, (_, i) => [0, 1].map((d) => table[column(s.split(' ').filter((w) => w)[i]) * 2 + d])).flat()), `${protocol}: the Embedding's rows`);
      const b = await client.predict(`bag-${protocol}`, texts);
      const want = texts.flatMap((s) => {
        const row = new Array(301).fill(0);
        for (const w of s.split(' ').filter((x) => x)) row[bag.indexOf(w) + 1] += 1;
        return row;
      });
      t.deepEqual(Array.from(b.outputs), want, `${protocol}: the counts`);
    }
    await Promise.all([owner.close(), client.close()]);
  } finally {
    await c.stop();
  }
});

test('a Sequential text model (TextVectorization of 300 words, Embedding, pooling, Dense) reads its rows by columns, and answers as its words say', async (t) => {
  const vocab = words(300), length = 20, table = Array.from({ length: 302 * 2 }, () => Math.floor(Math.random() * 64 - 32) / 8);
  const kernel = [0.5, -0.25];
  const artifacts = {
    modelTopology: { class_name: 'Sequential', keras_version: '3.15.1', config: { name: 's', layers: [
      { class_name: 'InputLayer', config: { name: 'text', batch_shape: [null, 1], dtype: 'string' } },
      { class_name: 'TextVectorization', config: { name: 'tv', vocabulary: vocab, output_mode: 'int', output_sequence_length: length, standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null } },
      { class_name: 'Embedding', config: { name: 'emb', input_dim: 302, output_dim: 2 } },
      { class_name: 'GlobalAveragePooling1D', config: { name: 'mean' } },
      { class_name: 'Dense', config: { name: 'out', units: 1, use_bias: false } },
    ] } },
    weightSpecs: [{ name: 'emb/embeddings', shape: [302, 2], dtype: 'float32' }, { name: 'out/kernel', shape: [2, 1], dtype: 'float32' }],
    weightData: new Float32Array([...table, ...kernel]).buffer,
  } as unknown as tfe.ModelArtifacts;
  t.deepEqual(readLayersModel(artifacts).spec.params.map((p) => p.weight).sort(), ['emb/embedding_blocks', 'out/kernel', 'tv/vocabulary_table']);
  const texts = [`${vocab[0]} ${vocab[299]} zzzz`, vocab.slice(10, 16).join(' ')];
  const column = (w: string | undefined) => (w === undefined ? 0 : vocab.includes(w) ? vocab.indexOf(w) + 2 : 1);
  const want = texts.map((s) => {
    const ws = s.split(' ');
    const mean = [0, 1].map((d) => Array.from({ length }, (_, i) => table[column(ws[i]) * 2 + d]).reduce((a, b) => a + b, 0) / length);
    return mean[0] * kernel[0] + mean[1] * kernel[1];
  });
  const c = new tfe.Cluster({ protocol: 'fss' });
  try {
    const m = tfe.loadLayersModel(artifacts, { cluster: c });
    const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => texts.map((s) => [s]) as never)));
    [...out.data].forEach((v, i) => t.true(Math.abs(v - want[i]) < 1e-3, `${texts[i]}: ${v} vs ${want[i]}`));
  } finally {
    await c.close();
  }
});
