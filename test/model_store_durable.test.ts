// The model store, from a review: a model without parameters survives a restart (its compute
// servers refused it: 'the shares are missing'); a save interrupted between its last two renames
// is finished at the next start (both copies were deleted); a damaged model.json is refused naming
// the file, and a share entry naming a path outside its folder is refused; a removal by another
// name's case finds nothing.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { type DeployedModel, digestOf, ModelStore, specOf } from '../lib/serve/model_store';
import { COMPUTE_VERSION } from '../lib/compute_version';
import { PROTOCOLS } from '../lib/protocol/protocols';
import { RingTensor } from '../lib/tensor/ring_tensor';
import { resolveOptions } from '../lib/protocol/protocol_options';
import { mlp } from './helpers/model_files';

function model(name: string, json: { modelTopology: unknown; weightsManifest: { weights: { name: string; shape: number[] }[] }[] }, withShares: boolean): DeployedModel {
  const weights = json.weightsManifest.flatMap((g) => g.weights.map((w) => ({ name: w.name, shape: w.shape })));
  const req = { protocol: 'securenn' as const, ...resolveOptions('securenn', {}, 'test'), topology: json.modelTopology as never, weights };
  const spec = specOf(req);
  const shares = spec.params.map((p) => (withShares ? RingTensor.fromBigInts(Array.from({ length: p.shape.reduce((a, b) => a * b, 1) }, (_, i) => BigInt(i)), p.shape) : null));
  return { name, ...req, spec, digest: digestOf(req), shares };
}
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-store-'));
const mlpJson = () => JSON.parse(fs.readFileSync(mlp([6, 5, 3]).file, 'utf8'));
// A model of one ReLU layer: no parameters at all.
const reluOnly = { modelTopology: { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'ReLU', config: { name: 'r', batch_input_shape: [null, 8] } }] } }, weightsManifest: [] };

test('a model without parameters is stored with its (empty) shares and loads on a compute server after a restart', (t) => {
  const dir = tmp();
  new ModelStore(dir, () => undefined).save(model('p', reluOnly, true));
  const logs: string[] = [];
  const back = new ModelStore(dir, (m) => void logs.push(m)).loadAll(true);
  t.deepEqual(back.map((m) => m.name), ['p'], logs.join('\n'));
  t.deepEqual(back[0].shares, []);
});

test("a save interrupted after the older copy moved aside, before its folder took the name, is finished at the next start", (t) => {
  const dir = tmp();
  const store = new ModelStore(dir, () => undefined);
  store.save(model('m', mlpJson(), true));
  // What a crash between the two renames leaves: the older copy aside, the new one complete in its temporary folder.
  fs.renameSync(path.join(dir, 'm'), path.join(dir, '.removed-0a0b0c0d-m'));
  fs.cpSync(path.join(dir, '.removed-0a0b0c0d-m'), path.join(dir, '.tmp-01020304-m'), { recursive: true });
  const logs: string[] = [];
  const back = new ModelStore(dir, (msg) => void logs.push(msg)).loadAll(true);
  t.deepEqual(back.map((m) => m.name), ['m']);
  t.regex(logs.join('\n'), /finished saving model 'm'/);
  t.deepEqual(fs.readdirSync(dir).sort(), ['m']);
  // A temporary folder without its model.json (the crash came earlier) is dropped, as before.
  fs.mkdirSync(path.join(dir, '.tmp-05060708-q'));
  t.deepEqual(new ModelStore(dir, () => undefined).loadAll(true).map((m) => m.name), ['m']);
  t.false(fs.existsSync(path.join(dir, 'q')));
});

