// A large vocabulary's private read (lib/api/table_read.ts): one-hot rows from one opening of a
// uniform distance (lib/protocol/shared_one_hot.ts), the owner's bucket table (lib/api/
// bucket_table.ts) read at a token's bucket, and the token's column. Checked against the columns
// the vocabulary's own words give (not the table), under every protocol that runs it, and each
// server's whole view for two secrets with the distance's mask removed as the control; then an
// attack on server1's recorded messages. Serial: the switches are process-wide.
import test from 'ava';

import * as tfe from '../lib';
import { bucketLayout, buildBucketTable, tableEntries, tableShape } from '../lib/api/bucket_table';
import { stringId } from '../lib/api/string_ids';
import { columnOneHot, tableColumns, tableRows } from '../lib/api/table_read';
import { readsOneLevel, ROUND_VALUES } from '../lib/api/row_blocks';
import { ONE_HOT_STEPS } from '../lib/protocol/shared_one_hot';
import { dpfKeyWords } from '../lib/ops/fss';
import { newCluster, priv } from './helpers/suites/harness';
import { recordTensors, type Seen } from './helpers/view_stats';
import { viewsAgreeAndControlFails } from './helpers/one_hot_views';

const word = () => Math.random().toString(36).slice(2, 2 + 3 + Math.floor(Math.random() * 6));

/** m distinct random words, a mask token '' at column 0, OOV at 1, the words from 2. */
function vocabulary(m: number): { words: string[]; ids: number[]; columns: number[] } {
  const words = [...new Set(Array.from({ length: 3 * m }, word))].slice(0, m);
  return { words, ids: [stringId(''), ...words.map(stringId)], columns: [0, ...words.map((_, j) => j + 2)] };
}

test('bucket layouts: buckets at least the ids, slots for a 2^-20 overflow, tables that hold every entry and read back', (t) => {
  for (const m of [255, 1000, 20000, 100000]) {
    const l = bucketLayout(m + 1);
    t.true(2 ** l.bits >= m + 1 && 2 ** (l.bits - 1) < Math.max(m + 1, 4), `${m}: ${l.bits} bits`);
    t.true(l.slots >= 6 && l.slots <= 16, `${m}: ${l.slots} slots`);
    t.is(l.hiBits + l.loBits, l.bits);
    const v = vocabulary(Math.min(m, 3000));
    const table = buildBucketTable(v.ids, v.columns, 1, l)!;
    t.is(table.length, tableShape(l)[0] * tableShape(l)[1]);
    const back = new Map(tableEntries(table).map((e) => [e.id, e.column]));
    t.deepEqual(v.ids.map((id) => back.get(id)), v.columns);
  }
  // Overflow: more ids in one bucket than it has slots.
  const l = bucketLayout(300);
  t.is(buildBucketTable(Array.from({ length: l.slots + 1 }, (_, i) => i * 2 ** l.bits), Array.from({ length: l.slots + 1 }, (_, i) => i + 2), 1, l), null);
});

for (const protocol of ['securenn', 'fss'] as const)
  test.serial(`${protocol}: tokens' columns from the bucket table equal the vocabulary's own, one-hot, edges included`, async (t) => {
    const m = 700, v = vocabulary(m), l = bucketLayout(v.ids.length);
    const table = buildBucketTable(v.ids, v.columns, 1, l)!;
    const tokens = [...Array.from({ length: 40 }, () => v.words[Math.floor(Math.random() * m)]), ...Array.from({ length: 12 }, () => `zz${word()}`), '', v.words[0], v.words[m - 1]];
    const want = tokens.map((s) => (s === '' ? 0 : v.words.indexOf(s) >= 0 ? v.words.indexOf(s) + 2 : 1));
    const c = newCluster(protocol);
    try {
      const ids = priv(c, tokens.map(stringId), [tokens.length]);
      const tab = priv(c, table, tableShape(l), 'model-owner');
      const col = tableColumns(ids, tab, l, 1) as tfe.PrivateTensor;
      const hot = columnOneHot(col, m + 2);
      const [cols, rows] = await Promise.all([tfe.defineOutput('output-receiver', col), tfe.defineOutput('output-receiver', hot)]);
      t.deepEqual([...cols.data], want);
      t.deepEqual(rows.shape, [tokens.length, m + 2]);
      t.deepEqual([...rows.data], want.flatMap((w) => Array.from({ length: m + 2 }, (_, j) => (j === w ? 1 : 0))));
    } finally {
      await c.close();
    }
  });

