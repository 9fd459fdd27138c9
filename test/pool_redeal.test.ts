// server0's side of dealing recordings again (lib/serve/reservations.ts redeal): of the indices
// server2 names, only those still reserved are freed (on server0, and on server1 and server2 by an
// unpool notice) and the reservation is topped up after the rest (a pool notice to server2); an index
// already handed out, never reserved or of another batch size is left alone. And the service's
// estimates for an 'auto' FSS model bound the folded keys it may deal over far links (servedGate);
// and batch-1 reservations share the budget evenly among models.
import test from 'ava';

import type { Epoch } from '../lib/serve/epoch';
import { DEFAULT_LIMITS, estimateQueryBytes, pooledBytes } from '../lib/serve/limits';
import { servedGate } from '../lib/serve/query_memory';
import type { PoolNotice, UnpoolNotice } from '../lib/serve/messages';
import type { DeployedModel } from '../lib/serve/model_store';
import { PoolReservations } from '../lib/serve/reservations';
import type { ClusterConfig } from '../lib/serve/config';
import { denseTopology as dense } from './helpers/model_files';

/** An epoch as PoolReservations reads it: reservations by model and batch size, indices in order. */
function fakeEpoch(last = 1000): Epoch {
  let next = 1;
  const reserved = new Map<string, Map<number, number[]>>();
  return {
    id: 'e1',
    retired: false,
    reserved,
    pooledBatch: new Map<string, number>(),
    nextIndex: () => {
      if (next > last) throw new Error('this setup has run out of session indices; reconnect the cluster');
      return next++;
    },
    get indicesLeft() {
      return Math.max(0, last + 1 - next);
    },
    reservedFor(model: string, batch: number) {
      const byBatch = reserved.get(model) ?? new Map<number, number[]>();
      reserved.set(model, byBatch);
      const list = byBatch.get(batch) ?? [];
      byBatch.set(batch, list);
      return list;
    },
  } as unknown as Epoch;
}

/** `leased`: the pooled batch-1 leases outstanding per model, as server0's lease book reports them. */
function setup(last?: number, opts: { limits?: Partial<ClusterConfig>; leased?: Map<string, number> } = {}) {
  const notices: (PoolNotice | UnpoolNotice)[] = [];
  const ended: number[] = [];
  const model = { name: 'm', protocol: 'fss', fssGate: 'auto', fssBits: 64, topology: dense([32, 10], 16), spec: { params: [], inputShape: [16] } } as unknown as DeployedModel;
  const config = { ...DEFAULT_LIMITS, precomputePool: 4, ...opts.limits } as unknown as ClusterConfig;
  const leased = opts.leased ?? new Map<string, number>();
  const r = new PoolReservations({ config, model: (n) => (n === 'm' ? model : undefined), notify: (n) => notices.push(n), endPoolSession: (_e, i) => ended.push(i), leasedPooled: () => leased });
  return { r, notices, ended, epoch: fakeEpoch(last), model };
}

test('redeal frees only the named indices still reserved, everywhere, and tops the reservation up again after the rest', (t) => {
  const { r, notices, ended, epoch } = setup();
  r.reserve(epoch, 'm', 1);
  t.deepEqual(epoch.reserved.get('m')?.get(1), [1, 2, 3, 4]);
  t.deepEqual(notices.splice(0), [{ type: 'pool', epoch: 'e1', model: 'm', indices: [1, 2, 3, 4] }]);
  // A query took index 1 (and a lease index 2) before server2's notice arrived.
  const taken = r.indexFor(epoch, { type: 'predict', model: 'm', shape: [1, 16] });
  t.deepEqual(taken, { index: 1, pooled: true });
  epoch.reserved.get('m')!.get(1)!.shift();
  notices.splice(0);
  // server2 names 1, 2 (handed out), 3 (still reserved), 9 (never reserved).
  r.redeal(epoch, 'm', 1, [1, 2, 3, 9]);
  t.deepEqual(ended, [3], "server0 frees what it held for index 3 only");
  t.deepEqual(notices, [
    { type: 'unpool', epoch: 'e1', indices: [3] },
    { type: 'pool', epoch: 'e1', model: 'm', indices: [5, 6, 7] },
  ]);
  t.deepEqual(epoch.reserved.get('m')?.get(1), [4, 5, 6, 7], 'the rest first, the new ones after, to the depth (4)');
});

test('redeal leaves other batch sizes, other models and a retired setup alone', (t) => {
  const { r, notices, ended, epoch } = setup();
  r.reserve(epoch, 'm', 1);
  notices.splice(0);
  r.redeal(epoch, 'm', 8, [1, 2]);
  r.redeal(epoch, 'other', 1, [1, 2]);
  (epoch as { retired: boolean }).retired = true;
  r.redeal(epoch, 'm', 1, [1, 2]);
  t.deepEqual([notices, ended], [[], []]);
  t.deepEqual(epoch.reserved.get('m')?.get(1), [1, 2, 3, 4]);
});

