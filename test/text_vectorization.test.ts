// Keras's TextVectorization (lib/api/layers_text.ts, text_tokens.ts, the lookup of
// layers_lookup.ts), beyond its Keras 3 models' predictions (test/keras3_saved_models.test.ts on
// keras3_more_layer_models.json, tv*): the token ids of texts that probe the split (ASCII-only
// lowercasing, every punctuation mark, ASCII against Unicode whitespace, emoji, empty texts) under
// every standardize and split, n-grams, truncation and padding, against TensorFlow's own
// (text_reference.json, made by its .py beside it); fresh random texts under both exact protocols
// against the tokens they were written from; what the servers see; refusals by name; the memory
// estimate; a review classifier over the service, tfe predict reading texts from JSON, tfe verify
// refusing a text model by name.
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
import { textTokens } from '../lib/api/text_tokens';
import { estimateQueryBytes } from '../lib/serve/limits';
import { dpfKeyWords } from '../lib/ops/fss';
import { tfeCli } from '../lib/serve/local_cluster';
import { writeArtifacts } from './helpers/attention_models';
import { answersAsKeras, FIXTURES, fromFixture } from './helpers/more_layer_models';
import { startCluster } from './helpers/service';

type Case = { standardize: string | null; split: string | null; ngrams: number | number[] | null; length: number; ids: number[][]; vocabulary: string[] };
const REF: { texts: string[]; vocabulary: string[]; cases: Case[] } = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', 'text_reference.json'), 'utf8'));

/**
 * Texts ([batch, 1] strings) through a TextVectorization of `config`, its ids one-hot through a
 * CategoryEncoding over `v` (an int output is read as ids only): the ids decoded from the one-hot.
 */
function textModel(config: Record<string, unknown>, v: number, inputShape: number[] = [1]): tfe.ModelArtifacts {
  const ref = (n: string, dtype = 'string') => ({ class_name: '__keras_tensor__', config: { shape: [null, ...inputShape], dtype, keras_history: [n, 0, 0] } });
  const layers = [
    { module: 'keras.layers', class_name: 'InputLayer', name: 'text', config: { name: 'text', batch_shape: [null, ...inputShape], dtype: 'string' }, inbound_nodes: [] },
    { module: 'keras.layers', class_name: 'TextVectorization', name: 'tv', config: { name: 'tv', max_tokens: null, standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null, output_mode: 'int', pad_to_max_tokens: false, sparse: false, ragged: false, idf_weights: null, encoding: 'utf-8', ...config }, inbound_nodes: [{ args: [ref('text')], kwargs: {} }] },
    { module: 'keras.layers', class_name: 'CategoryEncoding', name: 'ids', config: { name: 'ids', num_tokens: v, output_mode: 'one_hot' }, inbound_nodes: [{ args: [ref('tv', 'int64')], kwargs: {} }] },
  ];
  return { modelTopology: { class_name: 'Functional', keras_version: '3.15.1', config: { name: 'm', layers, input_layers: [['text', 0, 0]], output_layers: [['ids', 0, 0]] } }, weightSpecs: [], weightData: new ArrayBuffer(0) } as unknown as tfe.ModelArtifacts;
}

/** The ids of a one-hot [batch, length, v] (each row one 1). */
function decode(out: { data: ArrayLike<number>; shape: number[] }): number[][] {
  // (One token per text: CategoryEncoding's one_hot of [batch, 1] ids is [batch, v].)
  const [batch, length, v] = out.shape.length === 2 ? [out.shape[0], 1, out.shape[1]] : out.shape;
  return Array.from({ length: batch }, (_, b) => Array.from({ length }, (_, k) => {
    const row = Array.from(out.data).slice((b * length + k) * v, (b * length + k + 1) * v);
    return row.findIndex((x) => Math.abs(x - 1) < 1e-9);
  }));
}

const caseConfig = (c: Case) => ({ standardize: c.standardize, split: c.split, ngrams: c.ngrams, output_sequence_length: c.length, vocabulary: c.vocabulary });

test("the split and lookup give TensorFlow's ids on texts that probe them, under every standardize and split, with n-grams, truncated and padded (plaintext)", (t) => {
  for (const c of REF.cases) {
    const m = tfe.loadPlainModel(textModel(caseConfig(c), c.vocabulary.length));
    const got = decode(m.forward(REF.texts.map((x) => [x]) as never));
    REF.texts.forEach((x, i) => t.deepEqual(got[i], c.ids[i], `${JSON.stringify(x).slice(0, 40)} under ${c.standardize} / ${c.split} / ngrams ${JSON.stringify(c.ngrams)} / ${c.length}`));
  }
});

