// The MNIST networks of SecureNN (Wagh et al. 2019) and tf-encrypted's benchmarks, as Sequential
// TensorFlow.js models made only of layers our private loader supports. Convolutions are followed
// by pooling and then ReLU (pooling first halves the number of secure ReLUs). The last layer
// outputs logits: the client applies softmax to what it decrypts, so the servers never do.
import { type Layer, type Sequential, tf } from './tf';

export const NETWORKS = ['A', 'B', 'C', 'B_max', 'C_max'] as const;
export type NetworkName = (typeof NETWORKS)[number];

export interface Hyper {
  epochs: number;
  batchSize: number;
  /** Adam's learning rate in the first epoch, multiplied by `decay` after each epoch. */
  lr: number;
  decay: number;
  /** Largest random shift of a training image, in pixels per axis (0: none). */
  shift?: number;
}

/** Chosen so that each model trains in minutes on one core of wasm and reaches the paper's accuracy. */
export const HYPER: Readonly<Record<NetworkName, Hyper>> = {
  A: { epochs: 12, batchSize: 128, lr: 1e-3, decay: 0.8 },
  B: { epochs: 15, batchSize: 64, lr: 2e-3, decay: 0.8, shift: 2 },
  C: { epochs: 10, batchSize: 128, lr: 1.5e-3, decay: 0.75, shift: 2 },
  B_max: { epochs: 15, batchSize: 64, lr: 2e-3, decay: 0.8, shift: 2 },
  C_max: { epochs: 10, batchSize: 128, lr: 1.5e-3, decay: 0.75, shift: 2 },
};

/** Input shape without the batch dimension. */
export const inputShape = (name: NetworkName): number[] => (name === 'A' ? [784] : [28, 28, 1]);

/**
 * Builds network `name` with every initializer seeded from `seed` (kernels Glorot-uniform with
 * seed + layer index, biases zero), so the same seed gives the same initial weights.
 */
export function buildNetwork(name: NetworkName, seed: number): Sequential {
  const model = tf.sequential({ name: `mnist_${name}` });
  let k = 0;
  const init = () => ({ kernelInitializer: tf.initializers.glorotUniform({ seed: seed + k++ }), biasInitializer: tf.initializers.zeros() });
  const add = (l: Layer) => model.add(l);
  const first = (i: number) => (i === 0 ? { inputShape: inputShape(name) } : {});
  if (name === 'A') {
    add(tf.layers.dense({ name: 'dense_1', units: 128, ...first(0), ...init() }));
    add(tf.layers.reLU({ name: 'relu_1' }));
    add(tf.layers.dense({ name: 'dense_2', units: 128, ...init() }));
    add(tf.layers.reLU({ name: 'relu_2' }));
    add(tf.layers.dense({ name: 'dense_3', units: 10, ...init() }));
    return model;
  }
  const big = name.startsWith('C');
  const [c1, c2, hidden] = big ? [20, 50, 500] : [16, 16, 100];
  const pool = name.endsWith('_max') ? tf.layers.maxPooling2d : tf.layers.averagePooling2d;
  for (const [i, filters] of [c1, c2].entries()) {
    add(tf.layers.conv2d({ name: `conv_${i + 1}`, filters, kernelSize: 5, strides: 1, padding: 'valid', dataFormat: 'channelsLast', ...first(i), ...init() }));
    add(pool({ name: `pool_${i + 1}`, poolSize: 2, strides: 2, padding: 'valid' }));
    add(tf.layers.reLU({ name: `relu_${i + 1}` }));
  }
  add(tf.layers.flatten({ name: 'flatten' }));
  add(tf.layers.dense({ name: 'dense_1', units: hidden, ...init() }));
  add(tf.layers.reLU({ name: 'relu_3' }));
  add(tf.layers.dense({ name: 'dense_2', units: 10, ...init() }));
  return model;
}
