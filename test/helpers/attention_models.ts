// A transformer block and the pieces of Keras's attention equations in float64, for the attention
// tests (in process and through the service). TensorFlow.js has no attention layers, so the
// topologies are written here as Keras saves them.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type * as tfe from '../../lib';
import { rnd } from './model_files';

export interface W { name: string; shape: number[]; data: Float32Array }
export const T = 5, D = 6, H = 2, KD = 3, OUT = 3;

export function artifactsOf(topology: unknown, weights: W[]): tfe.ModelArtifacts {
  const data = new Float32Array(weights.reduce((a, w) => a + w.data.length, 0));
  let at = 0;
  for (const w of weights) data.set(w.data, (at += w.data.length) - w.data.length);
  return { modelTopology: topology, weightSpecs: weights.map(({ name, shape }) => ({ name, shape, dtype: 'float32' })), weightData: data.buffer } as unknown as tfe.ModelArtifacts;
}

// ---------- Keras's equations, float64 ----------
export const softmaxRow = (r: number[]) => {
  const m = Math.max(...r), e = r.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
/** x [T, Din] (row-major) times k [Din, ...out] plus b: [T, out]. */
export const linear = (x: number[][], k: Float32Array, b: Float32Array | null, out: number) => x.map((row) => Array.from({ length: out }, (_, o) => row.reduce((a, v, d) => a + v * k[d * out + o], b ? b[o] : 0)));
/** Keras's MultiHeadAttention self-attention (H heads of KD) of x [T, D], weights under `mha/`. */
export function mhaRef(x: number[][], w: Map<string, Float32Array>, mask?: (i: number, j: number) => boolean): number[][] {
  const proj = (part: string) => linear(x, w.get(`mha/${part}/kernel`)!, w.get(`mha/${part}/bias`)!, H * KD); // [T, H * KD]
  const q = proj('query'), k = proj('key'), v = proj('value');
  const heads = x.map(() => new Array<number>(H * KD).fill(0));
  for (let h = 0; h < H; h++)
    for (let i = 0; i < T; i++) {
      const s = softmaxRow(Array.from({ length: T }, (_, j) => (mask && !mask(i, j) ? -Infinity : Array.from({ length: KD }, (_, d) => q[i][h * KD + d] * k[j][h * KD + d]).reduce((a, b) => a + b, 0) / Math.sqrt(KD))));
      for (let j = 0; j < T; j++) for (let d = 0; d < KD; d++) heads[i][h * KD + d] += s[j] * v[j][h * KD + d];
    }
  return linear(heads, w.get('mha/attention_output/kernel')!, w.get('mha/attention_output/bias')!, D);
}
export const layerNormRef = (r: number[], g: Float32Array, b: Float32Array, epsilon = 1e-3) => {
  const m = r.reduce((a, v) => a + v, 0) / r.length, v = r.reduce((a, x) => a + (x - m) ** 2, 0) / r.length;
  return r.map((x, i) => ((x - m) / Math.sqrt(v + epsilon)) * g[i] + b[i]);
};

/** A list of random weights and the function that adds one (name, shape, scale). */
export function weightList(): { weights: W[]; add: (name: string, shape: number[], s: number) => void } {
  const weights: W[] = [];
  return { weights, add: (name, shape, s) => void weights.push({ name, shape, data: rnd(shape.reduce((a, b) => a * b, 1), s) }) };
}

/** MultiHeadAttention 'mha' (H heads of KD over D features): its weights as tf.keras names them. */
export function addMhaWeights(add: (name: string, shape: number[], s: number) => void): void {
  for (const part of ['query', 'key', 'value']) {
    add(`mha/${part}/kernel`, [D, H, KD], 0.8);
    add(`mha/${part}/bias`, [H, KD], 0.2);
  }
  add('mha/attention_output/kernel', [H, KD, D], 0.6);
  add('mha/attention_output/bias', [D], 0.1);
}

// ---------- a transformer block in Keras 2's form (tf.keras, as tensorflowjs_converter writes it) ----------
export function block(mhaConfig: Record<string, unknown> = {}, mhaCall: Record<string, unknown> = { value: ['in', 0, 0] }, mask?: (i: number, j: number) => boolean): { a: tfe.ModelArtifacts; ref: (x: number[][]) => number[] } {
  const { weights, add } = weightList();
  addMhaWeights(add);
  add('ln/gamma', [D], 1);
  add('ln/beta', [D], 0.3);
  add('out/kernel', [D, OUT], 0.7);
  add('out/bias', [OUT], 0.1);
  const layers = [
    { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, T, D] }, inbound_nodes: [] },
    { class_name: 'MultiHeadAttention', config: { name: 'mha', num_heads: H, key_dim: KD, value_dim: null, dropout: 0.1, use_bias: true, output_shape: null, attention_axes: null, kernel_initializer: { class_name: 'GlorotUniform' }, ...mhaConfig }, inbound_nodes: [[['in', 0, 0, mhaCall]]] },
    { class_name: 'Add', config: { name: 'res' }, inbound_nodes: [[['in', 0, 0, {}], ['mha', 0, 0, {}]]] },
    { class_name: 'LayerNormalization', config: { name: 'ln', axis: [2], epsilon: 1e-3, center: true, scale: true }, inbound_nodes: [[['res', 0, 0, {}]]] },
    { class_name: 'GlobalAveragePooling1D', config: { name: 'pool' }, inbound_nodes: [[['ln', 0, 0, {}]]] },
    { class_name: 'Dense', config: { name: 'out', units: OUT }, inbound_nodes: [[['pool', 0, 0, {}]]] },
  ];
  const topology = { class_name: 'Functional', keras_version: '2.15.0', config: { name: 'block', layers, input_layers: [['in', 0, 0]], output_layers: [['out', 0, 0]] } };
  const w = new Map(weights.map((x) => [x.name, x.data]));
  const ref = (x: number[][]) => {
    const m = mhaRef(x, w, mask);
    const ln = x.map((r, i) => layerNormRef(r.map((v, d) => v + m[i][d]), w.get('ln/gamma')!, w.get('ln/beta')!));
    const pooled = Array.from({ length: D }, (_, d) => ln.reduce((a, r) => a + r[d], 0) / T);
    return linear([pooled], w.get('out/kernel')!, w.get('out/bias')!, OUT)[0];
  };
  return { a: artifactsOf(topology, weights), ref };
}

/** Writes artifacts as model.json + weights.bin in a fresh temporary directory; returns the model.json path. */
export function writeArtifacts(a: tfe.ModelArtifacts, prefix = 'tfe-attn-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
  fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
  return path.join(dir, 'model.json');
}
