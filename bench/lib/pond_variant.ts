// The float64 side of a model's Pond variant: ReLU's polynomial fits layer by layer, the topology
// with each ReLU replaced by a TfePolynomial layer, and plaintext top-1 accuracy through
// plain_forward.ts (what the private evaluation approximates). Used by bench/calibrate.ts and
// scripts/finetune_pond.ts.
import { POLYNOMIAL_LAYER } from '../../lib/api/layers_spec';
import type { MnistData } from '../../lib/data/mnist';
import { type Layer, plainModel, type ReluHook } from './plain_forward';
import { fitRelu } from './relu_fit';

export const evalPoly = (c: number[], v: number) => c.reduceRight((acc, k) => acc * v + k, 0);


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

/** The hook that evaluates every ReLU as its fitted polynomial. */
export const polynomialHook = (fits: number[][]): ReluHook => (i, v) => v.map((t) => evalPoly(fits[i], t));
