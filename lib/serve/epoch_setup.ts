// When the servers set themselves up (epoch.ts): server0 announces a fresh epoch whenever it holds
// links to both other servers, the others begin the epoch it announces, and a setup that fails
// anywhere is announced again by server0, at most once per SETUP_RETRY_MS. One per server.
//
// A setup hands out a bounded number of session indices (each query's nonces are its index's:
// at most MAX_SESSIONS, fewer with sessionsPerSetup). Before they run out, server0 renews it: a
// fresh epoch, announced as a renewal, so that every server keeps the old one for the queries
// started in it (and those whose start notice is waiting for the client's other half, for
// RENEWAL_GRACE_MS) while new queries start in the new one (predictions first take the pooled
// indices left in the old one: PoolReservations.takeFromPrevious); nothing in flight fails. Without a
// renewal a busy cluster would refuse every query once its indices were spent (100 queries a
// second spend 2^24 in about two days), until a server reconnected.
import { randomBytes } from 'node:crypto';

import type { Log } from '../log';
import { REQUEST_KEY, type WsEndpoint } from '../net/ws_endpoint';
import type { PartyName } from '../net/transport';
import { SERVER0, SERVERS } from '../protocol/party';
import type { ClusterConfig } from './config';
import { Epoch } from './epoch';
import type { EpochNotice } from './messages';
import type { DeployedModel } from './model_store';
import { EXPIRY_SLACK_MS } from './leases';
import { poolSessionPrefix } from './pool';

/** A failed setup is retried by server0 at most this often. */
const SETUP_RETRY_MS = 5_000;
/**
 * A renewed setup stays usable this long (server1 and server2: EXPIRY_SLACK_MS more) for queries
 * whose start notice came before the renewal (their client's half waits at most
 * PAIRING_TIMEOUT_MS: server.ts) and for the leases granted in it (a client's next query).
 */
export const RENEWAL_GRACE_MS = 15_000;
/** server0 renews a setup once fewer than this share of its session indices are left (the rest covers a renewal postponed while a deploy runs or a setup is under way). */
export const RENEW_WHEN_LEFT = 1 / 8;

export interface EpochSetupDeps {
  me: PartyName;
  endpoint: WsEndpoint;
  config: ClusterConfig;
  log: Log;
  /** This server's deployed models (an epoch masks each one). */
  models: ReadonlyMap<string, DeployedModel>;
  /**
   * A new epoch replaces the current one: what was granted in the old one goes, at once or, on a
   * renewal, when the old one's grace is over (`graceOver`).
   */
  replacing(renewal: boolean): void;
  /** A renewed setup's grace is over: no query of it starts now. */
  graceOver(epoch: Epoch): void;
  /** The epoch is set up here. */
  ready(epoch: Epoch): void;
  /** Resolves when no deploy of another setup than `setup` runs on this server (a new setup masks every model it has). */
  deploysSettled(setup: Epoch): Promise<void>;
  stopping(): boolean;
}

export class EpochSetup {
  /** The epoch queries run in (the newest begun). */
  current?: Epoch;
  /** The setup a renewal replaced, kept for its queries in flight (epochFor). */
  #previous?: Epoch;
  /** Renewals begun here since start. */
  renewals = 0;
  #retryTimer?: NodeJS.Timeout;
  #lastRetry = 0;

  constructor(private readonly d: EpochSetupDeps) {}

