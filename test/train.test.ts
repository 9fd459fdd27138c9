// Plaintext training on TensorFlow.js's WASM backend: our Conv2D gradient kernels against the cpu
// backend's, and a short seeded training run whose saved LayersModel our private loader reads.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { readLayersModel } from '../lib/api/model';
import { loadMnist } from '../lib/data/mnist';
import { accuracy, epochData, imagesTensor, mulberry32, permutation, shiftImage, train } from '../scripts/train/fit';
import { buildNetwork, inputShape } from '../scripts/train/networks';
import { saveLayersModel } from '../scripts/train/save';
import { type Tensor, tf, useWasm } from '../scripts/train/tf';
import { registerWasmConvGrad } from '../scripts/train/wasm_conv_grad';
import { registerWasmMatMul } from '../scripts/train/wasm_matmul';

type Pad = 'valid' | 'same';
const CASES: { x: number[]; f: number[]; s: number | [number, number]; p: Pad }[] = [
  { x: [2, 7, 6, 3], f: [3, 2, 3, 4], s: 1, p: 'valid' },
  { x: [2, 7, 6, 3], f: [3, 3, 3, 4], s: 1, p: 'same' },
  { x: [1, 8, 8, 1], f: [5, 5, 1, 2], s: 1, p: 'same' },
  { x: [2, 9, 8, 2], f: [3, 2, 2, 5], s: 2, p: 'same' },
  { x: [3, 9, 8, 2], f: [4, 3, 2, 5], s: [2, 1], p: 'valid' },
  // 8 or more input channels and stride 1: dx by a conv of the padded dy (fewer: by col2im)
  { x: [2, 7, 7, 8], f: [3, 3, 8, 4], s: 1, p: 'valid' },
  { x: [2, 6, 5, 9], f: [3, 2, 9, 3], s: 1, p: 'same' },
  { x: [2, 9, 9, 8], f: [3, 3, 8, 2], s: 2, p: 'same' },
];

function values(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => r() - 0.5);
}
const t4 = (shape: number[], seed: number): Tensor => tf.tensor(values(shape.reduce((a, b) => a * b, 1), seed), shape);

/** d(sum(conv2d(x, f) * w))/df and /dx on `backend`, for every case. */
async function convGrads(backend: string): Promise<Float32Array[][]> {
  if (!(await tf.setBackend(backend))) throw new Error(`no ${backend} backend`);
  await tf.ready();
  return CASES.map((c, i) => {
    const x = t4(c.x, 1 + i), f = t4(c.f, 100 + i);
    const w = t4(tf.conv2d(x, f, c.s, c.p).shape, 200 + i);
    const loss = (xx: Tensor, ff: Tensor) => tf.sum(tf.mul(tf.conv2d(xx, ff, c.s, c.p), w));
    const df = tf.grad((ff) => loss(x, ff))(f).dataSync() as Float32Array;
    const dx = tf.grad((xx) => loss(xx, f))(x).dataSync() as Float32Array;
    return [df, dx];
  });
}

// Serial: TensorFlow.js's backend is global, and these tests switch it.
test.serial('wasm Conv2D filter and input gradients match the cpu backend', async (t) => {
  registerWasmConvGrad();
  registerWasmConvGrad(); // idempotent
  const want = await convGrads('cpu');
  const got = await convGrads('wasm');
  t.is(tf.getBackend(), 'wasm');
  for (const [i, c] of CASES.entries())
    for (const [j, what] of ['filter', 'input'].entries()) {
      const [a, b] = [want[i][j], got[i][j]];
      t.is(b.length, a.length);
      let err = 0;
      for (let k = 0; k < a.length; k++) err = Math.max(err, Math.abs(a[k] - b[k]));
      t.true(err < 1e-5, `${what} gradient, case ${JSON.stringify(c)}: max error ${err}`);
      t.true(a.some((v) => Math.abs(v) > 1e-3), 'a gradient that is not all zeros');
    }
});