for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: TensorFlow's ids privately (words, characters, bigrams), and fresh random texts as the tokens they were written from`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    try {
      for (const k of [0, 4, 8]) {
        const ref = REF.cases[k];
        const m = tfe.loadLayersModel(textModel(caseConfig(ref), ref.vocabulary.length), { cluster: c });
        const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => REF.texts.slice(0, 6).map((x) => [x]) as never)));
        t.deepEqual(decode(out), ref.ids.slice(0, 6), `case ${k}`);
      }
      // Random texts: vocabulary words and others (non-ASCII among them), upper-cased at random
      // (ASCII letters only: TensorFlow lowercases no other), punctuation inside and around them,
      // runs of ASCII whitespace between: their tokens are the words, in order.
      const letters = 'abcdefghijklmnopqrstuvwxyzéß日🙂'.split(/(?:)/u);
      const word = () => Array.from({ length: randomInt(1, 6) }, () => letters[randomInt(letters.length)]).join('');
      const vocab = [...new Set(Array.from({ length: 12 }, word))];
      const punct = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
      const dress = (w: string) => [...w].map((ch) => (/[a-z]/.test(ch) && randomInt(2) ? ch.toUpperCase() : ch) + (randomInt(5) === 0 ? punct[randomInt(punct.length)] : '')).join('');
      const space = () => Array.from({ length: randomInt(1, 4) }, () => ' \t\n\v\f\r'[randomInt(6)]).join('');
      const length = 7, texts: string[] = [], want: number[][] = [];
      for (let r = 0; r < 5; r++) {
        const words = Array.from({ length: randomInt(0, 10) }, () => (randomInt(4) ? vocab[randomInt(vocab.length)] : word()));
        texts.push(space() + words.map(dress).join(space()) + (randomInt(2) ? space() : ''));
        const ids = words.slice(0, length).map((w) => (vocab.includes(w) ? vocab.indexOf(w) + 2 : 1));
        want.push([...ids, ...Array(length - ids.length).fill(0)]);
      }
      const m = tfe.loadLayersModel(textModel({ output_sequence_length: length, vocabulary: vocab }, vocab.length + 2), { cluster: c });
      const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => texts as never)));
      texts.forEach((x, i) => t.deepEqual(decode(out)[i], want[i], `${JSON.stringify(x)}, vocabulary ${JSON.stringify(vocab)}`));
    } finally {
      await c.close();
    }
  });

test('what the servers see: the vocabulary as private weights (no token in the topology), and each text as its tokens\' ids, [batch, output_sequence_length]', (t) => {
  const { json, weights } = readLayersModel(textModel({ output_sequence_length: 5, vocabulary: ['', '[UNK]', 'secret', 'words'] }, 4));
  const sent = JSON.stringify(json.modelTopology);
  t.false(sent.includes('secret') || sent.includes('words'));
  const hi = Array.from(weights.get('tv/vocabulary_hi')!.data), lo = Array.from(weights.get('tv/vocabulary_lo')!.data);
  t.deepEqual(hi.map((h, j) => h * 2 ** 23 + lo[j]), ['secret', 'words'].map(stringId));
  const m = tfe.loadPlainModel(textModel({ output_sequence_length: 5, vocabulary: ['secret', 'words'] }, 4));
  t.deepEqual(m.spec.inputs.map((i) => [i.inputShape, i.strings, i.text]), [[[5], true, { standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null, length: 5 }]]);
  // What a client shares: the ids of the first five tokens, padded with the mask token's.
  t.deepEqual(textTokens('Secret, WORDS!  and more than five words', m.spec.inputs[0].text!), ['secret', 'words', 'and', 'more', 'than']);
  t.deepEqual(textTokens('', m.spec.inputs[0].text!), ['', '', '', '', '']);
});

