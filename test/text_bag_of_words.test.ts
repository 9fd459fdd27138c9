// TextVectorization's bag-of-words modes (multi_hot, count, tf_idf: lib/api/layers_text.ts,
// text_tokens.ts) and the lookups' tf_idf (layers_lookup.ts), beyond the Keras 3 models'
// predictions (test/keras3_saved_models.test.ts on keras3_more_layer_models.json, tv4-tv8): fresh
// random texts under both exact protocols against the counts of the words they were written from;
// a text's tokens bound (its owner refuses more, never cuts), raised where the model is read
// (inputShapes); what the servers see; refusals by name; the memory estimate; over the service.
import { execFile } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';

import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { DEFAULT_BAG_TOKENS, textTokens } from '../lib/api/text_tokens';
import { estimateQueryBytes } from '../lib/serve/limits';
import { dpfKeyWords } from '../lib/ops/fss';
import { tfeCli } from '../lib/serve/local_cluster';
import { startCluster } from './helpers/service';

type Config = Record<string, unknown>;

/** Texts ([batch, 1] strings) through a TextVectorization of `config`, its output the model's (or through a Sequential). */
function bagModel(config: Config, opts: { inputShape?: number[]; sequential?: boolean } = {}): tfe.ModelArtifacts {
  const inputShape = opts.inputShape ?? [1];
  const tv = { name: 'tv', max_tokens: null, standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null, output_mode: 'multi_hot', output_sequence_length: null, pad_to_max_tokens: false, sparse: false, ragged: false, idf_weights: null, encoding: 'utf-8', ...config };
  const input = { name: 'text', batch_shape: [null, ...inputShape], dtype: 'string' };
  if (opts.sequential)
    return { modelTopology: { class_name: 'Sequential', keras_version: '3.15.1', config: { name: 's', layers: [{ class_name: 'InputLayer', config: input }, { class_name: 'TextVectorization', config: tv }] } }, weightSpecs: [], weightData: new ArrayBuffer(0) } as unknown as tfe.ModelArtifacts;
  const ref = { class_name: '__keras_tensor__', config: { shape: [null, ...inputShape], dtype: 'string', keras_history: ['text', 0, 0] } };
  const layers = [
    { module: 'keras.layers', class_name: 'InputLayer', name: 'text', config: input, inbound_nodes: [] },
    { module: 'keras.layers', class_name: 'TextVectorization', name: 'tv', config: tv, inbound_nodes: [{ args: [ref], kwargs: {} }] },
  ];
  return { modelTopology: { class_name: 'Functional', keras_version: '3.15.1', config: { name: 'm', layers, input_layers: [['text', 0, 0]], output_layers: [['tv', 0, 0]] } }, weightSpecs: [], weightData: new ArrayBuffer(0) } as unknown as tfe.ModelArtifacts;
}

const rows = (out: { data: ArrayLike<number>; shape: number[] }): number[][] => Array.from({ length: out.shape[0] }, (_, b) => Array.from(out.data).slice(b * out.shape[1], (b + 1) * out.shape[1]));

/**
 * Random texts of vocabulary words and others, dressed (case, punctuation, runs of whitespace), and
 * the expected rows: counted from the words they were written from (OOV first, then the
 * vocabulary), as Keras defines each mode; tf_idf's OOV weight the entries' mean.
 */
