// A lookup and the Embedding that reads it, read as one table (lib/api/fused_table.ts,
// table_read.ts fusedRows, layers_embedding.ts fusedReads; docs/models.md "Large vocabularies"):
// the owner's fused table against the two it is made of; which pairs fuse; StringLookup's and
// IntegerLookup's rows under both exact protocols (and over the service) against the words and
// codes they were written from; every server's whole view of a fused read for two sets of
// values, with the distance's mask (and a code's fraction mask) removed as the controls; the
// rounds saved; the memory estimate. Serial: the switches are process-wide.
import { randomInt } from 'node:crypto';

import test from 'ava';

import * as tfe from '../lib';
import { bucketLayout, buildBucketTable } from '../lib/api/bucket_table';
import { fusedEntries, fusedShape, fusedSplit, fuseTables } from '../lib/api/fused_table';
import { FUSE_MAX_PRODUCT, fusedReads } from '../lib/api/layers_embedding';
import { readLayersModel } from '../lib/api/model';
import { stringId } from '../lib/api/string_ids';
import { fusedRows } from '../lib/api/table_read';
import { estimateQueryBytes } from '../lib/serve/limits';
import { controlFlagged, viewsAgreeAndControlFails } from './helpers/one_hot_views';
import { newCluster, priv } from './helpers/suites/harness';
import { recordTensors, type Seen } from './helpers/view_stats';

const word = () => Math.random().toString(36).slice(2, 2 + 3 + Math.floor(Math.random() * 6));
const words = (m: number) => [...new Set(Array.from({ length: 3 * m }, word))].slice(0, m);
const pick = <T>(xs: readonly T[]) => xs[randomInt(xs.length)];
const codes = (m: number) => [...new Set(Array.from({ length: 2 * m }, () => randomInt(-(2 ** 20), 2 ** 20)))].filter((x) => x !== 0 && x !== -1).slice(0, m);

/** Values ([batch, k]) through a lookup (`cls`, int, `vocab`, mask token '' for strings) into an Embedding [width, d]; or Sequential. */
function model(cls: 'StringLookup' | 'IntegerLookup', vocab: (string | number)[], k: number, table: number[], d: number, sequential = false): tfe.ModelArtifacts {
  const strings = cls === 'StringLookup', width = vocab.length + (strings ? 2 : 1), dtype = strings ? 'string' : 'int64';
  const look = { name: 'look', vocabulary: vocab, output_mode: 'int', mask_token: strings ? '' : null };
  const emb = { name: 'emb', input_dim: width, output_dim: d };
  const weights = { weightSpecs: [{ name: 'emb/embeddings', shape: [width, d], dtype: 'float32' }], weightData: new Float32Array(table).buffer };
  if (sequential)
    return { modelTopology: { class_name: 'Sequential', keras_version: '3.15.1', config: { name: 's', layers: [{ class_name: 'InputLayer', config: { name: 'in', batch_shape: [null, k], dtype } }, { class_name: cls, config: look }, { class_name: 'Embedding', config: emb }] } }, ...weights } as unknown as tfe.ModelArtifacts;
  const ref = (from: string, dt: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, k], dtype: dt, keras_history: [from, 0, 0] } });
  const layers = [
    { module: 'keras.layers', class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_shape: [null, k], dtype }, inbound_nodes: [] },
    { module: 'keras.layers', class_name: cls, name: 'look', config: look, inbound_nodes: [{ args: [ref('in', dtype)], kwargs: {} }] },
    { module: 'keras.layers', class_name: 'Embedding', name: 'emb', config: emb, inbound_nodes: [{ args: [ref('look', 'int64')], kwargs: {} }] },
  ];
  return { modelTopology: { class_name: 'Functional', keras_version: '3.15.1', config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [['emb', 0, 0]] } }, ...weights } as unknown as tfe.ModelArtifacts;
}

