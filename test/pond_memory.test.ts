import test from 'ava';

import * as tfe from '../lib';

// Alone in its file so that no other test's tensors count. A serving loop that scopes each
// prediction with tidy() must not grow native memory: intermediates, masks, and server2's cache
// of one-off masks are all released.
test('repeated private predictions inside tidy() keep native memory flat', async (t) => {
  const c = new tfe.Cluster({ protocol: 'pond' });
  const w = tfe.definePrivateInput('model-owner', () => ({ data: Float64Array.from({ length: 64 * 8 }, () => Math.random() - 0.5), shape: [64, 8] }), c);
  const image = { data: Float64Array.from({ length: 64 }, () => Math.random()), shape: [1, 64] };
  const predict = async () => {
    const x = tfe.definePrivateInput('prediction-client', () => image, c);
    const y = tfe.tidy(() => tfe.relu(tfe.matmul(x, w)).square().add(1));
    await tfe.defineOutput('prediction-client', y);
    await Promise.all([x.dispose(), y.dispose()]);
  };
  for (let i = 0; i < 5; i++) await predict();
  await new Promise((r) => setTimeout(r, 20)); // let tidy's deferred disposals run
  const before = tfe.memory();
  for (let i = 0; i < 40; i++) await predict();
  await new Promise((r) => setTimeout(r, 20));
  const after = tfe.memory();
  t.is(after.storages, before.storages);
  t.is(after.bytes, before.bytes);
  await c.close();
});

test('tidy refuses an async function', (t) => {
  t.throws(() => tfe.tidy((async () => undefined) as never), { message: /fn must be synchronous/ });
});
