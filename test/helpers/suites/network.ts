// The seed paper's network end to end: 784-128-128-10, relu between layers, batch 1, random
// (Glorot-uniform) weights. The reference runs the same network in float64 with the same
// activation (Pond: the relu polynomial), and carries an error bound alongside every value:
//   layer:  |h~ W~ + b~ - (h W + b)| <= sum_j prodErr(h_j, e_j, W_jk, eW) + U + eb
//           (fact 3 per term, one truncation of the whole sum, the bias' own error);
//   relu:   polyBound(coeffs, v, e) for the polynomial, e itself for an exact relu.
// It is checked twice: against the float64 network (encoding errors of every weight count),
// and against the network on the encoded weights and input, where only the protocol's
// truncations remain, for a bound many times tighter.
import test, { type ExecutionContext } from 'ava';

import * as tfe from '../../../lib';
import { enc, f64, polyBound, prodErr, U, within } from '../fixed';
import { priv, type Protocol, TRAITS, withCluster } from './harness';

interface Layer {
  w: Float64Array;
  b: Float64Array;
  inDim: number;
  outDim: number;
}

const glorot = (i: number, o: number) => Float64Array.from({ length: i * o }, () => (Math.random() * 2 - 1) * Math.sqrt(6 / (i + o)) || 0.01);

/** Forward pass with a bound per output; `encoded` runs it on the encodings (error 0 at input). */
function forward(x: Float64Array, layers: Layer[], exactRelu: boolean, encoded: boolean): { out: number[]; err: number[] } {
  const e0 = encoded ? 0 : U / 2;
  const val = (v: number) => (encoded ? enc(v) : v);
  const poly = tfe.reluPolynomial();
  let h = Array.from(x, val);
  let err = h.map(() => e0);
  layers.forEach((l, li) => {
    const out: number[] = [], e: number[] = [];
    for (let k = 0; k < l.outDim; k++) {
      let acc = 0, bound = 0, abs = 0;
      for (let j = 0; j < l.inDim; j++) {
        const w = val(l.w[j * l.outDim + k]);
        acc += h[j] * w;
        abs += Math.abs(h[j] * w);
        bound += prodErr(h[j], err[j], w, e0);
      }
      out.push(acc + val(l.b[k]));
      e.push(bound + U + e0 + f64(abs + Math.abs(l.b[k]), l.inDim + 1));
    }
    if (li === layers.length - 1) [h, err] = [out, e];
    else if (exactRelu) [h, err] = [out.map((v) => Math.max(v, 0)), e];
    else [h, err] = [out.map((v) => tfe.evalPolynomial(poly, v)), out.map((v, k) => polyBound(poly.coeffs, v, e[k]))];
  });
  return { out: h, err };
}

function check(t: ExecutionContext, got: Float64Array, x: Float64Array, layers: Layer[], exactRelu: boolean, what: string, spreadCheck = true): void {
  const real = forward(x, layers, exactRelu, false);
  const fixed = forward(x, layers, exactRelu, true);
  within(t, got, real.out, (i) => real.err[i], `${what} vs float64`);
  within(t, got, fixed.out, (i) => fixed.err[i], `${what} vs float64 on the encodings`);
  if (!spreadCheck) return;
  // The tight bound is far below the spread of ten logits: a wrong bias or a dropped layer fails.
  const spread = Math.max(...real.out) - Math.min(...real.out);
  if (process.env.SUITE_LOG) t.log(`${what}: bounds ${Math.max(...real.err)} and ${Math.max(...fixed.err)}, spread ${spread}`);
  t.true(Math.max(...fixed.err) < spread / 100, `${what}: bound ${Math.max(...fixed.err)} vs spread ${spread}`);
}

export function networkSuite(protocol: Protocol): void {
  const { exactRelu } = TRAITS[protocol];

  test(`${protocol}: the seed's 784-128-128-10 relu network matches float64 with the same activation`, (t) =>
    withCluster(protocol, async (c) => {
      const dims = [784, 128, 128, 10];
      const layers: Layer[] = dims.slice(1).map((o, i) => ({ w: glorot(dims[i], o), b: Float64Array.from({ length: o }, () => Math.random() * 0.2 - 0.1 || 0.01), inDim: dims[i], outDim: o }));
      const params = tfe.definePrivateInput('model-owner', () => layers.flatMap((l) => [{ data: l.w, shape: [l.inDim, l.outDim] }, { data: l.b, shape: [1, l.outDim] }]), c);
      const predict = (image: Float64Array): tfe.AnyTensor => {
        let h: tfe.AnyTensor = tfe.definePrivateInput('prediction-client', () => ({ data: image, shape: [1, 784] }), c);
        layers.forEach((_, i) => {
          h = tfe.matmul(h, params[2 * i]).add(params[2 * i + 1]);
          if (i < layers.length - 1) h = tfe.relu(h);
        });
        return h;
      };
      // Pixels in (0, 1], as a normalised image.
      const images = [0, 1].map(() => Float64Array.from({ length: 784 }, () => 1 - Math.random()));
      const first = await tfe.defineOutput('prediction-client', predict(images[0]));
      t.deepEqual(first.shape, [1, 10]);
      check(t, first.data, images[0], layers, exactRelu, 'first prediction');
      // A second prediction reuses the masked weights: it must be just as right.
      const second = await tfe.defineOutput('prediction-client', predict(images[1]));
      check(t, second.data, images[1], layers, exactRelu, 'second prediction (cached weight masks)');
    }));

  test(`${protocol}: a batch of 4 through the same network agrees with four batch-1 references`, (t) =>
    withCluster(protocol, async (c) => {
      const dims = [64, 16, 3];
      const layers: Layer[] = dims.slice(1).map((o, i) => ({ w: glorot(dims[i], o), b: Float64Array.from({ length: o }, () => Math.random() - 0.5 || 0.01), inDim: dims[i], outDim: o }));
      const batch = Float64Array.from({ length: 4 * 64 }, () => 1 - Math.random());
      let h: tfe.AnyTensor = priv(c, batch, [4, 64], 'prediction-client');
      layers.forEach((l, i) => {
        h = h.matmul(priv(c, l.w, [l.inDim, l.outDim], 'model-owner')).add(priv(c, l.b, [l.outDim], 'model-owner'));
        if (i === 0) h = h.relu();
      });
      const got = (await tfe.defineOutput('prediction-client', h)).data;
      for (let r = 0; r < 4; r++) check(t, got.slice(r * 3, r * 3 + 3), batch.slice(r * 64, (r + 1) * 64), layers, exactRelu, `row ${r}`, false);
    }));
}