test.serial('wasm BatchMatMul with transposed operands matches the cpu backend', async (t) => {
  registerWasmMatMul();
  registerWasmMatMul(); // idempotent
  const shapes = [
    { a: [3, 4], b: [4, 5] },
    { a: [2, 3, 4], b: [2, 4, 5] },
    { a: [2, 3, 4], b: [1, 4, 5] }, // broadcast batch
  ];
  const products = async (backend: string) => {
    await tf.setBackend(backend);
    await tf.ready();
    const out: Float32Array[] = [];
    for (const [i, s] of shapes.entries())
      for (const ta of [false, true])
        for (const tb of [false, true]) {
          const swap = (sh: number[], yes: boolean) => (yes ? [...sh.slice(0, -2), sh[sh.length - 1], sh[sh.length - 2]] : sh);
          out.push(tf.matMul(t4(swap(s.a, ta), 10 + i), t4(swap(s.b, tb), 20 + i), ta, tb).dataSync() as Float32Array);
        }
    return out;
  };
  const want = await products('cpu');
  const got = await products('wasm');
  for (const [k, w] of want.entries()) {
    t.is(got[k].length, w.length);
    t.true(w.every((v, j) => Math.abs(v - got[k][j]) < 1e-5), `product ${k}`);
  }
});

test('seeded permutations are permutations and repeat with the seed', (t) => {
  const p = permutation(1000, mulberry32(7));
  t.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  t.deepEqual(p, permutation(1000, mulberry32(7)));
  t.notDeepEqual(p, permutation(1000, mulberry32(8)));
});

test('shiftImage moves a digit with zeros shifted in; epochData orders by the permutation', (t) => {
  const src = Float32Array.from({ length: 2 * 784 }, (_, i) => (i % 784) + 1); // pixel (r, c) of image 1 = r*28+c+1
  const dst = new Float32Array(784).fill(-1);
  shiftImage(src, 1, dst, 0, 1, -2); // down 1, left 2
  for (let r = 0; r < 28; r++)
    for (let c = 0; c < 28; c++) {
      const [sr, sc] = [r - 1, c + 2];
      const want = sr >= 0 && sc < 28 ? sr * 28 + sc + 1 : 0;
      if (dst[r * 28 + c] !== want) return t.fail(`pixel (${r}, ${c}) is ${dst[r * 28 + c]}, want ${want}`);
    }
  shiftImage(src, 0, dst, 0, 0, 0);
  t.deepEqual(dst, src.subarray(0, 784));
  shiftImage(src, 0, dst, 0, -28, 0); // entirely out of the frame
  t.true(dst.every((v) => v === 0));

  const data = { images: src, labels: Uint8Array.from([3, 8]), n: 2 };
  const e = epochData(data, Int32Array.from([1, 0]), 0, mulberry32(1));
  t.deepEqual(Array.from(e.labels), [8, 3]);
  t.deepEqual(e.images.subarray(0, 784), src.subarray(784));
  const moved = epochData(data, Int32Array.from([0, 1]), 2, mulberry32(1));
  t.deepEqual(moved, epochData(data, Int32Array.from([0, 1]), 2, mulberry32(1)));
  t.notDeepEqual(moved.images, src, 'some image moved');
});

test.serial('a short seeded run of network B on wasm learns, repeats exactly and saves a model our loader reads', async (t) => {
  await useWasm();
  registerWasmConvGrad();
  registerWasmMatMul();
  const data = loadMnist('train', { limit: 1000 });
  const test500 = loadMnist('test', { limit: 500 });
  const h = { epochs: 2, batchSize: 50, lr: 2e-3, decay: 0.8, shift: 1 };
  const dirs: string[] = [];
  try {
    for (let run = 0; run < 2; run++) {
      const model = buildNetwork('B', 3);
      const fit = await train(model, data, inputShape('B'), h, 3, () => {});
      t.true(fit.losses[1] < fit.losses[0], `loss ${fit.losses}`);
      const x = imagesTensor(test500, inputShape('B'));
      t.true(accuracy(model, x, test500.labels) > 0.5);
      x.dispose();
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'train-'));
      dirs.push(dir);
      await saveLayersModel(model, dir);
    }
    const [w0, w1] = dirs.map((d) => fs.readFileSync(path.join(d, 'weights.bin')));
    t.true(w0.equals(w1), 'two runs with the same seed give the same weights');
    const { spec, params } = readLayersModel(path.join(dirs[0], 'model.json'));
    t.deepEqual(spec.inputShape, [28, 28, 1]);
    t.deepEqual(
      spec.layers.map((l) => l.split(':')[0]),
      ['Conv2D', 'AveragePooling2D', 'ReLU', 'Conv2D', 'AveragePooling2D', 'ReLU', 'Flatten', 'Dense', 'ReLU', 'Dense'],
    );
    t.deepEqual(params[0].shape, [5, 5, 1, 16]);
    t.is(params.reduce((a, p) => a + p.data.length, 0), 33542);
  } finally {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
});
