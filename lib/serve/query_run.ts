// One admitted query, a prediction or a deploy, run on this server from start to end (server.ts
// admits and pairs requests; this runs them): the setup it runs in, its early end (query_end.ts),
// what it computes (run_request.ts), the client's answer, and what it frees once it is over,
// whichever way it ends.
import type { PartyName } from '../net/transport';
import type { WsEndpoint } from '../net/ws_endpoint';
import { SERVER0, SERVER2 } from '../protocol/party';
import type { Log } from '../log';
import type { ClusterConfig } from './config';
import type { EpochSetup } from './epoch_setup';
import type { Epoch } from './epoch';
import { forClient, type SessionAccounting } from './limits';
import type { DeployRequest, PredictRequest, Response } from './messages';
import type { ServerMetrics } from './metrics';
import type { DeployedModel, ModelStore } from './model_store';
import type { Notice } from './pairing';
import { poolSession } from './pool';
import { freeMaskedWeights } from './programs';
import { inputDeadline } from './input_deadline';
import { QueryEnd } from './query_end';
import type { PoolReservations } from './reservations';
import { deployHere, predictHere, sessionTransport } from './run_request';
import type { ServerLeases } from './server_leases';

/** A query running here. */
export interface RunningQuery {
  client: PartyName;
  model: string;
  /** Resolves once the query is over here; never rejects. */
  done: Promise<void>;
  /** The setup it runs in (undefined: its setup was gone, and it failed at once). */
  epoch?: Epoch;
  end: QueryEnd;
}

/** The parts of its server a query uses. */
export interface QueryRunHost {
  me: PartyName;
  config: ClusterConfig;
  endpoint: WsEndpoint;
  log: Log;
  metrics: ServerMetrics;
  setup: EpochSetup;
  models: Map<string, DeployedModel>;
  store: ModelStore;
  leases: ServerLeases;
  reservations: PoolReservations;
  sessions: SessionAccounting;
  others(): PartyName[];
  respond(peer: PartyName, session: string, res: Response): void;
  /** A deploy of `model` begins here (true), or has ended, saved or not (false). */
  deploying(model: string, on: boolean): void;
  /** The query is registered before any of it runs... */
  started(session: string, q: RunningQuery): void;
  /** ...and unregistered once it is over here, which may be before runQuery returns (its setup gone). */
  ended(session: string): void;
}

export interface QueryStart {
  session: string;
  client: PartyName;
  req: PredictRequest | DeployRequest;
  /** The setup and session index it runs as. */
  notice: Notice;
  /** server0: the lease it runs on. */
  leaseId?: string;
  /**
   * When its timeout starts: on server1 and server2, when its first half (the client's request or
   * server0's notice) came, so that a request paired late (server0's notice up to the pairing
   * wait after the client's copy, or the other way round) ends no later than server0's.
   */
  since: number;
}

/**
 * Runs an admitted request as session `notice.index`:
 * 1. the setup: a prediction's own (server0 may start one in the setup a renewal replaced: just
 *    before it renewed, or on a pooled index left there, server.ts #startIndex); a deploy's is the
 *    current one (a new setup masks the models deployed before it);
 * 2. its early end armed: timeout, failure, client or server gone, another party's abort;
 * 3. once its setup is ready (or it ended early), it computes, and the client gets its answer:
 *    the result's shape and traffic (with server0's lease for the next query), or the deploy saved;
 * 4. over, whichever way: its sessions, accounting, lease and pool reservations are freed or topped up.
 */
