// What a server tells an operator's monitoring: `/healthz` (ready or why not) and `/metrics` in
// the Prometheus text format (ops_http.ts serves both). The counters a server already keeps are
// read where they live: the status answer (status.ts: running, pool, memory, sessions) and the
// endpoint's stats() (connections, wire bytes, refusals); this file only adds what nothing else
// counts, the queries by outcome and their latency, rounds and bytes (ServerMetrics).
//
// Never exported: epoch ids, shares, weights, inputs, or any text a client sent. Model names are
// labels only for models deployed here (the public `models` answer lists them too), so a client
// naming models that do not exist cannot add series; deploys are counted by protocol only.
import type { WsEndpointStats } from '../net/limits';
import type { OpTraffic, PartyName, Transport } from '../net/transport';
import { SERVERS } from '../protocol/party';
import type { ServerStatus } from './messages';
import { type HistogramSample, PromText } from './prom_text';

export type QueryOutcome = 'ok' | 'error' | 'timeout';

/** Seconds: batch-1 queries on loopback take milliseconds, a WAN batch of 128 up to minutes. */
export const LATENCY_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

interface ModelSeries {
  model: string;
  protocol: string;
  outcomes: Record<QueryOutcome, number>;
  /** Observations per latency bucket (not cumulative), the last one above every bound. */
  buckets: number[];
  seconds: number;
  /** This server's own sends in the queries (the transport counts what a party sends). */
  sent: OpTraffic;
}

/** One query being measured: from start() to end(), whatever happens in between. */
export interface QueryMeter {
  /** The query's transport, whose traffic is read at the end. */
  watch(t: Transport): void;
  /** The query failed with this message (a timeout is told apart by its reason). */
  failed(message: string): void;
  end(): void;
}

/** The counters only the server's query path can keep. */
export class ServerMetrics {
  #series = new Map<string, ModelSeries>();
  #deploys = new Map<string, { protocol: string; outcome: QueryOutcome; n: number }>();
  /** Requests answered with a refusal before they ran (malformed, over a limit, unknown model, ...). */
  refused = 0;

  /** Starts measuring a prediction or a deploy of `model` under `protocol`. */
  start(type: 'predict' | 'deploy', model: string, protocol: string): QueryMeter {
    const t0 = performance.now();
    let transport: Transport | undefined, outcome: QueryOutcome = 'ok', ended = false;
    return {
      watch: (t) => void (transport = t),
      failed: (message) => void (outcome = /timed out after \d+ ms/.test(message) ? 'timeout' : 'error'),
      end: () => {
        if (ended) return;
        ended = true;
        if (type === 'deploy') return this.#deployed(protocol, outcome);
        this.#predicted(model, protocol, outcome, (performance.now() - t0) / 1000, transport?.traffic().total);
      },
    };
  }

