// Private models from TensorFlow.js's LayersModel format (model.json + weight files; Keras
// models convert to it with the standard converter). The architecture is public to the servers;
// the model owner secret-shares the weights. predict() takes a private input.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Cluster } from '../protocol/cluster';
import { definePrivateInput } from './define';
import { type LayersModelJson, manifestShapes, type ModelSpec, parseTopology, type Step } from './layers_spec';
import { getCluster } from './session';
import type { AnyTensor, PrivateTensor } from './tensor';

export type { LayersModelJson } from './layers_spec';

/** Reads model.json; errors name the file. */
export function readModelJson(modelPath: string): LayersModelJson {
  try {
    return JSON.parse(fs.readFileSync(modelPath, 'utf8')) as LayersModelJson;
  } catch (e) {
    throw new Error(`cannot read ${modelPath}: ${(e as Error).message}`);
  }
}

/** Reads the float32 weights of a model, in manifest order. */
export function readWeights(json: LayersModelJson, dir: string): Map<string, { data: Float32Array; shape: number[] }> {
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const group of json.weightsManifest) {
    const bytes = Buffer.concat(group.paths.map((p) => fs.readFileSync(path.join(dir, p))));
    let offset = 0;
    for (const w of group.weights) {
      if ((w.dtype ?? 'float32') !== 'float32') throw new Error(`weight '${w.name}' has dtype ${w.dtype}; only float32 is supported`);
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (offset + 4 * n > bytes.byteLength) throw new Error(`weight files end before '${w.name}' (${bytes.byteLength} bytes)`);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = bytes.readFloatLE(offset + 4 * i);
      out.set(w.name, { data, shape: w.shape });
      offset += 4 * n;
    }
  }
  return out;
}

/** A parsed model file: its spec, and the plaintext parameters in the spec's order (owner only). */
export function readLayersModel(modelPath: string): { json: LayersModelJson; spec: ModelSpec; params: { data: Float32Array; shape: number[] }[] } {
  const json = readModelJson(modelPath);
  const shapes = manifestShapes(json);
  const spec = parseTopology(json.modelTopology, (n) => shapes.get(n));
  const weights = readWeights(json, path.dirname(modelPath));
  const params = spec.params.map((p) => ({ data: weights.get(p.weight)!.data, shape: p.shape }));
  return { json, spec, params };
}

export class PrivateModel {
  constructor(readonly cluster: Cluster, readonly layers: string[], readonly inputShape: number[], private readonly steps: Step[]) {}

  /** Runs the model on a private input; returns the private output (logits if softmax was last). */
  predict(x: PrivateTensor): AnyTensor {
    return this.steps.reduce<AnyTensor>((h, step) => step(h), x);
  }
}

/**
 * Loads a TensorFlow.js LayersModel (a path to model.json) as a private model: the weights are
 * secret-shared by `owner` (default 'model-owner'). Supported: InputLayer, Dense, Conv2D,
 * AveragePooling2D, MaxPooling2D (SecureNN), Flatten, Reshape, ReLU, Activation, Dropout
 * (identity at inference); a final softmax is left to the client. Anything else is refused,
 * naming the layer and its class.
 */
export function loadLayersModel(modelPath: string, opts: { cluster?: Cluster; owner?: string } = {}): PrivateModel {
  const cluster = opts.cluster ?? getCluster();
  let model: ReturnType<typeof readLayersModel>;
  try {
    model = readLayersModel(modelPath);
  } catch (e) {
    throw new Error(`loadLayersModel: ${(e as Error).message}`);
  }
  const { spec, params } = model;
  const shared = params.length ? definePrivateInput(opts.owner ?? 'model-owner', () => params.map((p) => ({ data: p.data, shape: p.shape })), cluster) : [];
  return new PrivateModel(cluster, spec.layers, spec.inputShape, spec.build(shared));
}
