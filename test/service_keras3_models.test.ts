// Real Keras 3 models with this library's newer layers through the service (three server
// processes): what the in-process test (keras3_saved_models) cannot see. A Normalization whose
// mean and variance were in its config reaches the servers as weights (the deploy's manifest and
// shares), a ConvNeXt's LayerScale weight renamed, a depthwise convolution dealt by server2, a
// masked Attention's mask: each answer against Keras's own predict.
import * as fs from 'node:fs';
import * as path from 'node:path';

import test from 'ava';

import type { ClientInput, ModelArtifacts } from '../lib';

import { clusterForFile } from './helpers/service';

const cluster = clusterForFile(test);

interface Fixture {
  topology: unknown;
  weights: { name: string; shape: number[]; data: number[] }[];
  inputs: { x: number[]; shape: number[] }[];
  y: number[];
}
const FIXTURES: Record<string, Fixture> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'test', 'fixtures', 'keras3_application_models.json'), 'utf8'));

const artifacts = (f: Fixture): ModelArtifacts =>
  ({ modelTopology: f.topology, weightSpecs: f.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' })), weightData: new Float32Array(f.weights.flatMap((w) => w.data)).buffer }) as unknown as ModelArtifacts;

const MODELS = ['n1_normalization_imagenet_constants', 'c1_convnext_mini', 'aa5_attention_masked_mean', 'g2_group_normalization', 's1_softsign_activation_and_operation'];

test.serial('real Keras 3 models with Normalization constants, ConvNeXt, a masked Attention, GroupNormalization and softsign give Keras\'s answers through the service, under SecureNN and FSS', async (t) => {
  const owner = await cluster().connect({ asOwner: true });
  const client = await cluster().connect();
  try {
    for (const key of MODELS) {
      const f = FIXTURES[key];
      t.truthy(f, `${key} is in the fixtures`);
      for (const protocol of ['securenn', 'fss'] as const) {
        const name = `${key.replace(/_/g, '-')}-${protocol}`;
        await owner.deploy(artifacts(f), { name, protocol });
        try {
          const x = f.inputs[0];
          const p = await client.predict(name, { data: Float64Array.from(x.x), shape: x.shape } as ClientInput);
          const err = Math.max(...f.y.map((v, i) => Math.abs(p.outputs[i] - v)));
          t.true(err < 2e-3, `${name}: max |service - Keras| = ${err}`);
        } finally {
          await owner.undeploy(name).catch(() => undefined);
        }
      }
    }
  } finally {
    await Promise.all([owner.close(), client.close()]);
  }
});
