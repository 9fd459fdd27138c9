// Keras's Hashing (lib/api/layers_hashing.ts, hash_bins.ts, farmhash.ts), beyond its Keras 3 models'
// predictions (test/keras3_saved_models.test.ts on keras3_more_layer_models.json, hs*): FarmHash's
// Fingerprint64 against TensorFlow's own values on every length class (farmhash_reference.json,
// made by its .py beside it), Keras's bins of integers and with a mask value, the servers seeing
// shares of the bins' one-hot only, refusals by name, and a model over the service.
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../lib';
import { fingerprint64 } from '../lib/api/farmhash';
import { sipHash24 } from '../lib/api/siphash';
import { hashBin } from '../lib/api/hash_bins';
import { estimateQueryBytes } from '../lib/serve/limits';
import { answersAsKeras, type Fixture, FIXTURES, fromFixture } from './helpers/more_layer_models';
import { oneLayerModel } from './helpers/one_layer_model';
import { startCluster } from './helpers/service';

const REF: {
  fingerprint: [string, string][];
  bucket1000: number[];
  ints: [number, number][];
  masked: [string, number][];
  siphash: { strings: string[]; keys: Record<string, string[]> };
  salted: [string, number][];
  salted_ints: [number, number][];
} = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', 'hash_reference.json'), 'utf8'),
);
const utf8 = new TextEncoder();

test("Fingerprint64 equals TensorFlow's tf.fingerprint on strings of every length class (0 to 252 bytes, UTF-8 beyond ASCII), and its buckets to_hash_bucket_fast's", (t) => {
  for (const [s, hex] of REF.fingerprint) {
    // TensorFlow gives the 8 bytes little-endian.
    const want = Buffer.from(hex, 'hex').reduceRight((a, b) => (a << 8n) | BigInt(b), 0n);
    t.is(fingerprint64(utf8.encode(s)), want, `${utf8.encode(s).length} bytes: ${JSON.stringify(s).slice(0, 30)}`);
  }
  t.deepEqual(REF.fingerprint.map(([s]) => Number(fingerprint64(utf8.encode(s)) % 1000n)), REF.bucket1000);
});

test("SipHash-2-4 equals TensorFlow's to_hash_bucket_strong under four keys (words up to 2^63), and a salted Hashing's bins Keras's", (t) => {
  const { strings, keys } = REF.siphash;
  for (const [key, want] of Object.entries(keys)) {
    const [k0, k1] = key.split(',').map(BigInt);
    strings.forEach((s, i) => t.is((sipHash24(k0, k1, utf8.encode(s)) % (2n ** 63n - 1n)).toString(), want[i], `key ${key}: ${JSON.stringify(s).slice(0, 20)}`));
  }
  for (const [s, bin] of REF.salted) t.is(hashBin(s, { numBins: 11, maskValue: null, salt: [7, 7] }, 'x'), bin, JSON.stringify(s).slice(0, 20));
  for (const [v, bin] of REF.salted_ints) t.is(hashBin(v, { numBins: 11, maskValue: null, salt: [3, 5] }, 'x'), bin, `${v}`);
});

test("a value's bin as Keras's Hashing gives it: integers by their decimal string, floats cast to int64 first, the mask value in bin 0", (t) => {
  for (const [v, bin] of REF.ints) t.is(hashBin(v, { numBins: 7, maskValue: null, salt: null }, 'x'), bin, `${v}`);
  t.is(hashBin(42.9, { numBins: 7, maskValue: null, salt: null }, 'x'), hashBin(42, { numBins: 7, maskValue: null, salt: null }, 'x'), 'towards zero');
  t.is(hashBin(-1.5, { numBins: 7, maskValue: null, salt: null }, 'x'), hashBin(-1, { numBins: 7, maskValue: null, salt: null }, 'x'), 'towards zero');
  for (const [s, bin] of REF.masked) t.is(hashBin(s, { numBins: 5, maskValue: '', salt: null }, 'x'), bin, JSON.stringify(s));
  t.throws(() => hashBin(Number.NaN, { numBins: 7, maskValue: null, salt: null }, 'the input'), { message: /the input: NaN is not a number an int64 holds/ });
  t.throws(() => hashBin(2 ** 64, { numBins: 7, maskValue: null, salt: null }, 'the input'), { message: /is not a number an int64 holds/ });
});

test('the servers receive shares of the bins\' one-hot: the topology and the shared input say only how many bins', (t) => {
  const m = tfe.loadPlainModel(fromFixture(FIXTURES.hs1_strings_and_ids));
  t.deepEqual(
    m.spec.inputs.map((i) => [i.name, i.inputEncoding, i.hashing, i.strings]),
    [
      ['city', { oneHot: 8 }, { numBins: 8, maskValue: null, salt: null }, true],
      ['user', { oneHot: 16 }, { numBins: 16, maskValue: null, salt: null }, undefined],
    ],
  );
});

