// A model ending with an activation the client applies (final_activation.ts) is served only to
// clients that say they apply it: a client of an earlier release knew softmax and sigmoid only and
// read an exponential or log_softmax model's logits as its answer (a Poisson model's log-rates as
// its rates). And a client refuses an answer naming an activation it does not know, rather than
// reading it as logits.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

import test from 'ava';

import { readAnswer } from '../lib/browser/outputs';
import { SERVERS } from '../lib/protocol/party';
import { ask, rawClient, withOwnerCluster } from './helpers/hostile_client';
import { kerasArtifacts, kerasFixtures } from './helpers/keras_fixtures';
import { tfjsArtifacts } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

const all = kerasFixtures('keras3_final_models.json');
const artifacts = kerasArtifacts;

test('each server refuses an exponential or log_softmax model to a client that does not say it applies it; softmax models still serve earlier clients', (t) =>
  withOwnerCluster({}, async (c, owner) => {
    const fixtures = { rate: 'f1_poisson_dense_exponential', logp: 'f3_dense_log_softmax' } as const;
    for (const [name, f] of Object.entries(fixtures)) await owner.deploy(artifacts(all[f]), { name, protocol: 'fss' });
    // The Node client of this release names what it applies, and gets Keras's answer.
    const f = all[fixtures.rate];
    const p = await owner.predict('rate', { data: Float64Array.from(f.x as number[]), shape: f.shape });
    f.y.forEach((v, k) => t.true(Math.abs(p.outputs[k] - v) <= 2e-3 * Math.max(1, Math.abs(v)), `rate ${k}: ${p.outputs[k]} vs Keras ${v}`));
    // Batch-1 queries in a row, each taking the lease the one before asked for: a lease's own
    // checks on server1 and server2 are no client's request and ask no finals (they did: the lease
    // was ignored and its query waited out queryTimeoutMs).
    const per = f.x.length / f.shape[0];
    for (let q = 0; q < 3; q++) {
      const one = await owner.predict('rate', { data: Float64Array.from(f.x.slice(0, per) as number[]), shape: [1, ...f.shape.slice(1)] });
      t.true(Math.abs(one.outputs[0] - f.y[0]) <= 2e-3 * Math.max(1, Math.abs(f.y[0])), `batch-1 query ${q}`);
    }
    // Raw requests, with an input shape no model takes: a request that passes the finals check is
    // refused for its shape next, before any work.
    const raw = await rawClient(c);
    try {
      const asking = (model: string, extra: object) => ask(raw, SERVERS, randomUUID(), { type: 'predict', model, shape: [1, 99999], ...extra });
      for (const [model, ending] of [['rate', 'exponential'], ['logp', 'log_softmax']]) {
        for (const a of await asking(model, {}))
          t.regex((a as { error: string }).error, new RegExp(`model '${model}' ends with ${ending}, which this client does not apply \\(a client of an earlier release: softmax and sigmoid only\\); it would read the answers as logits: update the client`));
        for (const a of await asking(model, { finals: ['softmax', 'sigmoid'] })) t.regex((a as { error: string }).error, /which this client does not apply \(it applies softmax, sigmoid\)/);
        for (const a of await asking(model, { finals: [ending] })) t.regex((a as { error: string }).error, /got \[1,99999\]/);
      }
      // A softmax model (an earlier client applies it): no finals needed.
      const soft = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 3, activation: 'softmax' })] });
      await owner.deploy(await tfjsArtifacts(tf, soft), { name: 'soft', protocol: 'fss' });
      for (const a of await asking('soft', {})) t.regex((a as { error: string }).error, /got \[1,99999\]/);
    } finally {
      await raw.close();
    }
  }));

test('a client refuses an answer that names a final activation it does not know, instead of reading logits', (t) => {
  const logits = Float64Array.from([0.5, -1]);
  t.deepEqual([...readAnswer(logits, [1, 2], { finalActivation: 'exponential' }, undefined).outputs], [Math.exp(0.5), Math.exp(-1)]);
  t.deepEqual([...readAnswer(logits, [1, 2], { finalActivation: null }, 'softmax').outputs], [0.5, -1]);
  t.throws(() => readAnswer(logits, [1, 2], { finalActivation: 'sparsemax' }, undefined), { message: /the servers answered with the final activation "sparsemax", which this client does not apply: update the client/ });
  const parts = { outputs: [{ name: 'a', shape: [1], finalActivation: 'sigmoid' }, { name: 'b', shape: [1], finalActivation: 'squareplus' }] };
  t.throws(() => readAnswer(logits, [1, 2], parts, undefined), { message: /"squareplus", which this client does not apply/ });
});
