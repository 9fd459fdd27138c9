// When the servers set themselves up (epoch.ts): server0 announces a fresh epoch whenever it holds
// links to both other servers, the others begin the epoch it announces, and a setup that fails
// anywhere is announced again by server0, at most once per SETUP_RETRY_MS. One per server.
import { randomBytes } from 'node:crypto';

import type { Log } from '../log';
import { REQUEST_KEY, type WsEndpoint } from '../net/ws_endpoint';
import type { PartyName } from '../net/transport';
import { SERVER0, SERVERS } from '../protocol/party';
import type { ClusterConfig } from './config';
import { Epoch } from './epoch';
import type { EpochNotice } from './messages';
import type { DeployedModel } from './model_store';
import { poolSessionPrefix } from './pool';

/** A failed setup is retried by server0 at most this often. */
const SETUP_RETRY_MS = 5_000;

export interface EpochSetupDeps {
  me: PartyName;
  endpoint: WsEndpoint;
  config: ClusterConfig;
  log: Log;
  /** This server's deployed models (an epoch masks each one). */
  models: ReadonlyMap<string, DeployedModel>;
  /** A new epoch replaces the current one: what was granted in the old one goes. */
  replacing(): void;
  /** The epoch is set up here. */
  ready(epoch: Epoch): void;
  stopping(): boolean;
}

export class EpochSetup {
  /** The epoch queries run in (the newest begun). */
  current?: Epoch;
  #retryTimer?: NodeJS.Timeout;
  #lastRetry = 0;

  constructor(private readonly d: EpochSetupDeps) {}

  /** server0: a link came up; with both others connected, a fresh epoch begins. */
  peerUp(peer: PartyName): void {
    if (this.d.me !== SERVER0 || !SERVERS.includes(peer)) return;
    if (this.#allConnected()) this.#announce();
  }

  /** Begins the epoch server0 announced (server0: the one it announces). */
  begin(notice: EpochNotice): void {
    const { me, endpoint, config, log } = this.d;
    const old = this.current;
    this.d.replacing();
    const fresh = new Epoch(notice.epoch, me, endpoint, config.fracBits, notice.models, this.d.models, config.setupTimeoutMs, config.maxPoolRecordings, log, config.linkDistance);
    this.current = fresh;
    if (old) {
      old.retired = true;
      old.maybeFree();
      endpoint.endSession(`epoch:${old.id}`);
      endpoint.endSession(`lease:${old.id}`);
      // What server2 shipped ahead for the old setup's unused indices.
      old.pool.clear();
      endpoint.endSessionsWithPrefix(poolSessionPrefix(old.id));
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

  #announce(): void {
    const models = [...this.d.models.values()].map((m) => ({ name: m.name, digest: m.digest }));
    const notice: EpochNotice = { type: 'epoch', epoch: randomBytes(8).toString('hex'), models };
    for (const s of SERVERS) if (s !== this.d.me) void this.d.endpoint.send(s, `epoch:${notice.epoch}`, REQUEST_KEY, { kind: 'control', data: notice }).catch(() => undefined);
    this.begin(notice);
  }
}
