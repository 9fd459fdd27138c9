// A trained model's Pond variant on disk and in float64: the topology with each ReLU replaced by a
// TfePolynomial layer, the initial coefficients (least-squares fits of ReLU to what each ReLU sees,
// layer by layer, as bench/calibrate.ts does), the variant's files, and plaintext float64 accuracy
// through bench/lib/plain_forward.ts (what the private evaluation approximates).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { POLYNOMIAL_LAYER } from '../../lib/api/layers_spec';
import { readModelJson, readWeights } from '../../lib/api/model';
import type { MnistData } from '../../lib/data/mnist';
import { type Layer, plainModel, type ReluHook } from '../../bench/lib/plain_forward';
import { fitRelu } from '../../bench/lib/relu_fit';

export const WEIGHTS_FILE = 'weights.bin';

export interface ModelFile {
  modelTopology: { class_name: string; config: { name?: string; layers: Layer[] } };
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype?: string }[] }[];
  [k: string]: unknown;
}

const evalPoly = (c: number[], v: number) => c.reduceRight((acc, k) => acc * v + k, 0);

/** Top-1 accuracy of a float64 forward pass (logits out) on `data`. */
export function plainAccuracy(forward: (x: Float64Array, n: number, hook?: ReluHook) => Float64Array, data: MnistData, hook?: ReluHook): number {
  let correct = 0;
  for (let s = 0; s < data.n; s += 500) {
    const m = Math.min(500, data.n - s);
    const out = forward(Float64Array.from(data.images.subarray(s * 784, (s + m) * 784)), m, hook);
    for (let r = 0; r < m; r++) {
      const row = out.subarray(r * 10, r * 10 + 10);
      let best = 0;
      for (let j = 1; j < 10; j++) if (row[j] > row[best]) best = j;
      if (best === data.labels[s + r]) correct++;
    }
  }
  return correct / data.n;
}

/**
 * Least-squares fits of ReLU, one per ReLU of the model in order, each to the values that ReLU
 * sees on `data` when the ReLUs before it are already replaced by their fits.
 */
export function initialFits(modelPath: string, data: MnistData, degree: number): number[][] {
  const plain = plainModel(modelPath);
  const x = Float64Array.from(data.images);
  const fits: number[][] = [];
  for (let j = 0; j < plain.relus; j++) {
    let seen: Float64Array | undefined;
    plain.forward(x, data.n, (i, v) => {
      if (i === j) seen = v;
      return i < j ? v.map((t) => evalPoly(fits[i], t)) : v.map((t) => (t > 0 ? t : 0));
    });
    fits.push(fitRelu(seen!, degree));
  }
  return fits;
}

/** The layers with every relu (a ReLU layer or a relu activation) replaced by a TfePolynomial layer. */
export function withPolynomials(layers: Layer[], fits: number[][]): Layer[] {
  const out: Layer[] = [];
  let i = 0;
  const poly = (name: string): Layer => ({ class_name: POLYNOMIAL_LAYER, config: { name: `${name}_poly`, coeffs: fits[i++] } });
  for (const l of layers) {
    if (l.class_name === 'ReLU') out.push(poly(l.config.name));
    else if (l.config.activation === 'relu') {
      out.push({ ...l, config: { ...l.config, activation: 'linear' } });
      out.push(poly(l.config.name));
    } else out.push(l);
  }
  if (i !== fits.length) throw new Error(`the model has ${i} ReLUs but ${fits.length} fits were given`);
  return out;
}

/** The source model's file and float32 weights by manifest name. */
export function readSource(modelPath: string): { json: ModelFile; weights: Map<string, { data: Float32Array; shape: number[] }> } {
  const json = readModelJson(modelPath) as unknown as ModelFile;
  return { json, weights: readWeights(readModelJson(modelPath), path.dirname(modelPath)) };
}

/**
 * Writes the variant: the source's topology with TfePolynomial layers carrying `fits`, and its
 * weights (same names, shapes and order as the source's manifest) from `weight(name)`.
 */
export function writeVariant(dir: string, source: ModelFile, fits: number[][], weight: (name: string) => Float32Array): string {
  const specs = source.weightsManifest.flatMap((g) => g.weights);
  const parts = specs.map((s) => {
    const data = weight(s.name);
    const n = s.shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new Error(`weight ${s.name}: ${data.length} values, expected ${n}`);
    return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  });
  const json: ModelFile = {
    ...source,
    modelTopology: { ...source.modelTopology, config: { ...source.modelTopology.config, layers: withPolynomials(source.modelTopology.config.layers, fits) } },
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: specs }],
  };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, WEIGHTS_FILE), Buffer.concat(parts));
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, `${JSON.stringify(json)}\n`);
  return file;
}