export function runQuery(h: QueryRunHost, q: QueryStart): void {
  const { session, client, req, notice, leaseId } = q;
  const epoch = req.type === 'predict' ? h.setup.epochFor(notice.epoch) : h.setup.current;
  if (req.type === 'deploy') h.deploying(req.model, true);
  // A pooled query gets server2's messages in its pool session (PooledTransport), whose waits
  // end with it too (query_end.ts). On server2 that session carries the recording the query
  // waits for, if it is still being made (its sends may wait on a stalled peer): dropped first,
  // so that its failure does not take the model out of the pool.
  const end = new QueryEnd(
    {
      abortSession: (reason) => h.endpoint.abortSession(session, reason, h.others()),
      abortPool: (reason) => {
        if (!notice.pooled) return;
        if (h.me === SERVER2 && !epoch?.pool.abandon(notice.index)) return;
        h.endpoint.abortSession(poolSession(notice.epoch, notice.index), reason);
      },
    },
    q.since + h.config.queryTimeoutMs - Date.now(),
    h.config.queryTimeoutMs,
  );
  // A prediction's input must come within inputTimeoutMs on the servers that receive it, counted
  // from when the query is ready to take it (programs.ts predictOnServer).
  const input = inputDeadline(h.config.inputTimeoutMs, (reason) => end.abort(reason));
  if (epoch) epoch.running++;
  const meter = h.metrics.start(req.type, req.model, req.type === 'deploy' ? req.protocol : h.models.get(req.model)?.protocol ?? 'unknown');
  let over!: () => void;
  h.started(session, { client, model: req.model, done: new Promise<void>((r) => (over = r)), epoch, end });
  (async () => {
    try {
      if (!epoch || epoch.id !== notice.epoch) throw new Error('the cluster was set up again; retry');
      await Promise.race([epoch.ready, end.early]);
      const transport = sessionTransport(h.me, h.endpoint, session, client, notice);
      meter.watch(transport);
      if (req.type === 'predict') {
        const model = h.models.get(req.model)!;
        const { outputShape, offlineBytes } = await predictHere(h.me, epoch, model, notice, req, transport, () => h.leases.next(session, notice.epoch), end.early, input);
        const { spec } = model, final = spec.finalActivation;
        // Several outputs: their shapes, known since the model ran (ModelSpec.outputShapes), split the result.
        const outputs = spec.outputs.length > 1 ? { outputs: spec.outputs.map((o, i) => ({ name: o.name, shape: spec.outputShapes![i], finalActivation: o.finalActivation ?? null })) } : {};
        // server0: the reference of the lease this query took for the next one (leaseNext).
        const next = h.me === SERVER0 && req.leaseNext ? h.leases.book.forSession(session) : undefined;
        const lease = next && { id: next.id, index: next.entry.index, ttlMs: h.config.leaseTtlMs };
        h.respond(client, session, { ok: true, outputShape, finalActivation: final ?? null, ...outputs, traffic: transport.traffic().total, offlineBytes, fracBits: h.config.fracBits, ...(lease ? { lease } : {}) });
        if (h.me === SERVER0 && leaseId) h.leases.ranOn(leaseId);
        if (h.me === SERVER0 && epoch === h.setup.current) h.reservations.ranBatch(epoch, req.model, req.shape[0]);
      } else {
        const { model: m, masks } = await deployHere(h.me, h.endpoint, epoch, notice, session, req, transport);
        try {
          h.store.save(m);
        } catch (e) {
          // Not kept (its disk failed): nothing of it stays in memory either.
          for (const s of m.shares) s?.dispose();
          freeMaskedWeights(masks);
          throw e;
        }
        h.models.set(m.name, m);
        epoch.masks.set(m.name, masks);
        h.log(`deployed model '${m.name}' (${req.protocol}, ${m.spec.layers.length} layers)`, 'model-deployed', { model: m.name, protocol: req.protocol, layers: m.spec.layers.length });
        if (h.me === SERVER0) h.reservations.reserve(epoch, m.name, 1);
        h.respond(client, session, { ok: true });
      }
    } catch (e) {
      const msg = (e as Error).message;
      h.log(`session ${session} (${req.type} '${req.model}' for ${client}) failed: ${msg}`, 'query-failed', { session, type: req.type, model: req.model, client, reason: msg });
      meter.failed(msg);
      end.abort(forClient(msg));
      // The lease it ran on, and the one it took for the next query, end here and everywhere.
      if (h.me === SERVER0) h.leases.endedWithout(session, leaseId);
      h.respond(client, session, { ok: false, error: `${h.me}: ${forClient(msg)}` });
    } finally {
      try {
        input.came(); // the deadline ends with the query, however it ended
        meter.end();
        end.settle();
        h.sessions.release(session);
        if (req.type === 'deploy') h.deploying(req.model, false);
        h.endpoint.endSession(session);
        if (notice.pooled) h.endpoint.endSession(poolSession(notice.epoch, notice.index));
        // server2: a query that ended before it took its recording (early, while its setup was
        // still being made) leaves none behind, made later for a query that is over.
        if (notice.pooled && h.me === SERVER2) epoch?.pool.discard(notice.index);
        h.ended(session);
        if (epoch) {
          epoch.running--;
          epoch.maybeFree();
        }
        // (A query in the setup a renewal replaced tops up the current one's: takeFromPrevious.)
        const current = h.setup.current;
        if (h.me === SERVER0 && current && (epoch === current || epoch === h.setup.previous)) h.reservations.topUpAfterQuery(current);
      } finally {
        over(); // whatever the clean-up above met: deploysSettled and stop() wait for this
      }
    }
  })().catch((e: Error) => h.log(`internal error: the clean-up of session ${session} failed: ${e.stack ?? e.message}`, 'internal-error'));
}
