// withBackend enters an AsyncLocalStorage context only when it changes the backend code falls
// back to: the first context turns Node's promise hooks on for the whole process, which cost the
// servers (one CPU party each) 5-10% of their CPU for nothing. The context it does enter must
// hold across awaits and nest.
import test from 'ava';

import { contextBackend, withBackend } from '../lib/backend/backend_context';
import { getBackend, registerBackend } from '../lib/ring';

registerBackend('cpu-other', () => getBackend('cpu').native);
const other = getBackend('cpu-other');
const tick = () => new Promise((r) => setTimeout(r, 1));

test('the default backend: fn runs as it is, with no context', async (t) => {
  const seen = await withBackend(getBackend(), async () => {
    await tick();
    return [contextBackend(), getBackend()];
  });
  t.is(seen[0], undefined);
  t.is(seen[1], getBackend());
});

test('another backend: a context that holds across awaits, and getBackend() answers it', async (t) => {
  const seen = await withBackend(other, async () => {
    await tick();
    return [contextBackend(), getBackend()];
  });
  t.is(seen[0], other);
  t.is(seen[1], other);
  t.is(contextBackend(), undefined, 'the context ends with fn');
});

test('the default backend inside another backend’s context is entered, not skipped', async (t) => {
  const inner = await withBackend(other, () =>
    withBackend(getBackend('cpu'), async () => {
      await tick();
      return getBackend();
    }),
  );
  t.is(inner, getBackend('cpu'));
  t.not(inner, other);
});

test('no backend: fn runs in whatever context it was called from', async (t) => {
  t.is(await withBackend(other, () => withBackend(undefined, async () => getBackend())), other);
});