/** One columnOneHot of x under `protocol`, recorded. */
async function oneHotViews(protocol: tfe.ProtocolName, x: number[], width: number): Promise<{ seen: Seen[]; out: Float64Array }> {
  const c = newCluster(protocol);
  try {
    const seen = recordTensors(c);
    const out = await tfe.defineOutput('output-receiver', columnOneHot(priv(c, x, [x.length]), width));
    return { seen, out: out.data };
  } finally {
    await c.close();
  }
}

const n = 3000, width = 16;
const same = new Array(n).fill(5);
const spread = Array.from({ length: n }, () => Math.floor(Math.random() * width));

for (const protocol of ['pond', 'securenn', 'fss'] as const)
  test.serial(`${protocol}: a one-hot row of a private number, exact, and every server's view the same for two secrets; control: the distance unmasked is flagged`, async (t) => {
    const [a, b] = await viewsAgreeAndControlFails(t, async () => [await oneHotViews(protocol, same, width), await oneHotViews(protocol, spread, width)]);
    t.deepEqual([...b.out], spread.flatMap((w) => Array.from({ length: width }, (_, j) => (j === w ? 1 : 0))));
    t.deepEqual(a.seen.filter((s) => s.to === 'server2').map((s) => s.key), [], 'server2 receives nothing');
  });

test.serial('attack: server1 guesses each number from what it received (the opening and its dealt rows); at chance with the mask, always right without', async (t) => {
  const guess = (seen: Seen[]) => {
    // The two openings' sum is d 2^(64 - k); server1's dealt one-hot share and its share of r are
    // uniform without s02. Its best guess from d alone is d itself.
    const open = seen.filter((s) => s.key.includes('onehot.open'));
    const words = (s: Seen) => new BigUint64Array(s.data.buffer, s.data.byteOffset, s.data.byteLength / 8);
    const [m0, m1] = open.map(words);
    return Array.from(m0, (v, i) => Number(((v + m1[i]) & ((1n << 64n) - 1n)) >> BigInt(64 - Math.log2(width))));
  };
  const hits = (g: number[]) => g.filter((v, i) => v === spread[i]).length / n;
  const masked = hits(guess((await oneHotViews('fss', spread, width)).seen));
  t.true(masked < 1 / width + 0.05, `masked: ${masked}`);
  ONE_HOT_STEPS.mask = false;
  try {
    t.is(hits(guess((await oneHotViews('fss', spread, width)).seen)), 1);
  } finally {
    ONE_HOT_STEPS.mask = true;
  }
});

/** Texts ([batch, 1] strings) through a TextVectorization of `config`, its output the model's. */
function textModel(config: Record<string, unknown>): tfe.ModelArtifacts {
  const tv = { name: 'tv', max_tokens: null, standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null, output_sequence_length: null, pad_to_max_tokens: false, sparse: false, ragged: false, idf_weights: null, encoding: 'utf-8', ...config };
  const input = { name: 'text', batch_shape: [null, 1], dtype: 'string' };
  const ref = { class_name: '__keras_tensor__', config: { shape: [null, 1], dtype: 'string', keras_history: ['text', 0, 0] } };
  const layers = [
    { module: 'keras.layers', class_name: 'InputLayer', name: 'text', config: input, inbound_nodes: [] },
    { module: 'keras.layers', class_name: 'TextVectorization', name: 'tv', config: tv, inbound_nodes: [{ args: [ref], kwargs: {} }] },
  ];
  return { modelTopology: { class_name: 'Functional', keras_version: '3.15.1', config: { name: 'm', layers, input_layers: [['text', 0, 0]], output_layers: [['tv', 0, 0]] } }, weightSpecs: [], weightData: new ArrayBuffer(0) } as unknown as tfe.ModelArtifacts;
}