  /** server0: a link came up; with both others connected, a fresh epoch begins. */
  peerUp(peer: PartyName): void {
    if (this.d.me !== SERVER0 || !SERVERS.includes(peer)) return;
    if (this.#allConnected()) this.#announce();
  }

  /** Shutdown: the retry and a replaced setup's grace timers stop. */
  stop(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#previous?.stopTimers();
  }

  /** The setup a renewal replaced (its queries may still run, its pool sessions may still hold what server2 shipped). */
  get previous(): Epoch | undefined {
    return this.#previous;
  }

  /** The setup a query of epoch `id` runs in: the current one, or the one a renewal replaced while it is still usable. */
  epochFor(id: string): Epoch | undefined {
    if (this.current?.id === id) return this.current;
    return this.#previous?.id === id && this.#previous.usable ? this.#previous : undefined;
  }

  /**
   * server0: renews the current setup when its session indices run low (see the top), unless a
   * setup is under way or retried, or a link is down (the reconnect sets up anew anyway).
   * Whoever calls it makes sure no deploy runs here. Whether it renewed.
   */
  renewIfLow(): boolean {
    const e = this.current;
    if (this.d.me !== SERVER0 || !e?.isReady || e.retired || this.#retryTimer || this.d.stopping() || !this.#allConnected()) return false;
    if (e.indicesLeft >= e.indices * RENEW_WHEN_LEFT) return false;
    this.d.log(`renewing the setup: epoch ${e.id} has ${e.indicesLeft} of its ${e.indices} session indices left`, 'setup-renewed', { left: e.indicesLeft, indices: e.indices });
    this.#announce(true);
    return true;
  }

  /** Begins the epoch server0 announced (server0: the one it announces). */
  begin(notice: EpochNotice): void {
    const { me, endpoint, config, log } = this.d;
    const old = this.current;
    // Whether a server's old setup is ready yet does not matter: all three keep it alike.
    const keep = !!old && notice.renewal === true;
    this.d.replacing(keep);
    const fresh = new Epoch(notice.epoch, me, endpoint, config.fracBits, notice.models, this.d.models, config.setupTimeoutMs, config.maxPoolRecordings, log, config.linkDistance, { sessions: config.sessionsPerSetup, deploysSettled: this.d.deploysSettled });
    this.current = fresh;
    if (old) {
      endpoint.endSession(`epoch:${old.id}`);
      endpoint.endSession(`lease:${old.id}`);
      // What server2 shipped ahead for the old setup's unused indices: at once, unless a renewal
      // keeps the old setup for its queries in flight (their recordings are in those sessions).
      const cleanup = () => {
        old.pool.clear();
        endpoint.endSessionsWithPrefix(poolSessionPrefix(old.id));
        if (this.#previous === old) this.#previous = undefined;
      };
      // One setup kept at most: an older one still kept takes no more queries (two renewals
      // within the grace: not with any real sessionsPerSetup; after a reconnect, its queries
      // failed with the link).
      this.#previous?.endGrace();
      if (keep) {
        this.renewals++;
        this.#previous = old;
      }
      // server1 and server2 keep it a little longer than server0, which decides what starts in it.
      old.retire(keep ? RENEWAL_GRACE_MS + (me === SERVER0 ? 0 : EXPIRY_SLACK_MS) : 0, keep ? cleanup : () => undefined, () => this.d.graceOver(old));
      if (!keep) cleanup();
    }
    fresh.ready.then(
      () => {
        log(`cluster set up (epoch ${fresh.id}, ${fresh.masks.size} model(s) ready)`, 'cluster-ready', { models: fresh.masks.size });
        this.d.ready(fresh);
      },
      (e: Error) => {
        log(`cluster setup ${fresh.id} failed: ${e.message}`, 'setup-failed', { reason: e.message });
        // A setup that fails here (a timeout under load, a dropped message) must not leave this
        // server unready until a peer reconnects: server0 sets the cluster up again.
        if (me === SERVER0) this.setUpAgain(fresh.id);
        else if (this.current === fresh) void endpoint.send(SERVER0, `epoch:${fresh.id}`, REQUEST_KEY, { kind: 'control', data: { type: 'setup-failed', epoch: fresh.id } }).catch(() => undefined);
      },
    );
  }

  /** server0: announces a fresh epoch after `failed` failed somewhere, at most once per SETUP_RETRY_MS. */
  setUpAgain(failed: string): void {
    if (this.current?.id !== failed || this.#retryTimer || this.d.stopping()) return;
    const wait = Math.max(0, this.#lastRetry + SETUP_RETRY_MS - Date.now());
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#lastRetry = Date.now();
      if (this.current?.id !== failed || this.d.stopping() || !this.#allConnected()) return;
      this.d.log(`setting the cluster up again (epoch ${failed} failed)`, 'setup-retry');
      this.#announce();
    }, wait);
    this.#retryTimer.unref();
  }

  #allConnected(): boolean {
    return SERVERS.every((s) => s === this.d.me || this.d.endpoint.connected(s));
  }

  /** `renewal`: the current setup is replaced while sound (renewIfLow), so every server keeps it for its queries in flight. */
  #announce(renewal = false): void {
    const models = [...this.d.models.values()].map((m) => ({ name: m.name, digest: m.digest }));
    const notice: EpochNotice = { type: 'epoch', epoch: randomBytes(8).toString('hex'), models, ...(renewal ? { renewal: true } : {}) };
    for (const s of SERVERS) if (s !== this.d.me) void this.d.endpoint.send(s, `epoch:${notice.epoch}`, REQUEST_KEY, { kind: 'control', data: notice }).catch(() => undefined);
    this.begin(notice);
  }
}