function randomCase(mode: 'multi_hot' | 'count' | 'tf_idf', bound: number) {
  const letters = 'abcdefghijklmnopqrstuvwxyzé日'.split(/(?:)/u);
  const word = () => Array.from({ length: randomInt(1, 5) }, () => letters[randomInt(letters.length)]).join('');
  const vocab = [...new Set(Array.from({ length: 9 }, word))];
  const idf = vocab.map(() => randomInt(1, 400) / 64);
  const oovIdf = idf.reduce((a, b) => a + b, 0) / idf.length;
  const dress = (w: string) => [...w].map((ch) => (/[a-z]/.test(ch) && randomInt(2) ? ch.toUpperCase() : ch) + (randomInt(6) === 0 ? ',.!?'[randomInt(4)] : '')).join('');
  const space = () => Array.from({ length: randomInt(1, 3) }, () => ' \t\n'[randomInt(3)]).join('');
  const texts: string[] = [], want: number[][] = [];
  for (let r = 0; r < 5; r++) {
    // Repeats (a few words drawn often), words outside the vocabulary, an empty text; as many
    // tokens (distinct ones for multi_hot) as the bound at most.
    let words: string[];
    do words = Array.from({ length: r === 0 ? 0 : randomInt(1, 2 * bound) }, () => (randomInt(4) ? vocab[randomInt(Math.min(3 + r, vocab.length))] : word()));
    while ((mode === 'multi_hot' ? new Set(words).size : words.length) > bound);
    texts.push(space() + words.map(dress).join(space()));
    const row = Array<number>(vocab.length + 1).fill(0);
    for (const w of words) row[vocab.includes(w) ? vocab.indexOf(w) + 1 : 0] += 1;
    want.push(row.map((n, j) => (mode === 'multi_hot' ? Math.min(n, 1) : mode === 'count' ? n : n * (j === 0 ? oovIdf : idf[j - 1]))));
  }
  return { config: { output_mode: mode, vocabulary: vocab, ...(mode === 'tf_idf' ? { idf_weights: idf } : {}) }, texts, want };
}

