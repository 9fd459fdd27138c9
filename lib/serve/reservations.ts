// server0's side of the offline pool: which session indices are reserved ahead for which model and
// batch size, within which budget, and when they are topped up or freed (docs/service.md,
// "Offline phase" and "Larger batches"). server2 precomputes its side of each reserved index
// (pool.ts); this class only decides the indices and sends the notices.
import { sharedInputShape } from '../api/input_encoding';
import { PROTOCOL_TRAITS } from '../protocol/protocols';
import type { ClusterConfig } from './config';
import type { Epoch } from './epoch';
import { poolDepth, pooledBytes } from './limits';
import { servedOptions } from './query_memory';
import type { DeployRequest, PoolNotice, PredictRequest, UnpoolNotice } from './messages';
import type { DeployedModel } from './model_store';

/** What the reservations need from their server. */
export interface ReservationHost {
  config: ClusterConfig;
  model(name: string): DeployedModel | undefined;
  /** Sends a notice in the epoch's pool session: a pool notice to server2, an unpool notice to server1 and server2. */
  notify(notice: PoolNotice | UnpoolNotice): void;
  /** Frees this server's side of a pooled index that no query will take. */
  endPoolSession(epoch: Epoch, index: number): void;
  /** Pooled batch-1 indices of the epoch handed out as leases and not used yet, per model (leases.ts). */
  leasedPooled(epoch: Epoch): Map<string, number>;
  /** The setup a renewal replaced, while queries may still start in it (its reserved indices still hold their recordings). */
  previous?(): Epoch | undefined;
}

export class PoolReservations {
  #plans = new WeakMap<DeployedModel, Map<number, { depth: number; bytes: number }>>();
  /** Models' batch sizes whose reservation ran low, topped up when a query ends (see indexFor). */
  #topUps = new Map<string, Set<number>>();

  constructor(readonly host: ReservationHost) {}