test("an 'auto' FSS model is estimated with the folded keys it may deal over far links; other forms and protocols as they are", (t) => {
  t.is(servedGate({ protocol: 'fss', fssGate: 'auto' }), 'folded');
  t.is(servedGate({ protocol: 'fss' }), 'folded', 'auto by default');
  for (const g of ['one-round', 'compact', 'folded', 'compact-folded'] as const) t.is(servedGate({ protocol: 'fss', fssGate: g }), g);
  t.is(servedGate({ protocol: 'securenn' }), undefined);
  const m = { topology: dense([100, 10], 16), protocol: 'fss' as const, inputShape: [16] };
  t.true(estimateQueryBytes({ ...m, fssGate: servedGate(m) }, 1) > estimateQueryBytes(m, 1), 'the folded keys on top');
});

test('near the end of a setup\'s session indices the pool reserves what is left, and then nothing, without throwing (it runs after queries)', (t) => {
  const { r, notices, epoch } = setup(6);
  r.reserve(epoch, 'm', 1);
  t.deepEqual(epoch.reserved.get('m')?.get(1), [1, 2, 3, 4]);
  epoch.reserved.get('m')!.get(1)!.splice(0, 3); // three queries took theirs
  r.reserve(epoch, 'm', 1);
  t.deepEqual(epoch.reserved.get('m')?.get(1), [4, 5, 6], 'only the two indices left');
  epoch.reserved.get('m')!.get(1)!.splice(0);
  notices.splice(0);
  t.notThrows(() => r.reserve(epoch, 'm', 1));
  t.deepEqual(notices, []);
  // A query now is refused by nextIndex (server.ts answers the client so).
  t.throws(() => r.indexFor(epoch, { type: 'predict', model: 'm', shape: [1, 16] }), { message: /run out of session indices/ });
});

test("leased pooled indices count in the pool's budget (recordings and bytes): a client's leases cannot grow what server1 holds", (t) => {
  // Two of four reserved indices went out as leases (server0's book says so); the reservation
  // wants two more, but room is left for one only, by count and then by bytes.
  for (const by of ['count', 'bytes'] as const) {
    const leased = new Map<string, number>();
    const probe = setup();
    const bytes = pooledBytes({ topology: probe.model.topology, protocol: 'fss', fssGate: 'folded', fssBits: 64, inputShape: [16] }, 1);
    const limits = by === 'count' ? { maxPoolRecordings: 5 } : { maxQueryBytes: 5 * bytes + bytes / 2 };
    const { r, epoch } = setup(undefined, { limits, leased });
    r.reserve(epoch, 'm', 1);
    t.deepEqual(epoch.reserved.get('m')?.get(1), [1, 2, 3, 4], by);
    epoch.reserved.get('m')!.get(1)!.splice(0, 2);
    leased.set('m', 2);
    r.reserve(epoch, 'm', 1);
    t.deepEqual(epoch.reserved.get('m')?.get(1), [3, 4, 5], `${by}: room for one beside the two leased`);
    // Control: with the leases used (or void), the reservation fills to its depth.
    leased.set('m', 0);
    r.reserve(epoch, 'm', 1);
    t.deepEqual(epoch.reserved.get('m')?.get(1), [3, 4, 5, 6], by);
  }
});

test("leases take pooled indices only up to half the pool's budget, then fresh unpooled ones: plain queries keep the rest", (t) => {
  const leased = new Map<string, number>();
  const { r, epoch } = setup(undefined, { limits: { maxPoolRecordings: 8 }, leased });
  r.reserve(epoch, 'm', 1);
  t.deepEqual(epoch.reserved.get('m')?.get(1), [1, 2, 3, 4]);
  leased.set('m', 3);
  t.deepEqual(r.indexForLease(epoch, 'm'), { index: 1, pooled: true }, 'a fourth lease fits in half of 8 recordings');
  leased.set('m', 4);
  t.deepEqual(r.indexForLease(epoch, 'm'), { index: 5, pooled: false }, 'a fifth takes a fresh index');
  t.deepEqual(epoch.reserved.get('m')?.get(1), [2, 3, 4], 'and leaves the reservation to plain queries');
  // Control: a plain query still takes a reserved one.
  t.deepEqual(r.indexFor(epoch, { type: 'predict', model: 'm', shape: [1, 16] }), { index: 2, pooled: true });
});