test('Hashing: what Keras has and the layer does not do, and inputs it cannot hash, refused by name', (t) => {
  const hashing = (config: Record<string, unknown>, dtype = 'string') => oneLayerModel('Hashing', { num_bins: 4, mask_value: null, salt: null, output_mode: 'one_hot', sparse: false, ...config }, [1], { name: 'h', dtype });
  const refused = (config: Record<string, unknown>, message: RegExp) => t.throws(() => tfe.loadPlainModel(hashing(config)), { message });
  refused({ salt: 2 ** 60 }, /\(Hashing\): salt = 1152921504606847000 is not supported/);
  refused({ salt: [1, -2] }, /\(Hashing\): salt = \[1,-2\] is not supported/);
  refused({ salt: [1, 2, 3] }, /\(Hashing\): salt = \[1,2,3\] is not supported/);
  refused({ sparse: true }, /\(Hashing\): sparse = true is not supported: only dense outputs/);
  refused({ num_bins: 2 ** 25 }, /\(Hashing\): num_bins = 33554432 is not supported/);
  refused({ output_mode: 'int' }, /\(Hashing\): output_mode 'int' gives bins, which only Embedding, CategoryEncoding and HashedCrossing layers may read/);
  // Numbers for a string input, strings for a number input, values an int64 does not hold.
  const words = tfe.loadPlainModel(hashing({}));
  t.throws(() => words.forward([[3]]), { message: /this input is hashed by a Hashing layer and takes strings, got the number 3 at index \[0, 0\]/ });
  const ids = tfe.loadPlainModel(hashing({}, 'int64'));
  t.throws(() => ids.forward([['3']]), { message: /strings given, but this input takes numbers/ });
  t.throws(() => ids.forward([[Infinity]]), { message: /Infinity is not a number an int64 holds/ });
  // A Hashing reading a layer's output, an input read by a Hashing and another layer, two
  // Hashings of one input with different bins (edited topologies of a fixture).
  const f = FIXTURES.hs3_category_encoding;
  // Each edit adds a layer, returned as a second output (else it would not be part of the model).
  const edited = (edit: (layers: Fixture['topology']['config']['layers']) => void) => {
    const topo = structuredClone(f.topology);
    edit(topo.config.layers);
    const added = topo.config.layers[topo.config.layers.length - 1].config.name;
    topo.config.output_layers = [topo.config.output_layers, [added, 0, 0]];
    return fromFixture(f, topo);
  };
  const h = (ls: Fixture['topology']['config']['layers']) => ls.find((l) => l.class_name === 'Hashing')!;
  const inputName = (ls: Fixture['topology']['config']['layers']) => ls.find((l) => l.class_name === 'InputLayer')!.config.name as string;
  t.throws(() => tfe.loadPlainModel(edited((ls) => {
    const copy = structuredClone(h(ls));
    copy.config.name = 'h2';
    copy.config.output_mode = 'one_hot';
    const counts = ls.find((l) => l.class_name === 'CategoryEncoding')!.config.name;
    copy.inbound_nodes = [{ args: [{ class_name: '__keras_tensor__', config: { shape: [null, 12], dtype: 'float32', keras_history: [counts, 0, 0] } }], kwargs: {} }];
    ls.push(copy);
  })), { message: /layer 'h2' \(Hashing\): reads '.*', not one of the model's inputs: a Hashing must read a model input directly/ });
  t.throws(() => tfe.loadPlainModel(edited((ls) => {
    const copy = structuredClone(h(ls));
    copy.config.name = 'h2';
    copy.config.output_mode = 'one_hot';
    copy.config.num_bins = 9;
    ls.push(copy);
  })), { message: /layer 'h2' \(Hashing\): hashes input '.*' into 9 bins \(mask_value null, salt null\), and Hashing '.*' into 10/ });
  t.throws(() => tfe.loadPlainModel(edited((ls) => {
    const name = inputName(ls);
    ls.push({ class_name: 'Activation', config: { name: 'd2', activation: 'relu' }, inbound_nodes: [{ args: [{ class_name: '__keras_tensor__', config: { shape: [null, 2], dtype: 'int64', keras_history: [name, 0, 0] } }], kwargs: {} }] });
  })), { message: /layer 'd2' \(Activation\): reads input '.*', which Hashing '.*' hashes \(its owner sends the bins\): only Hashing layers may read it/ });
});

test('over the service: strings and integer ids hashed by the client, answers as Keras; the model list says how each input is hashed', async (t) => {
  await answersAsKeras(t, FIXTURES.hs1_strings_and_ids, 'hashed', 'fss');
  const c = await startCluster({ tls: false });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    await owner.deploy(fromFixture(FIXTURES.hs3_category_encoding) as never, { name: 'ids' });
    const listed = (await owner.models()).find((m) => m.name === 'ids')!;
    t.deepEqual(listed.inputs?.map((i) => i.hashing), [{ numBins: 10, maskValue: null, salt: null }]);
    const p = await owner.predict('ids', [[5, 5], [11, 999]]);
    const want = FIXTURES.hs3_category_encoding.y;
    t.true(want.every((v, i) => Math.abs(p.outputs[i] - v) < 2e-3), `${[...p.outputs]} vs Keras ${want}`);
    await owner.close();
  } finally {
    await c.stop();
  }
});

test("the per-query memory estimate follows a Hashing's one-hot input and its encoding", (t) => {
  const topo = (bins: number) => ({ class_name: 'Sequential', config: { layers: [{ class_name: 'Hashing', config: { name: 'h', batch_input_shape: [null, 8], num_bins: bins, output_mode: 'count' } }] } });
  const est = (bins: number) => estimateQueryBytes({ topology: topo(bins) as never, protocol: 'fss', inputShape: [8, bins] }, 1);
  t.true(est(10_000) - est(10) >= 8 * 8 * (10_000 - 10), `${est(10_000)} vs ${est(10)}`);
});
