// What resizes, grouped and separable convolutions and recurrent states cost over the prediction
// service: three server processes on loopback (mutual TLS) and this client. Per model and
// protocol: batch-1 latency p50 over sequential queries, each query's bytes and rounds (the
// servers' own counts) and its offline bytes (the keys and correlations server2 dealt for it, as
// the service reports them). `--only <text>`: the cases whose name contains it. Pairs that
// differ only in the feature: UpSampling2D nearest (copies) against bilinear and bicubic (two and
// four weighted taps per axis, a truncation per axis); a decoder LSTM started from an encoder's
// states against the same decoder from zeros; volumes (a small CT-scan classifier, a 3-D U-Net's
// Conv3DTranspose): the 3-D layers' gathered patches and one product each; a structured-data
// classifier with its categorical preprocessing (IntegerLookup, Discretization) against the same
// on numbers only; keras.io's next-frame prediction (ConvLSTM2D, Conv3D), small.
//   npm run bench:features                 table
//   npm run bench:features -- --quick      fewer queries
//   npm run bench:features -- --net wan    links through bench:table's emulating proxies (60 ms RTT, 300 Mbit/s)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { ModelArtifacts } from '../lib/api/model';
import { PredictionClient } from '../lib/serve/client';
import { type ServerProcess, spawnCluster, startLocalCluster, stopCluster, waitReady, writeLocalConfig } from '../lib/serve/local_cluster';
import { describeCheck, type EmulatedNetwork, emulateNetwork, parseNetArgs } from './lib/net_cluster';
import { checkOptions } from './lib/args';
import { percentile } from './lib/percentile';

type Weights = [string, number[]][];
const rnd = (n: number) => Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * 0.4);
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** A Keras 2 Functional topology from [name, class, config, inputs] rows, and random weights of the given shapes. */
function model(rows: [string, string, Record<string, unknown>, unknown[]][], outputs: string[], weights: Weights): ModelArtifacts {
  const inputs = rows.filter((r) => r[1] === 'InputLayer').map((r) => [r[0], 0, 0]);
  const layers = rows.map(([name, cls, config, ins]) => ({ class_name: cls, name, config: { name, ...config }, inbound_nodes: ins.length ? [ins.map((i) => (Array.isArray(i) ? [...i, {}] : [i, 0, 0, {}]))] : [] }));
  const data = new Float32Array(weights.reduce((n, [, s]) => n + size(s), 0));
  let at = 0;
  for (const [, s] of weights) (data.set(rnd(size(s)), at), (at += size(s)));
  return {
    modelTopology: { class_name: 'Functional', keras_version: '2.15.0', config: { name: 'm', layers, input_layers: inputs, output_layers: outputs.map((o) => [o, 0, 0]) } },
    weightSpecs: weights.map(([name, shape]) => ({ name, shape, dtype: 'float32' })),
    weightData: data.buffer,
  } as unknown as ModelArtifacts;
}

const upsampling = (interpolation: string) =>
  model(
    [
      ['in', 'InputLayer', { batch_input_shape: [null, 16, 16, 4] }, []],
      ['c1', 'Conv2D', { filters: 8, kernel_size: [3, 3], padding: 'same', activation: 'relu' }, ['in']],
      ['up', 'UpSampling2D', { size: [2, 2], interpolation }, ['c1']],
      ['c2', 'Conv2D', { filters: 2, kernel_size: [1, 1] }, ['up']],
    ],
    ['c2'],
    [['c1/kernel', [3, 3, 4, 8]], ['c1/bias', [8]], ['c2/kernel', [1, 1, 8, 2]], ['c2/bias', [2]]],
  );

