// Random TensorFlow.js models (test/helpers/random_models.ts) through the service: deployed with
// default options and under FSS, each asked twice (a pooled query, then a leased one), every
// output against tfjs's own model.predict. What the in-process test (model_random) cannot see:
// the deploy's checks and store, the servers' memory estimate and the leased input's path.
// TFE_RANDOM_MODELS_SEED builds the same models again.
import { randomInt } from 'node:crypto';
import { createRequire } from 'node:module';

import test, { type ExecutionContext } from 'ava';

import { loadPlainModel, type ModelArtifacts, type PredictionClient } from '../lib';

import { randomModels, seeded } from './helpers/random_models';
import { boundFor, outputSensitivity } from './helpers/sensitivity';
import { clusterForFile } from './helpers/service';
import { tfjsArtifacts } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const cluster = clusterForFile(test);

/** Largest |got - want| over the rows (laid end to end in `got`), relative to max(1, |want|). */
function relativeError(got: Float64Array, want: number[][]): number {
  const width = got.length / want.length;
  let worst = 0, scale = 1;
  want.forEach((w, r) => w.forEach((v, j) => ((worst = Math.max(worst, Math.abs(got[r * width + j] - v))), (scale = Math.max(scale, Math.abs(v))))));
  return worst / scale;
}

/** Deploys `artifacts` under `opts.name`, runs `ask`, undeploys; a failure fails the test, naming the model and what it is. */
async function deployed(t: ExecutionContext, owner: PredictionClient, artifacts: ModelArtifacts, opts: { name: string; protocol?: 'fss' }, what: string, ask: () => Promise<void>): Promise<void> {
  try {
    await owner.deploy(artifacts, opts);
    await ask();
  } catch (e) {
    t.fail(`${opts.name}: ${(e as Error).message}: ${what}`);
  } finally {
    await owner.undeploy(opts.name).catch(() => undefined);
  }
}

const SEED = Number(process.env.TFE_RANDOM_MODELS_SEED ?? randomInt(2 ** 31));
const COUNT = 6;

test.serial(`${COUNT} random models deployed and asked twice give tfjs's outputs, with default options and under FSS (seed ${SEED})`, async (t) => {
  const rnd = seeded(SEED);
  const draw = randomModels(tf, rnd);
  const owner = await cluster().connect({ asOwner: true });
  const client = await cluster().connect();
  try {
    for (let i = 0; i < COUNT; i++) {
      const batch = 1 + Math.floor(rnd() * 2);
      const m = draw(batch, [0.5, 2, 8][Math.floor(rnd() * 3)]);
      const what = `seed ${SEED} model ${i} (batch ${batch}): ${m.desc.join(' | ')}`;
      const artifacts = await tfjsArtifacts(tf, m.model);
      // 1e-2, or four times the model's own sensitivity where that is more (an ill-conditioned draw).
      const [nudge] = outputSensitivity(loadPlainModel(artifacts), { data: Float64Array.from(m.x), shape: [batch, ...m.shape] }, seeded(SEED ^ i));
      const bound = boundFor(nudge);
      for (const protocol of [undefined, 'fss'] as const) {
        const name = `random-${i}-${protocol ?? 'default'}`;
        await deployed(t, owner, artifacts, { name, ...(protocol ? { protocol } : {}) }, what, async () => {
          for (let q = 0; q < 2; q++) {
            const p = await client.predict(name, { data: Float64Array.from(m.x), shape: [batch, ...m.shape] });
            const err = relativeError(p.outputs, m.want);
            t.true(err < bound, `${name} query ${q}: error ${err.toExponential(2)} (bound ${bound.toExponential(2)}): ${what}`);
          }
        });
      }
    }
  } finally {
    await Promise.all([owner.close(), client.close()]);
  }
});

test.serial(`2 random models with several inputs, outputs and shared layers deployed and asked give tfjs's outputs, output by output (seed ${SEED})`, async (t) => {
  const rnd = seeded(SEED ^ 0x5eed);
  const draw = randomModels(tf, rnd).several;
  const owner = await cluster().connect({ asOwner: true });
  const client = await cluster().connect();
  try {
    for (let i = 0; i < 2; i++) {
      const batch = 1 + Math.floor(rnd() * 2);
      const m = draw(batch, 2);
      const what = `seed ${SEED} several-model ${i} (batch ${batch}): ${m.desc.join(' | ')}`;
      const name = `random-several-${i}`;
      const artifacts = await tfjsArtifacts(tf, m.model);
      const given = m.xs.map((x, k) => ({ data: Float64Array.from(x), shape: [batch, ...m.inputs[k].shape] }));
      // Per output: 1e-2, or four times its own sensitivity where that is more.
      const bounds = outputSensitivity(loadPlainModel(artifacts), given, seeded(SEED ^ 0x5eed ^ i)).map(boundFor);
      await deployed(t, owner, artifacts, { name }, what, async () => {
        // By name as the model lists its inputs.
        const listed = (await client.models()).find((x) => x.name === name)!;
        const names = listed.inputs?.map((x) => x.name);
        const p = await client.predict(name, names ? Object.fromEntries(names.map((n, k) => [n, given[k]])) : given[0]);
        const parts = p.perOutput ?? [{ outputs: p.outputs }];
        t.is(parts.length, m.want.length, `${name}: outputs: ${what}`);
        parts.forEach((o, k) => {
          const err = relativeError(o.outputs, m.want[k]);
          t.true(err < bounds[k], `${name} output ${k}: error ${err.toExponential(2)} (bound ${bounds[k].toExponential(2)}): ${what}`);
        });
      });
    }
  } finally {
    await Promise.all([owner.close(), client.close()]);
  }
});