for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: multi_hot, count and tf_idf of fresh random texts as the words they were written from, at the default bound and one given`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    try {
      for (const mode of ['multi_hot', 'count', 'tf_idf'] as const) {
        for (const bound of [undefined, 6]) {
          const { config, texts, want } = randomCase(mode, bound ?? 12);
          const m = tfe.loadLayersModel(bagModel(config), { cluster: c, ...(bound ? { inputShapes: [bound] } : {}) });
          t.is(m.text!.length, bound ?? DEFAULT_BAG_TOKENS);
          const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => texts.map((x) => [x]) as never)));
          // tf_idf: the weights at 16 fraction bits, times counts up to 2 bounds.
          rows(out).forEach((row, i) => row.forEach((v, j) => t.true(Math.abs(v - want[i][j]) < (mode === 'tf_idf' ? 2e-3 : 1e-9), `${mode}, bound ${bound}: ${JSON.stringify(texts[i])} column ${j}: ${v} vs ${want[i][j]}`)));
        }
      }
    } finally {
      await c.close();
    }
  });

test("a text's owner sends every token (multi_hot: every distinct one), padded to the bound, and refuses more, naming the bound and how to raise it", (t) => {
  const spec = (mode: string, shapes?: number[]) => tfe.loadPlainModel(bagModel({ output_mode: mode, vocabulary: ['a'], ...(mode === 'tf_idf' ? { idf_weights: [1] } : {}) }), shapes ? { inputShapes: shapes } : {}).spec.inputs[0].text!;
  t.deepEqual(spec('multi_hot', [4]), { standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null, length: 4, bag: 'distinct' });
  t.deepEqual(textTokens('b A a b', spec('multi_hot', [4])), ['b', 'a', '', '']);
  t.deepEqual(textTokens('b A a b', spec('count', [4])), ['b', 'a', 'a', 'b']);
  t.deepEqual(textTokens('a b c d e a', spec('multi_hot', [5])), ['a', 'b', 'c', 'd', 'e'], 'five distinct of six tokens');
  t.throws(() => textTokens('a b a', spec('count', [2])), { message: /has 3 tokens, more than the 2 per text this model was deployed to take .*inputShapes \[3\], --input-shape 3/ });
  const m = tfe.loadPlainModel(bagModel({ output_mode: 'count', vocabulary: ['a'] }), { inputShapes: [2] });
  t.throws(() => m.forward([['a'], ['a b c']] as never), { message: /the text at index \[1\] has 3 tokens, more than the 2 per text/ });
  t.deepEqual(rows(m.forward([['a A'], ['z']] as never)), [[0, 2], [1, 0]]);
  // The default bound, and Sequential models as Functional ones.
  t.is(spec('tf_idf').length, DEFAULT_BAG_TOKENS);
  t.is(tfe.loadPlainModel(bagModel({ output_mode: 'count', vocabulary: ['a'] }, { sequential: true }), { inputShapes: [7] }).spec.inputs[0].text!.length, 7);
  t.throws(() => textTokens(Array(DEFAULT_BAG_TOKENS + 1).fill('w').map((w, i) => w + i).join(' '), spec('multi_hot')), { message: new RegExp(`has ${DEFAULT_BAG_TOKENS + 1} distinct tokens, more than the ${DEFAULT_BAG_TOKENS}`) });
});

test('two bags of words of one text (multi_hot and count) share its split: every token goes, and each reads it as Keras does', (t) => {
  const a = bagModel({ output_mode: 'multi_hot', vocabulary: ['a', 'b'] }) as unknown as { modelTopology: { config: { layers: Record<string, unknown>[]; output_layers: unknown[] } } };
  const cfg = a.modelTopology.config, tv = cfg.layers[1] as { config: Record<string, unknown>; inbound_nodes: unknown };
  cfg.layers.push({ ...tv, name: 'tv2', config: { ...tv.config, name: 'tv2', output_mode: 'count' } });
  cfg.output_layers = [['tv', 0, 0], ['tv2', 0, 0]];
  const m = tfe.loadPlainModel(a as unknown as tfe.ModelArtifacts, { inputShapes: [6] });
  t.deepEqual(m.spec.inputs[0].text, { standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null, length: 6, bag: 'all' });
  const outs = m.predictOutputs([['a b a z z']] as never) as { data: ArrayLike<number> }[];
  t.deepEqual(outs.map((o) => Array.from(o.data)), [[1, 1, 1], [2, 2, 1]]);
  // An int reader beside a bag: refused.
  cfg.layers[2] = { ...tv, name: 'tv2', config: { ...tv.config, name: 'tv2', output_mode: 'int', output_sequence_length: 6 } };
  const ids = { class_name: '__keras_tensor__', config: { shape: [null, 6], dtype: 'int64', keras_history: ['tv2', 0, 0] } };
  cfg.layers.push({ module: 'keras.layers', class_name: 'CategoryEncoding', name: 'ce', config: { name: 'ce', num_tokens: 4, output_mode: 'count' }, inbound_nodes: [{ args: [ids], kwargs: {} }] });
  cfg.output_layers = [['tv', 0, 0], ['ce', 0, 0]];
  t.throws(() => tfe.loadPlainModel(a as unknown as tfe.ModelArtifacts), { message: /splits input 'text' otherwise than TextVectorization 'tv'/ });
});

test('what the servers see: vocabulary and idf weights as private weights (neither in the topology), each text as [bound] ids', (t) => {
  const { json, weights, spec } = readLayersModel(bagModel({ output_mode: 'tf_idf', vocabulary: ['[UNK]', 'secret', 'words'], idf_weights: [0.125, 1.75, 2.5] }), { inputShapes: [9] });
  const sent = JSON.stringify(json.modelTopology);
  t.false(sent.includes('secret') || sent.includes('words') || sent.includes('1.75'), sent);
  t.true(sent.includes('"tokens_per_text":9'));
  // get_vocabulary()'s OOV token given: its weight is the first given.
  t.deepEqual(Array.from(weights.get('tv/idf_weights')!.data), [0.125, 1.75, 2.5]);
  t.deepEqual(spec.inputs[0].inputShape, [9]);
  // Without the OOV token, its weight is the entries' mean, as Keras's.
  t.deepEqual(Array.from(readLayersModel(bagModel({ output_mode: 'tf_idf', vocabulary: ['x', 'y'], idf_weights: [1, 2] })).weights.get('tv/idf_weights')!.data), [1.5, 1, 2]);
});

test('bag-of-words settings Keras refuses, or that the servers cannot size, refused by name', (t) => {
  const refused = (config: Config, message: RegExp, opts: { inputShape?: number[]; inputShapes?: number[] } = {}) =>
    t.throws(() => tfe.loadPlainModel(bagModel({ vocabulary: ['a'], ...config }, opts), opts.inputShapes ? { inputShapes: opts.inputShapes } : {}), { message });
  refused({ output_sequence_length: 4 }, /\(TextVectorization\): output_sequence_length is set with output_mode 'multi_hot': Keras refuses it/);
  refused({ output_mode: 'int', output_sequence_length: 4, tokens_per_text: 9 }, /tokens_per_text is set with output_mode int/);
  refused({ output_mode: 'int', output_sequence_length: 4 }, /input 'text' has size 4 at axis 1 .*only its open sizes \(null\) can be given/, { inputShapes: [8] });
  refused({ output_mode: 'bag' }, /output_mode "bag" is not one of Keras's \(int, multi_hot, count, tf_idf\)/);
  refused({ tokens_per_text: 5000 }, /tokens_per_text = 5000 is not supported/);
  refused({ output_mode: 'count', idf_weights: [1] }, /idf_weights given with output_mode "count": Keras reads them under tf_idf only/);
  refused({ output_mode: 'tf_idf' }, /output_mode 'tf_idf' with a vocabulary needs idf_weights/);
  refused({ output_mode: 'tf_idf', idf_weights: [1, 2] }, /idf_weights has 2 values for 1 vocabulary entries/);
  refused({ split: null, output_mode: 'count' }, /with split None and output_mode 'count': Keras then counts the whole batch's strings as one example's tokens/, { inputShape: [] });
  refused({ pad_to_max_tokens: true }, /pad_to_max_tokens needs max_tokens/);
});

test("the per-query memory estimate counts a bag-of-words text's tokens at its bound", (t) => {
  const est = (bound?: number) =>
    estimateQueryBytes({ topology: (bagModel({ vocabulary: null, vocabulary_size: 300, ...(bound ? { tokens_per_text: bound } : {}) }) as unknown as { modelTopology: object }).modelTopology as never, protocol: 'fss', inputShape: [bound ?? DEFAULT_BAG_TOKENS] }, 1);
  // Per token, an equality test per vocabulary entry and the mask's: a DPF key each (47 bits at least).
  const perToken = (est(64) - est(32)) / 32;
  t.true(perToken >= 300 * 8 * dpfKeyWords(47), `${perToken} bytes per token`);
  t.true(Math.abs(est() - est(64) - (DEFAULT_BAG_TOKENS - 64) * perToken) < 0.05 * perToken * DEFAULT_BAG_TOKENS, `${est(32)} ${est(64)} ${est()}`);
});

test('over the service: a bag-of-words model deployed at a bound answers its texts, and a longer one is refused by its owner', async (t) => {
  const c = await startCluster({ tls: false });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    await owner.deploy(bagModel({ output_mode: 'count', vocabulary: ['good', 'bad'] }), { name: 'bag', inputShapes: [5] });
    const listed = (await owner.models()).find((m) => m.name === 'bag')!;
    t.deepEqual(listed.inputs?.map((i) => [i.inputShape, i.text]), [[[5], { standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null, length: 5, bag: 'all' }]]);
    const client = await c.connect();
    const p = await client.predict('bag', ['Good, good... BAD!', 'meh']);
    t.deepEqual(Array.from(p.outputs).map((v) => Math.round(v * 1e6) / 1e6), [0, 2, 1, 1, 0, 0]);
    await t.throwsAsync(() => client.predict('bag', ['one two three four five six']), { message: /has 6 tokens, more than the 5 per text/ });
    await Promise.all([owner.close(), client.close()]);
    // tfe models says what a client sends.
    const listing = (await promisify(execFile)(process.execPath, [tfeCli(), 'models', '--config', c.config])).stdout;
    t.regex(listing, /bag .*input \[5\] \(texts, a bag of at most 5 tokens each\)/s, listing);
  } finally {
    await c.stop();
  }
});