  #deployed(protocol: string, outcome: QueryOutcome): void {
    const key = `${protocol}\0${outcome}`;
    const d = this.#deploys.get(key) ?? { protocol, outcome, n: 0 };
    d.n++;
    this.#deploys.set(key, d);
  }

  #predicted(model: string, protocol: string, outcome: QueryOutcome, seconds: number, sent: OpTraffic | undefined): void {
    const key = `${model}\0${protocol}`;
    let s = this.#series.get(key);
    if (!s) {
      s = { model, protocol, outcomes: { ok: 0, error: 0, timeout: 0 }, buckets: new Array(LATENCY_BUCKETS.length + 1).fill(0), seconds: 0, sent: { bytes: 0, messages: 0, rounds: 0 } };
      this.#series.set(key, s);
    }
    s.outcomes[outcome]++;
    const i = LATENCY_BUCKETS.findIndex((b) => seconds <= b);
    s.buckets[i < 0 ? LATENCY_BUCKETS.length : i]++;
    s.seconds += seconds;
    if (sent) {
      s.sent.bytes += sent.bytes;
      s.sent.messages += sent.messages;
      s.sent.rounds += sent.rounds;
    }
  }

  /** Writes the query families into `out`, only for the models in `deployed`. */
  write(out: PromText, deployed: ReadonlySet<string>): void {
    const series = [...this.#series.values()].filter((s) => deployed.has(s.model));
    const labels = (s: ModelSeries) => ({ model: s.model, protocol: s.protocol });
    out.add('tfe_queries_total', 'counter', 'Predictions this server finished, by model, protocol and outcome (ok, error, timeout).',
      series.flatMap((s) => (Object.keys(s.outcomes) as QueryOutcome[]).map((o) => ({ labels: { ...labels(s), outcome: o }, value: s.outcomes[o] }))));
    out.histogram('tfe_query_duration_seconds', "Time from this server's start of a prediction to its answer, every outcome.",
      series.map((s): HistogramSample => ({ labels: labels(s), bounds: LATENCY_BUCKETS, counts: s.buckets, sum: s.seconds })));
    out.add('tfe_query_rounds_total', 'counter', 'Communication rounds of the predictions, counted at this server (its own sending steps).', series.map((s) => ({ labels: labels(s), value: s.sent.rounds })));
    out.add('tfe_query_sent_bytes_total', 'counter', 'Payload bytes this server sent in the predictions (to the other servers and the client).', series.map((s) => ({ labels: labels(s), value: s.sent.bytes })));
    out.add('tfe_query_sent_messages_total', 'counter', 'Messages this server sent in the predictions.', series.map((s) => ({ labels: labels(s), value: s.sent.messages })));
    out.add('tfe_deploys_total', 'counter', 'Deploys this server took part in, by protocol and outcome.', [...this.#deploys.values()].map((d) => ({ labels: { protocol: d.protocol, outcome: d.outcome }, value: d.n })));
    out.add('tfe_requests_refused_total', 'counter', 'Requests refused before they ran, for any reason (malformed, over a limit, an unknown model, not the owner; tfe_sessions_refused_total counts the admission limits among them).', this.refused);
  }
}

/** What the metrics and the health check read from a server (TfeServer has all of it). */
export interface MetricsSource {
  readonly me: PartyName;
  readonly metrics: ServerMetrics;
  readonly stopping: boolean;
  readonly endpoint: { stats(): WsEndpointStats; connected(peer: PartyName): boolean; hasLane(peer: PartyName): boolean };
  status(operator: boolean): ServerStatus;
}

/** Whether the server serves now, and if not why (the reason names no secret): its status's (status.ts readiness). */
export function health(s: MetricsSource): { ready: boolean; reason: string } {
  const { ready, reason } = s.status(false);
  return { ready, reason };
}

const processStart = Date.now() / 1000 - process.uptime();

/** The whole /metrics page. */
export function renderMetrics(s: MetricsSource, version: string): string {
  const st = s.status(true), ep = s.endpoint.stats(), mem = process.memoryUsage();
  const out = new PromText();
  const kinds = (v: { servers: number; clients: number }) => [{ labels: { peer: 'server' }, value: v.servers }, { labels: { peer: 'client' }, value: v.clients }];
  out.add('tfe_server_info', 'gauge', 'This server: its party and the package version (always 1).', [{ labels: { party: s.me, version }, value: 1 }]);
  out.add('tfe_ready', 'gauge', '1 when the cluster is set up and this server serves queries, else 0 (/healthz says why).', health(s).ready ? 1 : 0);
  out.add('tfe_peer_connected', 'gauge', '1 while the link to the other server is up.', SERVERS.filter((p) => p !== s.me).map((p) => ({ labels: { peer: p }, value: s.endpoint.connected(p) ? 1 : 0 })));
  out.add('tfe_peer_lane', 'gauge', "1 while the link to the other server has its lane (docs/operators.md, \"Lanes\"); 0 under TLS means its lane port was not reachable.", SERVERS.filter((p) => p !== s.me).map((p) => ({ labels: { peer: p }, value: s.endpoint.hasLane(p) ? 1 : 0 })));
  out.add('tfe_models', 'gauge', 'Models deployed on this server.', st.models.length);
  s.metrics.write(out, new Set(st.models));
  out.add('tfe_queries_running', 'gauge', 'Queries running now.', st.running ?? 0);
  if (st.setup?.indicesLeft !== null && st.setup?.indicesLeft !== undefined) out.add('tfe_setup_indices_left', 'gauge', "server0: session indices the current setup has left to hand out (renewed below an eighth of sessionsPerSetup).", st.setup.indicesLeft);
  out.add('tfe_setup_renewals_total', 'counter', 'Setups renewed because their session indices ran low, since start.', st.setup?.renewals ?? 0);
  out.add('tfe_requests_pending', 'gauge', "Requests waiting for their other half (the client's request or server0's go-ahead).", st.pending ?? 0);
  const sessions = st.sessions ?? { sessions: 0, pending: 0, clients: 0, estimatedBytes: 0, refused: 0 };
  out.add('tfe_sessions_admitted', 'gauge', 'Requests admitted (running or waiting).', sessions.sessions);
  out.add('tfe_sessions_estimated_bytes', 'gauge', 'Estimated memory of the admitted requests, checked against maxTotalQueryBytes.', sessions.estimatedBytes);
  out.add('tfe_sessions_refused_total', 'counter', 'Requests refused for the admission limits (maxSessions, maxSessionsPerClient, maxTotalQueryBytes, maxPendingRequests, maxAddressPercent).', sessions.refused);
  const pool = st.pool ?? { recorded: 0, replayed: 0, held: 0, making: 0, discarded: 0, offlineBytes: 0, compactUnderLoad: 0, redealt: 0, links: 'near' as const };
  out.add('tfe_pool_held', 'gauge', "server2: recordings of its side of future queries held now (the offline pool's level; during a renewal's grace, the replaced setup's too).", pool.held);
  out.add('tfe_pool_making', 'gauge', 'server2: recordings not finished yet (being made or shipped, or queued behind one that is; during a renewal\'s grace, the replaced setup\'s too).', pool.making);
  out.add('tfe_pool_recorded_total', 'counter', 'server2: queries recorded ahead, in the current setup.', pool.recorded);
  out.add('tfe_pool_replayed_total', 'counter', 'server2: queries served from the pool, in the current setup.', pool.replayed);
  out.add('tfe_pool_discarded_total', 'counter', 'server2: recordings dropped unused, in the current setup.', pool.discarded);
  out.add('tfe_pool_offline_bytes_total', 'counter', 'server2: bytes shipped ahead of queries, in the current setup.', pool.offlineBytes);
  out.add('tfe_pool_compact_under_load_total', 'counter', "server2: queries of 'auto' FSS models dealt with compact gates because queries found it busy dealing, in the current setup.", pool.compactUnderLoad ?? 0);
  out.add('tfe_pool_redealt_total', 'counter', "server2: recordings in a form it no longer deals (compact after a burst, one-round before it found its links far) reserved anew and dealt again before a query took them, in the current setup.", pool.redealt ?? 0);
  out.add('tfe_prefetched_messages', 'gauge', "server0/server1: messages of server2's side of future queries, shipped ahead and held here.", st.prefetched?.messages ?? 0);
  out.add('tfe_mask_cache_bytes', 'gauge', "server2: bytes of weight masks kept for reuse (at most 256 MiB per setup).", st.maskCache?.bytes ?? 0);
  out.add('tfe_prefetched_bytes', 'gauge', "server0/server1: bytes of server2's side of future queries held here.", st.prefetched?.bytes ?? 0);
  out.add('tfe_net_sent_bytes_total', 'counter', 'Wire bytes sent (frames with their headers), to server links and to clients.', kinds(ep.bytes.sent));
  out.add('tfe_net_received_bytes_total', 'counter', 'Wire bytes received (frames with their headers), from server links and from clients.', kinds(ep.bytes.received));
  out.add('tfe_connections', 'gauge', 'Open connections: server links and clients.', kinds(ep.connections));
  out.add('tfe_sockets', 'gauge', 'Open sockets, handshakes in progress included (bounded by maxConnections).', ep.sockets);
  out.add('tfe_connections_refused_total', 'counter', 'Connections refused or closed for a rule or limit, by reason.', Object.entries(ep.refused).map(([reason, value]) => ({ labels: { reason }, value })));
  out.add('tfe_mailbox_messages', 'gauge', 'Messages and waiters held by the mailbox, apart from prefetched ones (0 when idle).', st.mailbox ?? 0);
  out.add('tfe_mailbox_bytes', 'gauge', 'Bytes of messages delivered and not yet received (prefetched ones included).', ep.pendingBytes);
  out.add('tfe_live_tensors', 'gauge', 'Native tensors alive (a leak shows here first).', st.liveTensors ?? 0);
  out.add('tfe_tensor_bytes', 'gauge', 'Bytes held by native tensors.', st.tensorBytes ?? 0);
  out.add('tfe_host_cache_bytes', 'gauge', 'Freed native buffers kept for reuse (freed after TFE_HOST_CACHE_IDLE_MS unused).', st.hostCacheBytes ?? 0);
  out.add('process_resident_memory_bytes', 'gauge', 'Resident memory of the server process.', mem.rss);
  out.add('nodejs_heap_used_bytes', 'gauge', "V8's heap in use.", mem.heapUsed);
  out.add('nodejs_heap_total_bytes', 'gauge', "V8's heap reserved.", mem.heapTotal);
  out.add('nodejs_external_memory_bytes', 'gauge', 'Memory of buffers and other objects outside the V8 heap.', mem.external);
  out.add('process_start_time_seconds', 'gauge', 'When the process started (Unix time, seconds).', Math.round(processStart));
  return out.toString();
}
