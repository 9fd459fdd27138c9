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

export type Pool = 'avg' | 'max';

interface ConvNet {
  convs: { f: tfe.PrivateTensor; b: tfe.PrivateTensor }[];
  dense: DenseLayer[];
  pool: Pool;
}

function randomTensor(shape: number[], scale: number): { data: Float64Array; shape: number[] } {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: Float64Array.from({ length: n }, () => (Math.random() * 2 - 1) * scale), shape };
}

/**
 * Network B (MiniONN): Conv 5x5x16, pool 2, ReLU, Conv 5x5x16, pool 2, ReLU, FC 256-100, ReLU,
 * FC 100-10. Network C (LeNet): the same with 20 and 50 filters and FC 800-500-10. Random weights.
 */
export function convNet(cluster: tfe.Cluster, which: 'B' | 'C', pool: Pool): ConvNet {
  const [c1, c2, hidden] = which === 'B' ? [16, 16, 100] : [20, 50, 500];
  const flat = 4 * 4 * c2;
  const shapes: number[][] = [[5, 5, 1, c1], [1, 1, 1, c1], [5, 5, c1, c2], [1, 1, 1, c2], [flat, hidden], [1, hidden], [hidden, 10], [1, 10]];
  const fanIn = [25, 1, 25 * c1, 1, flat, 1, hidden, 1];
  const values = shapes.map((s, i) => randomTensor(s, i % 2 ? 0.1 : Math.sqrt(3 / fanIn[i])));
  const ts = tfe.definePrivateInput('model-owner', () => values, cluster);
  return { convs: [{ f: ts[0], b: ts[1] }, { f: ts[2], b: ts[3] }], dense: [{ w: ts[4], b: ts[5] }, { w: ts[6], b: ts[7] }], pool };
}

export function forwardConv(net: ConvNet, x: tfe.PrivateTensor): tfe.AnyTensor {
  let h: tfe.AnyTensor = x;
  for (const { f, b } of net.convs) {
    h = tfe.conv2d(h, f, { padding: 'VALID' }).add(b);
    h = net.pool === 'max' ? tfe.maxPool2d(h, { poolSize: 2 }) : tfe.avgPool2d(h, { poolSize: 2 });
    h = tfe.relu(h);
  }
  h = tfe.flatten(h);
  h = tfe.relu(tfe.matmul(h, net.dense[0].w).add(net.dense[0].b));
  return tfe.matmul(h, net.dense[1].w).add(net.dense[1].b);
}

export function randomImagesNHWC(batch: number): { data: Float64Array; shape: number[] } {
  return { data: Float64Array.from({ length: batch * 784 }, () => Math.random()), shape: [batch, 28, 28, 1] };
}
