// A GraphModel through the service (three server processes): the owner's client translates it
// into layers before deploying (the servers read layers only), and a client's answer matches
// TensorFlow.js's GraphModel executor, final softmax included, under SecureNN and FSS; a text
// model's token ids go out one-hot, as for a LayersModel with an Embedding, and its padding mask
// reaches the servers as a note on the layers that apply it (built there from the one-hot); a
// Keras model's recurrent layers, while loops in the graph, answer as Keras does.
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import { attentionGraph } from './helpers/graph_attention';
import { MASK_VOCAB } from './helpers/graph_masks';
import { cnn, reference, textModel, VOCAB } from './helpers/graph_models';
import { clusterForFile } from './helpers/service';

const cluster = clusterForFile(test);

test.serial("a converted CNN's GraphModel deploys from its files and answers as TensorFlow.js runs it", async (t) => {
  const { g, out } = cnn();
  const { file, artifacts } = g.save({ output_0: out }, { input_1: 'input_1' });
  const owner = await cluster().connect({ asOwner: true });
  const client = await cluster().connect();
  try {
    const x = Float64Array.from({ length: 192 }, () => Math.random() * 2 - 1);
    const want = await reference(artifacts, x, [1, 8, 8, 3]);
    for (const protocol of ['securenn', 'fss'] as const) {
      await owner.deploy(file, { name: `graph-${protocol}`, protocol });
      const p = await client.predict(`graph-${protocol}`, { data: x, shape: [1, 8, 8, 3] });
      const err = Math.max(...want.map((v, i) => Math.abs(p.outputs[i] - v)));
      t.true(err < 5e-3, `${protocol}: max |service - tfjs| = ${err} (${[...p.outputs]} vs ${[...want]})`);
    }
  } finally {
    await Promise.all([owner.close(), client.close()]);
  }
});

test.serial("a GraphModel of token ids deploys: the client one-hot encodes the ids and the answer is TensorFlow.js's", async (t) => {
  const { file, artifacts } = textModel('Mean');
  const owner = await cluster().connect({ asOwner: true });
  const client = await cluster().connect();
  try {
    await owner.deploy(file, { name: 'graph-text', protocol: 'fss' });
    t.deepEqual((await client.models()).find((m) => m.name === 'graph-text')?.inputs?.[0].inputEncoding, { oneHot: VOCAB });
    const x = Float64Array.from({ length: 5 }, () => Math.floor(Math.random() * VOCAB));
    const want = await reference(artifacts, x, [1, 5], 'int32');
    const p = await client.predict('graph-text', { data: x, shape: [1, 5] });
    const err = Math.max(...want.map((v, i) => Math.abs(p.outputs[i] - v)));
    t.true(err < 5e-3, `max |service - tfjs| = ${err} (${[...p.outputs]} vs ${[...want]})`);
  } finally {
    await Promise.all([owner.close(), client.close()]);
  }
});

test.serial("a GraphModel's self-attention on padded token ids deploys: the servers apply the padding mask, as TensorFlow.js does", async (t) => {
  const { g, out } = attentionGraph({ padding: { causal: true, ones: 'const' } });
  const { file, artifacts } = g.save({ y: out }, { ids: 'ids' });
  const owner = await cluster().connect({ asOwner: true });
  const client = await cluster().connect();
  try {
    await owner.deploy(file, { name: 'graph-padded', protocol: 'fss' });
    // One padded step in the middle and one at the end: both change the answer when ignored.
    const x = Float64Array.from([1 + Math.floor(Math.random() * (MASK_VOCAB - 1)), 0, 1 + Math.floor(Math.random() * (MASK_VOCAB - 1)), 0]);
    const want = await reference(artifacts, x, [1, 4], 'int32');
    const p = await client.predict('graph-padded', { data: x, shape: [1, 4] });
    const err = Math.max(...want.map((v, i) => Math.abs(p.outputs[i] - v)));
    t.true(err < 5e-3, `max |service - tfjs| = ${err} (${[...p.outputs]} vs ${[...want]})`);
  } finally {
    await Promise.all([owner.close(), client.close()]);
  }
});

test.serial("a GraphModel's recurrent layers (while loops) on padded token ids deploy: Keras's answers", async (t) => {
  const fixtures = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', 'graph_models', 'graph_models.json'), 'utf8'));
  const f = fixtures.padded_recurrent as { model: { weightData: string }; x: number[]; shape: number[]; y: number[] };
  const bytes = Buffer.from(f.model.weightData, 'base64');
  const artifacts = { ...f.model, weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
  const owner = await cluster().connect({ asOwner: true });
  const client = await cluster().connect();
  try {
    await owner.deploy(artifacts as never, { name: 'graph-recurrent', protocol: 'fss' });
    const p = await client.predict('graph-recurrent', { data: Float64Array.from(f.x), shape: f.shape });
    const err = Math.max(...f.y.map((v, i) => Math.abs(p.outputs[i] - v)));
    t.true(err < 5e-3, `max |service - Keras| = ${err} (${[...p.outputs]} vs ${f.y})`);
  } finally {
    await Promise.all([owner.close(), client.close()]);
  }
});
