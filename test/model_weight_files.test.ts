// Weight files named by an untrusted model.json must stay inside the model's folder, and must hold
// exactly the bytes the manifest declares: otherwise the model owner would secret-share any file
// it can read (a key, /etc/passwd) as "weights", and a client could read it back in predictions.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';

const LAYERS = [{ class_name: 'Dense', config: { name: 'dense', units: 2, activation: 'linear', use_bias: true, batch_input_shape: [null, 3] } }];
const KERNEL = Float32Array.from([1, 2, 3, 4, 5, 6]);
const BIAS = Float32Array.from([0.5, -0.5]);
const WEIGHTS = [
  { name: 'dense/kernel', shape: [3, 2], dtype: 'float32' },
  { name: 'dense/bias', shape: [2], dtype: 'float32' },
];
const GOOD = Buffer.concat([Buffer.from(KERNEL.buffer), Buffer.from(BIAS.buffer)]); // 32 bytes

/** A scratch area with a model folder `model/` and a 32-byte "secret" next to it, outside. */
function scratch(t: { teardown(fn: () => void): void }) {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-weightpaths-'));
  t.teardown(() => fs.rmSync(top, { recursive: true, force: true }));
  const dir = path.join(top, 'model');
  fs.mkdirSync(dir);
  const secret = path.join(top, 'secret.bin');
  fs.writeFileSync(secret, Buffer.alloc(32, 0x41)); // the size the manifest declares: only containment stops it
  fs.writeFileSync(path.join(dir, 'w.bin'), GOOD);
  const writeJson = (paths: string[], weights: object[] = WEIGHTS) => {
    const file = path.join(dir, 'model.json');
    fs.writeFileSync(file, JSON.stringify({ format: 'layers-model', modelTopology: { class_name: 'Sequential', config: { name: 's', layers: LAYERS } }, weightsManifest: [{ paths, weights }] }));
    return file;
  };
  return { top, dir, secret, writeJson };
}

test('a model whose weight files are inside its folder loads, including through an inner link or a ".." that stays inside', (t) => {
  const { dir, writeJson } = scratch(t);
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.symlinkSync(path.join(dir, 'w.bin'), path.join(dir, 'sub', 'link.bin'));
  for (const p of ['w.bin', './w.bin', 'sub/../w.bin', 'sub/link.bin']) {
    const { params } = readLayersModel(writeJson([p]));
    t.deepEqual([...params[0].data], [...KERNEL], p);
    t.deepEqual([...params[1].data], [...BIAS], p);
  }
  // Shards: the manifest's bytes may be split over several files, in order.
  fs.writeFileSync(path.join(dir, 'a.bin'), GOOD.subarray(0, 10));
  fs.writeFileSync(path.join(dir, 'b.bin'), GOOD.subarray(10));
  t.deepEqual([...readLayersModel(writeJson(['a.bin', 'b.bin'])).params[1].data], [...BIAS]);
});

test('weight paths outside the model folder are refused, naming the path', (t) => {
  const { top, dir, secret, writeJson } = scratch(t);
  t.throws(() => readLayersModel(writeJson(['../secret.bin'])), { message: `weight file '../secret.bin' is outside the model's folder ${fs.realpathSync(dir)}` });
  t.throws(() => readLayersModel(writeJson(['../../../../../../../../etc/passwd'])), { message: /^weight file '\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd' is outside the model's folder/ });
  t.throws(() => readLayersModel(writeJson(['sub/../../secret.bin'])), { message: /^weight file 'sub\/\.\.\/\.\.\/secret\.bin' is outside the model's folder/ });
  t.throws(() => readLayersModel(writeJson([secret])), { message: `weight file '${secret}' is an absolute path: weight files must be inside the model's folder ${fs.realpathSync(dir)}` });
  t.throws(() => readLayersModel(writeJson(['/etc/passwd'])), { message: /^weight file '\/etc\/passwd' is an absolute path/ });
  // A link inside the folder to a file outside it, and a linked directory that leads outside.
  fs.symlinkSync(secret, path.join(dir, 'innocent.bin'));
  t.throws(() => readLayersModel(writeJson(['innocent.bin'])), { message: `weight file 'innocent.bin' is a link to ${fs.realpathSync(secret)}, outside the model's folder ${fs.realpathSync(dir)}` });
  fs.symlinkSync(top, path.join(dir, 'up'));
  t.throws(() => readLayersModel(writeJson(['up/secret.bin'])), { message: /^weight file 'up\/secret\.bin' is a link to .*secret\.bin, outside the model's folder/ });
  // Not a file name at all.
  t.throws(() => readLayersModel(writeJson([''])), { message: /^weightsManifest names a weight file "": expected a file name relative to the model's folder/ });
  t.throws(() => readLayersModel(writeJson([7 as unknown as string])), { message: /^weightsManifest names a weight file 7/ });
  // Through the public API: the error names the path, and nothing was shared.
  const c = new tfe.Cluster();
  t.throws(() => tfe.loadLayersModel(writeJson(['../secret.bin']), { cluster: c }), { message: /^loadLayersModel: weight file '\.\.\/secret\.bin' is outside the model's folder/ });
  return c.close();
});

test('a weight file of the wrong size, a missing one, and one that is not a regular file are refused', (t) => {
  const { dir, writeJson } = scratch(t);
  fs.writeFileSync(path.join(dir, 'long.bin'), Buffer.concat([GOOD, Buffer.alloc(4)]));
  t.throws(() => readLayersModel(writeJson(['long.bin'])), {
    message: "weight file 'long.bin' (36 bytes) holds 36 bytes, but the manifest declares 32 bytes of weights (dense/kernel, dense/bias)",
  });
  fs.writeFileSync(path.join(dir, 'short.bin'), GOOD.subarray(0, 28));
  t.throws(() => readLayersModel(writeJson(['short.bin'])), { message: /^weight file 'short\.bin' \(28 bytes\) holds 28 bytes, but the manifest declares 32 bytes/ });
  fs.writeFileSync(path.join(dir, 'a.bin'), GOOD.subarray(0, 10));
  t.throws(() => readLayersModel(writeJson(['a.bin'])), { message: /^weight file 'a\.bin' \(10 bytes\) holds 10 bytes, but the manifest declares 32/ });
  t.throws(() => readLayersModel(writeJson(['w.bin', 'a.bin'])), { message: /^weight files 'w\.bin' \(32 bytes\), 'a\.bin' \(10 bytes\) hold 42 bytes, but the manifest declares 32/ });
  t.throws(() => readLayersModel(writeJson(['missing.bin'])), { message: /^cannot read weight file 'missing\.bin': ENOENT/ });
  fs.mkdirSync(path.join(dir, 'adir'));
  t.throws(() => readLayersModel(writeJson(['adir'])), { message: "weight file 'adir' is not a regular file" });
  t.throws(() => readLayersModel(writeJson(['w.bin'], [{ name: 'dense/kernel', shape: [3, -2] }, WEIGHTS[1]])), { message: /^weight 'dense\/kernel' has shape \[3,-2\]: expected non-negative integers/ });
});
