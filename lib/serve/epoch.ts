// An epoch is one setup of the three servers: fresh seeds (correlated randomness) exchanged when
// the cluster (re)connects, and every deployed model's weights masked once under them. server0
// starts one whenever it holds links to both other servers, and a fresh one before this one's
// session indices run out (epoch_setup.ts renew); queries run as sessions of it.
import { Cluster, MAX_SESSIONS } from '../protocol/cluster';
import { SERVER0, SERVER2, SERVERS } from '../protocol/party';
import type { PartyName } from '../net/transport';
import { REQUEST_KEY, type WsEndpoint } from '../net/ws_endpoint';
import { WebSocketTransport } from '../net/ws_transport';
import type { DeployedModel } from './model_store';
import { PrecomputePool, poolNoticeSession } from './pool';
import type { RedealNotice } from './messages';
import { type LinkDistance, nearLinks } from './gate_form';
import { freeMaskedWeights, type MaskedWeights, maskWeights } from './programs';
import type { Log } from '../log';

export class Epoch {
  readonly root: Cluster;
  readonly masks = new Map<string, MaskedWeights>();
  /** Why a model could not be set up in this epoch (it then refuses queries with this reason). */
  readonly failed = new Map<string, string>();
  readonly ready: Promise<void>;
  /** Queries of this epoch still running; its masks are freed when it is replaced and idle. */
  running = 0;
  isReady = false;
  /** server2: recordings of its side of future queries. */
  readonly pool: PrecomputePool;
  /** server0: indices reserved for each model's future queries, by batch size (server2 precomputes them). */
  readonly reserved = new Map<string, Map<number, number[]>>();
  /** server0: the batch size above 1 each model's queries are pooled for (the one a query last ran with: reservations.ts ranBatch). */
  readonly pooledBatch = new Map<string, number>();
  retired = false;
  #nextIndex: number;
  /** The last session index this setup hands out (sessionsPerSetup, at most MAX_SESSIONS). */
  readonly #lastIndex: number;
  /** Retired: what to free once no query uses it and its grace is over (retire). */
  #cleanup?: () => void;
  #onGraceOver?: () => void;
  #graceTimer?: NodeJS.Timeout;
  #graceOver = false;

