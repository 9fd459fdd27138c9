// One server's side of session-index leases (leases.ts): server0 grants them and says when they
// end; server1 and server2 record what server0 announces and pair the requests that name them.
// The lease book itself is leases.ts; this is what a server does with it (server.ts calls it).
import type { Log } from '../log';
import type { PartyName } from '../net/transport';
import { REQUEST_KEY, type WsEndpoint } from '../net/ws_endpoint';
import { SERVER0, SERVER1 } from '../protocol/party';
import type { ClusterConfig } from './config';
import type { Epoch } from './epoch';
import type { NextLease } from './input_mask';
import { EXPIRY_SLACK_MS, type LeaseEntry, LeaseBook, type LeaseRef, UsedLeases } from './leases';
import { addressShare, BusyError, checkPredictRequest } from './limits';
import { type LeaseNotice, type LeaseRequest, NEXT_LEASE_KEY, type NoNextLease, type Response, type UnleaseNotice } from './messages';
import type { DeployedModel } from './model_store';
import type { RequestPairing } from './pairing';
import type { PoolReservations } from './reservations';

/** What the leases need from their server. */
export interface LeaseHost {
  me: PartyName;
  config: ClusterConfig;
  endpoint: WsEndpoint;
  log: Log;
  models: ReadonlyMap<string, DeployedModel>;
  reservations: PoolReservations;
  /** The current setup, and the one a query of setup `id` runs in (epoch_setup.ts). */
  epoch(): Epoch | undefined;
  epochFor(id: string): Epoch | undefined;
  pending(): RequestPairing;
  stopping(): boolean;
  others(): PartyName[];
  respond(peer: PartyName, session: string, res: Response): void;
  refuse(peer: PartyName, session: string, e: Error): void;
}

export class ServerLeases {
  /** The leases this server holds; an unused one's pooled side is freed by `onExpire`. */
  readonly book: LeaseBook;
  /** server0: leases used in queries that ran, named to server1 and server2 a little later (leases.ts). */
  readonly #used: UsedLeases;
  /** server1: queries at their output, waiting for the notice of the lease they asked for (next). */
  #waiters = new Map<string, () => void>();

  /**
   * server0 bounds its leases by maxSessions and maxSessionsPerClient; server1 and server2 hold
   * those and the ones whose end server0's notice has not told yet, at most twice as many.
   */
  constructor(private readonly h: LeaseHost, onExpire: (e: LeaseEntry) => void) {
    const s0 = h.me === SERVER0;
    this.book = new LeaseBook(onExpire, s0 ? Infinity : 2 * h.config.maxSessions, s0 ? Infinity : 2 * h.config.maxSessionsPerClient);
    this.#used = new UsedLeases((ids) => this.unlease(ids));
  }

  /** server0: the lease a query ran on; server1 and server2 hear of it a few seconds later. */
  ranOn(id: string): void {
    this.#used.add(id);
  }

  /**
   * server0: the query in `session` ends without running here: the lease it took for the next
   * query (whose reference its client never gets now) is void, and server1 and server2 drop it
   * together with `ranOn`, the lease the query came on, if any.
   */
  endedWithout(session: string, ranOn?: string): void {
    const next = this.book.forSession(session);
    if (next) this.book.void(next.id);
    this.unlease([ranOn, next?.id].filter((id): id is string => !!id));
  }

  /** Every lease is void (a new setup after a reconnect). */
  clear(): void {
    this.book.clear();
    this.#used.clear();
  }

  /** Shutdown: nothing more is sent, and no timer is left running. */
  stop(): void {
    this.#used.clear();
    this.book.stopTimers();
  }

  /**
   * A client takes the session index of its next batch-1 query on a model (leases.ts). server0
   * grants it and tells server1 and server2 before answering; they answer at once. (A query's
   * `leaseNext` takes one too, with its input mask: input_mask.ts.)
   */
  request(peer: PartyName, session: string, req: LeaseRequest): void {
    try {
      if (this.h.me !== SERVER0) return this.h.respond(peer, session, { ok: true });
      this.h.respond(peer, session, { ok: true, lease: this.grant(peer, req.model) });
    } catch (e) {
      this.h.refuse(peer, session, e as Error);
    }
  }

  /**
   * server0: a lease on `model` for `peer`, within the limits, announced to server1 and server2.
   * With `shape` and `forSession` (a query's leaseNext), the query running in `forSession` sends
   * the lease's input mask for inputs of `shape`, and only such a query may send its input masked.
   */
  grant(peer: PartyName, model: string, shape?: number[], forSession?: string): LeaseRef & { ttlMs: number } {
    const epoch = this.h.epoch(), ttlMs = this.h.config.leaseTtlMs;
    if (ttlMs === 0) throw new Error('this cluster grants no leases (leaseTtlMs is 0)');
    if (this.h.stopping()) throw new Error(`${this.h.me} is shutting down`);
    if (!epoch?.isReady) throw new Error('the cluster is not set up yet');
    if (!this.h.models.has(model) || !epoch.masks.has(model)) throw new Error(`unknown model '${model}'`);
    const down = this.h.others().filter((s) => !this.h.endpoint.connected(s));
    if (down.length) throw new Error(`cannot reach ${down.join(' and ')}; retry when the cluster has re-formed`);
    const mine = this.book.countFor(peer);
    if (mine >= this.h.config.maxSessionsPerClient) throw new Error(`this client holds ${mine} unused leases (maxSessionsPerClient); use them or let them expire`);
    if (this.book.size >= this.h.config.maxSessions) throw new BusyError(`the server is busy: it holds as many leases as it takes (maxSessions); retry later`, `${this.book.size} leases outstanding (maxSessions)`);
    const group = this.h.endpoint.clientGroup(peer), c = this.h.config;
    const ofGroup = group === undefined ? 0 : this.book.countForGroup(group), maxOfGroup = addressShare(c.maxSessions, c.maxAddressPercent, c.maxSessionsPerClient);
    if (ofGroup >= maxOfGroup) throw new BusyError(`the clients of this address hold as many unused leases as one address may (maxAddressPercent = ${c.maxAddressPercent}% of maxSessions); use them or let them expire`, `${ofGroup} leases held from ${group} (${maxOfGroup} per address, maxAddressPercent)`);
    const entry = { epoch: epoch.id, model, ...this.h.reservations.indexForLease(epoch, model), ...(shape && forSession ? { shape, session: forSession } : {}) };
    const id = this.book.grant(entry, peer, ttlMs, group);
    const notice: LeaseNotice = { type: 'lease', id, ...entry, ttlMs, owner: peer };
    for (const s of this.h.others()) void this.h.endpoint.send(s, `lease:${epoch.id}`, REQUEST_KEY, { kind: 'control', data: notice }).catch(() => undefined);
    return { id, index: entry.index, ttlMs };
  }

