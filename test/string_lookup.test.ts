// Keras's StringLookup (lib/api/layers_lookup.ts on strings' ids, lib/api/string_ids.ts), beyond
// its Keras 3 models' predictions (test/keras3_saved_models.test.ts on keras3_more_layer_models.json,
// sl*): fresh random vocabularies of strings (non-ASCII among them) and inputs (the entries, near
// misses, the mask token) against a lookup written here, every output mode, under both exact
// protocols; neither the vocabulary nor the inputs reach the servers as strings; a string input
// read by anything else, numbers for strings and strings for numbers, refused by name; a model
// with a string input over the service and its model list.
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { stringId } from '../lib/api/string_ids';
import { estimateQueryBytes } from '../lib/serve/limits';
import { dpfKeyWords } from '../lib/ops/fss';
import { tfeCli } from '../lib/serve/local_cluster';
import { answersAsKeras, FIXTURES, fromFixture } from './helpers/more_layer_models';
import { oneLayerModel } from './helpers/one_layer_model';
import { LOOKUP_CASES, lookupReference } from './helpers/lookup_reference';
import { startCluster } from './helpers/service';

const lookup = (config: Record<string, unknown>, shape: number[]) =>
  oneLayerModel('StringLookup', { invert: false, max_tokens: null, num_oov_indices: 1, oov_token: '[UNK]', mask_token: null, output_mode: 'int', sparse: false, pad_to_max_tokens: false, idf_weights: null, encoding: 'utf-8', ...config }, shape, { name: 'words', dtype: 'string' });

const ALPHABET = ['a', 'b', 'Z', ' ', 'é', 'ß', '日', '本', '🙂', '-', '0'];
const word = () => Array.from({ length: randomInt(1, 6) }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');

/**
 * A string outside the vocabulary whose id has the low 16 bits of `of`'s: a comparison of ids at
 * 32 bits (fssBits 32, 16 fractional bits) would take it for `of` (the control of the width).
 */
function lowBitsTwin(of: string): string {
  const want = stringId(of) % 2 ** 16;
  for (let i = 0; ; i++) if (stringId(`twin${i}`) % 2 ** 16 === want && stringId(`twin${i}`) !== stringId(of)) return `twin${i}`;
}

/** m distinct random strings, none of them the OOV token or the mask token ''. */
function vocabulary(m: number): string[] {
  const v = new Set<string>();
  while (v.size < m) v.add(word());
  return [...v];
}

// FSS with fssBits 32 too: ids are the library's values (hashes up to 2^46), which an owner's
// narrower width must not cut (they compare at the width their structure gives).
for (const [protocol, fssBits] of [['securenn'], ['fss'], ['fss', 32]] as const)
  test(`${protocol}${fssBits ? ` (fssBits ${fssBits})` : ''}: every output mode on fresh random vocabularies of strings and inputs (the entries, a character more or less, another case, the mask token, an id equal in its low 16 bits), as Keras's lookup`, async (t) => {
    const c = new tfe.Cluster({ protocol, ...(fssBits ? { fssBits } : {}) });
    try {
      for (const [mode, shape, masked, padTo] of LOOKUP_CASES) {
        const v = vocabulary(randomInt(1, 7)), mask = masked ? '' : null;
        const pool = [...v, lowBitsTwin(v[0]), ...v.map((x) => `${x}a`), ...v.map((x) => x.slice(1)), ...v.map((x) => x.toUpperCase()), '', '[UNK]', 'x'];
        const rows = 6, xs = Array.from({ length: rows * shape.reduce((p, q) => p * q, 1) }, (_, i) => (i < pool.length ? pool[i] : pool[randomInt(pool.length)]));
        const config = { vocabulary: v, mask_token: mask, output_mode: mode, ...(padTo ? { pad_to_max_tokens: true, max_tokens: padTo } : {}) };
        const m = tfe.loadLayersModel(lookup(config, shape), { cluster: c });
        const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: xs, shape: [rows, ...shape] }) as never)));
        const want = lookupReference(xs, rows, v, mask, mode, padTo ?? v.length + 1);
        t.is(out.data.length, want.length, `${mode} [${shape}]`);
        const bad = want.findIndex((w, i) => Math.abs(out.data[i] - w) > 1e-9);
        t.is(bad, -1, `${mode} [${shape}], vocabulary ${JSON.stringify(v)}, mask ${JSON.stringify(mask)}: at ${bad} got ${out.data[bad]}, the lookup gives ${want[bad]}`);
      }
    } finally {
      await c.close();
    }
  });

