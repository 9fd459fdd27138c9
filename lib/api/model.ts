// Private models from TensorFlow.js's LayersModel format (model.json + weight files; Keras
// models convert to it with the standard converter). The architecture is public to the servers;
// the model owner secret-shares the weights. predict() takes a private input.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { Cluster } from '../protocol/cluster';
import { definePrivateInput } from './define';
import { add, flatten, reshape } from './ops';
import { avgPool2d, conv2d, matmul, relu } from './ops_nonlinear';
import { maxPool2d } from './securenn_ops';
import { getCluster } from './session';
import type { AnyTensor, PrivateTensor } from './tensor';

interface LayerConfig {
  class_name: string;
  config: Record<string, unknown> & { name: string };
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype?: string;
}

export interface LayersModelJson {
  modelTopology: { class_name?: string; config?: { layers?: LayerConfig[] } | LayerConfig[]; model_config?: { class_name: string; config: { layers: LayerConfig[] } } };
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

type Step = (x: AnyTensor) => AnyTensor;

const pair = (v: unknown, d: number): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1])] : v === undefined ? [d, d] : [Number(v), Number(v)]);
const padding = (v: unknown) => (String(v ?? 'valid').toUpperCase() as 'SAME' | 'VALID');

function layersOf(json: LayersModelJson): LayerConfig[] {
  const topo = json.modelTopology;
  const cfg = topo.model_config ? topo.model_config.config : topo.config;
  const layers = Array.isArray(cfg) ? cfg : cfg?.layers;
  const cls = topo.model_config?.class_name ?? topo.class_name;
  if (cls !== 'Sequential' || !Array.isArray(layers)) throw new Error(`loadLayersModel: only Sequential models are supported, got ${String(cls)}`);
  return layers;
}

function activation(layer: LayerConfig, name: unknown, isLast: boolean): Step | undefined {
  const a = String(name ?? 'linear');
  if (a === 'linear') return undefined;
  if (a === 'relu') return (x) => relu(x);
  // The client applies softmax to the logits it receives: it is monotone and needs no privacy.
  if (a === 'softmax' && isLast) return undefined;
  throw new Error(`loadLayersModel: activation '${a}' of layer '${layer.config.name}' (${layer.class_name}) is not supported`);
}

/** Reads the float32 weights of a model, in manifest order. */
function readWeights(json: LayersModelJson, dir: string): Map<string, { data: Float32Array; shape: number[] }> {
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  for (const group of json.weightsManifest) {
    const bytes = Buffer.concat(group.paths.map((p) => fs.readFileSync(path.join(dir, p))));
    let offset = 0;
    for (const w of group.weights) {
      if ((w.dtype ?? 'float32') !== 'float32') throw new Error(`loadLayersModel: weight '${w.name}' has dtype ${w.dtype}; only float32 is supported`);
      const n = w.shape.reduce((a, b) => a * b, 1);
      if (offset + 4 * n > bytes.byteLength) throw new Error(`loadLayersModel: weight files end before '${w.name}' (${bytes.byteLength} bytes)`);
      const data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = bytes.readFloatLE(offset + 4 * i);
      out.set(w.name, { data, shape: w.shape });
      offset += 4 * n;
    }
  }
  return out;
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
  let json: LayersModelJson;
  try {
    json = JSON.parse(fs.readFileSync(modelPath, 'utf8')) as LayersModelJson;
  } catch (e) {
    throw new Error(`loadLayersModel: cannot read ${modelPath}: ${(e as Error).message}`);
  }
  const layers = layersOf(json);
  // Check every layer before touching the weights: an unsupported one is refused up front.
  const supported = new Set(['InputLayer', 'Dense', 'Conv2D', 'AveragePooling2D', 'MaxPooling2D', 'Flatten', 'Reshape', 'ReLU', 'Activation', 'Dropout']);
  for (const l of layers)
    if (!supported.has(l.class_name)) throw new Error(`loadLayersModel: layer '${l.config.name}' of class ${l.class_name} is not supported`);
  const first = layers[0].config;
  const batchShape = (first.batch_input_shape ?? first.batchInputShape) as (number | null)[] | undefined;
  if (!batchShape) throw new Error('loadLayersModel: the first layer has no batch_input_shape');
  const weights = readWeights(json, path.dirname(modelPath));
  const named = (layer: string, w: string) => {
    const v = weights.get(`${layer}/${w}`);
    if (!v) throw new Error(`loadLayersModel: weight '${layer}/${w}' is missing from the weights manifest`);
    return v;
  };
  // Collect the private parameters in order, then share them in one go.
  const params: { data: Float32Array; shape: number[] }[] = [];
  const take = (v: { data: Float32Array; shape: number[] }, shape = v.shape) => params.push({ data: v.data, shape }) - 1;
  const plan: ((p: PrivateTensor[]) => Step)[] = [];
  layers.forEach((l, i) => {
    const c = l.config;
    const isLast = i === layers.length - 1;
    const act = (step: (p: PrivateTensor[]) => Step) => {
      plan.push(step);
      const a = activation(l, c.activation, isLast);
      if (a) plan.push(() => a);
    };
    switch (l.class_name) {
      case 'InputLayer':
      case 'Dropout':
        break;
      case 'Dense': {
        const k = take(named(c.name, 'kernel'));
        const b = c.use_bias === false ? -1 : take(named(c.name, 'bias'), [1, Number(c.units)]);
        act((p) => (x) => (b < 0 ? matmul(x, p[k]) : add(matmul(x, p[k]), p[b])));
        break;
      }
      case 'Conv2D': {
        if (c.data_format && c.data_format !== 'channels_last') throw new Error(`loadLayersModel: layer '${c.name}' uses ${String(c.data_format)}; only channels_last`);
        const k = take(named(c.name, 'kernel'));
        const b = c.use_bias === false ? -1 : take(named(c.name, 'bias'), [1, 1, 1, Number(c.filters)]);
        const strides = pair(c.strides, 1);
        act((p) => (x) => {
          const y = conv2d(x, p[k], { strides, padding: padding(c.padding) });
          return b < 0 ? y : add(y, p[b]);
        });
        break;
      }
      case 'AveragePooling2D':
        plan.push(() => (x) => avgPool2d(x, { poolSize: pair(c.pool_size, 2), strides: pair(c.strides ?? c.pool_size, 2), padding: padding(c.padding) }));
        break;
      case 'MaxPooling2D':
        plan.push(() => (x) => maxPool2d(x, { poolSize: pair(c.pool_size, 2), strides: pair(c.strides ?? c.pool_size, 2), padding: padding(c.padding) }));
        break;
      case 'Flatten':
        plan.push(() => (x) => flatten(x));
        break;
      case 'Reshape': {
        const target = (c.target_shape as number[]).map(Number);
        plan.push(() => (x) => reshape(x, [x.shape[0], ...target]));
        break;
      }
      case 'ReLU':
        plan.push(() => (x) => relu(x));
        break;
      case 'Activation': {
        const a = activation(l, c.activation, isLast);
        if (a) plan.push(() => a);
        break;
      }
    }
  });
  const shared = params.length ? definePrivateInput(opts.owner ?? 'model-owner', () => params.map((p) => ({ data: p.data, shape: p.shape })), cluster) : [];
  const steps = plan.map((f) => f(shared));
  return new PrivateModel(cluster, layers.map((l) => `${l.class_name}:${l.config.name}`), batchShape.slice(1).map(Number), steps);
}
