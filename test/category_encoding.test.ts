// CategoryEncoding on token ids (lib/api/layers_embedding.ts), beyond its Keras 3 models'
// predictions (test/keras3_saved_models.test.ts on keras3_more_layer_models.json): Pond runs
// one_hot and count (local) and refuses multi_hot (a relu); it must read a model input (the ids'
// one-hot exists only there); multi_hot on random ids with repeats under both exact protocols.

import test from 'ava';

import * as tfe from '../lib';
import { type Fixture, FIXTURES, fromFixture as artifacts } from './helpers/more_layer_models';
import { startCluster } from './helpers/service';


test('Pond: CategoryEncoding count and one_hot as Keras (local); multi_hot refused (a relu)', async (t) => {
  const pond = new tfe.Cluster({ protocol: 'pond' });
  try {
    for (const name of ['ce2_count', 'ce3_one_hot_several']) {
      const f = FIXTURES[name];
      const m = tfe.loadLayersModel(artifacts(f), { cluster: pond });
      const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: Float64Array.from(f.x!), shape: f.shape! }))));
      const err = Math.max(...f.y.map((v, i) => Math.abs(out.data[i] - v)));
      t.true(err < 2e-3, `${name}: max |Pond - Keras| = ${err}`);
    }
    t.throws(() => tfe.loadLayersModel(artifacts(FIXTURES.ce1_structured_data), { cluster: pond }), { message: /CategoryEncoding.*(exact protocol|securenn)/ });
  } finally {
    await pond.close();
  }
});

test('CategoryEncoding: its settings, and one that reads another layer than the model input, refused by name', (t) => {
  const f = FIXTURES.ce2_count;
  const edited = (edit: (layers: Fixture['topology']['config']['layers']) => void) => {
    const topo = structuredClone(f.topology);
    edit(topo.config.layers);
    return artifacts(f, topo);
  };
  const ce = (ls: Fixture['topology']['config']['layers']) => ls.find((l) => l.class_name === 'CategoryEncoding')!;
  t.throws(() => tfe.loadPlainModel(edited((ls) => (ce(ls).config.output_mode = 'tf_idf'))), { message: /\(CategoryEncoding\): output_mode = "tf_idf" is not supported/ });
  t.throws(() => tfe.loadPlainModel(edited((ls) => (ce(ls).config.sparse = true))), { message: /\(CategoryEncoding\): sparse = true is not supported/ });
  // Reading another layer's output (a linear Activation between): the one-hot exists only at a model input.
  const topo = structuredClone(f.topology);
  const enc = ce(topo.config.layers);
  const lin = { class_name: 'Activation', config: { name: 'lin', activation: 'linear' }, inbound_nodes: structuredClone(enc.inbound_nodes) };
  enc.inbound_nodes = JSON.parse(JSON.stringify(enc.inbound_nodes).replace(/"keras_history":\["[^"]+"/, '"keras_history":["lin"'));
  topo.config.layers.splice(topo.config.layers.indexOf(enc), 0, lin);
  t.throws(() => tfe.loadPlainModel(artifacts(f, topo)), { message: /\(CategoryEncoding\): reads 'lin', not the model's input: a CategoryEncoding must read the model's input directly/ });
});

test('over the service: a structured-data model (ids of two inputs through CategoryEncoding, numbers beside) answers as Keras, its inputs by name', async (t) => {
  const f = FIXTURES.ce1_structured_data as Fixture & { inputs: { x: number[]; shape: number[]; name: string }[] };
  const c = await startCluster({ tls: false });
  try {
    await c.ready();
    const owner = await c.connect({ asOwner: true });
    await owner.deploy(artifacts(f) as never, { name: 'structured' });
    const listed = (await owner.models()).find((m) => m.name === 'structured');
    t.deepEqual(listed?.inputs?.map((i) => [i.name, i.inputEncoding?.oneHot ?? null]), [['tags', 10], ['kind', 5], ['numbers', null]]);
    const p = await owner.predict('structured', Object.fromEntries(f.inputs.map((i) => [i.name, { data: Float64Array.from(i.x), shape: i.shape }])) as never);
    f.y.forEach((v, i) => t.true(Math.abs(p.outputs[i] - v) < 2e-3, `row ${i}: ${p.outputs[i]} vs Keras ${v}`));
    await owner.close();
  } finally {
    await c.stop();
  }
});

test('multi_hot on fresh random ids with repeats, under SecureNN (a relu per value) and FSS (an equality test per value): 1 where an id occurs', async (t) => {
  const { oneLayerModel } = await import('./helpers/one_layer_model');
  const V = 12, k = 5, rows = 30;
  const ids = Array.from({ length: rows * k }, () => Math.floor(Math.random() * (Math.random() < 0.5 ? 3 : V)));
  const want = Array.from({ length: rows }, (_, r) => Array.from({ length: V }, (_, j) => (ids.slice(r * k, r * k + k).includes(j) ? 1 : 0))).flat();
  for (const protocol of ['securenn', 'fss'] as const) {
    const c = new tfe.Cluster({ protocol });
    try {
      const m = tfe.loadLayersModel(oneLayerModel('CategoryEncoding', { num_tokens: V, output_mode: 'multi_hot' }, [k]), { cluster: c });
      const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: Float64Array.from(ids), shape: [rows, k] }))));
      t.deepEqual([...out.data], want, protocol);
      t.is(!!c.transport.traffic().byOp.relu, protocol === 'securenn', `${protocol}: relus only where there is no equality gate`);
    } finally {
      await c.close();
    }
  }
});