test('a string is sent as its id, a whole number below 2^46 (FNV-1a 64 over its UTF-8 bytes, low 46 bits); the same string, the same id', (t) => {
  // FNV-1a 64's published test values (the empty string: the offset basis; "a"; "foobar"), low 46 bits.
  const low46 = (h: bigint) => Number(h & ((1n << 46n) - 1n));
  t.is(stringId(''), low46(0xcbf29ce484222325n));
  t.is(stringId('a'), low46(0xaf63dc4c8601ec8cn));
  t.is(stringId('foobar'), low46(0x85944171f73967e8n));
  // UTF-8, not UTF-16: 'é' is the two bytes c3 a9.
  let h = 0xcbf29ce484222325n;
  for (const b of [0xc3, 0xa9]) h = ((h ^ BigInt(b)) * 0x100000001b3n) & ((1n << 64n) - 1n);
  t.is(stringId('é'), low46(h));
  const ids = new Set(Array.from({ length: 2000 }, (_, i) => stringId(`w${i}`)));
  t.is(ids.size, 2000);
  t.true([...ids].every((x) => Number.isSafeInteger(x) && x >= 0 && x < 2 ** 46));
});

test('the vocabulary becomes private weights (ids as two halves; get_vocabulary()\'s leading special tokens dropped, the mask\'s in int mode only, as Keras does): no string reaches the topology a deploy sends', (t) => {
  // get_vocabulary() of a one_hot lookup with a mask token: OOV's first; the mask's too is Keras's refusal.
  const a = lookup({ vocabulary: ['[UNK]', 'fixed', 'normal', 'reversible'], mask_token: '', output_mode: 'one_hot' }, [1]);
  t.throws(() => readLayersModel(lookup({ vocabulary: ['', '[UNK]', 'fixed'], mask_token: '', output_mode: 'one_hot' }, [1])), { message: /vocabulary holds the mask token "" other than at its start: Keras refuses it/ });
  const { json, weights } = readLayersModel(a);
  const sent = JSON.stringify(json.modelTopology);
  for (const v of ['fixed', 'normal', 'reversible']) t.false(sent.includes(v), `${v} is in the topology`);
  const config = (json.modelTopology as unknown as { config: { layers: { config: Record<string, unknown> }[] } }).config.layers[1].config;
  t.is(config.vocabulary, null);
  t.is(config.vocabulary_size, 4);
  const hi = Array.from(weights.get('words/vocabulary_hi')!.data), lo = Array.from(weights.get('words/vocabulary_lo')!.data);
  t.deepEqual(hi.map((h, j) => h * 2 ** 23 + lo[j]), ['fixed', 'normal', 'reversible'].map(stringId));
  t.true([...hi, ...lo].every((x) => x >= 0 && x < 2 ** 23), 'each half is exact in a float32 weight');
});

