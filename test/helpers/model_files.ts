// LayersModel files written by hand in TensorFlow.js's documented format (so no TensorFlow.js is
// needed), with a float64 forward pass of the same model as the plaintext reference.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type W = { name: string; shape: number[]; data: Float32Array };

export function writeModel(layers: object[], weights: W[], dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-model-'))): string {
  fs.mkdirSync(dir, { recursive: true });
  const bin = Buffer.concat(weights.map((w) => Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)));
  fs.writeFileSync(path.join(dir, 'group1-shard1of1.bin'), bin);
  const json = {
    format: 'layers-model',
    modelTopology: { class_name: 'Sequential', config: { name: 'seq', layers } },
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: weights.map(({ name, shape }) => ({ name, shape, dtype: 'float32' })) }],
  };
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json));
  return path.join(dir, 'model.json');
}

export const rnd = (n: number, s: number) => Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * s);

/** A hidden layer's activation in the reference: one for all, or one per hidden layer. */
type Acts = ((z: number) => number) | ((z: number) => number)[];

/** A Dense-ReLU-...-Dense MLP with random weights, and its float64 forward pass. */
export function mlp(sizes: number[], dir?: string): { file: string; forward: (x: Float64Array, relu: Acts) => Float64Array } {
  const layers: object[] = [];
  const weights: W[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const name = i === 0 ? 'dense' : `dense_${i}`;
    const last = i + 2 === sizes.length;
    layers.push({ class_name: 'Dense', config: { name, units: sizes[i + 1], activation: last ? 'softmax' : 'relu', use_bias: true, ...(i === 0 ? { batch_input_shape: [null, sizes[0]] } : {}) } });
    weights.push({ name: `${name}/kernel`, shape: [sizes[i], sizes[i + 1]], data: rnd(sizes[i] * sizes[i + 1], 1 / Math.sqrt(sizes[i])) });
    weights.push({ name: `${name}/bias`, shape: [sizes[i + 1]], data: rnd(sizes[i + 1], 0.1) });
  }
  const file = writeModel(layers, weights, dir);
  const forward = (x: Float64Array, acts: Acts) => {
    let h = x;
    const batch = x.length / sizes[0];
    for (let i = 0; i + 1 < sizes.length; i++) {
      const [k, b] = [weights[2 * i].data, weights[2 * i + 1].data];
      const m = sizes[i], n = sizes[i + 1], relu = Array.isArray(acts) ? acts[i] : acts;
      const out = new Float64Array(batch * n);
      for (let r = 0; r < batch; r++)
        for (let j = 0; j < n; j++) {
          let z = b[j];
          for (let q = 0; q < m; q++) z += h[r * m + q] * k[q * n + j];
          out[r * n + j] = i + 2 === sizes.length ? z : relu(z);
        }
      h = out;
    }
    return h;
  };
  return { file, forward };
}

/** A Sequential topology of Dense layers (relu between them), for the memory estimates: no weights. */
export const denseTopology = (units: number[], input: number) => ({
  class_name: 'Sequential',
  config: { layers: units.map((u, i) => ({ class_name: 'Dense', config: { name: `d${i}`, units: u, activation: i + 1 < units.length ? 'relu' : 'linear', ...(i === 0 ? { batch_input_shape: [null, input] } : {}) } })) },
});

/**
 * One batch-1 prediction of `model` (an `mlp` deployed) on fresh random inputs in [-1, 1),
 * against the plaintext forward pass (relu between the layers): '' when every output is within
 * `tol`, else both vectors.
 */
export async function mlpMismatch(client: { predict(model: string, x: { data: Float64Array; shape: number[] }): Promise<{ data: ArrayLike<number> }> }, model: string, net: ReturnType<typeof mlp>, inputs: number, tol = 1e-3): Promise<string> {
  const x = Float64Array.from({ length: inputs }, () => Math.random() * 2 - 1);
  const p = await client.predict(model, { data: x, shape: [1, inputs] });
  const want = net.forward(x, (z) => Math.max(z, 0));
  return want.every((w, i) => Math.abs(p.data[i] - w) < tol) ? '' : `${Array.from(p.data)} vs ${Array.from(want)}`;
}
