// IntegerLookup's large vocabularies read as bucket tables (lib/api/bucket_table.ts, table_read.ts
// `codes`, docs/models.md "Large vocabularies"): integer codes may carry fractions, which Keras
// casts away, so the distance's fraction bits stay masked (sharedOneHots' `fraction`) and two
// buckets are read. Checked against Keras's lookup written apart (test/helpers/lookup_reference.ts)
// on fresh random vocabularies of large, small and negative codes, every output mode, fractions,
// edges and codes beyond the vocabulary's range; an int output into an Embedding, read with the
// lookup as one table (few codes an example) or by columns; every server's whole view for two sets
// of codes that differ in their fractions, with the distance's mask and then the fraction's mask
// alone removed as the controls; an attack on server1's openings for the fractions; the
// crowded-bucket fallback; the memory estimate; over the service. Serial: the switches are
// process-wide.
import { randomInt } from 'node:crypto';

import test from 'ava';

import * as tfe from '../lib';
import { bucketLayout, buildBucketTable, tableShape } from '../lib/api/bucket_table';
import { configConstantsAsWeights } from '../lib/api/config_constants';
import { readLayersModel } from '../lib/api/model';
import { tableColumns } from '../lib/api/table_read';
import { ONE_HOT_STEPS } from '../lib/protocol/shared_one_hot';
import { estimateQueryBytes } from '../lib/serve/limits';
import { LOOKUP_CASES, lookupReference } from './helpers/lookup_reference';
import { oneLayerModel } from './helpers/one_layer_model';
import { controlFlagged, viewsAgreeAndControlFails } from './helpers/one_hot_views';
import { newCluster, priv } from './helpers/suites/harness';
import { recordTensors, type Seen } from './helpers/view_stats';

const lookup = (config: Record<string, unknown>, shape: number[]) =>
  oneLayerModel('IntegerLookup', { invert: false, max_tokens: null, num_oov_indices: 1, oov_token: -1, mask_token: null, output_mode: 'int', sparse: false, pad_to_max_tokens: false, vocabulary_dtype: 'int64', idf_weights: null, ...config }, shape, { name: 'codes', dtype: 'int64' });

/** m distinct codes: consecutive ones, small negative ones and large ones of either sign; never the OOV token -1 or 0 (the mask token) first. */
function vocabulary(m: number): number[] {
  const v = new Set<number>([5]);
  for (let x = randomInt(-50, 50); v.size < m / 2; x++) v.add(x);
  while (v.size < m) v.add(randomInt(3) === 0 ? randomInt(-300, 300) : randomInt(-(2 ** 24), 2 ** 24));
  return [...v];
}

/** Each code's entry as the layer reads it: floor(x) (Keras's cast, towards zero, for x >= 0 and every whole x; docs/models.md). */
const floorAll = (xs: number[]) => xs.map(Math.floor);

/** Codes to look up: the vocabulary's own, with fractions, a unit either side, the mask token, far outside, random. */
function codesFor(v: number[], mask: number | null, n: number): number[] {
  const pool = [...v, ...v.map((x) => x + 0.5), ...v.map((x) => x + 0.984375), ...v.map((x) => x + 1), ...v.map((x) => x - 1), ...v.map((x) => x - 0.25), ...(mask === null ? [] : [mask]), 2 ** 30, -(2 ** 30), 2 ** 24 + 1];
  return Array.from({ length: n }, (_, i) => (i < 8 ? pool[v.length + randomInt(pool.length - v.length)] : pool[randomInt(pool.length)]));
}