test('the fused table holds each slot\'s id and the Embedding\'s row at its column; empty slots the empty column\'s row', (t) => {
  const v = words(700), d = 3, ids = [stringId(''), ...v.map(stringId)], l = bucketLayout(ids.length);
  const vocabulary = buildBucketTable(ids, [0, ...v.map((_, j) => j + 2)], 1, l)!;
  const rows = v.length + 2, emb = Array.from({ length: rows * d }, () => randomInt(-1000, 1000) / 8);
  const fused = fuseTables(vocabulary, l, emb, rows, d);
  t.is(fused.length, fusedShape(l, d)[0] * fusedShape(l, d)[1]);
  const s = fusedSplit(l, d);
  t.is(s.hiBits + s.loBits, l.bits);
  const entries = fusedEntries(fused, d), row = (c: number) => emb.slice(c * d, c * d + d);
  t.is(entries.size, ids.length);
  t.deepEqual(Array.from(entries.get(stringId(''))!), row(0));
  for (const j of [0, 350, 699]) t.deepEqual(Array.from(entries.get(stringId(v[j]))!), row(j + 2));
  // Every empty slot holds OOV's row (column 1).
  for (let at = 0; at < fused.length; at += 2 + d) if (fused[at] * 2 ** 23 + fused[at + 1] >= 2 ** 46) t.deepEqual([...fused.slice(at + 2, at + 2 + d)], row(1));
  t.throws(() => fuseTables(vocabulary, l, emb, 100, d), { message: /column \d+ is not a row of the Embedding's 100/ });
});

test('which pairs fuse: a StringLookup, IntegerLookup or TextVectorization table read by one Embedding alone, for at most 16 values an example', (t) => {
  const node = (id: string, cls: string, config: Record<string, unknown>, inputs: string[]) => ({ id, layer: { class_name: cls, config: { name: id, ...config } as Record<string, unknown> }, inputs });
  const look = (cls = 'StringLookup', from = 'in') => node('look', cls, { vocabulary_table: true, output_mode: 'int', vocabulary_size: 1000 }, [from]);
  const emb = (id = 'emb', from = 'look', config = {}) => node(id, 'Embedding', { input_dim: 1002, output_dim: 8, ...config }, [from]);
  const graph = (size: number, ...nodes: ReturnType<typeof node>[]) => ({ inputs: [{ id: 'in', shape: [size] }], outputs: ['out'], nodes: [node('in', 'InputLayer', {}, []), ...nodes] }) as never;
  const pairs = (g: never) => {
    const f = fusedReads(g);
    return [...f.lookupOf].map(([e, l]) => `${e}<-${l.config.name}`).concat([...f.through]);
  };
  t.deepEqual(pairs(graph(4, look(), emb(), node('out', 'Dense', {}, ['emb']))), ['emb<-look', 'look']);
  t.deepEqual(pairs(graph(16, look('IntegerLookup'), emb(), node('out', 'Dense', {}, ['emb']))), ['emb<-look', 'look']);
  t.deepEqual(pairs(graph(17, look(), emb(), node('out', 'Dense', {}, ['emb']))), [], 'a text-sized input');
  const text = (length: number) => node('look', 'TextVectorization', { vocabulary_table: true, output_mode: 'int', vocabulary_size: 1000, output_sequence_length: length }, ['in']);
  t.deepEqual(pairs(graph(1, text(8), emb(), node('out', 'Dense', {}, ['emb']))), ['emb<-look', 'look'], 'a short text');
  t.deepEqual(pairs(graph(1, text(64), emb(), node('out', 'Dense', {}, ['emb']))), [], 'a text of 64 tokens');
  t.deepEqual(pairs(graph(4, look(), emb(), emb('e2'), node('out', 'Add', {}, ['emb', 'e2']))), [], 'two Embeddings read it');
  t.deepEqual(pairs(graph(4, look(), emb('emb', 'look', { mask_zero: true }), node('out', 'Dense', {}, ['emb']))), [], 'mask_zero');
  t.deepEqual(pairs(graph(4, look(), emb('emb', 'look', { output_dim: 8192 }), node('out', 'Dense', {}, ['emb']))), [], 'past the owner\'s derivation bound');
  // The read's products: values per example times the fused table's values, at most FUSE_MAX_PRODUCT.
  const size = (d: number) => fusedShape(bucketLayout(999), d).reduce((a, b) => a * b, 1);
  const wide = [8, 16, 64, 256, 512].find((d) => size(d) > FUSE_MAX_PRODUCT)!;
  t.deepEqual(pairs(graph(1, look(), emb('emb', 'look', { output_dim: wide }), node('out', 'Dense', {}, ['emb']))), [], `one value, Embedding(1002, ${wide}): ${size(wide)} values`);
  const narrow = [256, 64, 16, 8].find((d) => 4 * size(d) <= FUSE_MAX_PRODUCT)!;
  t.deepEqual(pairs(graph(4, look(), emb('emb', 'look', { output_dim: narrow }), node('out', 'Dense', {}, ['emb']))), ['emb<-look', 'look'], `four values, Embedding(1002, ${narrow})`);
  t.deepEqual(pairs(graph(4, look(), emb('emb', 'look', { output_dim: wide }), node('out', 'Dense', {}, ['emb']))), [], `four values, Embedding(1002, ${wide})`);
});

for (const protocol of ['securenn', 'fss'] as const)
  test.serial(`${protocol}: StringLookup of 300 words (mask '') and IntegerLookup of 300 codes into Embeddings, read as one table: every value's row, the mask's and OOV's included, as the words and codes say; Sequential too`, async (t) => {
    const d = 4;
    for (const [cls, vocab] of [['StringLookup', words(300)], ['IntegerLookup', codes(300)]] as const) {
      const width = vocab.length + (cls === 'StringLookup' ? 2 : 1);
      const table = Array.from({ length: width * d }, () => randomInt(-256, 256) / 8);
      for (const sequential of [false, true]) {
        const artifacts = model(cls, [...vocab], 3, table, d, sequential);
        t.deepEqual(readLayersModel(artifacts).spec.params.map((p) => p.weight).sort(), ['emb/fused_oov', 'emb/fused_table'], `${cls}${sequential ? ' Sequential' : ''}`);
        const c = new tfe.Cluster({ protocol });
        try {
          const m = tfe.loadLayersModel(artifacts, { cluster: c });
          let column: (x: never) => number, out: { data: Float64Array }, flat: unknown[];
          if (cls === 'StringLookup') {
            const w = vocab as string[], xs = [[w[0], '', 'zzzz'], [w[299], pick(w), pick(w)]];
            flat = xs.flat();
            column = ((x: string) => (x === '' ? 0 : w.includes(x) ? w.indexOf(x) + 2 : 1)) as never;
            out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => xs as never)));
          } else {
            const v = vocab as number[], xs = [v[0], v[1] + 0.5, 7, v[299] + 0.75, pick(v), 2 ** 30];
            flat = xs;
            column = ((x: number) => v.indexOf(Math.floor(x)) + 1) as never;
            out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: Float64Array.from(xs), shape: [2, 3] }))));
          }
          t.deepEqual([...out.data], flat.flatMap((x) => table.slice(column(x as never) * d, column(x as never) * d + d)), `${cls}${sequential ? ' Sequential' : ''}`);
        } finally {
          await c.close();
        }
      }
    }
  });