  /**
   * The lease the query in `session` asked for (leaseNext) and this server holds: index and input
   * shape. server1 waits for it: server0 sends its notice before anything of the query, but a
   * leased query has no start notice, so one with no round before its output (a linear model)
   * would otherwise race it, and its next query go unmasked at random. When server0 grants none,
   * it says so in the query's session. A lease of another setup than the query's (`epochId`) gets
   * no mask: this query's seeds would make the wrong one (server0 grants none such).
   */
  async next(session: string, epochId: string): Promise<NextLease | undefined> {
    // Gone after its notice came (expired, or dropped: its setup's grace ended, or evicted): no decision is still to come.
    if (this.h.me === SERVER1 && !this.book.forSession(session) && !this.book.goneFor(session)) {
      await new Promise<void>((resolve, reject) => {
        this.#waiters.set(session, resolve);
        this.h.endpoint.recv(SERVER0, session, NEXT_LEASE_KEY).then((p) => {
          if (p.kind !== 'control' || (p.data as NoNextLease | null)?.none !== true) reject(new Error('server0 sent a malformed lease decision'));
          else resolve();
        }, reject);
      }).finally(() => this.#waiters.delete(session));
    }
    const e = this.book.forSession(session)?.entry;
    return e?.shape && e.epoch === epochId ? { index: e.index, shape: e.shape } : undefined;
  }

  /**
   * server0: leases `ids` ended here without a query that ran on them (voided, or their query
   * failed), or (a few seconds on: ranOn) their queries ran: the others drop those they still
   * hold and free the pooled sides, instead of holding them until they expire (leases.ts). Sent
   * where lease notices go, so it follows them.
   */
  unlease(ids: string[]): void {
    const epoch = this.h.epoch();
    if (!epoch || !ids.length) return;
    const notice: UnleaseNotice = { type: 'unlease', epoch: epoch.id, ids };
    for (const s of this.h.others()) void this.h.endpoint.send(s, `lease:${epoch.id}`, REQUEST_KEY, { kind: 'control', data: notice }).catch(() => undefined);
  }

  /** server1/server2: server0 voided these leases; a query already running on one keeps it (it was taken). */
  onUnlease(n: UnleaseNotice): void {
    // Sent under server0's current setup; the leases may be of the one a renewal replaced.
    if (!this.h.epochFor(n.epoch)) return;
    for (const id of n.ids) this.book.void(id);
  }

  /** server1/server2: server0 leased an index; a request that named it already is paired now. */
  onNotice(n: LeaseNotice): void {
    // The query that asked for it goes on either way: a lease of another setup is no lease here.
    if (n.session) this.#waiters.get(n.session)?.();
    if (n.epoch !== this.h.epoch()?.id) return;
    // The input shape its mask is made for: server1 makes a mask of it (input_mask.ts), so it must
    // be one example of the model's input, within maxInputBytes, as a query's own shape is.
    if (n.shape) {
      try {
        if (n.shape[0] !== 1) throw new Error(`a lease's input shape must have batch 1, got [${n.shape}]`);
        checkPredictRequest(this.h.config, this.h.models.get(n.model), { model: n.model, shape: n.shape }, () => [...this.h.models.keys()]);
      } catch (e) {
        return this.h.log(`ignored a lease notice from server0: ${(e as Error).message}`, 'notice-ignored', { peer: SERVER0 });
      }
    }
    this.book.add(n.id, { epoch: n.epoch, model: n.model, index: n.index, pooled: n.pooled === true, ...(n.shape && n.session ? { shape: n.shape, session: n.session } : {}) }, n.ttlMs + EXPIRY_SLACK_MS, n.owner);
    const session = this.h.pending().takeLeaseWaiter(n.id);
    if (!session) return;
    const p = this.h.pending().get(session), req = p?.client?.req;
    if (!p || req?.type !== 'predict' || !req.lease) return;
    try {
      const e = this.book.take(req.lease, req.model, req.maskedInput ? req.shape : undefined)!;
      this.h.pending().pair(session, { notice: { epoch: e.epoch, index: e.index, pooled: e.pooled } });
    } catch (e) {
      const peer = p.client!.peer;
      this.h.pending().drop(session, true);
      this.h.refuse(peer, session, e as Error);
    }
  }
}
