// The benchmark networks, written with the public tfe API exactly as a user would.
import * as tfe from '../../lib';

export interface DenseLayer {
  w: tfe.PrivateTensor;
  b: tfe.PrivateTensor;
}

function randomMatrix(rows: number, cols: number, scale: number): { data: Float64Array; shape: number[] } {
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = (Math.random() * 2 - 1) * scale;
  return { data, shape: [rows, cols] };
}

/** Network A (SecureNN, tf-encrypted): FC 784-128, ReLU, FC 128-128, ReLU, FC 128-10. Random weights. */
export function networkA(cluster: tfe.Cluster): DenseLayer[] {
  const sizes: [number, number][] = [[784, 128], [128, 128], [128, 10]];
  // Glorot-like scale keeps activations inside the polynomial ReLU's interval.
  const values = sizes.flatMap(([i, o]) => [randomMatrix(i, o, Math.sqrt(6 / (i + o))), randomMatrix(1, o, 0.1)]);
  const ts = tfe.definePrivateInput('model-owner', () => values, cluster);
  return sizes.map((_, i) => ({ w: ts[2 * i], b: ts[2 * i + 1] }));
}

/** logits = FC(ReLU(FC(ReLU(FC(x))))): the seed paper's private-prediction program. */
export function forwardA(layers: DenseLayer[], x: tfe.PrivateTensor): tfe.AnyTensor {
  let h: tfe.AnyTensor = x;
  layers.forEach((l, i) => {
    h = tfe.matmul(h, l.w).add(l.b);
    if (i < layers.length - 1) h = tfe.relu(h);
  });
  return h;
}

export function randomImages(batch: number): { data: Float64Array; shape: number[] } {
  const data = new Float64Array(batch * 784);
  for (let i = 0; i < data.length; i++) data[i] = Math.random();
  return { data, shape: [batch, 784] };
}
