// Keras's Masking layer on padded numeric sequences: a step whose features all equal mask_value
// is skipped by the recurrent layers after it (their state carried over it) and set to 0 in
// Masking's own output. The mask is computed privately (one equality test per value and one per
// step): the servers never see which steps are padding. Against tfjs's own model.predict on pre-,
// post- and interleaved padding, an all-padding row and steps that equal mask_value in some
// features only; privately (SecureNN, FSS) and in the float64 plaintext; and refusals.
import { createRequire } from 'node:module';

import test from 'ava';

import * as tfe from '../lib';
import { startCluster, type TestCluster } from './helpers/service';
import { expectRowsMatch } from './helpers/tfjs_compare';
import { tfjsArtifacts } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const L = () => tf.layers;

const T = 6, F = 3;
/** Rows of [T, F] with the padding steps filled with `pad`; one step equal to pad in two of its three features only (not masked). */
function rows(pad: number): number[][][] {
  const step = () => Array.from({ length: F }, () => Math.round((Math.random() * 4 - 2) * 100) / 100 || 0.5);
  const p = () => new Array<number>(F).fill(pad);
  const r = (kinds: string) => [...kinds].map((k) => (k === 'p' ? p() : k === 'h' ? [pad, pad, pad + 0.75] : step()));
  return [r('xxxppp'), r('pppxxx'), r('xpxpxx'), r('pppppp'), r('xxxxxx'), r('xhxxpp')];
}

/** [T, F] -> Masking(pad) -> `body` -> Dense(2). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function masked(pad: number, body: (x: any) => any): any {
  const x = tf.input({ shape: [T, F], name: 'series' });
  const m = L().masking({ maskValue: pad }).apply(x);
  return tf.model({ inputs: x, outputs: L().dense({ units: 2 }).apply(body(m)) });
}

const CASES: { name: string; pad: number; protocol?: 'fss'; build: (pad: number) => unknown }[] = [
  { name: 'LSTM after Masking(0)', pad: 0, build: (p) => masked(p, (x) => L().lstm({ units: 4 }).apply(x)) },
  { name: 'GRU after Masking(-1) and a per-step Dense, under FSS', pad: -1, protocol: 'fss', build: (p) => masked(p, (x) => L().gru({ units: 3 }).apply(L().timeDistributed({ layer: L().dense({ units: 4, activation: 'tanh' }) }).apply(x))) },
  { name: 'stacked SimpleRNNs after Masking(2.5), the first returning sequences', pad: 2.5, build: (p) => masked(p, (x) => L().simpleRNN({ units: 3 }).apply(L().simpleRNN({ units: 3, returnSequences: true }).apply(x))) },
  { name: "Masking(-1)'s own output, flattened (its masked steps are 0)", pad: -1, build: (p) => masked(p, (x) => L().flatten().apply(x)) },
];

for (const c of CASES)
  test(`Masking: ${c.name} computes what tfjs computes`, async (t) => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const model: any = c.build(c.pad);
    const x = rows(c.pad);
    const want: number[][] = model.predict(tf.tensor3d(x)).arraySync();
    const artifacts = await tfjsArtifacts(tf, model);
    const data = Float64Array.from(x.flat(2)), shape = [x.length, T, F];
    expectRowsMatch(t, tfe.loadPlainModel(artifacts).forward({ data, shape }).data, want, undefined, 1e-4);
    const cl = new tfe.Cluster(c.protocol ? { protocol: c.protocol } : {});
    try {
      const m = tfe.loadLayersModel(artifacts, { cluster: cl });
      const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data, shape }))));
      expectRowsMatch(t, out.data, want, undefined, 1e-2);
    } finally {
      await cl.close();
    }
  });

test('Masking: refused where tfjs and Keras would differ, and under Pond where it compares', async (t) => {
  // A masked mean: Keras averages over the kept steps, tfjs over all.
  const mean = await tfjsArtifacts(tf, masked(0, (x) => L().globalAveragePooling1d().apply(x)));
  t.throws(() => tfe.loadPlainModel(mean), { message: /reads the mask of Masking '.*', which Keras applies here and tfjs does not/ });
  // Through a Conv1D (which tfjs passes the mask through and Keras drops it at) to an LSTM: the advice names Masking.
  const conv = await tfjsArtifacts(tf, masked(0, (x) => L().lstm({ units: 2 }).apply(L().conv1d({ filters: 3, kernelSize: 2 }).apply(x))));
  t.throws(() => tfe.loadPlainModel(conv), { message: /put the recurrent layer after the Masking layer .* or drop the Masking layer/ });
  const cl = new tfe.Cluster({ protocol: 'pond' });
  try {
    const flat = await tfjsArtifacts(tf, masked(-1, (x) => L().flatten().apply(x)));
    t.throws(() => tfe.loadLayersModel(flat, { cluster: cl }), { message: /Masking|exact/ });
  } finally {
    await cl.close();
  }
});

let service: TestCluster | undefined;
test.after.always(async () => service?.stop());

test.serial('Masking: an LSTM on padded series deploys and predicts through the service as tfjs computes it', async (t) => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const model: any = masked(-1, (x) => L().lstm({ units: 3 }).apply(x));
  const x = rows(-1);
  service = await startCluster();
  await service.ready();
  const owner = await service.connect({ asOwner: true });
  await owner.deploy(await tfjsArtifacts(tf, model), { name: 'series' });
  await owner.close();
  const client = await service.connect();
  const p = await client.predict('series', { data: Float64Array.from(x.flat(2)), shape: [x.length, T, F] });
  expectRowsMatch(t, p.data, model.predict(tf.tensor3d(x)).arraySync(), undefined, 1e-2);
  // What each server sends does not depend on which steps are padding: none, all, every other.
  const sent = async (kinds: string) => {
    const row = [...kinds].map((k) => (k === 'p' ? new Array<number>(F).fill(-1) : [0.5, -1.5, 2]));
    return (await client.predict('series', { data: Float64Array.from(row.flat()), shape: [1, T, F] }, { last: true })).serverTraffic.map((s) => [s.bytes, s.messages, s.rounds]);
  };
  const none = await sent('xxxxxx');
  t.deepEqual(await sent('pppppp'), none);
  t.deepEqual(await sent('xpxpxp'), none);
  await client.close();
});
