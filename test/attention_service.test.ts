// A transformer block (MultiHeadAttention self-attention, Add, LayerNormalization, pooling, Dense)
// through the service with default options and under FSS: deployed by the owner from Keras's
// model.json, queried by the Node client; private answers against Keras's equations in float64.
import test from 'ava';

import { block, D, T, writeArtifacts } from './helpers/attention_models';
import { clusterForFile } from './helpers/service';

const cluster = clusterForFile(test);

test.serial('a MultiHeadAttention block deployed with default options (and under fss) predicts Keras\'s equations', async (t) => {
  const { a, ref } = block();
  const file = writeArtifacts(a);
  const owner = await cluster().connect({ asOwner: true });
  await owner.deploy(file, { name: 'mha' });
  await owner.deploy(file, { name: 'mha-fss', protocol: 'fss' });
  await owner.close();
  const batch = 2;
  const x = Float64Array.from({ length: batch * T * D }, () => Math.random() * 3 - 1.5);
  const rows = (b: number) => Array.from({ length: T }, (_, i) => Array.from(x.subarray((b * T + i) * D, (b * T + i + 1) * D)));
  const want = [0, 1].flatMap((b) => ref(rows(b)));
  const client = await cluster().connect();
  try {
    t.is((await client.models()).find((m) => m.name === 'mha')?.protocol, 'securenn');
    for (const name of ['mha', 'mha-fss']) {
      const p = await client.predict(name, { data: x, shape: [batch, T, D] });
      t.deepEqual(p.shape, [batch, 3]);
      const err = Math.max(...Array.from(p.data, (v, i) => Math.abs(v - want[i])));
      t.true(err < 1e-2, `${name}: max |private - Keras's equations| = ${err}`);
    }
  } finally {
    await client.close();
  }
});
