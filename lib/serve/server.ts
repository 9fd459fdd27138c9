// One server of the prediction service (server0, server1 or server2), one per process.
// Requests: a client sends the same request to all three servers; server0 gives it a session
// index of the current epoch and tells the others; each server runs its part and answers the
// client. Faults: a client or server that disconnects aborts the sessions it was part of (the
// other servers are told, the client gets the reason), a query that runs too long is aborted,
// and stop() lets in-flight queries finish before closing.
// Here: admission and the requests' life. Elsewhere: the setup (epoch_setup.ts, epoch.ts), the
// pairing of a request with server0's notice (pairing.ts), the computation (run_request.ts), who
// may change the models (access.ts), the pool (reservations.ts, pool.ts), leases (server_leases.ts,
// leases.ts).
import * as path from 'node:path';

import { resolveDevice, setBackend } from '../backend/backends';
import { freeBuffer } from '../backend/wire_buffers';
import { SERVER0, SERVER1, SERVER2, SERVERS } from '../protocol/party';
import type { PartyName, Payload } from '../net/transport';
import { REQUEST_KEY, WsEndpoint } from '../net/ws_endpoint';
import { checkOwner, isOperator } from './access';
import { type ClusterConfig, readPem } from './config';
import { serverTls } from './provision_tls';
import type { Epoch } from './epoch';
import { EpochSetup } from './epoch_setup';
import { BusyError, checkClientApplies, checkDeploySize, checkPredictRequest, forClient, SessionAccounting, STOP_GRACE_MS } from './limits';
import { PoolReservations } from './reservations';
import { ServerLeases } from './server_leases';
import { LeaseMismatchError } from './leases';
import { type ClientRequest, type DeployRequest, NEXT_LEASE_KEY, type NoNextLease, type PredictRequest, requestKey, type Response, RESPONSE_KEY, type ServerStatus, type StartNotice, validateNotice, validateRequest } from './messages';
import { type DeployedModel, infoOf, ModelStore, specOf } from './model_store';
import { type ClientHalf, type Notice, RequestPairing } from './pairing';
import { holdInto, holdOnArrival } from './hold_on_arrival';
import { poolNoticeSession, poolSession } from './pool';
import { serverStatus } from './status';
import { createLogger, type Log } from '../log';
import { ServerMetrics } from './metrics';
import { PoolNotices } from './pool_notices';
import { undeployHere } from './undeploy';
import { type QueryRunHost, type QueryStart, type RunningQuery, runQuery } from './query_run';

const PAIRING_TIMEOUT_MS = 10_000;
const CLIENT_SESSION = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ServerOptions {
  /** Default: the format cluster.json's `log` names, on stderr (lib/log.ts). */
  log?: Log;
}

/**
 * The sessions one client connection may have in progress at the transport (past it the
 * connection is closed): what the service admits of it (maxSessionsPerClient) and may hold
 * pending (maxPendingRequests), and room for refusals being answered. A fixed 256 closed the
 * connections of clients a config allowed more.
 */
export const connectionSessions = (c: { maxSessionsPerClient: number; maxPendingRequests: number }): number => Math.max(256, c.maxSessionsPerClient + c.maxPendingRequests + 64);

export class TfeServer {
  readonly me: PartyName;
  readonly endpoint: WsEndpoint;
  #config: ClusterConfig;
  #log: Log;
  /** What /metrics adds to the status counters (metrics.ts, ops_http.ts). */
  readonly metrics = new ServerMetrics();
  #store: ModelStore;
  #models = new Map<string, DeployedModel>();
  #deploying = new Set<string>();
  /** server1/server2: server0's pool and unpool notices (pool_notices.ts). */
  #poolNotices: PoolNotices;
  #setup: EpochSetup;
  /** server1/server2: client requests and server0's notices waiting for their other half. */
  #pending: RequestPairing;
  /** Queries running here, each with its early end (query_end.ts). */
  #running = new Map<string, RunningQuery>();
  /** What a running query uses of this server (query_run.ts). */
  #queryHost: QueryRunHost;
  #sessions: SessionAccounting;
  #stopping = false;
  /** Session indices clients took ahead (server_leases.ts, leases.ts). */
  #leases: ServerLeases;
  /** server0: the indices reserved ahead for the offline pool (reservations.ts). */
  #reservations: PoolReservations;