for (const protocol of ['securenn', 'fss'] as const)
  test.serial(`${protocol}: a TextVectorization of 600 words reads its vocabulary as a bucket table; multi_hot and count of fresh random texts as the words they were written from`, async (t) => {
    const m = 600, v = vocabulary(m), bound = 10;
    const c = new tfe.Cluster({ protocol });
    try {
      for (const mode of ['multi_hot', 'count'] as const) {
        const texts: string[] = [], want: number[][] = [];
        for (let r = 0; r < 4; r++) {
          const words = Array.from({ length: r === 0 ? 0 : 1 + Math.floor(Math.random() * bound) }, () => (Math.random() < 0.8 ? v.words[Math.floor(Math.random() * (r === 3 ? 3 : m))] : `zz${word()}`));
          if (mode === 'multi_hot' && new Set(words).size > bound) continue;
          texts.push(words.join('  '));
          const row = new Array(m + 1).fill(0);
          for (const w of words) row[v.words.indexOf(w) + 1] += 1;
          want.push(row.map((k) => (mode === 'multi_hot' ? Math.min(k, 1) : k)));
        }
        const model = tfe.loadLayersModel(textModel({ output_mode: mode, vocabulary: v.words }), { cluster: c, inputShapes: [bound] });
        const before = c.transport.traffic().byOp.equalZero?.bytes ?? 0;
        const out = await tfe.defineOutput('prediction-client', model.predict(model.defineInput('prediction-client', () => texts.map((x) => [x]) as never)));
        t.deepEqual(out.shape, [texts.length, m + 1]);
        t.truthy(c.transport.traffic().byOp.oneHot, 'the table read ran');
        // multi_hot's min(count, 1): under FSS one equality test per column (its DPF gate), no relu.
        if (mode === 'multi_hot') t.is(!!c.transport.traffic().byOp.relu, protocol === 'securenn', 'relus only where there is no equality gate');
        // Tests per slot (13 here), not per entry (600): 500 KB a token is 170 SecureNN equality tests.
        const tested = (c.transport.traffic().byOp.equalZero?.bytes ?? 0) - before;
        t.true(tested > 0 && tested < texts.length * bound * 500e3, `${tested} bytes of equality tests`);
        t.deepEqual(Array.from({ length: texts.length }, (_, b) => Array.from(out.data.slice(b * (m + 1), (b + 1) * (m + 1)))), want, mode);
      }
    } finally {
      await c.close();
    }
  });

test.serial('one-hot rows\' traffic: under FSS a DPF key per row (2 bits + 3 words), elsewhere the row itself; then r\'s correction and one opening each way', async (t) => {
  const n = 50, bits = 10;
  for (const protocol of ['pond', 'securenn', 'fss'] as const) {
    const c = newCluster(protocol);
    try {
      const x = priv(c, Array.from({ length: n }, (_, i) => (i * 37) % 1000), [n]);
      const out = await tfe.defineOutput('output-receiver', columnOneHot(x, 1000));
      t.deepEqual([...out.data], Array.from({ length: n }, (_, i) => Array.from({ length: 1000 }, (_, j) => (j === (i * 37) % 1000 ? 1 : 0))).flat());
      const rows = protocol === 'fss' ? 2 * 8 * dpfKeyWords(bits) : 8 * 2 ** bits;
      t.is(c.transport.traffic().byOp.oneHot.bytes, n * (rows + 8 + 16), protocol);
    } finally {
      await c.close();
    }
  }
});

