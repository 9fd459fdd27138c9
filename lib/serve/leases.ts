// Session-index leases: a client takes the session index of its next batch-1 query ahead of time,
// so that when the query comes, server1 and server2 start at once instead of waiting for server0's
// start notice (one hop off the critical path: on a 60 ms WAN about 30 ms of every query).
//
// Steps:
//   1. the client asks for a lease on a model: with a batch-1 query (leaseNext, so the lease comes
//      back with the query's answer, with its input mask: input_mask.ts), or alone (request 'lease',
//      all three servers, answered at once);
//   2. server0 takes the next index (a pooled one when the model has them, as a batch-1 query would),
//      names the lease with a random 128-bit id, and tells server1 and server2 (notice 'lease') before
//      answering the client with {id, epoch, index} (a query's leaseNext: before its start notice);
//   3. the client's next batch-1 query on that model names {id, index}; each server takes that entry
//      from its book (once: a second use is refused) and runs the query as session `index`.
// Leases are bearer tokens sent only over the client's own links: another client cannot guess one,
// and using one twice, for another model or another batch size is refused. An index is used at most
// once on every server whatever a client does: server0 hands each index out once, and every server
// deletes an entry when it is used or expires. Unused entries expire (ttlMs; server1 and server2
// keep theirs EXPIRY_SLACK_MS longer, so server0 never starts what they already forgot) and their
// pooled side is discarded. server0 bounds leases per client (maxSessionsPerClient) and in all
// (maxSessions), like sessions, and its pool's budget counts the pooled ones (reservations.ts).
// server0 also voids a lease on server1 and server2 (notice 'unlease') when it ends there without
// a query that ran: a mismatch, or a query on it (or the one that asked for it) that failed at
// server0. Otherwise a client could take a lease, void or half-use it at server0 alone, and take
// the next: server0's count would drop at once while server1 held each pooled recording until
// expiry, beyond the pool's budget. A lease whose query ran at server0 need not have run anywhere
// else: server2 has no online part in a pooled query whose recording it shipped, nor server1 in a
// linear model's masked query (server0 computes its output share alone, input_mask.ts), so a
// client may leave either out: server0 names such used leases to server1 and server2
// USED_NOTICE_MS later (UsedLeases; by then an honest client's requests have long reached them,
// and a lease taken already ignores the notice). server1 and server2
// hold at most `maxPerOwner` entries per client connection (server0 names it; that client's
// oldest go first) and `max` in all (the oldest of whoever holds the most goes first), in case
// notices outrun all that.
import { randomUUID } from 'node:crypto';

import { sameShape } from '../tensor/shape';
import { FairMemory } from './fair_memory';

export interface LeaseEntry {
  epoch: string;
  model: string;
  index: number;
  pooled: boolean;
  /** The input shape its mask was made for (input_mask.ts); only a query of this shape may send its input masked. */
  shape?: number[];
  /** The client session of the query that asked for it (leaseNext): that query's compute servers send the mask's shares. */
  session?: string;
}

/** server1/server2 keep an entry this much longer than server0. */
export const EXPIRY_SLACK_MS = 5_000;
/** Ids one unlease notice may name (server0 sends one or two, or a batch of used ones: UsedLeases). */
export const MAX_UNLEASE_IDS = 64;
/** server0 tells server1 and server2 of a lease used in a query that ran this long after it (UsedLeases). */
export const USED_NOTICE_MS = 5_000;
/** Client sessions whose next lease left unused (server1's next-lease wait), and lease ids dropped or expired here, remembered up to this many each (fairly among owners). */
const GONE_SESSIONS = 1024;
const DROPPED_IDS = 4096;

/** What a client presents: the lease id and the index it was given. */
export interface LeaseRef {
  id: string;
  index: number;
}

export const LEASE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Held {
  entry: LeaseEntry;
  /** The client connection it was leased to, as server0 names it (for the per-client bounds). */
  owner?: string;
  /** server0: its owner's address group (for the per-address bound). */
  group?: string;
  timer: NodeJS.Timeout;
}

/** A query whose lease is not for it (LeaseBook.check): the lease is void here. */
export class LeaseMismatchError extends Error {}

/** One server's leases, keyed by id (one entry per lease). */
export class LeaseBook {
  #held = new Map<string, Held>();
  /** Entries held per owner (undefined: announced without one). */
  #perOwner = new Map<string | undefined, number>();
  /** Lease ids by the client session whose query asked for them (leaseNext). */
  #bySession = new Map<string, string>();
  /**
   * Client sessions whose lease (leaseNext) left unused (dropped or expired): their query's lease
   * decision came and went. Per owner, fairly (fair_memory.ts): one client's mismatches cannot flush another's.
   */
  #goneSessions = new FairMemory(GONE_SESSIONS);
  /** Lease ids this book dropped or let expire: a request naming one is refused at once, not left waiting for a notice. */
  #droppedIds = new FairMemory(DROPPED_IDS);
  granted = 0;
  used = 0;
  /** Expired or voided unused. */
  expired = 0;
  /** Dropped to stay within `max` (server1, server2). */
  evicted = 0;