test('a damaged model.json is refused naming the file; a share entry naming another path is refused; a removal by another case finds nothing', (t) => {
  const dir = tmp();
  const store = new ModelStore(dir, () => undefined);
  store.save(model('a', mlpJson(), true));
  store.save(model('b', mlpJson(), true));
  fs.writeFileSync(path.join(dir, 'a', 'model.json'), '{"version": 1, "na');
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'b', 'model.json'), 'utf8'));
  manifest.shares[0].file = '../../../../etc/hostname';
  fs.writeFileSync(path.join(dir, 'b', 'model.json'), JSON.stringify(manifest));
  const logs: string[] = [];
  t.deepEqual(new ModelStore(dir, (m) => void logs.push(m)).loadAll(true), []);
  t.regex(logs.join('\n'), new RegExp(`refusing stored model 'a': ${path.join(dir, 'a', 'model.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
  t.regex(logs.join('\n'), /refusing stored model 'b': .*model\.json: share 0 names "\.\.\/\.\.\/\.\.\/\.\.\/etc\/hostname", not a share file of this folder/);
  t.false(store.remove('A'), 'not the same name');
  t.true(fs.existsSync(path.join(dir, 'a')));
});

// Compute version 18 gave an unfolded BatchNormalization one more parameter: a model stored before
// has one share fewer, and was refused saying only "the shares are missing".
test('a stored model with fewer shares than this release computes it with is refused naming its compute version and the remedy', (t) => {
  const dir = tmp();
  const bn = {
    modelTopology: { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'BatchNormalization', config: { name: 'bn', batch_input_shape: [null, 4] } }] } },
    weightsManifest: [{ weights: ['gamma', 'beta', 'moving_mean', 'moving_variance'].map((w) => ({ name: `bn/${w}`, shape: [4] })) }],
  };
  new ModelStore(dir, () => undefined).save(model('bn', bn, true));
  const file = path.join(dir, 'bn', 'model.json');
  const stored = JSON.parse(fs.readFileSync(file, 'utf8'));
  t.is(stored.computeVersion, COMPUTE_VERSION);
  t.is(stored.shares.length, 3, 'scale, its low part, shift');
  // As compute version 17 stored it: no version, no low part.
  delete stored.computeVersion;
  stored.shares = [stored.shares[0], stored.shares[2]];
  fs.writeFileSync(file, JSON.stringify(stored));
  const logs: string[] = [];
  t.deepEqual(new ModelStore(dir, (m) => void logs.push(m)).loadAll(true), []);
  t.regex(logs.join('\n'), new RegExp(`refusing stored model 'bn': .*model\\.json: it was stored under compute version 17 or older, and this release \\(${COMPUTE_VERSION}\\) computes it with 3 parameters, not 2: redeploy it`));
});

// Compute version 19 runs a DepthwiseConv2D on its own filter [kh, kw, 1, C m], not on a kernel
// expanded to [kh, kw, C, C m]: a model stored before has as many shares, of another shape, and was
// refused as "share-0.bin has the wrong size".
test('a stored model whose shares have other shapes than this release computes it with is refused naming its compute version and the remedy', (t) => {
  const dir = tmp();
  const dw = {
    modelTopology: { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'DepthwiseConv2D', config: { name: 'dw', batch_input_shape: [null, 4, 4, 3], kernel_size: [2, 2], use_bias: false } }] } },
    weightsManifest: [{ weights: [{ name: 'dw/depthwise_kernel', shape: [2, 2, 3, 1] }] }],
  };
  new ModelStore(dir, () => undefined).save(model('dw', dw, true));
  const file = path.join(dir, 'dw', 'model.json');
  const stored = JSON.parse(fs.readFileSync(file, 'utf8'));
  t.deepEqual(stored.shares[0].shape, [2, 2, 1, 3]);
  // As compute version 18 stored it: the kernel expanded over the 3 channels.
  stored.computeVersion = 18;
  stored.shares[0].shape = [2, 2, 3, 3];
  fs.writeFileSync(file, JSON.stringify(stored));
  const logs: string[] = [];
  t.deepEqual(new ModelStore(dir, (m) => void logs.push(m)).loadAll(true), []);
  t.regex(logs.join('\n'), new RegExp(`refusing stored model 'dw': .*model\\.json: it was stored under compute version 18, and this release \\(${COMPUTE_VERSION}\\) computes it with parameter 0 \\('dw/depthwise_filter'\\) of shape \\[2,2,1,3\\], not \\[2,2,3,3\\]: redeploy it`));
});

// A model stored by a release that runs a protocol this one does not (a rollback; a protocol
// renamed or removed) was loaded and listed as ready, and every query failed with "Cannot read
// properties of undefined (reading 'exact')".
test('a stored model whose protocol this release does not run is refused, naming it and the remedy', (t) => {
  const dir = tmp();
  // An MLP, and a model with max pooling, whose spec reads the protocol's traits.
  const pooled = {
    modelTopology: { class_name: 'Sequential', config: { name: 's', layers: [{ class_name: 'MaxPooling2D', config: { name: 'p', pool_size: [2, 2], batch_input_shape: [null, 4, 4, 1] } }] } },
    weightsManifest: [],
  };
  for (const [name, json] of [['m', mlpJson()], ['p', pooled]] as const) {
    new ModelStore(dir, () => undefined).save(model(name, json, true));
    const file = path.join(dir, name, 'model.json');
    const stored = JSON.parse(fs.readFileSync(file, 'utf8'));
    stored.protocol = 'toy';
    stored.digest = digestOf(stored); // as the release that stored it would have computed it
    fs.writeFileSync(file, JSON.stringify(stored));
  }
  const logs: string[] = [];
  t.deepEqual(new ModelStore(dir, (m) => void logs.push(m)).loadAll(true), []);
  for (const name of ['m', 'p'])
    t.regex(logs.join('\n'), new RegExp(`refusing stored model '${name}': .*model\\.json: its protocol "toy" is not one this release runs \\(${PROTOCOLS.join(', ')}\\): redeploy the model under one of them`));
});