const resizeInput = (interpolation = 'bilinear') =>
  model(
    [
      ['in', 'InputLayer', { batch_input_shape: [null, 24, 20, 3] }, []],
      ['resize', 'Resizing', { height: 16, width: 16, interpolation }, ['in']],
      ['c1', 'Conv2D', { filters: 8, kernel_size: [3, 3], activation: 'relu' }, ['resize']],
      ['gap', 'GlobalAveragePooling2D', {}, ['c1']],
      ['out', 'Dense', { units: 3 }, ['gap']],
    ],
    ['out'],
    [['c1/kernel', [3, 3, 3, 8]], ['c1/bias', [8]], ['out/kernel', [8, 3]], ['out/bias', [3]]],
  );

/** A grouped or separable convolution on a 16x16 image: its kernel is g or kh kw times smaller than the expanded one it ran on before (fiftieth session). */
const convolution = (kind: 'grouped' | 'separable') =>
  model(
    [
      ['in', 'InputLayer', { batch_input_shape: [null, 16, 16, 128] }, []],
      kind === 'grouped'
        ? ['c', 'Conv2D', { filters: 128, kernel_size: [3, 3], padding: 'same', groups: 32, use_bias: false }, ['in']]
        : ['c', 'SeparableConv2D', { filters: 128, kernel_size: [3, 3], padding: 'same', use_bias: false }, ['in']],
      ['gap', 'GlobalAveragePooling2D', {}, ['c']],
      ['out', 'Dense', { units: 3 }, ['gap']],
    ],
    ['out'],
    [...((kind === 'grouped' ? [['c/kernel', [3, 3, 4, 128]]] : [['c/depthwise_kernel', [3, 3, 128, 1]], ['c/pointwise_kernel', [1, 1, 128, 128]]]) as Weights), ['out/kernel', [128, 3]], ['out/bias', [3]]],
  );

const U = 16;
const lstm = (name: string, d: number): Weights => [[`${name}/kernel`, [d, 4 * U]], [`${name}/recurrent_kernel`, [U, 4 * U]], [`${name}/bias`, [4 * U]]];
const decoder = (fromEncoder: boolean) =>
  model(
    [
      ...(fromEncoder
        ? ([
            ['enc_in', 'InputLayer', { batch_input_shape: [null, 8, 4] }, []],
            ['enc', 'LSTM', { units: U, return_state: true }, ['enc_in']],
          ] as [string, string, Record<string, unknown>, unknown[]][])
        : []),
      ['dec_in', 'InputLayer', { batch_input_shape: [null, 6, 3] }, []],
      ['dec', 'LSTM', { units: U, return_sequences: true }, fromEncoder ? ['dec_in', ['enc', 0, 1], ['enc', 0, 2]] : ['dec_in']],
      ['out', 'Dense', { units: 5 }, ['dec']],
    ],
    ['out'],
    [...(fromEncoder ? lstm('enc', 4) : []), ...lstm('dec', 3), ['out/kernel', [U, 5]], ['out/bias', [5]]],
  );

/** keras.io's CT-scan classifier on an 8x16x16 volume: Conv3D, MaxPool3D, Conv3D, global pooling, Dense. */
const ctScan = () =>
  model(
    [
      ['in', 'InputLayer', { batch_input_shape: [null, 8, 16, 16, 1] }, []],
      ['c1', 'Conv3D', { filters: 8, kernel_size: [3, 3, 3], activation: 'relu' }, ['in']],
      ['p1', 'MaxPooling3D', { pool_size: [2, 2, 2] }, ['c1']],
      ['c2', 'Conv3D', { filters: 8, kernel_size: [3, 3, 3], padding: 'same', activation: 'relu' }, ['p1']],
      ['gap', 'GlobalAveragePooling3D', {}, ['c2']],
      ['out', 'Dense', { units: 1 }, ['gap']],
    ],
    ['out'],
    [['c1/kernel', [3, 3, 3, 1, 8]], ['c1/bias', [8]], ['c2/kernel', [3, 3, 3, 8, 8]], ['c2/bias', [8]], ['out/kernel', [8, 1]], ['out/bias', [1]]],
  );