test("after a renewal queries take the old setup's reserved indices first; the new reservation grows as they go, and fills when the old one's grace is over", (t) => {
  const notices: (PoolNotice | UnpoolNotice)[] = [];
  const model = { name: 'm', protocol: 'fss', fssGate: 'auto', fssBits: 64, topology: dense([32, 10], 16), spec: { params: [], inputShape: [16] } } as unknown as DeployedModel;
  const config = { ...DEFAULT_LIMITS, precomputePool: 4 } as unknown as ClusterConfig;
  const old = fakeEpoch(), fresh = fakeEpoch();
  Object.assign(fresh, { id: 'e2', masks: new Map([['m', {}]]) });
  let previous: Epoch | undefined;
  const ended: number[] = [];
  const r = new PoolReservations({ config, model: (n) => (n === 'm' ? model : undefined), notify: (n) => notices.push(n), endPoolSession: (_e, i) => ended.push(i), leasedPooled: () => new Map(), previous: () => previous });
  r.reserve(old, 'm', 1);
  t.deepEqual(old.reserved.get('m')?.get(1), [1, 2, 3, 4]);
  // The renewal: the old setup within its grace, its four recordings dealt.
  Object.assign(old, { retired: true, usable: true });
  previous = old;
  notices.splice(0);
  r.reserve(fresh, 'm', 1); // the new setup is ready
  t.deepEqual(notices, [], 'nothing dealt on top of the old setup\'s four');
  const req = { type: 'predict' as const, model: 'm', shape: [1, 16] };
  t.is(r.takeFromPrevious(old, req), 1);
  r.topUpAfterQuery(fresh);
  t.deepEqual(notices.splice(0), [{ type: 'pool', epoch: 'e2', model: 'm', indices: [1] }], 'one taken, one dealt in the new setup');
  t.is(r.takeFromPrevious(old, req), 2);
  r.topUpAfterQuery(fresh);
  t.deepEqual(fresh.reserved.get('m')?.get(1), [1, 2]);
  // The grace is over: the two left in the old setup are freed everywhere (server2 stops dealing
  // them and drops their recordings, the compute servers what was shipped), the new one fills to
  // the depth. Before, they were left to the setup's cleanup: server2 went on dealing them, and
  // what it shipped after server0's cleanup was held there for good.
  Object.assign(old, { usable: false });
  notices.splice(0);
  ended.splice(0);
  r.graceOver(old, fresh);
  t.deepEqual(notices.splice(0, 1), [{ type: 'unpool', epoch: old.id, indices: [3, 4] }]);
  t.deepEqual(ended, [3, 4]);
  t.deepEqual(old.reserved.get('m')?.get(1) ?? [], []);
  t.deepEqual(fresh.reserved.get('m')?.get(1), [1, 2, 3, 4]);
  t.deepEqual(notices, [{ type: 'pool', epoch: 'e2', model: 'm', indices: [3, 4] }]);
  // Nothing is left to free a second time (a reconnect's new setup ends a grace too).
  notices.splice(0);
  r.graceOver(old, undefined);
  t.deepEqual(notices, []);
});

// Batch-1 reservations share maxPoolRecordings evenly among the models pooled (from a review: the
// budget went first come, first served, so a model that filled it at the setup kept it, queried
// or not, and another model was never pooled in that setup, even after the first was undeployed).
test('a model whose batch-1 reservation found no room takes an even share from the others, last reserved first', (t) => {
  const notices: (PoolNotice | UnpoolNotice)[] = [];
  const ended: number[] = [];
  const model = (name: string) => ({ name, protocol: 'fss', fssGate: 'auto', fssBits: 64, topology: dense([32, 10], 16), spec: { params: [], inputShape: [16] } }) as unknown as DeployedModel;
  const models = new Map([['a', model('a')], ['b', model('b')]]);
  const config = { ...DEFAULT_LIMITS, precomputePool: 8, maxPoolRecordings: 8 } as unknown as ClusterConfig;
  const r = new PoolReservations({ config, model: (n) => models.get(n), notify: (n) => notices.push(n), endPoolSession: (_e, i) => ended.push(i), leasedPooled: () => new Map() });
  const epoch = fakeEpoch();
  r.reserve(epoch, 'a', 1);
  t.deepEqual(epoch.reserved.get('a')?.get(1), [1, 2, 3, 4, 5, 6, 7, 8], 'a takes the whole budget first');
  notices.splice(0);
  // b's first query finds no reservation: it runs online, and b is reserved as it ends.
  t.deepEqual(r.indexFor(epoch, { type: 'predict', model: 'b', shape: [1, 16] }), { index: 9, pooled: false });
  r.topUpAfterQuery(epoch);
  t.deepEqual(ended, [8, 7, 6, 5], "a's last four give way");
  t.deepEqual(notices, [
    { type: 'unpool', epoch: 'e1', indices: [8, 7, 6, 5] },
    { type: 'pool', epoch: 'e1', model: 'b', indices: [10, 11, 12, 13] },
  ]);
  t.deepEqual(epoch.reserved.get('a')?.get(1), [1, 2, 3, 4]);
  t.deepEqual(r.indexFor(epoch, { type: 'predict', model: 'b', shape: [1, 16] }), { index: 10, pooled: true }, "b's next query is pooled");
  // Within its share, a model takes nothing from the others.
  notices.splice(0);
  r.topUpAfterQuery(epoch);
  t.deepEqual(epoch.reserved.get('a')?.get(1), [1, 2, 3, 4]);
  t.false(notices.some((n) => n.type === 'unpool'), JSON.stringify(notices));
});