for (const protocol of ['securenn', 'fss'] as const)
  test.serial(`${protocol}: IntegerLookup of 300 codes, every output mode, with and without a mask token, fractions and far codes, as Keras's lookup written apart`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    try {
      for (const [mode, shape, masked, padTo] of LOOKUP_CASES) {
        const mask = masked ? 0 : null, v = vocabulary(300).filter((x) => x !== mask && x !== -1);
        const rows = 4, k = shape[0], x = codesFor(v, mask, rows * k);
        const config = { vocabulary: v, mask_token: mask, output_mode: mode, ...(padTo ? { pad_to_max_tokens: true, max_tokens: 310 } : {}) };
        const model = tfe.loadLayersModel(lookup(config, shape), { cluster: c });
        const before = c.transport.traffic().byOp.oneHot?.bytes ?? 0;
        const out = await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => ({ data: Float64Array.from(x), shape: [rows, k] }))));
        t.true((c.transport.traffic().byOp.oneHot?.bytes ?? 0) > before, `${mode}: the table read ran`);
        const want = lookupReference(floorAll(x), rows, v, mask, mode, padTo ? 310 : v.length + 1);
        const bad = want.findIndex((w, i) => out.data[i] !== w);
        t.is(bad, -1, `${mode} [${shape}] mask ${mask}: at ${bad} got ${out.data[bad]}, the lookup gives ${want[bad]} (codes ${x})`);
      }
    } finally {
      await c.close();
    }
  });

/** Codes ([batch, length]) through IntegerLookup (int, `vocab`) into an Embedding [vocab + 1, 3]. */
function embedded(vocab: number[], length: number, table: number[]): tfe.ModelArtifacts {
  const ref = (from: string, dtype: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, length], dtype, keras_history: [from, 0, 0] } });
  const layers = [
    { module: 'keras.layers', class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_shape: [null, length], dtype: 'int64' }, inbound_nodes: [] },
    { module: 'keras.layers', class_name: 'IntegerLookup', name: 'codes', config: { name: 'codes', vocabulary: vocab, output_mode: 'int' }, inbound_nodes: [{ args: [ref('in', 'int64')], kwargs: {} }] },
    { module: 'keras.layers', class_name: 'Embedding', name: 'emb', config: { name: 'emb', input_dim: vocab.length + 1, output_dim: 3 }, inbound_nodes: [{ args: [ref('codes', 'int64')], kwargs: {} }] },
  ];
  return {
    modelTopology: { class_name: 'Functional', keras_version: '3.15.1', config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [['emb', 0, 0]] } },
    weightSpecs: [{ name: 'emb/embeddings', shape: [vocab.length + 1, 3], dtype: 'float32' }],
    weightData: new Float32Array(table).buffer,
  } as unknown as tfe.ModelArtifacts;
}

for (const protocol of ['securenn', 'fss'] as const)
  test.serial(`${protocol}: IntegerLookup of 500 codes into an Embedding: each code's row, OOV's and fractions' included, read with the lookup as one table for 6 codes an example and by columns for 20; the topology holds no code`, async (t) => {
    const v = vocabulary(500), rows = v.length + 1;
    const table = Array.from({ length: rows * 3 }, () => Math.floor(Math.random() * 64 - 32) / 8);
    for (const [length, params] of [[6, ['emb/fused_oov', 'emb/fused_table']], [20, ['codes/vocabulary_table', 'emb/embedding_blocks']]] as const) {
      const artifacts = embedded(v, length, table);
      const { json, spec } = readLayersModel(artifacts);
      const sent = JSON.stringify(json.modelTopology);
      t.false(v.filter((x) => Math.abs(x) > 1000).some((x) => sent.includes(String(x))), 'no code in the topology');
      t.deepEqual(spec.params.map((p) => p.weight).sort(), [...params], `${length} codes an example`);
      const c = new tfe.Cluster({ protocol });
      try {
        const model = tfe.loadLayersModel(artifacts, { cluster: c });
        const x = codesFor(v, null, 3 * length);
        const out = await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => ({ data: Float64Array.from(x), shape: [3, length] }))));
        const column = (code: number) => v.indexOf(Math.floor(code)) + 1;
        t.deepEqual([...out.data], x.flatMap((code) => [0, 1, 2].map((d) => table[column(code) * 3 + d])), `${length} codes an example`);
      } finally {
        await c.close();
      }
    }
  });

