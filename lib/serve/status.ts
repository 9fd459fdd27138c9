// What a server's `status` answers. Anyone gets what a client needs (readiness, model names);
// the operator also gets the counters that make a leak or a flood visible (docs/service.md,
// "Status").
import { hostCacheBytes } from '../backend/backends';
import { memory } from '../info';
import type { PartyName } from '../net/transport';
import type { WsEndpoint } from '../net/ws_endpoint';
import type { Epoch } from './epoch';
import type { LeaseBook } from './leases';
import type { SessionAccounting } from './limits';
import type { ServerStatus } from './messages';
import { poolSessionPrefix } from './pool';
import { SERVER0, SERVERS } from '../protocol/party';

export interface StatusSources {
  me: PartyName;
  epoch?: Epoch;
  /** The setup a renewal replaced, while kept (epoch_setup.ts). */
  previous?: Epoch;
  models: string[];
  running: number;
  pending: number;
  endpoint: WsEndpoint;
  sessions: SessionAccounting;
  leases: LeaseBook;
  /** Setup renewals begun since start. */
  renewals: number;
  /** Shutting down: refusing new requests. */
  stopping: boolean;
}

/**
 * Whether the server serves queries now, and if not why (naming no secret): the same for `status`,
 * `/healthz` and the `tfe_ready` metric (status said ready on a server whose link to a peer was
 * down, while /healthz said why not).
 */
export function readiness(s: Pick<StatusSources, 'me' | 'epoch' | 'stopping'> & { endpoint: { connected(peer: PartyName): boolean } }): { ready: boolean; reason: string } {
  if (s.stopping) return { ready: false, reason: `${s.me} is shutting down (refusing new requests)` };
  const down = SERVERS.filter((p) => p !== s.me && !s.endpoint.connected(p));
  if (down.length) return { ready: false, reason: `${s.me} is not connected to ${down.join(' and ')}` };
  if (!s.epoch?.isReady) return { ready: false, reason: `${s.me} is connected but the cluster setup has not finished` };
  return { ready: true, reason: `${s.me} is ready` };
}

export function serverStatus(s: StatusSources, operator: boolean): ServerStatus {
  const pub = { party: s.me, ...readiness(s), models: s.models, operator };
  if (!operator) return pub;
  const mem = memory(), pool = s.epoch?.pool, before = s.previous?.pool;
  // The levels count the setup a renewal replaced too, whose recordings serve the queries of its
  // grace: they read near 0 at every renewal, and an alert on an empty pool fired. Counters are
  // the current setup's.
  const level = (k: 'held' | 'making') => (pool?.[k] ?? 0) + (before?.[k] ?? 0);
  // What server2 shipped ahead for future pooled queries is held on purpose, apart from leaks.
  // Also the setup a renewal replaced, until its queries and grace are over (epoch_setup.ts).
  // So are server2's weight masks kept for reuse (its providers' caches).
  const prefetched = { bytes: 0, messages: 0 }, maskCache = { entries: 0, bytes: 0 };
  for (const e of [s.epoch, s.previous]) {
    const h = e ? s.endpoint.heldWithPrefix(poolSessionPrefix(e.id)) : undefined;
    prefetched.bytes += h?.bytes ?? 0;
    prefetched.messages += h?.messages ?? 0;
    const m = e?.root?.provider.maskCacheStats?.();
    maskCache.entries += m?.entries ?? 0;
    maskCache.bytes += m?.bytes ?? 0;
  }
  return {
    ...pub,
    epoch: s.epoch?.id,
    running: s.running,
    pending: s.pending,
    mailbox: s.endpoint.pending - prefetched.messages,
    prefetched: { messages: prefetched.messages, bytes: prefetched.bytes },
    rssBytes: process.memoryUsage().rss,
    heapUsedBytes: process.memoryUsage().heapUsed,
    maskCache,
    liveTensors: mem.tensors,
    tensorBytes: mem.bytes,
    hostCacheBytes: hostCacheBytes(),
    pool: { recorded: pool?.recorded ?? 0, replayed: pool?.replayed ?? 0, held: level('held'), making: level('making'), discarded: pool?.discarded ?? 0, offlineBytes: pool?.offlineBytes ?? 0, compactUnderLoad: pool?.pressure.compact ?? 0, redealt: pool?.redealt ?? 0, links: pool === undefined || pool.near() ? 'near' : 'far' },
    sessions: s.sessions.counters(),
    setup: { indicesLeft: s.me === SERVER0 ? (s.epoch?.indicesLeft ?? null) : null, renewals: s.renewals },
    leases: { held: s.leases.size, granted: s.leases.granted, used: s.leases.used, expired: s.leases.expired, evicted: s.leases.evicted },
    endpoint: s.endpoint.stats(),
    linkRttMs: Object.fromEntries(SERVERS.filter((p) => p !== s.me).map((p) => [p, s.endpoint.rttMs(p) ?? null])),
    linkLanes: Object.fromEntries(SERVERS.filter((p) => p !== s.me).map((p) => [p, s.endpoint.hasLane(p)])),
  };
}
