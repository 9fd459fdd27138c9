// The TfePolynomial layer (Pond variants of models): loaded and run privately, it matches the
// plaintext polynomial network, with its coefficients public (in the config) or private (weights,
// what calibration writes); malformed layers are refused naming the layer.
import test, { type ExecutionContext } from 'ava';

import * as tfe from '../lib';
import { rnd, writeModel } from './helpers/model_files';
import { PROTOCOLS } from '../lib/protocol/protocols';

/**
 * Runs x ([2, 16]) through d1 (16 -> 6), the polynomial `coeffs`, d2 (6 -> 3) privately under
 * `protocol`, and checks each output against the float64 forward pass within 2e-3.
 */
async function matchesReference(t: ExecutionContext, file: string, protocol: tfe.ProtocolName, coeffs: number[], w1: Float32Array, w2: Float32Array): Promise<void> {
  const c = new tfe.Cluster({ protocol });
  try {
    const model = tfe.loadLayersModel(file, { cluster: c });
    const x = Float64Array.from({ length: 2 * 16 }, () => Math.random() * 2 - 1);
    const out = await tfe.defineOutput('prediction-client', model.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [2, 16] }), c)));
    for (let r = 0; r < 2; r++)
      for (let j = 0; j < 3; j++) {
        let z = 0;
        for (let h = 0; h < 6; h++) {
          let a = 0;
          for (let k = 0; k < 16; k++) a += x[r * 16 + k] * w1[k * 6 + h];
          z += coeffs.reduceRight((acc, k) => acc * a + k, 0) * w2[h * 3 + j];
        }
        t.true(Math.abs(out.data[r * 3 + j] - z) < 2e-3, `${protocol} ${r},${j}: ${out.data[r * 3 + j]} vs ${z}`);
      }
  } finally {
    await c.close();
  }
}

test('a model with TfePolynomial activations predicts privately like its float64 forward pass', async (t) => {
  const coeffs = [0.3 + Math.random() * 0.1, 0.5, 0.12 + Math.random() * 0.05];
  const w1 = rnd(16 * 6, 0.4), w2 = rnd(6 * 3, 0.4);
  const file = writeModel(
    [
      { class_name: 'Dense', config: { name: 'd1', units: 6, activation: 'linear', use_bias: false, batch_input_shape: [null, 16] } },
      { class_name: 'TfePolynomial', config: { name: 'p1', coeffs } },
      { class_name: 'Dense', config: { name: 'd2', units: 3, activation: 'linear', use_bias: false } },
    ],
    [
      { name: 'd1/kernel', shape: [16, 6], data: w1 },
      { name: 'd2/kernel', shape: [6, 3], data: w2 },
    ],
  );
  for (const protocol of ['pond', 'securenn'] as const) await matchesReference(t, file, protocol, coeffs, w1, w2);
  const bad = writeModel([{ class_name: 'TfePolynomial', config: { name: 'p9', coeffs: [1, 2, 3, 4, 5], batch_input_shape: [null, 2] } }], []);
  t.throws(() => tfe.loadLayersModel(bad, { cluster: new tfe.Cluster() }), { message: /layer 'p9' \(TfePolynomial\) needs coeffs: 2 to 4 finite numbers/ });
});

test('private coefficients (degree, with the coefficients as weights): the same polynomial network, under every protocol', async (t) => {
  const coeffs = [0.3 + Math.random() * 0.1, 0.5, 0.12 + Math.random() * 0.05, -0.01 * Math.random()].map(Math.fround);
  const w1 = rnd(16 * 6, 0.4), w2 = rnd(6 * 3, 0.4);
  const file = writeModel(
    [
      { class_name: 'Dense', config: { name: 'd1', units: 6, activation: 'linear', use_bias: false, batch_input_shape: [null, 16] } },
      { class_name: 'TfePolynomial', config: { name: 'p1', degree: 3 } },
      { class_name: 'Dense', config: { name: 'd2', units: 3, activation: 'linear', use_bias: false } },
    ],
    [
      { name: 'd1/kernel', shape: [16, 6], data: w1 },
      ...coeffs.map((c, i) => ({ name: `p1/coeff${i}`, shape: [1], data: Float32Array.of(c) })),
      { name: 'd2/kernel', shape: [6, 3], data: w2 },
    ],
  );
  for (const protocol of PROTOCOLS) await matchesReference(t, file, protocol, coeffs, w1, w2);
});

test('a TfePolynomial layer is refused naming what is wrong: both forms, a bad degree, a missing coefficient weight', (t) => {
  const load = (config: Record<string, unknown>, weights: { name: string; shape: number[]; data: Float32Array }[] = []) =>
    tfe.loadLayersModel(writeModel([{ class_name: 'TfePolynomial', config: { name: 'p9', batch_input_shape: [null, 2], ...config } }], weights), { cluster: new tfe.Cluster() });
  const coeff = (i: number) => ({ name: `p9/coeff${i}`, shape: [1], data: Float32Array.of(0.5) });
  t.throws(() => load({ coeffs: [1, 2], degree: 1 }), { message: /layer 'p9' \(TfePolynomial\) has both coeffs \(public coefficients\) and degree/ });
  t.throws(() => load({ degree: 4 }), { message: /layer 'p9' \(TfePolynomial\) needs degree 1, 2 or 3, got 4/ });
  t.throws(() => load({ degree: 2 }, [coeff(0), coeff(1)]), { message: /weight 'p9\/coeff2' is missing/ });
  t.notThrows(() => load({ degree: 2 }, [coeff(0), coeff(1), coeff(2)]));
});
