// ResNet-20 for CIFAR-10 (He et al. 2016, section 4.2) as a TensorFlow.js Functional model: a 3x3
// conv with 16 filters, then three stages of three basic blocks (conv3x3-BN-ReLU-conv3x3-BN plus
// the shortcut, then ReLU) with 16, 32 and 64 filters, the first block of stages 2 and 3 halving
// the resolution with stride 2 and its shortcut a 1x1 conv with stride 2 followed by BN
// ("option B"), then GlobalAveragePooling2D and a Dense softmax over the 10 classes. Convs before
// BN have no bias (BN's shift is the bias). 19 ReLUs: 188,416 ReLU elements per image.
//
// TensorFlow.js is loaded with require() and typed here only as far as these calls need (its own
// .d.ts files need the DOM lib, which this strict Node build leaves out: see scripts/train/tf.ts).

export interface SymbolicTensor {
  readonly shape: (number | null)[];
}
export interface TfLayer {
  apply(x: SymbolicTensor | SymbolicTensor[]): SymbolicTensor;
}
type Factory = (config: Record<string, unknown>) => TfLayer;
export interface TfModule {
  input(config: { shape: number[]; name?: string }): SymbolicTensor;
  model(config: { inputs: SymbolicTensor; outputs: SymbolicTensor; name?: string }): unknown;
  layers: Record<'conv2d' | 'batchNormalization' | 'reLU' | 'add' | 'globalAveragePooling2d' | 'dense', Factory>;
  initializers: { heNormal(args: { seed: number }): unknown; glorotUniform(args: { seed: number }): unknown };
}

export const STAGES = [16, 32, 64] as const;
export const BLOCKS_PER_STAGE = 3;

/** Builds ResNet-20 with every kernel initialiser seeded from `seed` (He-normal for convs). */
export function buildResNet20(tf: TfModule, seed: number): unknown {
  let k = 0;
  const conv = (name: string, filters: number, kernelSize: number, strides: number) =>
    tf.layers.conv2d({ name, filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: tf.initializers.heNormal({ seed: seed + k++ }) });
  const bn = (name: string) => tf.layers.batchNormalization({ name, axis: -1, momentum: 0.9, epsilon: 1e-3 });
  const relu = (name: string) => tf.layers.reLU({ name });

  const input = tf.input({ shape: [32, 32, 3], name: 'image' });
  let x = relu('relu_0').apply(bn('bn_0').apply(conv('conv_0', STAGES[0], 3, 1).apply(input)));
  STAGES.forEach((filters, s) => {
    for (let b = 0; b < BLOCKS_PER_STAGE; b++) {
      const id = `s${s + 1}b${b + 1}`;
      const strides = s > 0 && b === 0 ? 2 : 1;
      let y = relu(`${id}_relu_a`).apply(bn(`${id}_bn_a`).apply(conv(`${id}_conv_a`, filters, 3, strides).apply(x)));
      y = bn(`${id}_bn_b`).apply(conv(`${id}_conv_b`, filters, 3, 1).apply(y));
      const shortcut = strides === 1 ? x : bn(`${id}_bn_short`).apply(conv(`${id}_conv_short`, filters, 1, strides).apply(x));
      x = relu(`${id}_relu_out`).apply(tf.layers.add({ name: `${id}_add` }).apply([y, shortcut]));
    }
  });
  const pooled = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x);
  const out = tf.layers.dense({ name: 'logits', units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + k++ }) }).apply(pooled);
  return tf.model({ inputs: input, outputs: out, name: 'resnet20_cifar10' });
}
