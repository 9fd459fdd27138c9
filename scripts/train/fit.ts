// The training loop: Adam on softmax cross-entropy over logits, a learning rate that decays per
// epoch, and a shuffle (and optional random shifts of the images) that we draw ourselves from a
// seeded PRNG so that a run is reproducible (model.fit's own shuffle draws from Math.random).
import { MNIST_COLS, MNIST_PIXELS, MNIST_ROWS, type MnistData } from '../../lib/data/mnist';
import type { Hyper } from './networks';
import { type Sequential, type Tensor, tf } from './tf';

/** mulberry32: a small, fast, seedable 32-bit PRNG; plenty for shuffling. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Fisher-Yates permutation of 0..n-1 drawn from `rand`. */
export function permutation(n: number, rand: () => number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

/** The images as a tensor of the model's input shape (batch first). */
export function imagesTensor(data: MnistData, shape: number[]): Tensor {
  return tf.tensor(data.images, [data.n, ...shape], 'float32');
}

/** Copies image `i` of `src` to image `k` of `dst`, moved by (dy, dx) pixels with zeros shifted in. */
export function shiftImage(src: Float32Array, i: number, dst: Float32Array, k: number, dy: number, dx: number): void {
  const s = i * MNIST_PIXELS, d = k * MNIST_PIXELS;
  dst.fill(0, d, d + MNIST_PIXELS);
  const c0 = Math.max(0, dx), c1 = Math.min(MNIST_COLS, MNIST_COLS + dx);
  for (let r = Math.max(0, dy); r < Math.min(MNIST_ROWS, MNIST_ROWS + dy); r++)
    dst.set(src.subarray(s + (r - dy) * MNIST_COLS + c0 - dx, s + (r - dy) * MNIST_COLS + c1 - dx), d + r * MNIST_COLS + c0);
}

/**
 * One epoch's examples in the order of `perm`, each image moved by a random shift of up to
 * `shift` pixels per axis when `shift` > 0 (a cheap augmentation: digits are not always centred).
 */
export function epochData(data: MnistData, perm: Int32Array, shift: number, rand: () => number): { images: Float32Array; labels: Int32Array } {
  const images = new Float32Array(perm.length * MNIST_PIXELS);
  const labels = new Int32Array(perm.length);
  for (let k = 0; k < perm.length; k++) {
    const i = perm[k];
    labels[k] = data.labels[i];
    if (shift > 0) shiftImage(data.images, i, images, k, Math.floor(rand() * (2 * shift + 1)) - shift, Math.floor(rand() * (2 * shift + 1)) - shift);
    else images.set(data.images.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS), k * MNIST_PIXELS);
  }
  return { images, labels };
}

/** Top-1 accuracy of the model's logits on `data`. */
export function accuracy(model: Sequential, x: Tensor, labels: Uint8Array, batchSize = 500): number {
  let correct = 0;
  for (let start = 0; start < labels.length; start += batchSize) {
    const end = Math.min(labels.length, start + batchSize);
    const pred = tf.tidy(() => {
      const idx = tf.tensor(Int32Array.from({ length: end - start }, (_, i) => start + i), [end - start], 'int32');
      return tf.argMax(model.predict(tf.gather(x, idx)), 1);
    });
    const p = pred.dataSync();
    pred.dispose();
    for (let i = 0; i < p.length; i++) if (p[i] === labels[start + i]) correct++;
  }
  return correct / labels.length;
}

export interface FitResult {
  epochs: number;
  seconds: number;
  /** Mean training loss per epoch. */
  losses: number[];
}

/**
 * Trains `model` in place. `log` receives one line per epoch; `evaluate`, when given, runs after
 * each epoch (its time is not counted in `seconds`).
 */
export async function train(model: Sequential, data: MnistData, shape: number[], h: Hyper, seed: number, log: (line: string) => void, evaluate?: () => number): Promise<FitResult> {
  const optimizer = tf.train.adam(h.lr);
  model.compile({ optimizer, loss: (y, logits) => tf.losses.softmaxCrossEntropy(y, logits) });
  const rand = mulberry32(seed);
  const losses: number[] = [];
  let seconds = 0;
  for (let epoch = 0; epoch < h.epochs; epoch++) {
    optimizer.learningRate = h.lr * h.decay ** epoch;
    const t0 = performance.now();
    const e = epochData(data, permutation(data.n, rand), h.shift ?? 0, rand);
    const xs = tf.tensor(e.images, [data.n, ...shape], 'float32');
    const ys = tf.tidy(() => tf.oneHot(tf.tensor(e.labels, [data.n], 'int32'), 10));
    const hist = await model.fit(xs, ys, { batchSize: h.batchSize, epochs: 1, shuffle: false, verbose: 0 });
    xs.dispose();
    ys.dispose();
    const dt = (performance.now() - t0) / 1000;
    seconds += dt;
    losses.push(hist.history.loss[0]);
    const acc = evaluate ? `, test accuracy ${(100 * evaluate()).toFixed(2)}%` : '';
    log(`epoch ${epoch + 1}/${h.epochs}: loss ${hist.history.loss[0].toFixed(4)}, lr ${optimizer.learningRate.toExponential(2)}, ${dt.toFixed(1)} s${acc}`);
  }
  return { epochs: h.epochs, seconds, losses };
}
