// The plaintext reference: a float64 forward pass of a LayersModel (the layers tfjs-encrypted
// supports), batched, straight from model.json and the weight files. Returns logits.
import * as path from 'node:path';

import { POLYNOMIAL_LAYER, polynomialForm } from '../../lib/api/layers_spec';
import { readModelJson, readWeights } from '../../lib/api/model';

interface T {
  data: Float64Array;
  shape: number[];
}

export type Layer = { class_name: string; config: Record<string, unknown> & { name: string } };

const pair = (v: unknown, d: number): [number, number] => (Array.isArray(v) ? [Number(v[0]), Number(v[1])] : v === undefined || v === null ? [d, d] : [Number(v), Number(v)]);

function dense(x: T, k: Float32Array, b: Float32Array | undefined, units: number): T {
  const [n, m] = [x.shape[0], x.data.length / x.shape[0]];
  const out = new Float64Array(n * units);
  for (let r = 0; r < n; r++) {
    const o = out.subarray(r * units, (r + 1) * units);
    if (b) for (let j = 0; j < units; j++) o[j] = b[j];
    for (let q = 0; q < m; q++) {
      const xv = x.data[r * m + q];
      if (xv === 0) continue;
      const row = q * units;
      for (let j = 0; j < units; j++) o[j] += xv * k[row + j];
    }
  }
  return { data: out, shape: [n, units] };
}

function outSize(inp: number, k: number, s: number, pad: string): [number, number] {
  if (pad === 'same') {
    const o = Math.ceil(inp / s);
    return [o, Math.max(0, Math.floor(((o - 1) * s + k - inp) / 2))];
  }
  return [Math.floor((inp - k) / s) + 1, 0];
}

function conv(x: T, k: Float32Array, kshape: number[], b: Float32Array | undefined, strides: [number, number], pad: string): T {
  const [n, h, w, cin] = x.shape;
  const [kh, kw, , cout] = kshape;
  const [oh, pt] = outSize(h, kh, strides[0], pad);
  const [ow, pl] = outSize(w, kw, strides[1], pad);
  const out = new Float64Array(n * oh * ow * cout);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < oh; y++)
      for (let xq = 0; xq < ow; xq++) {
        const o = out.subarray(((i * oh + y) * ow + xq) * cout, ((i * oh + y) * ow + xq + 1) * cout);
        if (b) for (let c = 0; c < cout; c++) o[c] = b[c];
        for (let dy = 0; dy < kh; dy++) {
          const iy = y * strides[0] + dy - pt;
          if (iy < 0 || iy >= h) continue;
          for (let dx = 0; dx < kw; dx++) {
            const ix = xq * strides[1] + dx - pl;
            if (ix < 0 || ix >= w) continue;
            for (let ci = 0; ci < cin; ci++) {
              const v = x.data[((i * h + iy) * w + ix) * cin + ci];
              if (v === 0) continue;
              const kr = ((dy * kw + dx) * cin + ci) * cout;
              for (let c = 0; c < cout; c++) o[c] += v * k[kr + c];
            }
          }
        }
      }
  return { data: out, shape: [n, oh, ow, cout] };
}

function pool(x: T, size: [number, number], strides: [number, number], pad: string, kind: 'avg' | 'max'): T {
  const [n, h, w, c] = x.shape;
  const [oh, pt] = outSize(h, size[0], strides[0], pad);
  const [ow, pl] = outSize(w, size[1], strides[1], pad);
  const out = new Float64Array(n * oh * ow * c);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < oh; y++)
      for (let xq = 0; xq < ow; xq++)
        for (let ch = 0; ch < c; ch++) {
          let acc = kind === 'max' ? -Infinity : 0;
          let count = 0;
          for (let dy = 0; dy < size[0]; dy++)
            for (let dx = 0; dx < size[1]; dx++) {
              const iy = y * strides[0] + dy - pt, ix = xq * strides[1] + dx - pl;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const v = x.data[((i * h + iy) * w + ix) * c + ch];
              acc = kind === 'max' ? Math.max(acc, v) : acc + v;
              count++;
            }
          out[((i * oh + y) * ow + xq) * c + ch] = kind === 'max' ? acc : acc / count;
        }
  return { data: out, shape: [n, oh, ow, c] };
}

/** Replaces the ReLU with index `index` (in model order) by something else, e.g. a polynomial. */
export type ReluHook = (index: number, x: Float64Array) => Float64Array;

/**
 * Loads a model and returns its plaintext forward pass (inputs: n x inputShape, flattened), and
 * the number of ReLUs in it (a ReLU layer or a relu activation each count one).
 */
export function plainModel(modelPath: string): { inputShape: number[]; relus: number; layers: Layer[]; forward: (x: Float64Array, n: number, hook?: ReluHook) => Float64Array } {
  const json = readModelJson(modelPath);
  const weights = readWeights(json, path.dirname(modelPath));
  const topo = json.modelTopology as { config: { layers: Layer[] } | Layer[] };
  const layers = Array.isArray(topo.config) ? topo.config : topo.config.layers;
  const first = layers[0].config;
  const inputShape = ((first.batch_input_shape ?? first.batchInputShape) as number[]).slice(1).map(Number);
  const w = (l: Layer, n: string) => weights.get(`${l.config.name}/${n}`);
  const relus = layers.filter((l) => l.class_name === 'ReLU' || l.config.activation === 'relu').length;
  const forward = (x: Float64Array, n: number, hook?: ReluHook): Float64Array => {
    let reluIndex = 0;
    const relu = (t: T): T => ({ data: hook ? hook(reluIndex++, t.data) : t.data.map((v) => (v > 0 ? v : 0)), shape: t.shape });
    const act = (t: T, a: unknown) => (a === 'relu' ? relu(t) : t); // softmax last: logits are compared
    let h: T = { data: x, shape: [n, ...inputShape] };
    for (const l of layers) {
      const c = l.config;
      switch (l.class_name) {
        case 'Dense':
          h = act(dense(h, w(l, 'kernel')!.data, w(l, 'bias')?.data, Number(c.units)), c.activation);
          break;
        case 'Conv2D':
          h = act(conv(h, w(l, 'kernel')!.data, w(l, 'kernel')!.shape, w(l, 'bias')?.data, pair(c.strides, 1), String(c.padding ?? 'valid')), c.activation);
          break;
        case 'AveragePooling2D':
        case 'MaxPooling2D':
          h = pool(h, pair(c.pool_size, 2), pair(c.strides ?? c.pool_size, 2), String(c.padding ?? 'valid'), l.class_name === 'MaxPooling2D' ? 'max' : 'avg');
          break;
        case 'ReLU':
          h = relu(h);
          break;
        case POLYNOMIAL_LAYER: {
          const form = polynomialForm(l);
          const coeffs = 'coeffs' in form ? form.coeffs : Array.from({ length: form.degree + 1 }, (_, i) => w(l, `coeff${i}`)!.data[0]);
          h = { data: h.data.map((v) => coeffs.reduceRight((acc, k) => acc * v + k, 0)), shape: h.shape };
          break;
        }
        case 'Activation':
          h = act(h, c.activation);
          break;
        case 'Flatten':
          h = { data: h.data, shape: [n, h.data.length / n] };
          break;
        case 'Reshape':
          h = { data: h.data, shape: [n, ...(c.target_shape as number[])] };
          break;
        case 'InputLayer':
        case 'Dropout':
          break;
        default:
          throw new Error(`plain forward: layer class ${l.class_name} is not supported`);
      }
    }
    return h.data;
  };
  return { inputShape, relus, layers, forward };
}
