// Networks A, B and C as TensorFlow.js LayersModel files with random (Glorot-scaled) weights, for
// benchmarks that only need the architecture: the trained models live in bench/models/. Also A's
// first layer alone (A1: no round between the servers, so its latency is the service's fixed cost
// per query) and with its ReLU (A1R: that plus one gate).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type NetName = 'A' | 'B' | 'C' | 'A1' | 'A1R';
export type Pool = 'avg' | 'max';

interface Layer {
  class_name: string;
  config: Record<string, unknown>;
}

function glorot(shape: number[], fanIn: number, fanOut: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const s = Math.sqrt(6 / (fanIn + fanOut));
  return Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * s);
}

/** Writes model.json + weights for network `net` into a fresh directory; returns model.json's path. */
export function writeNetwork(net: NetName, pool: Pool = 'avg'): string {
  const layers: Layer[] = [];
  const weights: { name: string; shape: number[]; data: Float32Array }[] = [];
  const dense = (name: string, i: number, o: number, act: string, first = false) => {
    layers.push({ class_name: 'Dense', config: { name, units: o, activation: act, use_bias: true, ...(first ? { batch_input_shape: [null, i] } : {}) } });
    weights.push({ name: `${name}/kernel`, shape: [i, o], data: glorot([i, o], i, o) }, { name: `${name}/bias`, shape: [o], data: glorot([o], o, o).map((v) => v * 0.1) });
  };
  if (net === 'A1' || net === 'A1R') {
    dense('dense_1', 784, 128, net === 'A1R' ? 'relu' : 'linear', true);
  } else if (net === 'A') {
    dense('dense_1', 784, 128, 'relu', true);
    dense('dense_2', 128, 128, 'relu');
    dense('dense_3', 128, 10, 'linear');
  } else {
    const [c1, c2, hidden] = net === 'B' ? [16, 16, 100] : [20, 50, 500];
    const conv = (name: string, cin: number, cout: number, first: boolean) => {
      layers.push({ class_name: 'Conv2D', config: { name, filters: cout, kernel_size: [5, 5], strides: [1, 1], padding: 'valid', activation: 'linear', use_bias: true, ...(first ? { batch_input_shape: [null, 28, 28, 1] } : {}) } });
      weights.push({ name: `${name}/kernel`, shape: [5, 5, cin, cout], data: glorot([5, 5, cin, cout], 25 * cin, 25 * cout) }, { name: `${name}/bias`, shape: [cout], data: new Float32Array(cout) });
    };
    const poolLayer = (name: string) => layers.push({ class_name: pool === 'avg' ? 'AveragePooling2D' : 'MaxPooling2D', config: { name, pool_size: [2, 2], strides: [2, 2], padding: 'valid' } });
    conv('conv_1', 1, c1, true);
    poolLayer('pool_1');
    layers.push({ class_name: 'ReLU', config: { name: 'relu_1' } });
    conv('conv_2', c1, c2, false);
    poolLayer('pool_2');
    layers.push({ class_name: 'ReLU', config: { name: 'relu_2' } });
    layers.push({ class_name: 'Flatten', config: { name: 'flatten' } });
    dense('dense_1', 16 * c2, hidden, 'relu');
    dense('dense_2', hidden, 10, 'linear');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `tfe-net-${net}-`));
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.concat(weights.map((w) => Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength))));
  const json = {
    format: 'layers-model',
    modelTopology: { class_name: 'Sequential', config: { name: `network_${net}`, layers } },
    weightsManifest: [{ paths: ['weights.bin'], weights: weights.map(({ name, shape }) => ({ name, shape, dtype: 'float32' })) }],
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  return path.join(dir, 'model.json');
}
