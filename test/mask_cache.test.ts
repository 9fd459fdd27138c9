// server2's mask cache (SeededProvider): one entry per nonce with exact byte accounting, shared
// generations for concurrent misses, and masks that stay alive while a running product borrows
// them even when evicted, freed by the last borrower.
//
// The first test is the reported failure: several models queried concurrently in one process.
// Before the fix, concurrent misses on a weight's mask each inserted it, its bytes were counted
// once per copy and never subtracted, and the cache, stuck over its limit, disposed masks that
// running products still held: "RingTensor ring64 [...] was used after dispose()" from server2.
// Alone in its file (ava gives each file its own process), so memory() counts only these tensors.
import test from 'ava';

import * as tfe from '../lib';
import { MemoryTransport } from '../lib/net/memory_transport';
import { SERVER0, SERVER1, SERVER2, SERVERS } from '../lib/protocol/party';
import { memory } from '../lib/ring';
import { mlp } from './helpers/model_files';

const CLIENT = 'prediction-client';

async function predict(model: tfe.PrivateModel, x: Float64Array): Promise<Float64Array> {
  const c = model.cluster;
  const xp = tfe.definePrivateInput(CLIENT, () => ({ data: x, shape: [1, model.inputShape[0]] }), c);
  return Float64Array.from((await tfe.defineOutput(CLIENT, model.predict(xp))).data);
}

test.serial('concurrent predictions on several models next to a SecureNN model, with a cache smaller than their masks', async (t) => {
  // Three Pond MLPs of 676 KB of weight masks each and a 1.5 MB cache: two fit, three do not, so
  // products run while their masks are evicted, as with a 23 MB model next to others at 256 MB.
  const provider = new tfe.SeededProvider({ maskCacheBytes: 1.5 * 2 ** 20 });
  const c = new tfe.Cluster({ provider, protocol: 'pond' }); // explicit: the reference uses Pond's polynomial relu
  const pond = [0, 1, 2].map(() => mlp([64, 256, 256, 10]));
  const models = pond.map((m) => tfe.loadLayersModel(m.file, { cluster: c, uncalibrated: true }));
  // A SecureNN model in a session forked from the same setup, as the service deploys one: it
  // shares server2's provider, and so its cache, with the Pond models.
  const sn = mlp([32, 128, 10]);
  const fork = c.fork(new MemoryTransport([...SERVERS, ...tfe.DEFAULT_PLAYERS]), 1, { protocol: 'securenn' });
  const snModel = tfe.loadLayersModel(sn.file, { cluster: fork });
  const relu4 = (v: number) => tfe.evalPolynomial(tfe.reluPolynomial(4), v);
  const relu = (v: number) => Math.max(v, 0);
  const inputs = (n: number) => Array.from({ length: n }, () => Float64Array.from({ length: 64 }, () => Math.random()));
  const check = (got: Float64Array, want: Float64Array, what: string) => {
    const err = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
    t.true(err < 2e-2, `${what}: max error ${err}`);
  };
  let predictions = 0;
  const onPond = async (m: number, x: Float64Array) => {
    check(await predict(models[m], x), pond[m].forward(x, relu4), `model ${m}`);
    predictions++;
  };
  const onSecureNN = async (x: Float64Array) => {
    const x32 = x.subarray(0, 32);
    check(await predict(snModel, x32), sn.forward(x32, relu), 'securenn model');
    predictions++;
  };
  // One query each: every weight's mask is now "seen", so the next request for it is cached.
  for (let m = 0; m < 3; m++) await onPond(m, inputs(1)[0]);
  await onSecureNN(inputs(1)[0]);
  // Eight concurrent queries on each Pond model and two on the SecureNN one, then one more each.
  await Promise.all([...[0, 1, 2].flatMap((m) => inputs(8).map((x) => onPond(m, x))), ...inputs(2).map(onSecureNN)]);
  for (let m = 0; m < 3; m++) await onPond(m, inputs(1)[0]);
  await onSecureNN(inputs(1)[0]);
  t.is(predictions, 34);
  const s = provider.maskCacheStats();
  t.log(`cache after: ${JSON.stringify(s)}`);
  t.true(s.bytes <= s.limitBytes, `cache holds ${s.bytes} bytes, over its ${s.limitBytes}-byte limit`);
  t.is(s.leases, 0, 'every borrowed mask was released');
  t.is(s.evictedBorrowed, 0, 'no evicted mask is left waiting for a release');
  await fork.close();
  await c.close();
});