  /**
   * `announced` is server0's list of models; `local` this server's. Each model is masked as its
   * own session (index 1, 2, ...), so one missing or damaged here fails only that model: this
   * server aborts its session, and the others are told. `sessions`: the indices it hands out
   * (default MAX_SESSIONS). `deploysSettled`: resolves when no deploy of an earlier setup runs
   * here, so that a model server0 announces is not found missing while this server still saves it
   * (a deploy in this setup waits for it to be ready, and masks its model itself).
   */
  constructor(readonly id: string, me: PartyName, endpoint: WsEndpoint, fracBits: number, announced: readonly { name: string; digest: string }[], local: ReadonlyMap<string, DeployedModel>, timeoutMs: number, poolMax: number, log: Log, linkDistance: LinkDistance = 'measured', opts: { sessions?: number; deploysSettled?: (setup: Epoch) => Promise<void> } = {}) {
    this.#lastIndex = Math.min(opts.sessions ?? MAX_SESSIONS, MAX_SESSIONS);
    const transport = (session: string) => new WebSocketTransport(SERVERS, new Map([[me, endpoint]]), session);
    // server2 asks server0, which hands the indices out, to reserve anew those whose recordings
    // were dealt in a form it no longer deals (a load that has passed, links found far: pool.ts).
    const askRedeal = (model: string, batch: number, indices: number[]) => {
      const notice: RedealNotice = { type: 'redeal', epoch: id, model, ...(batch === 1 ? {} : { batch }), indices };
      void endpoint.send(SERVER0, poolNoticeSession(id), REQUEST_KEY, { kind: 'control', data: notice }).catch(() => undefined);
    };
    // How far server2's links are, for 'auto' FSS models' forms (gate_form.ts): as the links' pings
    // time them, or as the operator's config says.
    const near = linkDistance === 'measured' ? () => nearLinks((peer) => ({ rttMs: endpoint.rttMs(peer), samples: endpoint.rttSamples(peer) })) : () => linkDistance === 'near';
    this.pool = new PrecomputePool(log, poolMax, near, me === SERVER2 ? { askRedeal } : {});
    const root = (this.root = new Cluster({ players: [], transport: transport(`epoch:${id}`), hosted: [me], fixedPoint: { fracBits } }));
    this.#nextIndex = announced.length + 1;
    const others = SERVERS.filter((s) => s !== me);
    const setup = (async () => {
      await root.ready();
      await opts.deploysSettled?.(this);
      await Promise.all(announced.map(async ({ name, digest }, i) => {
        const session = `epoch:${id}:model:${name}`;
        const m = local.get(name);
        if (m?.digest !== digest) {
          const why = `model '${name}' is ${m ? 'different' : 'missing'} on ${me}`;
          log(`${why}; it cannot serve until redeployed`, 'model-unavailable', { model: name, reason: why });
          this.failed.set(name, why);
          return endpoint.abortSession(session, why, others);
        }
        try {
          this.masks.set(name, await maskWeights(root.fork(transport(session), i + 1), me, m.spec, m.shares));
        } catch (e) {
          const why = (e as Error).message.replace(/^session \S+ was aborted: \w+: /, '');
          this.failed.set(name, why);
          log(`model '${name}' could not be set up: ${why}`, 'model-unavailable', { model: name, reason: why });
        } finally {
          endpoint.endSession(session);
        }
      }));
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Which peer it waited for, before the aborts fail those waits: a stalled link or server.
        const awaited = describeAwaited(endpoint.awaitedWithPrefix(`epoch:${id}`));
        endpoint.abortSession(`epoch:${id}`, 'setup timed out');
        for (const { name } of announced) endpoint.abortSession(`epoch:${id}:model:${name}`, 'setup timed out');
        reject(new Error(`cluster setup ${id} timed out after ${timeoutMs} ms (${awaited})`));
      }, timeoutMs);
    });
    this.ready = Promise.race([setup, timeout]).finally(() => clearTimeout(timer));
    this.ready.then(() => (this.isReady = true), () => undefined);
  }

  /** Session indices this epoch has not handed out yet. */
  get indicesLeft(): number {
    return Math.max(0, this.#lastIndex + 1 - this.#nextIndex);
  }

  /** Session indices it hands out in all. */
  get indices(): number {
    return this.#lastIndex;
  }

  /** The next session index (server0 hands them out in order; they never repeat in an epoch). */
  nextIndex(): number {
    if (this.#nextIndex > this.#lastIndex) throw new Error('this setup has handed out all its session indices and the cluster is being set up again; retry');
    return this.#nextIndex++;
  }

  /**
   * Replaced by a newer setup: reserves nothing more; once no query of it runs and `graceMs` has
   * passed (its queries still waiting for their client's half may start until then), its masks
   * are freed and `cleanup` runs (its pool and pool sessions). 0: as soon as nothing runs.
   * `onGraceOver`: when no query may start in it any more (its leases go then).
   */
  retire(graceMs: number, cleanup: () => void, onGraceOver?: () => void): void {
    this.retired = true;
    this.#cleanup = cleanup;
    this.#onGraceOver = onGraceOver;
    if (graceMs <= 0) this.endGrace();
    else (this.#graceTimer = setTimeout(() => this.endGrace(), graceMs)).unref();
  }

  /** Shutdown: the grace timer stops (nothing is freed or sent any more). */
  stopTimers(): void {
    clearTimeout(this.#graceTimer);
  }

  /** No query of this retired setup starts from now on (its grace ran out, or a later renewal replaced the one after it). */
  endGrace(): void {
    if (this.#graceOver) return;
    this.#graceOver = true;
    const f = this.#onGraceOver;
    this.#onGraceOver = undefined;
    f?.();
    this.maybeFree();
  }

  /** server0: the indices reserved for `model`'s queries of `batch` rows (a live list). */
  reservedFor(model: string, batch: number): number[] {
    let byBatch = this.reserved.get(model);
    if (!byBatch) this.reserved.set(model, (byBatch = new Map()));
    let list = byBatch.get(batch);
    if (!list) byBatch.set(batch, (list = []));
    return list;
  }

  /** Frees the masked weights (and runs the retirement's cleanup) once nothing uses them. */
  maybeFree(): void {
    if (!this.retired || this.running > 0 || !this.#graceOver) return;
    for (const m of this.masks.values()) freeMaskedWeights(m);
    this.masks.clear();
    const cleanup = this.#cleanup;
    this.#cleanup = undefined;
    try {
      cleanup?.();
    } finally {
      // The cache goes whatever the cleanup did; a borrower that comes later (a recording still
      // dealing) gets its own copy, no longer cached.
      this.root.provider.release?.();
    }
  }

  /** Whether a query of this setup can still start (it is current, or retired within its grace). */
  get usable(): boolean {
    return !this.retired || !this.#graceOver;
  }

  /**
   * Forgets a removed model: its reservations and recordings, and its masks (freed here when
   * `free`; server2's background precomputations may still hold them, so it leaves them to GC).
   */
  removeModel(name: string, free: boolean): void {
    const m = this.masks.get(name);
    this.masks.delete(name);
    this.failed.delete(name);
    this.reserved.delete(name);
    this.pooledBatch.delete(name);
    this.pool.discardModel(name);
    if (m && free) freeMaskedWeights(m);
  }
}


/** 'waiting for server1: 2 messages (first: <key> in <session>)', per peer, or that none was awaited. */
export function describeAwaited(awaited: readonly { peer: PartyName; key: string; session: string }[]): string {
  if (awaited.length === 0) return 'no message awaited: its own sends or work were still pending';
  const byPeer = new Map<PartyName, { key: string; session: string }[]>();
  for (const a of awaited) byPeer.set(a.peer, [...(byPeer.get(a.peer) ?? []), a]);
  const parts = [...byPeer].map(([peer, list]) => `${peer}: ${list.length} message${list.length === 1 ? '' : 's'} (first: ${list[0].key} in ${list[0].session})`);
  return `waiting for ${parts.join('; ')}`;
}
