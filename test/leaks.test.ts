import test from 'ava';

import { add, matmul, memory, RingTensor } from '../lib/ring';
import { randomU64 } from './helpers/random';

// Alone in its file (ava gives each file its own process), so no other test's tensors count.
test('no leaked native memory over a create/compute/dispose loop', async (t) => {
  const before = memory();
  for (let i = 0; i < 300; i++) {
    const a = RingTensor.fromBigUint64Array(randomU64(64), [8, 8]);
    const b = await matmul(a, a);
    const c = await add(a, b);
    for (const x of [a, b, c]) x.dispose();
  }
  const after = memory();
  t.is(after.tensors, before.tensors);
  t.is(after.storages, before.storages);
  t.is(after.bytes, before.bytes);
});
