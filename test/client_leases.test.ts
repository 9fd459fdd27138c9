// The client's lease book (lib/serve/client_leases.ts): the next query's mask comes after the
// servers' answers, so a lease is kept with its mask still on its way. These check what take()
// does with it: waits for a mask that comes, serves without one that fails or is late (and frees
// it when it comes), and never hands a mask out twice.
import test from 'ava';

import { ClientLeases, MASK_WAIT_MS } from '../lib/serve/client_leases';
import { RingTensor } from '../lib/tensor/ring_tensor';

const SHAPE = [1, 4];
const mask = () => RingTensor.fromBigUint64Array(BigUint64Array.from([1n, 2n, 3n, 4n]), SHAPE);
const lease = (m: Promise<RingTensor | undefined>, ttlMs = 60_000) => ({ id: 'ab'.repeat(16), index: 7, ttlMs, mask: m });
const later = <T>(ms: number, v: T) => new Promise<T>((r) => setTimeout(() => r(v), ms));

test('a mask still on its way when the next query starts is waited for, and used once', async (t) => {
  const leases = new ClientLeases(true);
  const m = mask();
  leases.put('net', lease(later(30, m)), Date.now());
  const got = await leases.take('net', SHAPE);
  t.is(got?.ref.index, 7);
  t.is(got?.mask, m, 'the mask that came');
  t.is(await leases.take('net', SHAPE), undefined, 'a lease serves one query');
  m.dispose();
});

test('a mask that fails leaves the lease without one (the input goes shared)', async (t) => {
  const leases = new ClientLeases(true);
  leases.put('net', lease(Promise.reject(new Error('server1 aborted the session'))), Date.now());
  const got = await leases.take('net', SHAPE);
  t.is(got?.ref.index, 7);
  t.is(got?.mask, undefined);
});

test('a mask later than MASK_WAIT_MS is not waited for, and is freed when it comes', async (t) => {
  const leases = new ClientLeases(true);
  const m = mask();
  leases.put('net', lease(later(MASK_WAIT_MS + 200, m)), Date.now());
  const t0 = Date.now();
  const got = await leases.take('net', SHAPE);
  t.true(Date.now() - t0 < MASK_WAIT_MS + 150, `waited ${Date.now() - t0} ms`);
  t.is(got?.mask, undefined);
  t.false(m.isDisposed);
  await later(400, undefined);
  t.true(m.isDisposed, 'the late mask is freed, never used');
});

test('a mask made for another shape, an expired lease, a replaced lease and clear() free their masks', async (t) => {
  const leases = new ClientLeases(true);
  const [a, b, c, d] = [mask(), mask(), mask(), mask()];
  leases.put('net', lease(Promise.resolve(a)), Date.now());
  const other = await leases.take('net', [1, 5]);
  t.is(other?.mask, undefined);
  t.true(a.isDisposed, 'another shape: freed');
  leases.put('net', lease(Promise.resolve(b), 1), Date.now() - 10);
  t.is(await leases.take('net', SHAPE), undefined, 'expired');
  t.true(b.isDisposed);
  leases.put('net', lease(later(20, c)), Date.now());
  leases.put('net', lease(Promise.resolve(d)), Date.now());
  leases.clear();
  await later(50, undefined);
  t.true(c.isDisposed && d.isDisposed, 'replaced and cleared, also while on its way');
});