/** A 3-D U-Net's step up: Conv3DTranspose 3x3x3 at stride 2, 4x8x8x8 -> 8x16x16x4. */
const transpose3d = () =>
  model(
    [
      ['in', 'InputLayer', { batch_input_shape: [null, 4, 8, 8, 8] }, []],
      ['up', 'Conv3DTranspose', { filters: 4, kernel_size: [3, 3, 3], strides: [2, 2, 2], padding: 'same' }, ['in']],
    ],
    ['up'],
    [['up/kernel', [3, 3, 3, 4, 8]], ['up/bias', [4]]],
  );

/** keras.io's next-frame video prediction, small: 4 frames of 16x16, a ConvLSTM2D of 8 filters (relu), a Conv3D over the frames. */
const nextFrame = () =>
  model(
    [
      ['in', 'InputLayer', { batch_input_shape: [null, 4, 16, 16, 1] }, []],
      ['lstm', 'ConvLSTM2D', { filters: 8, kernel_size: [3, 3], padding: 'same', return_sequences: true, activation: 'relu', recurrent_activation: 'sigmoid' }, ['in']],
      ['out', 'Conv3D', { filters: 1, kernel_size: [3, 3, 3], padding: 'same' }, ['lstm']],
    ],
    ['out'],
    [['lstm/kernel', [3, 3, 1, 32]], ['lstm/recurrent_kernel', [3, 3, 8, 32]], ['lstm/bias', [32]], ['out/kernel', [3, 3, 3, 8, 1]], ['out/bias', [1]]],
  );

/**
 * A structured-data classifier (keras.io's heart-disease one, made wider): numeric features as
 * they are, or with 6 integer codes through IntegerLookup (20 entries, one_hot; or 6 strings
 * through StringLookup) and 5 numbers cut into 10 bins by Discretization (one_hot) first: the
 * preprocessing's comparisons, the product over the wider rows.
 */
const CODES = Array.from({ length: 20 }, (_, i) => 3 * i + 1);
/** The same 20 categories as strings (StringLookup: the client sends their ids). */
const WORDS = CODES.map((c) => `category-${c}`);
const BOUNDARIES = [-0.8, -0.6, -0.4, -0.2, 0, 0.2, 0.4, 0.6, 0.8];
const structured = (preprocessed: boolean, strings = false, crossed = false) =>
  model(
    preprocessed
      ? [
          ['codes', 'InputLayer', { batch_input_shape: [null, 6], ...(strings ? { dtype: 'string' } : {}) }, []],
          ['numbers', 'InputLayer', { batch_input_shape: [null, 5] }, []],
          ['lookup', strings ? 'StringLookup' : 'IntegerLookup', { vocabulary: strings ? WORDS : CODES, output_mode: 'one_hot' }, ['codes']],
          ['bins', 'Discretization', { bin_boundaries: BOUNDARIES, output_mode: 'one_hot' }, ['numbers']],
          ['f1', 'Flatten', {}, ['lookup']],
          ['f2', 'Flatten', {}, ['bins']],
          // FeatureSpace's cross of a code and a number's bin (21 x 10 tuples) into 64 bins.
          ...(crossed
            ? ([
                ['code', 'InputLayer', { batch_input_shape: [null, 1] }, []],
                ['number', 'InputLayer', { batch_input_shape: [null, 1] }, []],
                ['code_id', 'IntegerLookup', { vocabulary: CODES }, ['code']],
                ['number_bin', 'Discretization', { bin_boundaries: BOUNDARIES }, ['number']],
                ['cross', 'HashedCrossing', { num_bins: 64, output_mode: 'one_hot' }, ['code_id', 'number_bin']],
              ] as [string, string, Record<string, unknown>, string[]][])
            : []),
          ['cat', 'Concatenate', { axis: -1 }, crossed ? ['f1', 'f2', 'cross'] : ['f1', 'f2']],
          ['h', 'Dense', { units: 32, activation: 'relu' }, ['cat']],
          ['out', 'Dense', { units: 1 }, ['h']],
        ]
      : [
          ['numbers', 'InputLayer', { batch_input_shape: [null, 11] }, []],
          ['h', 'Dense', { units: 32, activation: 'relu' }, ['numbers']],
          ['out', 'Dense', { units: 1 }, ['h']],
        ],
    ['out'],
    [['h/kernel', [preprocessed ? 6 * 21 + 5 * 10 + (crossed ? 64 : 0) : 11, 32]], ['h/bias', [32]], ['out/kernel', [32, 1]], ['out/bias', [1]]],
  );