  /** Reserves the next indices for a model's queries of `batch` rows and tells server2. */
  reserve(epoch: Epoch, model: string, batch: number): void {
    const m = this.host.model(model);
    // server2 must only deal for a pooled index: SecureNN's comparisons need it online.
    if (epoch.retired || !m || PROTOCOL_TRAITS[m.protocol].server2Online) return;
    if (batch > 1 && epoch.pooledBatch.get(model) !== batch) return; // another size took its place meanwhile
    // Up to the depth whose material fits maxQueryBytes, counting what is reserved already, and
    // within maxQueryBytes for the whole pool: every model's and batch size's reservations.
    // After a renewal, the old setup's reserved indices for the same queries count toward the
    // depth: queries take them first, and each one taken tops this one up (takeFromPrevious), so
    // the new setup's pool is dealt as the old one's is used, not all at once on top of it.
    const reserved = epoch.reservedFor(model, batch), previous = this.#previous(epoch);
    const { depth, bytes } = this.#plan(m, batch);
    const want = depth - reserved.length - (previous?.reserved.get(model)?.get(batch)?.length ?? 0);
    if (want <= 0) return;
    const { maxQueryBytes, maxPoolRecordings } = this.host.config;
    // server2 prepares at most maxPoolRecordings: reserving more would only have queries that
    // expect their dealing done run it online. Leased pooled indices still hold their recordings
    // (server1 keeps them until the lease is used or void), so they count too.
    // So do the reserved indices of the setup a renewal replaced, which queries take first (takeFromPrevious).
    const leased = this.host.leasedPooled(epoch);
    const leasedCount = sum(leased.values());
    const room = () => Math.min(Math.floor((maxQueryBytes - this.#pooledBytes(epoch, leased) - (previous ? this.#pooledBytes(previous, new Map()) : 0)) / bytes), maxPoolRecordings - reservedCount(epoch) - (previous ? reservedCount(previous) : 0) - leasedCount);
    // Other models' larger batches (one query ahead of a size a client used last, perhaps long
    // ago) give way; then other models' batch-1 reservations above an even share of the budget.
    for (const other of [...epoch.pooledBatch.keys()]) {
      if (room() >= want) break;
      if (other !== model) this.#unpoolBatch(epoch, other);
    }
    if (batch === 1 && room() < want) this.#evenShare(epoch, model, want, room);
    // Reserving runs after queries (topUpAfterQuery), where running out of indices must not throw:
    // the queries themselves are refused then (server.ts), saying so.
    const n = Math.min(want, room(), epoch.indicesLeft);
    if (n <= 0) return;
    const indices = Array.from({ length: n }, () => epoch.nextIndex());
    reserved.push(...indices);
    this.host.notify({ type: 'pool', epoch: epoch.id, model, ...(batch === 1 ? {} : { batch }), indices });
  }

  /**
   * A prediction takes a reserved index of its batch size (refilling the reservation when low).
   * Batch 1 is always pooled; of larger batches, the size a client last ran (ranBatch).
   */
  indexFor(epoch: Epoch, req: PredictRequest | DeployRequest): { index: number; pooled: boolean } {
    if (req.type !== 'predict') return { index: epoch.nextIndex(), pooled: false };
    const batch = req.shape[0], m = this.host.model(req.model);
    const reserved = epoch.reserved.get(req.model)?.get(batch);
    const pooledSize = batch === 1 || epoch.pooledBatch.get(req.model) === batch;
    if (!reserved?.length) {
      // Reserved as this query ends, so the next one finds it: a pooled larger batch, and batch 1
      // (whose reservation is empty when the budget had no room for it; room may have come free
      // since, or it takes its even share now: reserve).
      if (m && pooledSize) this.#topUp(req.model, batch);
      return { index: epoch.nextIndex(), pooled: false };
    }
    const index = reserved.shift()!;
    // Low: topped up when a query ends, not now. A client takes its next query's lease as its
    // current query starts, so a top-up here would have server2 deal (and the compute servers
    // receive) half a pool's keys while that query runs: on shared cores it slowed every few
    // queries by a third or more. Empty (batch 1): now, since the next query would run online anyway.
    if (m && reserved.length <= this.#plan(m, batch).depth / 2) {
      if (reserved.length === 0 && batch === 1) this.reserve(epoch, req.model, 1);
      else this.#topUp(req.model, batch);
    }
    return { index, pooled: true };
  }

  /**
   * After a renewal: a reserved index of the setup it replaced (`previous`, within its grace) for
   * this prediction's model and batch size, if one is left. Its recording was dealt, mostly
   * shipped too, before the renewal, while the new setup's pool is still being dealt: queries take
   * these first, and the new setup's reservation is topped up as they do (its budget counts what
   * is left here), so the queries after a renewal do not deal online. Undefined: none left.
   */
  takeFromPrevious(previous: Epoch, req: PredictRequest): number | undefined {
    const batch = req.shape[0], index = previous.reserved.get(req.model)?.get(batch)?.shift();
    if (index !== undefined) this.#topUp(req.model, batch);
    return index;
  }

  /**
   * A lease's index (batch 1): a reserved one while the leases' pooled indices hold at most half
   * the pool's budget (bytes and recordings), else a fresh one, not pooled (its query deals
   * online). Leases cost a client nothing but a request, so without this bound leases held for
   * their lifetime could take the whole budget and leave every other query without a pool.
   */
  indexForLease(epoch: Epoch, model: string): { index: number; pooled: boolean } {
    const m = this.host.model(model);
    if (m) {
      const leased = this.host.leasedPooled(epoch);
      const { maxQueryBytes, maxPoolRecordings } = this.host.config;
      const bytes = this.#plan(m, 1).bytes;
      if (this.#leasedBytes(leased) + bytes > maxQueryBytes / 2 || sum(leased.values()) + 1 > maxPoolRecordings / 2) return { index: epoch.nextIndex(), pooled: false };
    }
    return this.indexFor(epoch, { type: 'predict', model, shape: [1] });
  }

  /**
   * A renewed setup's grace is over: what is left of its reservations is freed everywhere (server2
   * stops dealing them, and drops what it recorded; the compute servers what it shipped), and
   * every model's batch-1 reservation in `current` (the setup that replaced it, when ready) is
   * filled (what the old one held counted toward it until now).
   */
  graceOver(old: Epoch, current: Epoch | undefined): void {
    for (const model of [...old.reserved.keys()]) {
      this.unreserveModel(old, model);
      old.reserved.delete(model);
    }
    old.pooledBatch.clear();
    if (current) for (const model of current.masks.keys()) this.reserve(current, model, 1);
  }

  /**
   * A prediction of `batch` rows of `model` ran to its answer: a larger batch than the pooled one
   * becomes the pooled size (its old size's reservation freed, the new one reserved as the query
   * ends). Only once one ran: moved as a request was admitted, a client that alternated two batch
   * sizes and sent no input had server2 deal a whole pool of keys per request, for nobody (4 GiB
   * for eight 50-byte requests).
   */
  ranBatch(epoch: Epoch, model: string, batch: number): void {
    const m = this.host.model(model);
    if (batch === 1 || !m || epoch.pooledBatch.get(model) === batch || this.#plan(m, batch).depth === 0) return;
    this.#unpoolBatch(epoch, model);
    epoch.pooledBatch.set(model, batch);
    this.#topUp(model, batch);
  }

  /** A query ended: the reservations that ran low during it are topped up. */
  topUpAfterQuery(epoch: Epoch): void {
    for (const [model, sizes] of this.#topUps) for (const batch of sizes) this.reserve(epoch, model, batch);
    this.#topUps.clear();
  }

  /**
   * server2 asks: of these indices reserved for `model`'s queries of `batch` rows (their
   * recordings dealt in a form it no longer deals, pool.ts #checkStale), those no query has taken are
   * freed everywhere and reserved anew, after the rest, so server2 deals them in the form of now.
   * Indices already handed out (or never reserved) are left alone: server2 only names them.
   */
  redeal(epoch: Epoch, model: string, batch: number, indices: readonly number[]): void {
    const list = epoch.reserved.get(model)?.get(batch);
    if (!list || epoch.retired) return;
    const named = new Set(indices), stale: number[] = [];
    for (let k = list.length - 1; k >= 0; k--) if (named.has(list[k])) stale.push(...list.splice(k, 1));
    if (!stale.length) return;
    this.#unreserve(epoch, stale);
    this.reserve(epoch, model, batch);
  }

  /** The model is gone: every index reserved for it is freed, here and on server1 and server2. */
  unreserveModel(epoch: Epoch, model: string): void {
    this.#unreserve(epoch, [...(epoch.reserved.get(model)?.values() ?? [])].flat());
  }

  /** Frees reserved indices no query will take, here and on server1 and server2 (which drops its recordings). */
  #unreserve(epoch: Epoch, indices: number[]): void {
    if (!indices.length) return;
    for (const i of indices) this.host.endPoolSession(epoch, i);
    this.host.notify({ type: 'unpool', epoch: epoch.id, indices });
  }

  /**
   * Batch 1: other models' reservations give way down to an even share of the budget's recordings
   * among the models pooled (this one counted), the last reserved first (the least likely to be
   * dealt yet), until `model` has room for `want` or its own share. The budget went first come,
   * first served: a model that filled it at the setup kept it, queried or not, and another model
   * was never pooled in that setup, even once room came free.
   */
  #evenShare(epoch: Epoch, model: string, want: number, room: () => number): void {
    const pooled = [...epoch.reserved.keys()].filter((x) => x === model || (epoch.reserved.get(x)?.get(1)?.length ?? 0) > 0);
    const share = Math.max(1, Math.floor(this.host.config.maxPoolRecordings / pooled.length));
    const goal = Math.min(want, share - epoch.reservedFor(model, 1).length);
    for (const other of pooled) {
      if (other === model || room() >= goal) continue;
      const theirs = epoch.reserved.get(other)!.get(1)!;
      const freed: number[] = [];
      while (theirs.length > share && room() < goal) freed.push(theirs.pop()!);
      this.#unreserve(epoch, freed);
    }
  }

  /** Stops pooling `model`'s larger batch size, freeing its reservation everywhere. */
  #unpoolBatch(epoch: Epoch, model: string): void {
    const batch = epoch.pooledBatch.get(model);
    if (batch === undefined) return;
    epoch.pooledBatch.delete(model);
    this.#unreserve(epoch, epoch.reservedFor(model, batch));
    epoch.reserved.get(model)?.delete(batch);
  }

  /** The setup a renewal replaced, beside `epoch` (the current one), while queries may start in it. */
  #previous(epoch: Epoch): Epoch | undefined {
    const p = this.host.previous?.();
    return p && p !== epoch && p.usable ? p : undefined;
  }

  #topUp(model: string, batch: number): void {
    const sizes = this.#topUps.get(model) ?? new Set<number>();
    this.#topUps.set(model, sizes.add(batch));
  }

  /** The model's pool depth for a batch size, and what one of its pooled queries holds (limits.ts): computed once per deployed model and size, as they are read on every query. */
  #plan(m: DeployedModel, batch: number): { depth: number; bytes: number } {
    let byBatch = this.#plans.get(m);
    if (!byBatch) this.#plans.set(m, (byBatch = new Map()));
    let plan = byBatch.get(batch);
    if (!plan) {
      const pm = { topology: m.topology, ...servedOptions(m), inputShape: sharedInputShape(m.spec) };
      byBatch.set(batch, (plan = { depth: poolDepth(this.host.config, pm, batch), bytes: pooledBytes(pm, batch) }));
    }
    return plan;
  }

  /** What every reservation of the epoch holds ahead (recorded, or to be), and the leased pooled indices (batch 1). */
  #pooledBytes(epoch: Epoch, leased: Map<string, number>): number {
    let total = 0;
    for (const [model, byBatch] of epoch.reserved) {
      const m = this.host.model(model);
      if (m) for (const [batch, list] of byBatch) total += list.length * this.#plan(m, batch).bytes;
    }
    return total + this.#leasedBytes(leased);
  }

  /** What the leased pooled indices (batch 1) hold. */
  #leasedBytes(leased: Map<string, number>): number {
    let total = 0;
    for (const [model, n] of leased) {
      const m = this.host.model(model);
      if (m) total += n * this.#plan(m, 1).bytes;
    }
    return total;
  }
}

function sum(xs: Iterable<number>): number {
  let n = 0;
  for (const x of xs) n += x;
  return n;
}

/** The indices reserved in the epoch, all models and batch sizes. */
function reservedCount(epoch: Epoch): number {
  let n = 0;
  for (const byBatch of epoch.reserved.values()) for (const list of byBatch.values()) n += list.length;
  return n;
}