for (const protocol of ['securenn', 'fss'] as const)
  test.serial(`${protocol}: a short text (TextVectorization of 400 words, 8 tokens) into an Embedding, read as one table: each token's row, the padding's and OOV's included, as the words say`, async (t) => {
    const vocab = words(400), length = 8, d = 2, width = vocab.length + 2;
    const table = Array.from({ length: width * d }, () => randomInt(-256, 256) / 8);
    const input = { name: 'text', batch_shape: [null, 1], dtype: 'string' };
    const ref = (from: string, shape: unknown[], dtype: string) => ({ class_name: '__keras_tensor__', config: { shape, dtype, keras_history: [from, 0, 0] } });
    const layers = [
      { module: 'keras.layers', class_name: 'InputLayer', name: 'text', config: input, inbound_nodes: [] },
      { module: 'keras.layers', class_name: 'TextVectorization', name: 'tv', config: { name: 'tv', vocabulary: vocab, output_mode: 'int', output_sequence_length: length, standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null }, inbound_nodes: [{ args: [ref('text', [null, 1], 'string')], kwargs: {} }] },
      { module: 'keras.layers', class_name: 'Embedding', name: 'emb', config: { name: 'emb', input_dim: width, output_dim: d }, inbound_nodes: [{ args: [ref('tv', [null, length], 'int64')], kwargs: {} }] },
    ];
    const artifacts = { modelTopology: { class_name: 'Functional', keras_version: '3.15.1', config: { name: 'm', layers, input_layers: [['text', 0, 0]], output_layers: [['emb', 0, 0]] } }, weightSpecs: [{ name: 'emb/embeddings', shape: [width, d], dtype: 'float32' }], weightData: new Float32Array(table).buffer } as unknown as tfe.ModelArtifacts;
    t.deepEqual(readLayersModel(artifacts).spec.params.map((p) => p.weight).sort(), ['emb/fused_oov', 'emb/fused_table']);
    const texts = [[vocab[0], 'zzzz', vocab[399]], Array.from({ length: 10 }, () => pick(vocab)), []];
    const c = new tfe.Cluster({ protocol });
    try {
      const m = tfe.loadLayersModel(artifacts, { cluster: c });
      const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => texts.map((ws) => [ws.join(' ')]) as never)));
      const column = (w: string | undefined) => (w === undefined ? 0 : vocab.includes(w) ? vocab.indexOf(w) + 2 : 1);
      t.deepEqual([...out.data], texts.flatMap((ws) => Array.from({ length }, (_, i) => table.slice(column(ws[i]) * d, column(ws[i]) * d + d)).flat()));
    } finally {
      await c.close();
    }
  });

