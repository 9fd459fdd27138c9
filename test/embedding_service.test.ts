// A text model through the service: the owner deploys a tfjs Embedding model, and clients (the
// Node client and the browser client's code, run in Node) send token ids, which they one-hot
// encode before sharing, as the model list tells them (ModelInfo.inputEncoding). Private answers
// against the float64 plaintext of the same model; the servers refuse ids sent without their
// one-hot, from the shape alone.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';

import test from 'ava';
import WebSocket from 'ws';

import * as tfe from '../lib';
import { connect } from '../lib/browser';
import { SERVERS } from '../lib/protocol/party';
import { ask, rawClient } from './helpers/hostile_client';
import { clusterForFile } from './helpers/service';
import { saveTfjsModel } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const V = 40, T = 10;

const cluster = clusterForFile(test);

test.serial('an Embedding model deployed to the cluster predicts token ids like its plaintext, through the Node and browser clients', async (t) => {
  const L = tf.layers;
  const model = tf.sequential({ layers: [L.embedding({ inputDim: V, outputDim: 8, inputLength: T }), L.globalAveragePooling1d({}), L.dense({ units: 12, activation: 'relu' }), L.dense({ units: 3 })] });
  const file = await saveTfjsModel(tf, model, 'tfe-embedding-svc-');
  const owner = await cluster().connect({ asOwner: true });
  await owner.deploy(file, { name: 'text' }); // relu: SecureNN by default
  await owner.close();
  const plain = tfe.loadPlainModel(file);
  const batch = 3;
  const x = Float64Array.from({ length: batch * T }, () => Math.floor(Math.random() * V));
  x[0] = 0;
  x[1] = V - 1;
  const want = plain.forward({ data: x, shape: [batch, T] });
  const close = (got: Float64Array, who: string) => got.forEach((v, i) => t.true(Math.abs(v - want.data[i]) < 1e-2, `${who} [${i}]: ${v} vs ${want.data[i]}`));

  // A fresh client: predict learns the input's encoding from the model list by itself.
  const client = await cluster().connect();
  const p = await client.predict('text', { data: x, shape: [batch, T] });
  t.deepEqual(p.shape, [batch, 3]);
  close(p.data, 'node client');
  const info = (await client.models()).find((m) => m.name === 'text');
  t.deepEqual(info?.inputShape, [T]);
  t.deepEqual(info?.inputEncoding, { oneHot: V });
  // The client refuses a bad id before sharing anything, naming it.
  await t.throwsAsync(client.predict('text', { data: Float64Array.from({ length: T }, (_, i) => (i === 7 ? V : 1)), shape: [1, T] }), { message: /predict\(text\) input: the value at index \[0, 7\] is 40, out of range: token ids must be in \[0, 40\)/ });
  await t.throwsAsync(client.predict('text', { data: new Float64Array(T).fill(0.5), shape: [1, T] }), { message: /the value at index \[0, 0\] is 0.5, not an integer/ });
  await client.close();

  // The browser client's code: the same encoding (lib/api/input_encoding.ts), over wss.
  const cfg = tfe.loadClusterConfig(cluster().config);
  const ca = fs.readFileSync(path.isAbsolute(cfg.ca!) ? cfg.ca! : path.join(cluster().dir, cfg.ca!));
  const browser = await connect(SERVERS.map((s) => `wss://127.0.0.1:${cfg.parties[s as 'server0'].port}`), { socket: (url, protocols) => new WebSocket(url, protocols, { ca }) as never, fracBits: cfg.fracBits });
  try {
    const b = await browser.predict('text', { data: x, shape: [batch, T] });
    close(b.data, 'browser client');
    await t.throwsAsync(browser.predict('text', [[...new Array(T - 1).fill(1), -3]]), { message: /the value at index \[0, 9\] is -3, out of range/ });
  } finally {
    browser.close();
  }

  // Ids sent as they are (a client that skips the encoding): every server refuses the shape.
  const ep = await rawClient(cluster());
  try {
    const answers = await ask(ep, SERVERS, randomUUID(), { type: 'predict', model: 'text', shape: [1, T] });
    for (const a of answers) t.regex(a.ok ? '' : a.error, new RegExp(`model 'text' takes token ids \\[batch, ${T}\\] \\(integers in \\[0, ${V}\\)\\), shared one-hot as \\[batch, ${T},${V}\\], got \\[1,${T}\\]`));
  } finally {
    await ep.close();
  }
});

