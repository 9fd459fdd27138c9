// Random TensorFlow.js models (test/helpers/random_models.ts: convolutions of every kind, pooling,
// normalisation, activations, recurrent layers, merges), fresh each run, loaded privately under
// each exact protocol and as the float64 plaintext (verify's and calibration's reference), all
// against tfjs's own model.predict. A failure names the seed: TFE_RANDOM_MODELS_SEED=<seed>
// builds the same models again (TFE_RANDOM_MODELS=<n> runs more).
import { randomInt } from 'node:crypto';
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { isExact, PROTOCOLS } from '../lib/protocol/protocols';
import { type Final, finalRow } from './helpers/final_rows';
import { randomModels, seeded } from './helpers/random_models';
import { boundFor, outputSensitivity } from './helpers/sensitivity';
import { tfjsArtifacts } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

const SEED = Number(process.env.TFE_RANDOM_MODELS_SEED ?? randomInt(2 ** 31));
const COUNT = Number(process.env.TFE_RANDOM_MODELS ?? 30);

/** Largest |got - want| over rows of `width`, the final activation applied to `got`, relative to max(1, |want|). */
function relativeError(got: Float64Array, want: number[][], final: Final): number {
  const width = got.length / want.length;
  let worst = 0, scale = 1;
  want.forEach((w, r) => {
    const g = finalRow(Array.from(got.subarray(r * width, (r + 1) * width)), final);
    if (g.length !== w.length) throw new Error(`row width ${g.length}, tfjs ${w.length}`);
    w.forEach((v, j) => ((worst = Math.max(worst, Math.abs(g[j] - v))), (scale = Math.max(scale, Math.abs(v)))));
  });
  return worst / scale;
}

test(`${COUNT} random models predict privately as tfjs does, under every exact protocol (seed ${SEED})`, async (t) => {
  const rnd = seeded(SEED);
  const draw = randomModels(tf, rnd);
  for (let i = 0; i < COUNT; i++) {
    const batch = 1 + Math.floor(rnd() * 4), scale = [0.5, 2, 8, 255][Math.floor(rnd() * 4)];
    const m = draw(batch, scale);
    const what = `seed ${SEED} model ${i} (batch ${batch}, inputs up to ${scale}): ${m.desc.join(' | ')}`;
    const artifacts = await tfjsArtifacts(tf, m.model);
    const shape = [batch, ...m.shape];
    // The plaintext model: float64 against tfjs's float32.
    const plain = tfe.loadPlainModel(artifacts);
    t.true(relativeError(plain.forward({ data: Float64Array.from(m.x), shape }).data, m.want, plain.finalActivation) < 1e-3, `plaintext: ${what}`);
    // 1e-2, or four times the model's own sensitivity where that is more (an ill-conditioned draw).
    const [nudge] = outputSensitivity(plain, { data: Float64Array.from(m.x), shape }, seeded(SEED ^ i));
    const bound = boundFor(nudge);
    if (bound > 1e-2) t.log(`model ${i}: bound ${bound.toExponential(2)} (nudged by 2^-12 per layer, the plaintext moves ${nudge.toExponential(2)}): ${what}`);
    for (const protocol of PROTOCOLS.filter(isExact)) {
      const c = new tfe.Cluster({ protocol });
      try {
        const pm = tfe.loadLayersModel(artifacts, { cluster: c });
        const input = m.tokens ? pm.defineInput('prediction-client', () => ({ data: m.x, shape })) : tfe.definePrivateInput('prediction-client', () => ({ data: m.x, shape }), c);
        const out = await tfe.defineOutput('prediction-client', pm.predict(input));
        // 16 fractional bits; smooth activations are piecewise cubics within about 1e-3.
        const err = relativeError(out.data, m.want, pm.finalActivation);
        t.true(err < bound, `${protocol}: error ${err.toExponential(2)} (bound ${bound.toExponential(2)}): ${what}`);
      } catch (e) {
        t.fail(`${protocol}: ${(e as Error).message}: ${what}`);
      } finally {
        await c.close();
      }
    }
  }
});

const COUNT_SEVERAL = Math.max(1, Math.round(COUNT / 3));

test(`${COUNT_SEVERAL} random models with several inputs, several outputs and shared layers predict privately as tfjs does (seed ${SEED})`, async (t) => {
  const rnd = seeded(SEED ^ 0x5eed);
  const draw = randomModels(tf, rnd).several;
  for (let i = 0; i < COUNT_SEVERAL; i++) {
    const batch = 1 + Math.floor(rnd() * 3), scale = [0.5, 2, 8][Math.floor(rnd() * 3)];
    const m = draw(batch, scale);
    const what = `seed ${SEED} several-model ${i} (batch ${batch}, inputs up to ${scale}): ${m.desc.join(' | ')}`;
    const artifacts = await tfjsArtifacts(tf, m.model);
    const given = m.xs.map((x, k) => ({ data: x, shape: [batch, ...m.inputs[k].shape] }));
    const plainModel = tfe.loadPlainModel(artifacts);
    const plain = plainModel.predictOutputs(given);
    plain.forEach((p, k) => t.true(relativeError(p.data, m.want[k], undefined) < 1e-3, `plaintext output ${k}: ${what}`));
    // Per output: 1e-2, or four times its own sensitivity where that is more.
    const bounds = outputSensitivity(plainModel, given, seeded(SEED ^ 0x5eed ^ i)).map(boundFor);
    bounds.forEach((b, k) => b > 1e-2 && t.log(`several-model ${i} output ${k}: bound ${b.toExponential(2)}: ${what}`));
    for (const protocol of PROTOCOLS.filter(isExact)) {
      const c = new tfe.Cluster({ protocol });
      try {
        const pm = tfe.loadLayersModel(artifacts, { cluster: c });
        const outs = pm.predictOutputs(pm.defineInput('prediction-client', () => given));
        const got = await Promise.all(outs.map((o) => tfe.defineOutput('prediction-client', o)));
        t.is(got.length, m.want.length, `${protocol}: outputs: ${what}`);
        got.forEach((g, k) => {
          const err = relativeError(g.data, m.want[k], pm.outputs[k].finalActivation);
          t.true(err < bounds[k], `${protocol} output ${k}: error ${err.toExponential(2)} (bound ${bounds[k].toExponential(2)}): ${what}`);
        });
      } catch (e) {
        t.fail(`${protocol}: ${(e as Error).message}: ${what}`);
      } finally {
        await c.close();
      }
    }
  }
});

test('a seed builds the same random models again, weights included (a failure can be replayed)', (t) => {
  const twice = () => {
    const draw = randomModels(tf, seeded(SEED));
    const several = randomModels(tf, seeded(SEED ^ 0x5eed)).several;
    return [0, 1, 2].map(() => ({ one: draw(2, 2).want, several: several(2, 2).want }));
  };
  t.deepEqual(twice(), twice());
});