/** One fused read of `values` (strings' ids or codes) under `protocol`, recorded (the tables' sharing left out). */
async function readViews(protocol: tfe.ProtocolName, ids: number[], values: number[], isCodes: boolean): Promise<{ seen: Seen[]; out: Float64Array }> {
  const d = 3, l = bucketLayout(ids.length), vocabulary = buildBucketTable(ids, ids.map((_, j) => j + 1), 0, l)!;
  const emb = Array.from({ length: (ids.length + 1) * d }, (_, i) => (i % 13) - 6);
  const fused = fuseTables(vocabulary, l, emb, ids.length + 1, d);
  const c = newCluster(protocol);
  try {
    const tab = priv(c, fused, fusedShape(l, d), 'model-owner'), oov = priv(c, emb.slice(0, d), [d], 'model-owner');
    await Promise.all([tab.shares, oov.shares]);
    const seen = recordTensors(c);
    const out = await tfe.defineOutput('output-receiver', fusedRows(priv(c, values, [values.length]), tab, oov, l, fusedSplit(l, d), d, isCodes));
    return { seen: seen.filter((s) => !s.key.includes('input')), out: out.data };
  } finally {
    await c.close();
  }
}

for (const protocol of ['securenn', 'fss'] as const)
  test.serial(`${protocol}: every server's whole view of a fused read is the same for one value repeated and for random values (strings' ids; codes with fractions, 12 codes so that the statistics see them); controls: the distance unmasked, and a code's fraction, are flagged`, async (t) => {
    const n = 400, w = words(300).map(stringId);
    const [, b] = await viewsAgreeAndControlFails(t, async () => [await readViews(protocol, w, new Array(n).fill(w[5]), false), await readViews(protocol, w, Array.from({ length: n }, () => pick(w)), false)]);
    t.is(b.out.length, n * 3);
    const v = codes(12), one = new Array(n).fill(v[3] + 0.5), many = Array.from({ length: n }, () => pick(v) + randomInt(64) / 64);
    const run = async () => [await readViews(protocol, v, one, true), await readViews(protocol, v, many, true)] as const;
    const [a2] = await viewsAgreeAndControlFails(t, run);
    t.deepEqual([...a2.out.slice(0, 3)], [0, 1, 2].map((j) => ((4 * 3 + j) % 13) - 6), 'the row of code 3 (column 4)');
    await controlFlagged(t, run, 'fraction');
  });

test.serial('one table takes rounds fewer than the lookup\'s read and the Embedding\'s, and the memory estimate counts its read', async (t) => {
  const v = codes(3000), d = 8, table = Array.from({ length: 3001 * d }, () => randomInt(-256, 256) / 8);
  const rounds = async (k: number) => {
    const c = new tfe.Cluster({ protocol: 'fss' });
    try {
      const m = tfe.loadLayersModel(model('IntegerLookup', v, k, table, d), { cluster: c });
      const x = Array.from({ length: k }, () => pick(v));
      await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: Float64Array.from(x), shape: [1, k] }))));
      c.transport.resetTraffic();
      const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: Float64Array.from(x), shape: [1, k] }))));
      t.deepEqual([...out.data], x.flatMap((code) => table.slice((v.indexOf(code) + 1) * d, (v.indexOf(code) + 2) * d)));
      return c.transport.traffic().byOp;
    } finally {
      await c.close();
    }
  };
  // 8 codes an example: one table; 17: the lookup's read, then the Embedding's by columns (two one-hot ops).
  const [fused, apart] = [await rounds(8), await rounds(17)];
  t.true(fused.oneHot.messages < apart.oneHot.messages, `one-hot messages ${fused.oneHot.messages} against ${apart.oneHot.messages}`);
  const bytes = (k: number) => estimateQueryBytes({ topology: readLayersModel(model('IntegerLookup', v, k, table, d)).json.modelTopology as never, inputShape: [k], protocol: 'fss' }, 1);
  t.true(bytes(8) > 8 * 8 * 2 ** bucketLayout(3000).bits, `the estimate counts the fused read: ${bytes(8)}`);
});