/**
 * One read of `codes`' columns from a table of `vocab` under `protocol`, recorded (the table's
 * sharing left out). A vocabulary below 256 codes (read as a table here, as the owner would not):
 * fewer than 8 bucket bits, so the openings' top byte, which the view statistics read, holds
 * fraction bits too.
 */
async function readViews(protocol: tfe.ProtocolName, vocab: number[], codes: number[]): Promise<{ seen: Seen[]; out: Float64Array }> {
  const l = bucketLayout(vocab.length), table = buildBucketTable(vocab, vocab.map((_, j) => j + 1), 0, l)!;
  const c = newCluster(protocol);
  try {
    const tab = priv(c, table, tableShape(l), 'model-owner');
    await tab.shares;
    const seen = recordTensors(c);
    const out = await tfe.defineOutput('output-receiver', tableColumns(priv(c, codes, [codes.length]), tab, l, 0, true));
    return { seen: seen.filter((s) => !s.key.includes('input')), out: out.data };
  } finally {
    await c.close();
  }
}

for (const protocol of ['securenn', 'fss'] as const)
  test.serial(`${protocol}: every server's whole view of a code table read is the same for one code with one fraction and for random codes with random fractions; controls: the distance unmasked, and its fraction alone, are flagged`, async (t) => {
    const v = vocabulary(12), n = 600;
    t.true(bucketLayout(v.length).bits < 8);
    const one = new Array(n).fill(v[7] + 0.5), many = Array.from({ length: n }, () => v[randomInt(v.length)] + randomInt(64) / 64);
    const run = async () => [await readViews(protocol, v, one), await readViews(protocol, v, many)] as const;
    const [a, b] = await viewsAgreeAndControlFails(t, run);
    t.deepEqual([...a.out], new Array(n).fill(8));
    t.deepEqual([...b.out], many.map((x) => v.indexOf(Math.floor(x)) + 1));
    await controlFlagged(t, run, 'fraction');
  });

test.serial("attack: server1 reads each code's fraction from the opening's low bits; at chance with the mask, always right without", async (t) => {
  const v = vocabulary(300), n = 2000, f = 16, fractions = Array.from({ length: n }, () => randomInt(4));
  const codes = fractions.map((q, i) => v[i % v.length] + q / 4);
  const l = bucketLayout(v.length), k = l.hiBits + l.loBits;
  // The openings' sum is the f + k bits of x - r - rho 2^-f shifted to the top: below d's k bits, x's fraction less rho's.
  const guess = (seen: Seen[]) => {
    const [m0, m1] = seen.filter((s) => s.key.includes('onehot.open')).map((s) => new BigUint64Array(s.data.buffer, s.data.byteOffset, s.data.byteLength / 8));
    return Array.from(m0, (w, i) => Number((((w + m1[i]) & ((1n << 64n) - 1n)) >> BigInt(64 - f - k)) & ((1n << BigInt(f)) - 1n)) / 2 ** (f - 2));
  };
  const hits = (g: number[]) => g.filter((q, i) => q === fractions[i]).length / n;
  const masked = hits(guess((await readViews('fss', v, codes)).seen));
  t.true(masked < 0.25 + 0.05, `masked: ${masked}`);
  ONE_HOT_STEPS.fraction = false;
  try {
    t.is(hits(guess((await readViews('fss', v, codes)).seen)), 1);
  } finally {
    ONE_HOT_STEPS.fraction = true;
  }
});