test('TextVectorization: what it does not do, inputs it cannot split, and texts in other forms, refused by name', (t) => {
  const refused = (config: Record<string, unknown>, message: RegExp, shape?: number[]) => t.throws(() => tfe.loadPlainModel(textModel({ output_sequence_length: 4, vocabulary: ['a'], ...config }, 3, shape)), { message });
  // (The bag-of-words modes: test/text_bag_of_words.test.ts.)
  refused({ output_sequence_length: null }, /\(TextVectorization\): has no output_sequence_length: the servers size each text by it/);
  refused({ standardize: 'my_standardize' }, /\(TextVectorization\): standardize = "my_standardize" is not supported/);
  refused({ split: 'my_split' }, /\(TextVectorization\): split = "my_split" is not supported/);
  refused({ ngrams: 0 }, /\(TextVectorization\): ngrams = 0 is not supported/);
  refused({ ragged: true }, /\(TextVectorization\): ragged = true is not supported/);
  refused({ sparse: true }, /\(TextVectorization\): sparse = true is not supported: only dense outputs/);
  refused({ idf_weights: [1] }, /\(TextVectorization\): idf_weights given with output_mode "int": Keras reads them under tf_idf only/);
  refused({ output_sequence_length: 5000 }, /\(TextVectorization\): output_sequence_length = 5000 is not supported/);
  refused({}, /\(TextVectorization\): reads input 'text' of shape \[batch, 2\]: a TextVectorization takes one text per example/, [2]);
  const m = tfe.loadPlainModel(textModel({ output_sequence_length: 4, vocabulary: ['a'] }, 3));
  t.throws(() => m.forward([[3]] as never), { message: /this input takes texts \(it is read by a TextVectorization layer\), got number at index \[0\]/ });
  t.throws(() => m.forward([['a', 'b']] as never), { message: /got an array at index \[0\]/ });
  t.throws(() => m.forward('a b' as never), { message: /a bare string; give a batch of texts/ });
  t.is(decode(m.forward(['a b a', 'A'] as never)).join(' '), '2,1,2,0 2,0,0,0', '[batch] texts as [batch, 1]');
});

test("the per-query memory estimate counts a TextVectorization's equality tests: under FSS a DPF key per token and vocabulary entry", (t) => {
  const est = (size: number, length: number) =>
    estimateQueryBytes({ topology: (textModel({ vocabulary: null, vocabulary_size: size, output_sequence_length: length }, size + 1) as unknown as { modelTopology: object }).modelTopology as never, protocol: 'fss', inputShape: [length] }, 1);
  const key = 8 * dpfKeyWords(64);
  t.true(est(200, 16) - est(2, 16) >= key * 16 * 198, `${est(200, 16)} vs ${est(2, 16)}`);
  t.true(est(200, 64) > est(200, 16) && est(2000, 64) - est(2, 64) >= key * 64 * 1998, `by the tokens per text: ${est(200, 64)} vs ${est(200, 16)}; ${est(2000, 64)}`);
});

test('over the service: a review classifier on raw texts answers as Keras; the model list gives the split a client applies', async (t) => {
  await answersAsKeras(t, FIXTURES.tv1_review_classifier, 'reviews', 'fss');
  const c = await startCluster({ tls: false });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    await owner.deploy(fromFixture(FIXTURES.tv2_bigrams_and_characters) as never, { name: 'bigrams' });
    const listed = (await owner.models()).find((m) => m.name === 'bigrams')!;
    t.deepEqual(listed.inputs?.map((i) => [i.name, i.inputShape, i.strings, i.text]), [
      ['review', [8], true, { standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: [1, 2], length: 8 }],
      ['review_chars', [12], true, { standardize: 'lower', split: 'character', ngrams: null, length: 12 }],
    ]);
    const client = await c.connect();
    const texts = ['great movie', 'not good, not great', 'zzz', 'Acting: GOOD. Movie: great.'];
    const p = await client.predict('bigrams', { review: texts, review_chars: texts.map((x) => [x]) });
    const want = FIXTURES.tv2_bigrams_and_characters.y;
    t.true(want.every((v, i) => Math.abs(p.outputs[i] - v) < 2e-3), `${[...p.outputs]} vs Keras ${want}`);
    await t.throwsAsync(() => client.predict('bigrams', { review: [[1]], review_chars: [['a']] } as never), { message: /input 'review': this input takes texts/ });
    await Promise.all([owner.close(), client.close()]);
    // tfe predict reads the texts from JSON as they are; tfe verify, which reads numbers, refuses the model by name.
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-texts-')), 'in.json');
    fs.writeFileSync(file, JSON.stringify({ review: texts, review_chars: texts }));
    const run = (...args: string[]) => promisify(execFile)(process.execPath, [tfeCli(), ...args]);
    const got = (await run('predict', '--model', 'bigrams', '--input', file, '--config', c.config, '--json')).stdout.trim().split('\n').flatMap((l) => (JSON.parse(l) as { outputs: number[] }).outputs);
    t.true(want.every((v, i) => Math.abs(got[i] - v) < 2e-3), `tfe predict: ${got} vs Keras ${want}`);
    await t.throwsAsync(run('verify', '--model', writeArtifacts(fromFixture(FIXTURES.tv2_bigrams_and_characters)), '--input', file), { message: /takes strings \(input 'review', 'review_chars', read by StringLookup, Hashing or TextVectorization\), which tfe verify does not read/ });
  } finally {
    await c.stop();
  }
});