  /**
   * `onExpire`: an entry expired or was voided unused (free its pooled side). `max`: entries held
   * at most; `maxPerOwner`: of one owner (server1, server2: the client connection server0 names).
   */
  constructor(private readonly onExpire: (e: LeaseEntry) => void, private readonly max = Infinity, private readonly maxPerOwner = Infinity) {}

  get size(): number {
    return this.#held.size;
  }

  has(id: string): boolean {
    return this.#held.has(id);
  }

  countFor(owner: string | undefined): number {
    return this.#perOwner.get(owner) ?? 0;
  }

  /** Entries whose owner is of address group `group` (server0 records it: grant). */
  countForGroup(group: string): number {
    let n = 0;
    for (const h of this.#held.values()) if (h.group === group) n++;
    return n;
  }

  /** server0: a fresh id for `entry`, leased to `owner` of address group `group`. */
  grant(entry: LeaseEntry, owner: string, ttlMs: number, group?: string): string {
    const id = randomUUID();
    this.add(id, entry, ttlMs, owner, group);
    return id;
  }

  /** Records a lease (server1/server2: as server0 announced it; server0 also knows its owner's address `group`). A known id is ignored. */
  add(id: string, entry: LeaseEntry, ttlMs: number, owner?: string, group?: string): void {
    if (this.#held.has(id)) return;
    // Over the owner's bound, its own oldest go; over the bound in all, the oldest of whoever holds
    // the most (this entry counted): so clients that hold many here (one leaving server2 out of
    // its queries, or many such connections) push out their own leases before an honest client's
    // one or two.
    if (owner !== undefined) while (this.countFor(owner) >= this.maxPerOwner) this.#evict(this.#oldestOf(owner));
    while (this.#held.size >= this.max) this.#evict(this.#oldestOfLargest(owner));
    const timer = setTimeout(() => {
      if (this.#remove(id)) {
        this.#remember(id, owner);
        this.#gone(entry, owner);
        this.expired++;
        this.onExpire(entry);
      }
    }, ttlMs);
    timer.unref();
    this.#held.set(id, { entry, owner, group, timer });
    this.#perOwner.set(owner, this.countFor(owner) + 1);
    if (entry.session) this.#bySession.set(entry.session, id);
    this.granted++;
  }

  /**
   * Take's check alone, taking nothing: throws, voiding the lease here, when `ref` names an entry
   * held here that does not match the query (as take would). The server checks before it admits
   * the query, so that nothing is done for a query take would then refuse (a waiting request of
   * another client pushed out for it: SessionAccounting.admit).
   */
  check(ref: LeaseRef, model: string, maskedShape?: readonly number[]): void {
    const h = this.#held.get(ref.id);
    if (!h) return;
    const s = h.entry.shape;
    const shapeOk = !maskedShape || (!!s && sameShape(s, maskedShape));
    if (h.entry.index === ref.index && h.entry.model === model && shapeOk) return;
    this.#drop(ref.id, h);
    throw new LeaseMismatchError(`lease ${ref.id.slice(0, 8)} does not match this query (another model, index, or masked input shape); it is void now`);
  }

  /**
   * Takes the entry `ref` names if it matches the query (model, epoch, and for a masked input
   * `maskedShape`, the shape the mask was dealt for); undefined when the id is
   * unknown here (expired, used, or its notice not here yet). A mismatch throws (and keeps nothing).
   */
  take(ref: LeaseRef, model: string, maskedShape?: readonly number[]): LeaseEntry | undefined {
    this.check(ref, model, maskedShape);
    const h = this.#held.get(ref.id);
    if (!h) return undefined;
    clearTimeout(h.timer);
    this.#remove(ref.id);
    this.used++;
    return h.entry;
  }

  /** The lease the query in client session `session` asked for (leaseNext), if it is held here: its id and entry. */
  forSession(session: string): { id: string; entry: LeaseEntry } | undefined {
    const id = this.#bySession.get(session);
    const h = id === undefined ? undefined : this.#held.get(id);
    return h && { id: id!, entry: h.entry };
  }

  /** Voids lease `id` if it is held here (its pooled side is freed); whether it was. */
  void(id: string): boolean {
    const h = this.#held.get(id);
    if (h) this.#drop(id, h);
    return !!h;
  }

  /** Voids every lease of epoch `epochId` (a renewed setup whose grace is over). */
  voidEpoch(epochId: string): void {
    this.#dropWhere((e) => e.epoch === epochId);
  }

  /** Voids every lease on `model` (it was undeployed: a model deployed again under its name has other masks). */
  voidModel(model: string): void {
    this.#dropWhere((e) => e.model === model);
  }

  /** Whether lease `id` was held here and is gone unused (dropped, expired): no notice of it is still to come. */
  wasDropped(id: string): boolean {
    return this.#droppedIds.has(id);
  }

  /**
   * Whether the lease the query in `session` asked for was held here and left unused (dropped or
   * expired), so no notice of it is still to come: server1's next-lease wait must not wait for one
   * (a query that outlives its next lease's expiry would otherwise hang to its timeout). A lease
   * used already is not counted: an honest client has its reference only once that query ended.
   */
  goneFor(session: string): boolean {
    return this.#goneSessions.has(session);
  }

  /** How many held leases of the epochs `epochIds` hold a pooled index, per model. */
  pooledByModel(...epochIds: (string | undefined)[]): Map<string, number> {
    const n = new Map<string, number>();
    for (const { entry: e } of this.#held.values()) if (e.pooled && epochIds.includes(e.epoch)) n.set(e.model, (n.get(e.model) ?? 0) + 1);
    return n;
  }

  /** Shutdown: the expiry timers stop (nothing is freed or sent any more). */
  stopTimers(): void {
    for (const h of this.#held.values()) clearTimeout(h.timer);
  }

  /** A new epoch (or shutdown): every lease is void. */
  clear(): void {
    this.#dropWhere(() => true);
  }

  #dropWhere(pick: (e: LeaseEntry) => boolean): void {
    for (const [id, h] of [...this.#held]) if (pick(h.entry)) this.#drop(id, h);
  }

  /** Forgets lease `id` (false: it was not held). */
  #remove(id: string): boolean {
    const h = this.#held.get(id);
    if (!h) return false;
    const session = h.entry.session;
    if (session && this.#bySession.get(session) === id) this.#bySession.delete(session);
    const left = this.countFor(h.owner) - 1;
    if (left > 0) this.#perOwner.set(h.owner, left);
    else this.#perOwner.delete(h.owner);
    return this.#held.delete(id);
  }

  /** The oldest entry of `owner` (a Map iterates in insertion order: the first is the oldest). */
  #oldestOf(owner: string | undefined): [string, Held] {
    for (const e of this.#held) if (e[1].owner === owner) return e;
    throw new Error(`no lease of ${owner} is held`);
  }

  /**
   * The oldest entry of the owner holding the most, `adding`'s count taken one higher (it is about
   * to add one); among equals, the one whose oldest entry is oldest.
   */
  #oldestOfLargest(adding: string | undefined): [string, Held] {
    let most = 0;
    for (const [o, n] of this.#perOwner) most = Math.max(most, o === adding ? n + 1 : n);
    for (const e of this.#held) {
      const o = e[1].owner;
      if (this.countFor(o) + (o === adding ? 1 : 0) === most) return e;
    }
    throw new Error('the lease book is empty');
  }

  /** Drops an entry to stay within a bound (freed as an expired one, counted apart). */
  #evict([id, h]: [string, Held]): void {
    this.#drop(id, h);
    this.expired--;
    this.evicted++;
  }

  #remember(id: string, owner: string | undefined): void {
    this.#droppedIds.add(id, owner);
  }

  /** An entry left unused: the session that asked for it (if one did) waits for no notice of it. */
  #gone(e: LeaseEntry, owner: string | undefined): void {
    if (e.session) this.#goneSessions.add(e.session, owner);
  }

  #drop(id: string, h: Held): void {
    clearTimeout(h.timer);
    this.#remove(id);
    this.#remember(id, h.owner);
    this.#gone(h.entry, h.owner);
    this.expired++;
    this.onExpire(h.entry);
  }
}

/**
 * server0: the leases used in queries that ran, named to server1 and server2 USED_NOTICE_MS later, a batch at
 * a time (see the top): `send` gets at most `batch` ids per call.
 */
export class UsedLeases {
  #used: { id: string; at: number }[] = [];
  #timer?: NodeJS.Timeout;

  constructor(private readonly send: (ids: string[]) => void, private readonly delayMs = USED_NOTICE_MS, private readonly batch = MAX_UNLEASE_IDS) {}

  add(id: string): void {
    this.#used.push({ id, at: Date.now() });
    this.#schedule();
  }

  /** Forgets what is still to be sent (shutdown, a new setup after a reconnect). */
  clear(): void {
    this.#used = [];
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer || !this.#used.length) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const now = Date.now();
      let n = 0;
      while (n < this.#used.length && now - this.#used[n].at >= this.delayMs) n++;
      const due = this.#used.splice(0, n).map((u) => u.id);
      for (let i = 0; i < due.length; i += this.batch) this.send(due.slice(i, i + this.batch));
      this.#schedule();
    }, Math.max(0, this.#used[0].at + this.delayMs - Date.now()));
    this.#timer.unref();
  }
}