/** A provider with seeds (from a cluster's setup) and masks of `n` elements at nonces 1, 2, ... */
async function setup(maskCacheBytes: number) {
  const provider = new tfe.SeededProvider({ maskCacheBytes });
  const c = new tfe.Cluster({ provider });
  await c.ready();
  return { provider, c, ref: (nonce: number, n = 1000) => ({ nonce: BigInt(nonce), shape: [n] }) };
}

test.serial('concurrent misses on one mask share one generation and are counted once', async (t) => {
  const { provider, c, ref } = await setup(2 ** 20);
  const base = memory();
  (await provider.borrowMask(ref(1))).release(); // first request: a one-off copy, nothing cached
  t.deepEqual(provider.maskCacheStats(), { entries: 0, bytes: 0, limitBytes: 2 ** 20, evictedBorrowed: 0, leases: 0, generated: 1 });
  t.is(memory().tensors, base.tensors, 'the one-off copy was freed on release');
  const leases = await Promise.all(Array.from({ length: 6 }, () => provider.borrowMask(ref(1))));
  t.true(leases.every((l) => l.mask === leases[0].mask), 'all borrowers share one tensor');
  t.deepEqual(provider.maskCacheStats(), { entries: 1, bytes: 8000, limitBytes: 2 ** 20, evictedBorrowed: 0, leases: 6, generated: 2 });
  const values = leases[0].mask.toBigInts();
  for (const l of leases) l.release();
  leases[0].release(); // a second release of one lease is ignored, not a free of the others' mask
  t.is(provider.maskCacheStats().leases, 0);
  const again = await provider.borrowMask(ref(1));
  t.deepEqual(again.mask.toBigInts(), values, 'a hit returns the cached mask');
  again.release();
  t.is(provider.maskCacheStats().generated, 2, 'a hit generates nothing');
  provider.clearMaskCache();
  t.deepEqual(provider.maskCacheStats(), { entries: 0, bytes: 0, limitBytes: 2 ** 20, evictedBorrowed: 0, leases: 0, generated: 2 });
  t.is(memory().tensors, base.tensors);
  t.is(memory().bytes, base.bytes);
  await c.close();
});

test.serial('a mask evicted while borrowed stays readable and is freed by its last borrower', async (t) => {
  // Room for one 8000-byte mask: caching a second evicts the first.
  const { provider, c, ref } = await setup(12_000);
  const base = memory();
  (await provider.borrowMask(ref(1))).release();
  const a1 = await provider.borrowMask(ref(1)); // cached now
  const a2 = await provider.borrowMask(ref(1));
  const values = a1.mask.toBigInts();
  (await provider.borrowMask(ref(2))).release();
  const b = await provider.borrowMask(ref(2)); // evicts mask 1, which a1 and a2 still hold
  t.like(provider.maskCacheStats(), { entries: 1, bytes: 8000, evictedBorrowed: 1, leases: 3 });
  t.deepEqual(a1.mask.toBigInts(), values, 'an evicted mask stays usable while borrowed');
  t.is(memory().tensors, base.tensors + 2, 'masks 1 (evicted, borrowed) and 2 (cached) are alive');
  a1.release();
  t.deepEqual(a2.mask.toBigInts(), values, 'still alive for the other borrower');
  a2.release();
  t.like(provider.maskCacheStats(), { evictedBorrowed: 0, leases: 1 });
  t.is(memory().tensors, base.tensors + 1, 'the last release freed the evicted mask');
  b.release();
  t.is(memory().tensors, base.tensors + 1, 'mask 2 stays cached after its release');
  // A mask larger than the whole cache is never cached (and never evicts the others).
  (await provider.borrowMask(ref(3, 2000))).release();
  const big = await provider.borrowMask(ref(3, 2000));
  t.like(provider.maskCacheStats(), { entries: 1, bytes: 8000 });
  big.release();
  provider.clearMaskCache();
  t.like(provider.maskCacheStats(), { entries: 0, bytes: 0, evictedBorrowed: 0, leases: 0 });
  t.is(memory().tensors, base.tensors);
  t.is(memory().bytes, base.bytes);
  await c.close();
});