test('readsOneLevel: few rows in one level (a round fewer), many in two, by the values each opens', (t) => {
  t.true(readsOneLevel(1, 7, 6, 27), 'one value of a 2^13-bucket table');
  t.true(readsOneLevel(1, 7, 6, 27, true));
  t.false(readsOneLevel(3, 7, 6, 27, true));
  t.false(readsOneLevel(64, 7, 6, 27), 'a text of 64 tokens');
  t.true(readsOneLevel(500, 9, 0, 3), 'no blocks: one level anyway');
  // The threshold: one level's values dealt and opened, n 2^k twice, against two levels' n (3 2^hi + 2 2^lo + 2 2^lo (1 + w)) + ROUND_VALUES.
  for (const n of [1, 2, 3, 8, 30, 100]) {
    const one = 2 * n * 2 ** 13, two = n * (3 * 2 ** 7 + 2 * 2 ** 6 + 2 * 2 ** 6 * 28);
    t.is(readsOneLevel(n, 7, 6, 27), one <= two + ROUND_VALUES, `n = ${n}`);
  }
});

for (const protocol of ['pond', 'securenn', 'fss'] as const)
  test.serial(`${protocol}: tableRows in one level and in two read the rows of a random table, pairs with fractions too, with one product fewer in one level`, async (t) => {
    const hi = 5, lo = 3, w = 4, R = 2 ** (hi + lo);
    const table = Array.from({ length: R * w }, () => Math.floor(Math.random() * 2000 - 1000) / 4);
    const row = (i: number) => table.slice(((i % R) + R) % R * w, (((i % R) + R) % R + 1) * w);
    for (const n of [2, 2000]) {
      const oneLevel = readsOneLevel(n, hi, lo, w);
      t.is(oneLevel, n === 2, `n = ${n}`);
      const c = newCluster(protocol);
      try {
        const tab = priv(c, table, [2 ** hi, 2 ** lo * w], 'model-owner');
        const xs = Array.from({ length: n }, (_, i) => (i < 2 ? [0, R - 1][i] : Math.floor(Math.random() * R)));
        const before = c.transport.traffic().byOp;
        const got = await tfe.defineOutput('output-receiver', tableRows(priv(c, xs, [n]), tab, hi, lo, w));
        t.deepEqual([...got.data], xs.flatMap(row), `n = ${n}`);
        const products = Object.keys(c.transport.traffic().byOp).filter((k) => /atmul/.test(k) && !before[k]);
        t.deepEqual(products.sort(), oneLevel ? ['rowsMatmul'] : ['matmul'], `n = ${n}: ${products}`);
        const ops = (k: string) => c.transport.traffic().byOp[k]?.rounds ?? 0;
        // Fractions: rows floor(x) - c and the one after, one of them floor(x)'s.
        const fx = xs.map((x) => x + Math.floor(Math.random() * 4) / 4);
        const before2 = ops('rowsMatmul') + ops('matmul');
        const pairs = await tfe.defineOutput('output-receiver', tableRows(priv(c, fx, [n]), tab, hi, lo, w, true));
        t.true(ops('rowsMatmul') + ops('matmul') > before2);
        for (let i = 0; i < n; i++) {
          const a = [...pairs.data.slice(i * 2 * w, i * 2 * w + w)], b = [...pairs.data.slice(i * 2 * w + w, i * 2 * w + 2 * w)], f = Math.floor(fx[i]);
          const ok = (JSON.stringify(a) === JSON.stringify(row(f)) && JSON.stringify(b) === JSON.stringify(row(f + 1))) || (JSON.stringify(a) === JSON.stringify(row(f - 1)) && JSON.stringify(b) === JSON.stringify(row(f)));
          if (!ok) t.fail(`n = ${n}, x = ${fx[i]}: rows ${a} and ${b}`);
        }
      } finally {
        await c.close();
      }
    }
    t.pass();
  });