  constructor(config: ClusterConfig, party: PartyName, opts: ServerOptions = {}) {
    if (!SERVERS.includes(party)) throw new Error(`unknown party '${party}' (expected ${SERVERS.join(', ')})`);
    this.me = party;
    this.#config = config;
    this.#reservations = new PoolReservations({
      config,
      model: (name) => this.#models.get(name),
      notify: (notice) => {
        const to = notice.type === 'pool' ? [SERVER2] : this.#others();
        for (const s of to) void this.endpoint.send(s, poolNoticeSession(notice.epoch), REQUEST_KEY, { kind: 'control', data: notice }).catch(() => undefined);
      },
      endPoolSession: (epoch, index) => this.endpoint.endSession(poolSession(epoch.id, index)),
      // A renewed setup's leases keep their recordings on server1 and server2 until used or void
      // (its grace): the new setup's pool counts them in its budget meanwhile.
      leasedPooled: (epoch) => this.#leases.book.pooledByModel(epoch.id, this.#setup.previous?.id),
      previous: () => this.#setup.previous,
    });
    // Everything this process computes (its party's shares, the deployed models) lives on one
    // device; a 'cuda' that cannot be had stops the server here, saying why.
    setBackend(resolveDevice(config.device));
    this.#log = opts.log ?? createLogger({ party, format: config.log.format });
    const mine = config.parties[party as 'server0'];
    // The CA and/or pins, and this server's own certificate, checked (provision_tls.ts); reloaded on
    // SIGHUP or when the files change.
    const tls = serverTls(config, party, this.#log);
    // Plain ws: server links prove membership with the cluster secret (under TLS, certificates do).
    const clusterSecret = !tls && config.clusterSecret ? readPem(config, config.clusterSecret, 'cluster secret').toString('utf8').trim() : undefined;
    this.endpoint = new WsEndpoint({ me: party, host: mine.listen ?? mine.host, port: mine.port, tls, insecure: config.insecure, lanes: config.lanes, lanePort: mine.lanePort, allowedOrigins: config.allowedOrigins, clusterSecret, ...config.net, maxClientMessageBytes: config.maxInputBytes + (1 << 16), maxSessionsPerClient: connectionSessions(config), orphanSessionMs: config.queryTimeoutMs + PAIRING_TIMEOUT_MS, log: this.#log, adopt: holdOnArrival, holdInto, release: freeBuffer });
    this.#store = new ModelStore(path.resolve(config.baseDir, config.dataDir, party, 'models'), this.#log);
    this.#sessions = new SessionAccounting(config);
    this.#setup = new EpochSetup({
      me: party,
      endpoint: this.endpoint,
      config,
      log: this.#log,
      models: this.#models,
      // A renewal keeps the old setup's leases until its grace is over: a client's next query
      // (whose input mask was made under the old setup) runs there.
      replacing: (renewal) => {
        // On a renewal the old setup's reserved indices stay: queries take them first while the
        // new setup's pool is dealt (PoolReservations.takeFromPrevious), and what is left goes
        // with the old setup at the end of its grace.
        if (!renewal) this.#leases.clear();
      },
      graceOver: (epoch) => {
        this.#leases.book.voidEpoch(epoch.id);
        const current = this.#epoch;
        if (this.me === SERVER0) this.#reservations.graceOver(epoch, current && current !== epoch && current.isReady ? current : undefined);
      },
      ready: (epoch) => {
        if (this.me === SERVER0) for (const name of epoch.masks.keys()) this.#reservations.reserve(epoch, name, 1);
      },
      stopping: () => this.#stopping,
      deploysSettled: async (setup) => {
        await Promise.allSettled([...this.#running.values()].filter((r) => r.epoch !== setup && this.#deploying.has(r.model)).map((r) => r.done));
      },
    });
    // A half waits for the other no longer than the query may take: its timeout counts from then.
    this.#pending = new RequestPairing(Math.min(PAIRING_TIMEOUT_MS, config.queryTimeoutMs), {
      paired: (session, client, notice, since) => {
        this.#sessions.started(session);
        this.#run({ session, client: client.peer, req: client.req as PredictRequest | DeployRequest, notice, since });
      },
      unused: (session, { notice }) => {
        this.#sessions.release(session);
        this.endpoint.endSession(session);
        if (notice && this.me === SERVER2) this.#setup.epochFor(notice.epoch)?.pool.discard(notice.index);
        // What server2 shipped ahead for it (the compute servers hold it in the pool session).
        if (notice?.pooled) this.endpoint.endSession(poolSession(notice.epoch, notice.index));
      },
      mismatched: (session, client, notices, why) => this.#mismatched(session, client, notices, why),
      timedOut: (session, { client }) => {
        if (client) this.#respond(client.peer, session, { ok: false, error: `${this.me}: server0 did not start this request (is it up?)` });
        // server0 started it but the client never asked here: server0 and the other stop waiting.
        else this.endpoint.abortSession(session, `the client's request never reached ${this.me}`, this.#others());
      },
    });
    this.#leases = new ServerLeases(
      {
        me: party,
        config,
        log: this.#log,
        models: this.#models,
        reservations: this.#reservations,
        endpoint: this.endpoint,
        epoch: () => this.#epoch,
        epochFor: (id) => this.#setup.epochFor(id),
        pending: () => this.#pending,
        stopping: () => this.#stopping,
        others: () => this.#others(),
        respond: (peer, session, res) => this.#answer(peer, session, res),
        refuse: (peer, session, e) => this.#refuse(peer, session, e),
      },
      (e) => this.#freeIndex(e.epoch, e.index, e.pooled),
    );
    this.#poolNotices = new PoolNotices({ me: party, endpoint: this.endpoint, setup: this.#setup, models: this.#models, deploying: (model) => this.#deploying.has(model) });
    this.#queryHost = {
      me: party,
      config,
      endpoint: this.endpoint,
      log: this.#log,
      metrics: this.metrics,
      setup: this.#setup,
      models: this.#models,
      store: this.#store,
      leases: this.#leases,
      reservations: this.#reservations,
      sessions: this.#sessions,
      others: () => this.#others(),
      respond: (peer, session, res) => this.#respond(peer, session, res),
      deploying: (model, on) => {
        if (on) return void this.#deploying.add(model);
        this.#deploying.delete(model);
        this.#poolNotices.deployEnded(model);
      },
      started: (session, q) => this.#running.set(session, q),
      ended: (session) => this.#running.delete(session),
    };
  }

  /** The setup queries run in. */
  get #epoch() {
    return this.#setup.current;
  }

  /** Checks its ports are free, loads the stored models, listens, and joins the mesh (re-joining by itself after drops). */
  async start(): Promise<void> {
    await this.endpoint.checkPortsFree();
    for (const m of this.#store.loadAll(this.me !== 'server2')) this.#models.set(m.name, m);
    if (this.#models.size) this.#log(`loaded ${this.#models.size} deployed model(s): ${[...this.#models.keys()].join(', ')}`, 'models-loaded', { count: this.#models.size, models: [...this.#models.keys()].join(',') });
    this.endpoint.on('request', (peer, session, payload) => this.#onRequest(peer, session, payload));
    this.endpoint.on('peer-up', (peer) => this.#setup.peerUp(peer));
    this.endpoint.on('peer-down', (peer, why) => this.#onPeerDown(peer, why));
    this.endpoint.on('abort', (session, reason) => this.#onAbort(session, reason));
    await this.endpoint.start(SERVERS.filter((s) => s !== this.me));
    for (const s of SERVERS)
      if (s > this.me) {
        const p = this.#config.parties[s as 'server0'];
        this.endpoint.connect({ name: s, host: p.host, port: p.port }, { timeoutMs: Number.POSITIVE_INFINITY }).catch(() => undefined);
      }
  }

  get port(): number {
    return this.endpoint.port;
  }

  /** Resolves once an epoch is set up (all three servers connected and the models masked). */
  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.#epoch;
      if (e && (await e.ready.then(() => true, () => false)) && e === this.#epoch) return;
      if (Date.now() > deadline) throw new Error(`${this.me}: the cluster is not set up (waiting for ${SERVERS.filter((s) => s !== this.me && !this.endpoint.connected(s)).join(', ') || 'setup'})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  #onPeerDown(peer: PartyName, why: string): void {
    if (SERVERS.includes(peer)) {
      this.#log(`lost ${peer}: ${why}; in-flight queries fail, the cluster re-forms when it is back`, 'peer-down', { peer, reason: why, running: this.#running.size });
      for (const r of this.#running.values()) r.end.abort(`${peer} disconnected`);
      // A request still waiting for its other half would run without that server as well: it
      // ends now, everywhere (server0 may run it already), not at the end of the pairing wait.
      for (const session of this.#pending.sessions()) {
        this.endpoint.abortSession(session, `${peer} disconnected`, this.#others());
        this.#dropWaiting(session, `${peer} disconnected; retry when the cluster has re-formed`);
      }
      return;
    }
    for (const r of this.#running.values()) if (r.client === peer) r.end.abort('the client disconnected');
    for (const session of this.#pending.sessions()) if (this.#pending.get(session)?.client?.peer === peer) this.#pending.drop(session, true);
  }

  /**
   * Another party aborted a session: a request still waiting for its other half is dropped, and
   * its client told why (another server that saw a server go, say, ends the request everywhere).
   */
  #onAbort(session: string, reason: string): void {
    this.#log(`session ${session} aborted by ${reason}`, 'session-aborted', { session, reason });
    this.#dropWaiting(session, `aborted by ${forClient(reason)}`);
    // The endpoint aborted the session itself (the others were told by whoever aborted it).
    this.#running.get(session)?.end.aborted(reason);
  }

  /** A request waiting for its other half that will never run: forgotten, and its client (if here) told `why`. */
  #dropWaiting(session: string, why: string): void {
    const client = this.#pending.get(session)?.client;
    this.#pending.drop(session, true);
    if (client) this.#respond(client.peer, session, { ok: false, error: `${this.me}: ${why}` });
  }

  #others(): PartyName[] {
    return SERVERS.filter((s) => s !== this.me);
  }

  // ---------- requests ----------

  #onRequest(peer: PartyName, session: string, payload: Payload): void {
    if (payload.kind !== 'control') return this.#log(`ignored a non-control request from ${peer}`, 'request-ignored', { peer });
    if (SERVERS.includes(peer)) return this.#onNotice(peer, session, payload.data);
    let req: ClientRequest;
    try {
      // Client sessions are random ids; anything else could name a server's own session (epoch:...).
      if (!CLIENT_SESSION.test(session)) throw new Error(`session id ${JSON.stringify(session.slice(0, 40))} is not a UUID`);
      if (this.#stopping) throw new Error(`${this.me} is shutting down`);
      req = validateRequest(payload.data);
    } catch (e) {
      return this.#refuse(peer, session, e as Error);
    }
    if (req.type === 'models') return this.#answer(peer, session, { ok: true, models: [...this.#models.values()].map((m) => ({ ...infoOf(m), fracBits: this.#config.fracBits })) });
    if (req.type === 'status') return this.#answer(peer, session, { ok: true, status: this.status(isOperator(this.#config, this.endpoint, peer)) });
    if (req.type === 'lease') return this.#leases.request(peer, session, req);
    if (this.#running.has(session) || this.#pending.get(session)?.client || this.#sessions.has(session))
      return this.#respond(peer, session, { ok: false, error: `${this.me}: session ${session} is already in use` });
    const lease = req.type === 'predict' ? req.lease : undefined;
    // A masked input's shape, which its lease's mask must have been dealt for (LeaseBook.check).
    const maskedShape = req.type === 'predict' && req.maskedInput ? req.shape : undefined;
    try {
      if (req.type === 'undeploy') return this.#answer(peer, session, { ok: true, removed: undeployHere({ ...this.#queryHost, deployingNow: this.#deploying, running: this.#running, pending: this.#pending, dropWaiting: (s, why) => this.#dropWaiting(s, why) }, req, peer) });
      const bytes = this.#check(req, peer);
      const down = this.#others().filter((s) => !this.endpoint.connected(s));
      if (down.length) throw new Error(`cannot reach ${down.join(' and ')}; retry when the cluster has re-formed`);
      if (this.me === SERVER0 && !this.#epoch) throw new Error('the cluster is not connected yet');
      // Before this setup's session indices run out, a fresh one (its queries in flight finish in the old).
      if (this.me === SERVER0 && !this.#deploying.size) this.#setup.renewIfLow();
      // server1/server2 also refuse at once a lease they held and dropped (its notice will not come
      // again): the client then asks the plain way, where waiting would fail after PAIRING_TIMEOUT_MS.
      if (lease && !this.#leases.book.has(lease.id) && (this.me === SERVER0 || this.#leases.book.wasDropped(lease.id))) throw new Error(`lease ${lease.id.slice(0, 8)} is unknown or expired; ask for a new one`);
      // A lease that take would refuse is refused before admission, which may push out another
      // client's waiting request: none is pushed out for a query that is then refused.
      if (lease) this.#leases.book.check(lease, req.model, maskedShape);
      const waits = this.me !== SERVER0 && !this.#pending.get(session)?.notice && !(lease && this.#leases.book.has(lease.id));
      const pushedOut = this.#sessions.admit(session, peer, bytes, waits, this.endpoint.clientGroup(peer));
      if (pushedOut !== undefined) {
        this.#log(`refused a waiting request (session ${pushedOut.slice(0, 8)}): its address held the most requests waiting for a go-ahead, and another address needed a place in the full server (maxAddressPercent)`, 'request-refused', { session: pushedOut, limit: 'maxAddressPercent' });
        this.#dropWaiting(pushedOut, 'the server is busy: a request from another address took the place this one waited in (maxAddressPercent); retry later');
      }
    } catch (e) {
      // server0 refuses a leased request (a wrong shape, a limit): the client has spent its
      // lease, so it is voided here and on server1 and server2, whose pooled sides it held until
      // its ttl (and it counted against the client's leases meanwhile).
      // (A lease that did not match was voided here by the check.)
      if (this.me === SERVER0 && lease && (this.#leases.book.void(lease.id) || e instanceof LeaseMismatchError)) this.#leases.unlease([lease.id]);
      return this.#refuse(peer, session, e as Error);
    }
    let leased: Notice | undefined;
    try {
      const entry = lease ? this.#leases.book.take(lease, req.model, maskedShape) : undefined;
      if (entry) leased = { epoch: entry.epoch, index: entry.index, pooled: entry.pooled };
    } catch (e) {
      this.#sessions.release(session);
      // server0 voided it (a mismatch): server1 and server2 drop theirs too.
      if (this.me === SERVER0 && lease) this.#leases.unlease([lease.id]);
      return this.#refuse(peer, session, e as Error);
    }
    if (this.me === SERVER0) {
      const epoch = this.#epoch!;
      // The index it starts on: its lease's, else a reserved or fresh one (#startIndex).
      let start: Notice | undefined = leased;
      try {
        start ??= this.#startIndex(epoch, req);
      } catch (e) {
        this.#sessions.release(session); // out of session indices (epoch.ts): refused, not left admitted
        return this.#refuse(peer, session, e as Error);
      }
      // The next query's lease, announced as this query starts: this query's compute servers send
      // its mask's shares (server1 once the notice is there: ServerLeases.next), and server0 its
      // reference with the answer.
      // Every prediction gets a decision, asked for or not: server1 waits for one when its copy
      // of the request asks (a client may ask server1 alone), until the query's timeout otherwise.
      if (req.type === 'predict') {
        let granted = false;
        try {
          // Only for a query of the current setup: the next query runs in the lease's setup, and
          // its input mask is made by this query under this query's setup (input_mask.ts).
          if (req.leaseNext && start.epoch === epoch.id) granted = !!this.#leases.grant(peer, req.model, req.shape, session);
        } catch {
          // No lease (limits, no leases here): the client's next query goes the plain way.
        }
        // server1 waits for the lease's notice before its mask share (ServerLeases.next): tell it none comes.
        if (!granted) {
          const none: NoNextLease = { none: true };
          void this.endpoint.send(SERVER1, session, NEXT_LEASE_KEY, { kind: 'control', data: none }).catch(() => undefined);
        }
      }
      // A leased index was announced with the lease: no notice, nobody waits for server0.
      if (leased) return this.#run({ session, client: peer, req, notice: leased, leaseId: lease!.id, since: Date.now() });
      const notice: StartNotice = { type: 'start', epoch: start.epoch, index: start.index, pooled: start.pooled, request: requestKey(req) };
      for (const s of this.#others()) void this.endpoint.send(s, session, REQUEST_KEY, { kind: 'control', data: notice }).catch(() => undefined);
      return this.#run({ session, client: peer, req, notice: start, since: Date.now() });
    }
    // server1/server2: a lease whose notice is still on its way waits for it, as for server0's notice.
    if (lease && !leased) this.#pending.awaitLease(lease.id, session);
    this.#pending.pair(session, { client: { peer, req }, ...(leased ? { notice: leased } : {}) });
  }

  /**
   * server0: the session index a request starts on. After a renewal, a prediction first takes a
   * reserved index left in the setup it replaced, while that one is within its grace: its
   * recording was dealt before the renewal, and the new setup's pool is still being dealt (queries
   * that ran online meanwhile made the ~1.5 s of slow queries a renewal cost). Else one of the
   * current setup (reserved, or fresh: reservations.ts); throws when its indices are spent.
   */
  #startIndex(epoch: Epoch, req: PredictRequest | DeployRequest): Notice {
    const previous = this.#setup.previous;
    const index = req.type === 'predict' && previous?.usable ? this.#reservations.takeFromPrevious(previous, req) : undefined;
    if (index !== undefined) return { epoch: previous!.id, index, pooled: true };
    return { epoch: epoch.id, ...this.#reservations.indexFor(epoch, req) };
  }

  /** An index that will never run here: what server2 recorded or shipped for it is freed. */
  #freeIndex(epochId: string, index: number, pooled: boolean): void {
    const epoch = this.#setup.epochFor(epochId);
    if (!epoch) return; // a past epoch's pool went with it
    if (this.me === SERVER2) epoch.pool.discard(index);
    if (pooled) this.endpoint.endSession(poolSession(epochId, index));
  }

  /**
   * server1/server2: a client sent this server another request than server0 admitted in `session`,
   * or a lease beside server0's index (pairing.ts): nothing runs on either index. Each notice's
   * pooled side is freed as for an unused one, and the client (if its half is here) is refused;
   * a query of it running here (on a lease) is aborted. As for any refusal the other servers are
   * not told (an abort there would drop the client's request unanswered): each checks its own copy,
   * and server0's query ends when the client aborts the session or at its timeout.
   */
  #mismatched(session: string, client: ClientHalf | undefined, notices: Notice[], why: string): void {
    this.#log(`dropped session ${session.slice(0, 8)}: ${why}`, 'request-mismatched', { reason: why });
    if (!this.#running.has(session)) this.#sessions.release(session); // a running one releases as it ends
    for (const n of notices) this.#freeIndex(n.epoch, n.index, n.pooled);
    if (client) this.#refuse(client.peer, session, new Error(why));
    else this.endpoint.abortSession(session, why);
  }

  /**
   * Answers a refused request, and frees what its client uploaded for it. The other servers are
   * not told (a session aborted there would drop the client's request to them unanswered): the
   * client aborts the session everywhere when it fails, and a request that server0 never starts
   * waits at most PAIRING_TIMEOUT_MS (bounded by maxPendingRequests).
   */
  #refuse(peer: PartyName, session: string, e: Error): void {
    // A load refusal's numbers (what other clients hold) go to the log only (limits.ts BusyError).
    const reason = e instanceof BusyError ? `${e.message} [${e.detail}]` : e.message;
    this.#log(`refused a request from ${peer}: ${reason}`, 'request-refused', { peer, reason });
    this.metrics.refused++;
    this.#respond(peer, session, { ok: false, error: `${this.me}: ${forClient(e.message)}`, refused: true });
    if (CLIENT_SESSION.test(session)) this.endpoint.endSession(session);
  }

  /**
   * A notice from another server: server0 directs the others; they only tell server0 of a failed
   * setup, and server2 of recordings to deal again (reservations.ts redeal).
   */
  #onNotice(peer: PartyName, session: string, raw: unknown): void {
    const n = validateNotice(raw, this.#config.maxBatch);
    if (!n) return this.#log(`ignored a malformed notice from ${peer}`, 'notice-ignored', { peer });
    if (n.type === 'redeal' && peer === SERVER2 && this.me === SERVER0) {
      const epoch = this.#epoch;
      if (epoch?.id === n.epoch) this.#reservations.redeal(epoch, n.model, n.batch ?? 1, n.indices);
      return;
    }
    if (peer !== SERVER0) {
      if (this.me !== SERVER0 || n.type !== 'setup-failed') return this.#log(`ignored a notice from ${peer}`, 'notice-ignored', { peer });
      this.#log(`${peer} could not set up epoch ${n.epoch.slice(0, 16)}`, 'peer-setup-failed', { peer });
      return this.#setup.setUpAgain(n.epoch);
    }
    if (n.type === 'epoch') return this.#setup.begin(n);
    if (n.type === 'start') {
      const notice = { epoch: n.epoch, index: n.index, pooled: n.pooled === true, request: n.request };
      // This server ended the session before server0's start came (it refused its copy of the
      // request, the client went, or the pairing wait ran out): the index will never run here, so
      // what server2 dealt for it is freed (it stayed until the setup ended: a recording held on
      // server2, its material on server1). server0's query ends as for any refusal (the client's
      // abort, or its timeout).
      if (this.endpoint.sessionEnded(session) && !this.#running.has(session)) {
        this.#log(`freed index ${n.index} of session ${session.slice(0, 8)}: started by server0 after it ended here`, 'notice-after-end', { index: n.index });
        return this.#freeIndex(notice.epoch, notice.index, notice.pooled);
      }
      // The client's half came with a lease and runs already: server0 admitted a plain request.
      if (this.#running.has(session)) return this.#mismatched(session, undefined, [notice], "server0 admitted a request without this one's lease");
      return this.#pending.pair(session, { notice });
    }
    if (n.type === 'pool' && this.me === SERVER2) return this.#poolNotices.precompute(n);
    if (n.type === 'unpool') return this.#poolNotices.unpool(n);
    if (n.type === 'lease') return this.#leases.onNotice(n);
    if (n.type === 'unlease') return this.#leases.onUnlease(n);
    this.#log(`ignored a ${n.type} notice from ${peer}`, 'notice-ignored', { peer });
  }

  /**
   * Refuses what this server can tell is wrong before any work (same checks on every server), from
   * what the request declares; returns the estimated bytes the request will need here.
   */
  #check(req: PredictRequest | DeployRequest, peer: PartyName): number {
    if (req.type === 'predict') {
      const m = this.#models.get(req.model);
      if (m) checkClientApplies(req.model, m.spec, req.finals);
      return checkPredictRequest(this.#config, m, req, () => [...this.#models.keys()]);
    }
    checkOwner(this.#config, this.endpoint, peer, 'deploy');
    // Weights encoded at another scale would deploy a model that answers wrongly, without an error.
    if (req.fracBits !== undefined && req.fracBits !== this.#config.fracBits)
      throw new Error(`the cluster computes with fracBits ${this.#config.fracBits}, but the owner's config says ${req.fracBits}: deploy with the cluster's config file`);
    if (this.#models.has(req.model) || this.#deploying.has(req.model))
      throw new Error(`model '${req.model}' is already deployed${this.#models.has(req.model) ? ' (tfe undeploy removes it)' : ''}`);
    // Its folder would be the other's on a case-insensitive disk (macOS, Windows): saving it there
    // would delete the other's shares.
    const twin = [...this.#models.keys(), ...this.#deploying].find((n) => n.toLowerCase() === req.model.toLowerCase());
    if (twin) throw new Error(`model name '${req.model}' differs from the deployed '${twin}' only in case, which a case-insensitive disk takes as one name; choose another`);
    return checkDeploySize(this.#config, req, specOf(req));
  }

  #respond(peer: PartyName, session: string, res: Response): void {
    this.endpoint.send(peer, session, RESPONSE_KEY, { kind: 'control', data: res }).catch(() => undefined);
  }

  /**
   * Answers a request that is over with its answer (models, status, a lease, an undeploy), and ends
   * its session: a client polling status kept one session open per poll until the connection's
   * bound, where the endpoint refuses new ones.
   */
  #answer(peer: PartyName, session: string, res: Response): void {
    this.#respond(peer, session, res);
    this.endpoint.endSession(session);
  }

  /** Runs an admitted request (query_run.ts). */
  #run(q: QueryStart): void {
    runQuery(this.#queryHost, q);
  }

  /** Whether stop() was called (health says so while in-flight queries finish). */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Refuses new requests, lets in-flight ones finish (up to `graceMs`), then closes. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    this.#stopping = true;
    this.#log(`shutting down: refusing new requests, ${this.#running.size} in flight`, 'shutdown', { running: this.#running.size });
    const all = Promise.allSettled([...this.#running.values()].map((r) => r.done));
    await Promise.race([all, new Promise((r) => setTimeout(r, graceMs))]);
    for (const r of this.#running.values()) r.end.abort(`${this.me} is shutting down`);
    for (const s of this.#pending.sessions()) this.#pending.drop(s, true);
    await this.endpoint.close(`${this.me} is shutting down`);
    this.#leases.stop();
    this.#setup.stop();
  }

  /** Whether it serves and what (anyone); the counters, memory and limits in use (the operator). */
  status(operator = true): ServerStatus {
    return serverStatus({ me: this.me, epoch: this.#epoch, previous: this.#setup.previous, renewals: this.#setup.renewals, models: [...this.#models.keys()], running: this.#running.size, pending: this.#pending.size, endpoint: this.endpoint, sessions: this.#sessions, leases: this.#leases.book, stopping: this.#stopping }, operator);
  }
}