test.serial('a code vocabulary that crowds one bucket keeps the comparisons, and still answers; 255 codes keep them too', async (t) => {
  const m = 300, l = bucketLayout(m), buckets = 2 ** l.bits;
  // Multiples of the bucket count all share bucket 0.
  const crowded = [...Array.from({ length: l.slots + 1 }, (_, i) => (i + 1) * buckets), ...vocabulary(m)].filter((x, i, a) => a.indexOf(x) === i).slice(0, m);
  const names = (a: tfe.ModelArtifacts) => [...configConstantsAsWeights({ modelTopology: a.modelTopology as never, weightsManifest: [] }).constants.keys()];
  t.deepEqual(names(lookup({ vocabulary: crowded, output_mode: 'one_hot' }, [1])), ['codes/vocabulary']);
  t.deepEqual(names(lookup({ vocabulary: vocabulary(255), output_mode: 'one_hot' }, [1])), ['codes/vocabulary']);
  t.deepEqual(names(lookup({ vocabulary: vocabulary(256), output_mode: 'one_hot' }, [1])), ['codes/vocabulary_table']);
  const c = new tfe.Cluster({ protocol: 'fss' });
  try {
    const model = tfe.loadLayersModel(lookup({ vocabulary: crowded, output_mode: 'one_hot' }, [1]), { cluster: c });
    const x = [crowded[0], crowded[l.slots] + 0.5, 7.25];
    const out = await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => ({ data: Float64Array.from(x), shape: [3, 1] }))));
    t.deepEqual([...out.data], lookupReference(floorAll(x), 3, crowded, null, 'one_hot', m + 1));
    t.falsy(c.transport.traffic().byOp.oneHot, 'no table read');
  } finally {
    await c.close();
  }
});

test('the memory estimate follows the form: 20 000 codes fit maxQueryBytes as a table, not as comparisons', (t) => {
  const model = (table: boolean) => {
    const topology = JSON.parse(JSON.stringify(embedded([1, 2, 3], 32, []).modelTopology));
    Object.assign(topology.config.layers[1].config, { vocabulary: null, vocabulary_size: 20001, ...(table ? { vocabulary_table: true } : {}) });
    topology.config.layers[2].config.input_dim = 20001;
    return topology;
  };
  const bytes = (table: boolean) => estimateQueryBytes({ topology: model(table), inputShape: [32], protocol: 'fss' }, 1);
  t.true(bytes(true) < 2 ** 30 && bytes(false) > 2 ** 30, `table ${bytes(true)}, comparisons ${bytes(false)}`);
  // Two buckets and two comparisons per slot: more than a string table's read of the same size.
  const strings = model(true);
  Object.assign(strings.config.layers[1], { class_name: 'StringLookup' });
  strings.config.layers[0].config.dtype = 'string';
  t.true(bytes(true) > estimateQueryBytes({ topology: strings, inputShape: [32], protocol: 'fss' }, 1), 'codes read two buckets');
});

test('over the service: 500 codes into an Embedding and 300 codes one_hot, deployed under SecureNN and FSS, answer as their codes say', async (t) => {
  const { startCluster } = await import('./helpers/service');
  const v = vocabulary(500), w = vocabulary(300), table = Array.from({ length: 501 * 3 }, () => Math.floor(Math.random() * 64 - 32) / 8);
  const c = await startCluster({ tls: false });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    for (const protocol of ['securenn', 'fss'] as const) {
      await owner.deploy(embedded(v, 2, table), { name: `emb-${protocol}`, protocol });
      await owner.deploy(lookup({ vocabulary: w, output_mode: 'one_hot' }, [1]), { name: `hot-${protocol}`, protocol });
    }
    const client = await c.connect();
    for (const protocol of ['securenn', 'fss'] as const) {
      const x = codesFor(v, null, 4), y = codesFor(w, null, 3);
      const e = await client.predict(`emb-${protocol}`, { data: x, shape: [2, 2] });
      t.deepEqual(Array.from(e.outputs), x.flatMap((code) => [0, 1, 2].map((d) => table[(v.indexOf(Math.floor(code)) + 1) * 3 + d])), `${protocol}: the Embedding's rows`);
      const h = await client.predict(`hot-${protocol}`, { data: y, shape: [3, 1] });
      t.deepEqual(Array.from(h.outputs), lookupReference(floorAll(y), 3, w, null, 'one_hot', 301), `${protocol}: one_hot`);
    }
    await Promise.all([owner.close(), client.close()]);
  } finally {
    await c.stop();
  }
});
