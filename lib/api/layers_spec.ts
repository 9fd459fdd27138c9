// The public half of a LayersModel: its architecture, parsed into the private steps it takes and
// the list of parameters (weights) it needs. The model owner and every server parse the same
// topology, so they agree on the parameters' order and shapes without any weight leaving the owner.
import { add, flatten, reshape } from './ops';
import { avgPool2d, conv2d, matmul, polynomial, relu } from './ops_nonlinear';
import { maxPool2d } from './securenn_ops';
import type { AnyTensor, PrivateTensor } from './tensor';

interface LayerConfig {
  class_name: string;
  config: Record<string, unknown> & { name: string };
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype?: string;
}

export interface ModelTopology {
  class_name?: string;
  config?: { layers?: LayerConfig[] } | LayerConfig[];
  model_config?: { class_name: string; config: { layers: LayerConfig[] } };
}

export interface LayersModelJson {
  modelTopology: ModelTopology;
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

export type Step = (x: AnyTensor) => AnyTensor;

/**
 * tfjs-encrypted's own layer: sum_i coeffs[i] x^i elementwise (degree 1 to 3). A Pond variant of a
 * model replaces each ReLU by the polynomial fitted to what that ReLU sees (bench/calibrate.ts).
 */
export const POLYNOMIAL_LAYER = 'TfePolynomial';

/** The coefficients of a TfePolynomial layer, checked. */
export function polynomialCoeffs(layer: { config: Record<string, unknown> & { name: string } }): number[] {
  const c = layer.config.coeffs;
  if (!Array.isArray(c) || c.length < 2 || c.length > 4 || !c.every((v) => typeof v === 'number' && Number.isFinite(v)))
    throw new Error(`layer '${layer.config.name}' (${POLYNOMIAL_LAYER}) needs coeffs: 2 to 4 finite numbers (degree 1 to 3)`);
  return c as number[];
}

/** One private parameter: which weight of the manifest, and the shape it is used with. */
export interface ParamSpec {
  weight: string;
  shape: number[];
}

export interface ModelSpec {
  /** 'Class:name' per layer. */
  layers: string[];
  /** The input shape without the batch dimension. */
  inputShape: number[];
  params: ParamSpec[];
  /** Whether the model uses layers only SecureNN runs (MaxPooling2D). */
  needsSecureNN: boolean;
  /** The steps of predict() over the shared parameters (in `params` order). */
  build(params: PrivateTensor[]): Step[];
}

export const SUPPORTED_LAYERS: readonly string[] = ['InputLayer', 'Dense', 'Conv2D', 'AveragePooling2D', 'MaxPooling2D', 'Flatten', 'Reshape', 'ReLU', 'Activation', 'Dropout', POLYNOMIAL_LAYER];

const pair = (v: unknown, d: number): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1])] : v === undefined ? [d, d] : [Number(v), Number(v)]);
const padding = (v: unknown) => (String(v ?? 'valid').toUpperCase() as 'SAME' | 'VALID');

function layersOf(topo: ModelTopology): LayerConfig[] {
  if (!topo || typeof topo !== 'object') throw new Error('modelTopology is missing');
  const cfg = topo.model_config ? topo.model_config.config : topo.config;
  const layers = Array.isArray(cfg) ? cfg : cfg?.layers;
  const cls = topo.model_config?.class_name ?? topo.class_name;
  if (cls !== 'Sequential' || !Array.isArray(layers)) throw new Error(`only Sequential models are supported, got ${String(cls)}`);
  if (layers.length === 0) throw new Error('the model has no layers');
  for (const l of layers)
    if (!l || typeof l.class_name !== 'string' || !l.config || typeof l.config.name !== 'string') throw new Error('a layer lacks class_name or config.name');
  return layers;
}

function activation(layer: LayerConfig, name: unknown, isLast: boolean): Step | undefined {
  const a = String(name ?? 'linear');
  if (a === 'linear') return undefined;
  if (a === 'relu') return (x) => relu(x);
  // The client applies softmax to the logits it receives: it is monotone and needs no privacy.
  if (a === 'softmax' && isLast) return undefined;
  throw new Error(`activation '${a}' of layer '${layer.config.name}' (${layer.class_name}) is not supported`);
}

/**
 * Parses a Sequential topology. `weightShape` gives each weight's shape from the manifest.
 * Unsupported layers are refused up front, naming the layer and its class.
 */
export function parseTopology(topo: ModelTopology, weightShape: (name: string) => number[] | undefined): ModelSpec {
  const layers = layersOf(topo);
  for (const l of layers)
    if (!SUPPORTED_LAYERS.includes(l.class_name)) throw new Error(`layer '${l.config.name}' of class ${l.class_name} is not supported`);
  const first = layers[0].config;
  const batchShape = (first.batch_input_shape ?? first.batchInputShape) as (number | null)[] | undefined;
  if (!Array.isArray(batchShape)) throw new Error('the first layer has no batch_input_shape');
  const inputShape = batchShape.slice(1).map(Number);
  if (!inputShape.every((d) => Number.isSafeInteger(d) && d > 0)) throw new Error(`input shape [${batchShape.slice(1)}] must be fully known`);
  const params: ParamSpec[] = [];
  const take = (layer: string, w: string, shape?: number[]) => {
    const weight = `${layer}/${w}`;
    const s = weightShape(weight);
    if (!s) throw new Error(`weight '${weight}' is missing from the weights manifest`);
    return params.push({ weight, shape: shape ?? s }) - 1;
  };
  const plan: ((p: PrivateTensor[]) => Step)[] = [];
  let needsSecureNN = false;
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
        const k = take(c.name, 'kernel');
        const b = c.use_bias === false ? -1 : take(c.name, 'bias', [1, Number(c.units)]);
        act((p) => (x) => (b < 0 ? matmul(x, p[k]) : add(matmul(x, p[k]), p[b])));
        break;
      }
      case 'Conv2D': {
        if (c.data_format && c.data_format !== 'channels_last') throw new Error(`layer '${c.name}' uses ${String(c.data_format)}; only channels_last`);
        const k = take(c.name, 'kernel');
        const b = c.use_bias === false ? -1 : take(c.name, 'bias', [1, 1, 1, Number(c.filters)]);
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
        needsSecureNN = true;
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
      case POLYNOMIAL_LAYER: {
        const coeffs = polynomialCoeffs(l);
        plan.push(() => (x) => polynomial(x, { coeffs, interval: [-Infinity, Infinity], maxError: Number.NaN }, 'poly'));
        break;
      }
      case 'Activation': {
        const a = activation(l, c.activation, isLast);
        if (a) plan.push(() => a);
        break;
      }
    }
  });
  return {
    layers: layers.map((l) => `${l.class_name}:${l.config.name}`),
    inputShape,
    params,
    needsSecureNN,
    build: (shared) => {
      if (shared.length !== params.length) throw new Error(`${shared.length} parameters given, ${params.length} expected`);
      return plan.map((f) => f(shared));
    },
  };
}

/** The weight shapes a manifest declares. */
export function manifestShapes(json: LayersModelJson): Map<string, number[]> {
  if (!Array.isArray(json.weightsManifest)) throw new Error('weightsManifest is missing');
  const out = new Map<string, number[]>();
  for (const g of json.weightsManifest) for (const w of g.weights) out.set(w.name, w.shape);
  return out;
}