test('StringLookup: what Keras refuses or the layer does not do, a string input read by another layer, and numbers for strings, refused by name', async (t) => {
  const refused = (config: Record<string, unknown>, message: RegExp) => t.throws(() => tfe.loadPlainModel(lookup({ output_mode: 'one_hot', ...config }, [1])), { message });
  refused({ vocabulary: ['a', 'b', 'a'] }, /\(StringLookup\): vocabulary repeats "a": Keras refuses repeated entries/);
  refused({ vocabulary: ['a', '', 'b'], mask_token: '' }, /\(StringLookup\): vocabulary holds the mask token "" other than at its start/);
  refused({ vocabulary: ['a', 3] }, /\(StringLookup\): vocabulary = \["a",3\] is not a list of at most \d+ strings/);
  refused({ vocabulary: 'vocab.txt' }, /\(StringLookup\): vocabulary = "vocab.txt" is not a list/);
  refused({ vocabulary: ['a'], encoding: 'latin-1' }, /\(StringLookup\): encoding = "latin-1" is not supported/);
  refused({ vocabulary: ['a'], invert: true }, /\(StringLookup\): invert = true is not supported/);
  refused({ vocabulary: ['a'], output_mode: 'tf_idf' }, /\(StringLookup\): output_mode 'tf_idf' with a vocabulary needs idf_weights/);
  // A StringLookup reading numbers; a Dense reading a string input (edited topologies: Keras builds neither).
  const numbers = lookup({ vocabulary: ['a'], output_mode: 'one_hot' }, [1]) as unknown as { modelTopology: { config: { layers: { config: Record<string, unknown> }[] } } };
  numbers.modelTopology.config.layers[0].config.dtype = 'float32';
  t.throws(() => tfe.loadPlainModel(numbers as never), { message: /\(StringLookup\): reads 'in', which is not one of the model's string inputs/ });
  const dense = oneLayerModel('Dense', { units: 1 }, [2], { name: 'd', dtype: 'string', weights: [{ name: 'd/kernel', shape: [2, 1], data: [1, 1] }, { name: 'd/bias', shape: [1], data: [0] }] });
  t.throws(() => tfe.loadPlainModel(dense), { message: /\(Dense\): reads the string input 'in': only StringLookup, Hashing and TextVectorization layers may read a string input/ });
  // Numbers given for a string input, strings for a number input.
  const plain = tfe.loadPlainModel(lookup({ vocabulary: ['a', 'b'] , output_mode: 'one_hot' }, [1]));
  t.throws(() => plain.forward([[3]]), { message: /this input takes strings \(it is read by a StringLookup layer\), got the number 3 at index \[0, 0\]/ });
  t.deepEqual([...plain.forward([['b'], ['q']]).data], [0, 0, 1, 1, 0, 0]);
  const f = FIXTURES.sl1_heart_disease;
  const heart = tfe.loadPlainModel(fromFixture(f));
  t.throws(() => heart.forward({ thal: [['fixed']], sex: [['1']], age: [[50]] } as never), { message: /input 'sex': strings given, but this input takes numbers/ });
});

test('over the service: a heart-disease model with a string feature answers as Keras; the model list says which input takes strings', async (t) => {
  await answersAsKeras(t, FIXTURES.sl1_heart_disease, 'heart-strings', 'fss');
  const c = await startCluster({ tls: false });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    await owner.deploy(fromFixture(FIXTURES.sl2_words_embedding_masked) as never, { name: 'words' });
    const listed = (await owner.models()).find((m) => m.name === 'words')!;
    t.deepEqual(listed.inputs?.map((i) => i.strings), [true]);
    const client = await c.connect();
    const p = await client.predict('words', [['été', 'café', '', ''], ['日本', '🙂', 'zz', 'naïve'], ['', 'été', 'été', 'x']]);
    const want = FIXTURES.sl2_words_embedding_masked.y;
    t.true(want.every((v, i) => Math.abs(p.outputs[i] - v) < 2e-3), `${[...p.outputs]} vs Keras ${want}`);
    await t.throwsAsync(() => client.predict('words', [[1, 2, 3, 4]]), { message: /this input takes strings/ });
    await Promise.all([owner.close(), client.close()]);
    // tfe predict reads the examples' strings from JSON as they are (two queries of a batch of 2, then 1).
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-strings-')), file = path.join(dir, 'in.json');
    fs.writeFileSync(file, JSON.stringify([['été', 'café', '', ''], ['日本', '🙂', 'zz', 'naïve'], ['', 'été', 'été', 'x']]));
    const cli = (input: string) => promisify(execFile)(process.execPath, [tfeCli(), 'predict', '--model', 'words', '--input', input, '--config', c.config, '--json', '--batch', '2']);
    const lines = (await cli(file)).stdout.trim().split('\n').map((l) => JSON.parse(l) as { input: number; outputs: number[] });
    t.deepEqual(lines.map((l) => l.input), [0, 1, 2]);
    const got = lines.flatMap((l) => l.outputs);
    t.true(want.every((v, i) => Math.abs(got[i] - v) < 2e-3), `tfe predict: ${got} vs Keras ${want}`);
    fs.writeFileSync(file, JSON.stringify({ [listed.inputs![0].name]: [['a', 'b', 'c', 'd']], labels: [1, 2] }));
    await t.throwsAsync(cli(file), { message: /'labels' must be an array with one label per example \(1\)/ });
    fs.writeFileSync(file, JSON.stringify({ other: [['a', 'b', 'c', 'd']] }));
    await t.throwsAsync(cli(file), { message: /unknown input 'other'/ });
  } finally {
    await c.stop();
  }
});

test("the per-query memory estimate counts a StringLookup's equality tests: under FSS a DPF key per value and vocabulary entry", (t) => {
  const topo = (size: number) => ({ class_name: 'Sequential', config: { layers: [{ class_name: 'StringLookup', config: { name: 'd', batch_input_shape: [null, 64], dtype: 'string', vocabulary: null, vocabulary_size: size, output_mode: 'multi_hot' } }] } });
  const est = (size: number) => estimateQueryBytes({ topology: topo(size) as never, protocol: 'fss', inputShape: [64] }, 1);
  t.true(est(200) - est(2) >= 8 * dpfKeyWords(64) * 64 * 198, `${est(200)} vs ${est(2)}`);
});