const codes = () => ({ data: Float64Array.from({ length: 6 }, () => (Math.random() < 0.9 ? CODES[Math.floor(Math.random() * 20)] : 100)), shape: [1, 6] });
const words = () => ({ data: Array.from({ length: 6 }, () => (Math.random() < 0.9 ? WORDS[Math.floor(Math.random() * 20)] : 'other')), shape: [1, 6] });

/**
 * keras.io's text classifier, small: raw texts through a TextVectorization (a vocabulary of
 * `vocab` words, 64 tokens per text) into an Embedding, a mean and a Dense: the client splits, the
 * lookup (below 256 words an equality test per token and entry, from 256 on a bucket table's read per token) is the cost.
 */
const VOCAB_WORDS = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`);
const textClassifier = (vocab: number, length = 64) =>
  model(
    [
      ['text', 'InputLayer', { batch_input_shape: [null, 1], dtype: 'string' }, []],
      ['tv', 'TextVectorization', { vocabulary: VOCAB_WORDS(vocab), output_mode: 'int', output_sequence_length: length, standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null }, ['text']],
      ['emb', 'Embedding', { input_dim: vocab + 2, output_dim: 16 }, ['tv']],
      ['mean', 'GlobalAveragePooling1D', {}, ['emb']],
      ['out', 'Dense', { units: 1 }, ['mean']],
    ],
    ['out'],
    [['emb/embeddings', [vocab + 2, 16]], ['out/kernel', [16, 1]], ['out/bias', [1]]],
  );
/**
 * Deep Learning with Python's bag-of-words classifier, small: raw texts through a multi_hot
 * TextVectorization (a vocabulary of `vocab` words; the client sends each text's distinct tokens,
 * at most 96) into Dense 16 (relu) and Dense 1.
 */
const bagClassifier = (vocab: number) =>
  model(
    [
      ['text', 'InputLayer', { batch_input_shape: [null, 1], dtype: 'string' }, []],
      ['tv', 'TextVectorization', { vocabulary: VOCAB_WORDS(vocab), output_mode: 'multi_hot', standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null }, ['text']],
      ['hidden', 'Dense', { units: 16, activation: 'relu' }, ['tv']],
      ['out', 'Dense', { units: 1 }, ['hidden']],
    ],
    ['out'],
    [['hidden/kernel', [vocab + 1, 16]], ['hidden/bias', [16]], ['out/kernel', [16, 1]], ['out/bias', [1]]],
  );
/**
 * keras.io's "Text classification from scratch" (IMDB), as written there: a TextVectorization of
 * max_tokens 20 000 (19 998 words, '' and [UNK]) padded to 500 tokens, Embedding 128, two Conv1D
 * 128 (7, strides 3, relu), a global max, Dense 128 relu, Dense 1 sigmoid.
 */
const kerasImdb = () =>
  model(
    [
      ['text', 'InputLayer', { batch_input_shape: [null, 1], dtype: 'string' }, []],
      ['tv', 'TextVectorization', { vocabulary: VOCAB_WORDS(19998), max_tokens: 20000, output_mode: 'int', output_sequence_length: 500, standardize: 'lower_and_strip_punctuation', split: 'whitespace', ngrams: null }, ['text']],
      ['emb', 'Embedding', { input_dim: 20000, output_dim: 128 }, ['tv']],
      ['c1', 'Conv1D', { filters: 128, kernel_size: 7, strides: 3, padding: 'valid', activation: 'relu' }, ['emb']],
      ['c2', 'Conv1D', { filters: 128, kernel_size: 7, strides: 3, padding: 'valid', activation: 'relu' }, ['c1']],
      ['max', 'GlobalMaxPooling1D', {}, ['c2']],
      ['hidden', 'Dense', { units: 128, activation: 'relu' }, ['max']],
      ['out', 'Dense', { units: 1, activation: 'sigmoid' }, ['hidden']],
    ],
    ['out'],
    [['emb/embeddings', [20000, 128]], ['c1/kernel', [7, 128, 128]], ['c1/bias', [128]], ['c2/kernel', [7, 128, 128]], ['c2/bias', [128]], ['hidden/kernel', [128, 128]], ['hidden/bias', [128]], ['out/kernel', [128, 1]], ['out/bias', [1]]],
  );
const review = (vocab: number) => [[Array.from({ length: 80 }, () => (Math.random() < 0.8 ? `w${Math.floor(Math.random() * vocab)}` : 'other')).join(' ')]];

/**
 * keras.io's MovieLens recommender's sizes (6 040 users, 3 706 movies): a user id and a movie id
 * through IntegerLookup (int) into Embeddings of 32, concatenated, Dense 64, Dense. From 256 codes
 * a vocabulary is read as a bucket table; `crowded`: the same sizes with a handful of codes in one
 * bucket (multiples of the bucket count), which keeps the comparisons (two per code), for the
 * side-by-side.
 */
const codesOf = (m: number, crowded: boolean) => {
  const buckets = 2 ** Math.ceil(Math.log2(m));
  return Array.from({ length: m }, (_, i) => (crowded && i < 16 ? -(i + 1) * buckets : 7 * i + 3));
};
const USERS = 6040, MOVIES = 3706;
const recommender = (crowded: boolean) =>
  model(
    [
      ['user', 'InputLayer', { batch_input_shape: [null, 1], dtype: 'int64' }, []],
      ['movie', 'InputLayer', { batch_input_shape: [null, 1], dtype: 'int64' }, []],
      ['user_id', 'IntegerLookup', { vocabulary: codesOf(USERS, crowded) }, ['user']],
      ['movie_id', 'IntegerLookup', { vocabulary: codesOf(MOVIES, crowded) }, ['movie']],
      ['ue', 'Embedding', { input_dim: USERS + 1, output_dim: 32 }, ['user_id']],
      ['me', 'Embedding', { input_dim: MOVIES + 1, output_dim: 32 }, ['movie_id']],
      ['uf', 'Flatten', {}, ['ue']],
      ['mf', 'Flatten', {}, ['me']],
      ['cat', 'Concatenate', { axis: -1 }, ['uf', 'mf']],
      ['h', 'Dense', { units: 64, activation: 'relu' }, ['cat']],
      ['out', 'Dense', { units: 1 }, ['h']],
    ],
    ['out'],
    [['ue/embeddings', [USERS + 1, 32]], ['me/embeddings', [MOVIES + 1, 32]], ['h/kernel', [64, 64]], ['h/bias', [64]], ['out/kernel', [64, 1]], ['out/bias', [1]]],
  );
const userAndMovie = () => [{ data: [7 * Math.floor(Math.random() * USERS) + 3], shape: [1, 1] }, { data: [7 * Math.floor(Math.random() * MOVIES) + 3], shape: [1, 1] }];
const input = (shape: number[]) => ({ data: Float64Array.from({ length: size(shape) }, () => Math.random() * 2 - 1), shape });
const CASES: { name: string; artifacts: () => ModelArtifacts; input: () => unknown; inputShapes?: number[] }[] = [
  { name: 'Conv, UpSampling2D nearest, Conv (16x16 -> 32x32)', artifacts: () => upsampling('nearest'), input: () => input([1, 16, 16, 4]) },
  { name: 'Conv, UpSampling2D bilinear, Conv (16x16 -> 32x32)', artifacts: () => upsampling('bilinear'), input: () => input([1, 16, 16, 4]) },
  { name: 'Conv, UpSampling2D bicubic, Conv (16x16 -> 32x32)', artifacts: () => upsampling('bicubic'), input: () => input([1, 16, 16, 4]) },
  { name: 'Resizing 24x20 -> 16x16, Conv, pool, Dense', artifacts: () => resizeInput(), input: () => input([1, 24, 20, 3]) },
  { name: 'Resizing 24x20 -> 16x16 area, Conv, pool, Dense', artifacts: () => resizeInput('area'), input: () => input([1, 24, 20, 3]) },
  { name: 'Conv2D 3x3 in 32 groups (16x16x128), pool, Dense', artifacts: () => convolution('grouped'), input: () => input([1, 16, 16, 128]) },
  { name: 'SeparableConv2D 3x3 (16x16x128 -> 128), pool, Dense', artifacts: () => convolution('separable'), input: () => input([1, 16, 16, 128]) },
  { name: 'decoder LSTM (6 steps) from zeros', artifacts: () => decoder(false), input: () => input([1, 6, 3]) },
  { name: 'encoder LSTM (8 steps), decoder from its states', artifacts: () => decoder(true), input: () => [input([1, 8, 4]), input([1, 6, 3])] },
  { name: 'ConvLSTM2D next-frame (4 frames 16x16x1, 8 filters, Conv3D)', artifacts: nextFrame, input: () => input([1, 4, 16, 16, 1]) },
  { name: 'structured data: 11 numbers, Dense 32, Dense', artifacts: () => structured(false), input: () => input([1, 11]) },
  { name: 'structured data: 6 codes by IntegerLookup, 5 numbers by Discretization (one_hot), Dense 32, Dense', artifacts: () => structured(true), input: () => [codes(), input([1, 5])] },
  { name: 'structured data: 6 strings by StringLookup, 5 numbers by Discretization (one_hot), Dense 32, Dense', artifacts: () => structured(true, true), input: () => [words(), input([1, 5])] },
  { name: 'structured data: as with IntegerLookup, and a HashedCrossing of a code and a bin (210 tuples, 64 bins)', artifacts: () => structured(true, false, true), input: () => [codes(), input([1, 5]), { data: [CODES[3]], shape: [1, 1] }, input([1, 1])] },
  { name: 'structured data: MovieLens sizes, user and movie ids by IntegerLookup (6040, 3706 codes; comparisons: crowded buckets), Embedding 32 each, Dense 64, Dense', artifacts: () => recommender(true), input: userAndMovie },
  { name: 'structured data: MovieLens sizes, user and movie ids by IntegerLookup (6040, 3706 codes; bucket tables), Embedding 32 each, Dense 64, Dense', artifacts: () => recommender(false), input: userAndMovie },
  { name: 'text: TextVectorization (100 words, 64 tokens), Embedding 16, mean, Dense', artifacts: () => textClassifier(100), input: () => review(100) },
  { name: 'text: TextVectorization (1000 words, 64 tokens), Embedding 16, mean, Dense', artifacts: () => textClassifier(1000), input: () => review(1000) },
  { name: 'text: bag of words (multi_hot, 100 words, 96 tokens), Dense 16, Dense', artifacts: () => bagClassifier(100), input: () => review(100), inputShapes: [96] },
  { name: 'text: bag of words (multi_hot, 1000 words, 96 tokens), Dense 16, Dense', artifacts: () => bagClassifier(1000), input: () => review(1000), inputShapes: [96] },
  // From 256 words on, a vocabulary is read as a bucket table (lib/api/table_read.ts).
  { name: 'text: TextVectorization (20000 words, 64 tokens), Embedding 16, mean, Dense', artifacts: () => textClassifier(20000), input: () => review(20000) },
  // Up to 16 tokens a lookup and its Embedding may be read as one table (lib/api/fused_table.ts);
  // not this one, whose fused table is too wide to read per token (FUSE_MAX_PRODUCT): two reads.
  { name: 'text: a search query, TextVectorization (20000 words, 12 tokens), Embedding 16, mean, Dense', artifacts: () => textClassifier(20000, 12), input: () => review(20000) },
  { name: 'text: bag of words (multi_hot, 20000 words, 96 tokens), Dense 16, Dense', artifacts: () => bagClassifier(20000), input: () => review(20000), inputShapes: [96] },
  { name: "text: keras.io's IMDB classifier (20000 tokens, 500 per text, Embedding 128, two Conv1D 128, max, Dense 128, Dense)", artifacts: kerasImdb, input: () => review(19998) },
  { name: '3D CT-scan classifier (8x16x16x1: Conv3D, MaxPool3D, Conv3D, pool, Dense)', artifacts: ctScan, input: () => input([1, 8, 16, 16, 1]) },
  { name: '3D Conv3DTranspose stride 2 (4x8x8x8 -> 8x16x16x4)', artifacts: transpose3d, input: () => input([1, 4, 8, 8, 8]) },
];

async function main(): Promise<void> {
  checkOptions(process.argv.slice(2), { flags: ['--quick'], values: ['--only', '--net', '--rtt', '--rate'], usage: 'npm run bench:features [-- --quick] [-- --only <text>] [--net lan|wan | --rtt MS --rate MBIT]' });
  const at = process.argv.indexOf('--only'), only = at > 0 ? process.argv[at + 1] : undefined;
  const queries = process.argv.includes('--quick') ? 3 : 15;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-bench-features-'));
  // Behind the emulated network (bench/lib/net_cluster.ts), as bench:b1: the config written, the proxies started, then the servers.
  const netSetting = parseNetArgs(process.argv.slice(2));
  let config: string, procs: ServerProcess[], emulated: EmulatedNetwork | undefined;
  if (netSetting) {
    config = await writeLocalConfig(dir, { tls: true });
    emulated = await emulateNetwork(config, netSetting);
    console.log(describeCheck(netSetting.name, emulated.check));
    procs = spawnCluster(config, () => undefined);
    await waitReady(config, undefined, procs);
  } else ({ config, procs } = await startLocalCluster(dir, { tls: true, onLine: () => undefined }));
  try {
    const owner = await PredictionClient.connect(config, { asOwner: true });
    const client = await PredictionClient.connect(config);
    console.log('| model | protocol | p50 ms | bytes per query | rounds | offline bytes |\n|---|---|---|---|---|---|');
    for (const [i, k] of CASES.entries())
      for (const protocol of ['securenn', 'fss'] as const) {
        if (only && !k.name.includes(only)) continue;
        const name = `m${i}-${protocol}`;
        await owner.deploy(k.artifacts(), { name, protocol, ...(k.inputShapes ? { inputShapes: k.inputShapes } : {}) });
        const times: number[] = [];
        let bytes = 0, rounds = 0, offline = 0;
        for (let q = 0; q < queries + 2; q++) {
          const t0 = performance.now();
          const p = await client.predict(name, k.input() as never);
          if (q < 2) continue; // warm-up
          times.push(performance.now() - t0);
          bytes = p.serverTraffic.reduce((s, x) => s + x.bytes, 0);
          rounds = Math.max(...p.serverTraffic.map((x) => x.rounds));
          offline = p.offlineBytes;
        }
        console.log(`| ${k.name} | ${protocol} | ${percentile(times, 0.5).toFixed(1)} | ${bytes} | ${rounds} | ${offline} |`);
      }
    await client.close();
    await owner.close();
  } finally {
    await stopCluster(procs);
    emulated?.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