// A token id out of range of the model as last looked up was answered by looking the model up
// again, so the servers saw a models request that only a bad private value causes (from a review:
// about a bit of the input). Such a refusal is now the client's alone, saying how to look it up.
test.serial('a client refuses a token id out of range without asking the servers, and takes it after models()', async (t) => {
  const L = tf.layers;
  const save = (v2: number) =>
    saveTfjsModel(tf, tf.sequential({ layers: [L.embedding({ inputDim: v2, outputDim: 4, inputLength: T }), L.globalAveragePooling1d({}), L.dense({ units: 3 })] }), 'tfe-embedding-vocab-');
  const owner = await cluster().connect({ asOwner: true });
  const client = await cluster().connect();
  let lookups = 0;
  const models = client.models.bind(client);
  client.models = () => (lookups++, models());
  try {
    await owner.deploy(await save(V), { name: 'vocab', protocol: 'pond' });
    t.deepEqual((await client.predict('vocab', { data: new Float64Array(T).fill(1), shape: [1, T] })).shape, [1, 3]);
    t.is(lookups, 1, 'looked up once, for the first query');
    await owner.undeploy('vocab');
    const file = await save(2 * V); // the same length, a larger vocabulary
    await owner.deploy(file, { name: 'vocab', protocol: 'pond' });
    const x = new Float64Array(T).fill(1);
    x[3] = 2 * V - 1; // only the new vocabulary has it
    await t.throwsAsync(client.predict('vocab', { data: x, shape: [1, T] }), { message: /index \[0, 3\] is 79, out of range: token ids must be in \[0, 40\).*list the models again, client\.models\(\), and retry/ });
    t.is(lookups, 1, 'no request went to the servers for the refused value');
    await client.models();
    const want = tfe.loadPlainModel(file).forward({ data: x, shape: [1, T] });
    const p = await client.predict('vocab', { data: x, shape: [1, T] });
    t.true(want.data.every((w, i) => Math.abs(p.data[i] - w) < 1e-2), `${[...p.data]} vs ${[...want.data]}`);
  } finally {
    await owner.close();
    await client.close();
  }
});

// A long-lived client's description of a model is looked up again when its own check refuses an
// input by it (from a review: after a redeploy with another sequence length or vocabulary, every
// later query failed on the stale description until the application listed the models again).
test.serial('a client looks an Embedding model up again when it was redeployed with another length and vocabulary', async (t) => {
  const L = tf.layers;
  const save = (t2: number, v2: number) =>
    saveTfjsModel(tf, tf.sequential({ layers: [L.embedding({ inputDim: v2, outputDim: 4, inputLength: t2 }), L.globalAveragePooling1d({}), L.dense({ units: 3 })] }), 'tfe-embedding-redeploy-');
  const owner = await cluster().connect({ asOwner: true });
  const client = await cluster().connect();
  try {
    await owner.deploy(await save(T, V), { name: 'again', protocol: 'pond' });
    t.deepEqual((await client.predict('again', { data: new Float64Array(T).fill(1), shape: [1, T] })).shape, [1, 3]);
    await owner.undeploy('again');
    const file = await save(T + 2, 2 * V);
    await owner.deploy(file, { name: 'again', protocol: 'pond' });
    // Longer, with ids only the new vocabulary has: against its plaintext.
    const x = Float64Array.from({ length: T + 2 }, (_, i) => (i * 7) % (2 * V));
    x[0] = 2 * V - 1;
    const want = tfe.loadPlainModel(file).forward({ data: x, shape: [1, T + 2] });
    const p = await client.predict('again', { data: x, shape: [1, T + 2] });
    t.true(want.data.every((w, i) => Math.abs(p.data[i] - w) < 1e-2), `${[...p.data]} vs ${[...want.data]}`);
    // An input the new model refuses too is still refused, naming its input.
    await t.throwsAsync(client.predict('again', { data: new Float64Array(T).fill(1), shape: [1, T] }), { message: /takes token ids \[batch, 12\]/ });
  } finally {
    await owner.close();
    await client.close();
  }
});
