// The TfePolynomial layer (Pond variants of models): loaded and run privately, it matches the
// plaintext polynomial network; malformed coefficients are refused naming the layer.
import test from 'ava';

import * as tfe from '../lib';
import { rnd, writeModel } from './helpers/model_files';

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
  for (const protocol of ['pond', 'securenn'] as const) {
    const c = new tfe.Cluster({ protocol });
    const model = tfe.loadLayersModel(file, { cluster: c });
    const x = Float64Array.from({ length: 2 * 16 }, () => Math.random() * 2 - 1);
    const out = await tfe.defineOutput('prediction-client', model.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [2, 16] }), c)));
    for (let r = 0; r < 2; r++)
      for (let j = 0; j < 3; j++) {
        let z = 0;
        for (let h = 0; h < 6; h++) {
          let a = 0;
          for (let k = 0; k < 16; k++) a += x[r * 16 + k] * w1[k * 6 + h];
          z += (coeffs[0] + coeffs[1] * a + coeffs[2] * a * a) * w2[h * 3 + j];
        }
        t.true(Math.abs(out.data[r * 3 + j] - z) < 2e-3, `${protocol} ${r},${j}: ${out.data[r * 3 + j]} vs ${z}`);
      }
    await c.close();
  }
  const bad = writeModel([{ class_name: 'TfePolynomial', config: { name: 'p9', coeffs: [1, 2, 3, 4, 5], batch_input_shape: [null, 2] } }], []);
  t.throws(() => tfe.loadLayersModel(bad, { cluster: new tfe.Cluster() }), { message: /layer 'p9' \(TfePolynomial\) needs coeffs: 2 to 4 finite numbers/ });
});