// server2's whole mask outside the cache (a folded product's weight, every FSS query with a
// folded gate): the sum of its two halves, which are freed. They were left to the garbage
// collector, two native tensors a call; a service test that counts a server's live tensors
// across queries failed whenever the collector had not run yet.
test.serial("server2's whole mask leaves no tensor behind but itself, and is the sum of the compute servers' halves", async (t) => {
  const { provider, c, ref } = await setup(2 ** 20);
  const OP = { id: 3, name: 'test' };
  const base = memory();
  const whole = await c.runOn(SERVER2, OP, (p) => provider.mask(p, ref(9)));
  t.is(memory().tensors, base.tensors + 1, 'only the mask itself is alive');
  t.is(memory().bytes, base.bytes + 8000);
  const halves = await Promise.all([SERVER0, SERVER1].map((s) => c.runOn(s, OP, (p) => provider.mask(p, ref(9)))));
  const [h0, h1] = halves.map((h) => h.toBigInts());
  t.deepEqual(whole.toBigInts(), h0.map((v, i) => BigInt.asUintN(64, v + h1[i])));
  for (const x of [whole, ...halves]) x.dispose();
  t.is(memory().tensors, base.tensors);
  t.is(memory().bytes, base.bytes);
  await c.close();
});

// A query's value read by two products (a layer with two heads, a residual block) had its mask
// cached by the second read; its nonce never asked for again, it stayed until evicted. Disposing
// the tensor now tells the provider (PrivateTensor.dispose -> forgetMask).
test.serial("a mask whose tensor is gone leaves the cache: freed now, or by its last borrower", async (t) => {
  const { provider, c, ref } = await setup(2 ** 20);
  const base = memory();
  (await provider.borrowMask(ref(5))).release();
  const held = await provider.borrowMask(ref(5)); // cached now, and borrowed
  t.like(provider.maskCacheStats(), { entries: 1, bytes: 8000 });
  provider.forgetMask(5n);
  t.like(provider.maskCacheStats(), { entries: 0, bytes: 0, evictedBorrowed: 1 });
  t.is(held.mask.size, 1000, 'still readable by its borrower');
  held.release();
  t.like(provider.maskCacheStats(), { evictedBorrowed: 0, leases: 0 });
  t.is(memory().tensors, base.tensors);
  // Forgotten, a nonce starts over: its next request is a one-off copy, not cached.
  (await provider.borrowMask(ref(5))).release();
  t.like(provider.maskCacheStats(), { entries: 0 });
  provider.forgetMask(6n); // never seen: nothing to do
  t.is(memory().tensors, base.tensors);
  t.is(memory().bytes, base.bytes);
  await c.close();
});

test.serial('maskCacheBytes is checked', (t) => {
  t.throws(() => new tfe.SeededProvider({ maskCacheBytes: -1 }), { message: 'maskCacheBytes must be a non-negative integer, got -1' });
  t.throws(() => new tfe.SeededProvider({ maskCacheBytes: 1.5 }), { instanceOf: RangeError });
});

// A released provider (its setup over: a closed Cluster, a server's replaced epoch) caches
// nothing more: a borrower that comes late (server2's pool still dealing) gets its own copy,
// freed on release, instead of refilling a cache nobody will empty.
test.serial('after release() masks are lent as copies, never cached', async (t) => {
  const { provider, c, ref } = await setup(1 << 20);
  (await provider.borrowMask(ref(1))).release();
  (await provider.borrowMask(ref(1))).release();
  t.like(provider.maskCacheStats(), { entries: 1 });
  const base = memory();
  provider.release();
  t.like(provider.maskCacheStats(), { entries: 0, bytes: 0 });
  for (let i = 0; i < 3; i++) (await provider.borrowMask(ref(1))).release();
  t.like(provider.maskCacheStats(), { entries: 0, bytes: 0, leases: 0 });
  t.is(memory().tensors, base.tensors - 1, 'the cached mask was freed, and no copy stays');
  await c.close();
});
