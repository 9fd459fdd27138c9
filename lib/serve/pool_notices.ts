// server0's pool and unpool notices, acted on by server1 and server2 (the offline phase: server0
// reserves in reservations.ts, server2 deals and records in pool.ts). server2 precomputes its side
// of each reserved index; both free what was shipped ahead for an index server0 frees.
import type { PartyName } from '../net/transport';
import type { WsEndpoint } from '../net/ws_endpoint';
import { WebSocketTransport } from '../net/ws_transport';
import { SERVER2, SERVERS } from '../protocol/party';
import { PROTOCOL_TRAITS } from '../protocol/protocols';
import type { EpochSetup } from './epoch_setup';
import type { PoolNotice, UnpoolNotice } from './messages';
import type { DeployedModel } from './model_store';
import { poolSession } from './pool';
import { CLIENT } from './programs';

export interface PoolNoticesHost {
  me: PartyName;
  endpoint: WsEndpoint;
  setup: EpochSetup;
  models: Map<string, DeployedModel>;
  /** Whether a deploy of the model is running here (its model not saved yet). */
  deploying(model: string): boolean;
}

export class PoolNotices {
  /** server2: pool notices for a model whose deploy is finishing here. */
  #waiting = new Map<string, PoolNotice[]>();

  constructor(private readonly h: PoolNoticesHost) {}

  /** server2: precomputes its side of the reserved queries. */
  precompute(n: PoolNotice): void {
    const { h } = this;
    const epoch = h.setup.current;
    if (!epoch || epoch.id !== n.epoch) return;
    // Until it is acted on, an index server0 frees is remembered, so that it is skipped then.
    epoch.pool.noticed(n.indices);
    // server0 may reserve before this server has finished saving a fresh deploy: wait for it.
    if (h.deploying(n.model)) return void this.#waiting.set(n.model, [...(this.#waiting.get(n.model) ?? []), n]);
    void epoch.ready.then(() => {
      const m = h.models.get(n.model), masks = epoch.masks.get(n.model);
      const ship = (index: number) => new WebSocketTransport([...SERVERS, CLIENT], new Map([[h.me, h.endpoint]]), poolSession(epoch.id, index));
      if (m && masks && !PROTOCOL_TRAITS[m.protocol].server2Online) epoch.pool.prepare(epoch.root, h.me, m, masks, n.batch ?? 1, n.indices, ship);
      else epoch.pool.acted(n.indices);
    }, () => epoch.pool.acted(n.indices));
  }

  /** A deploy of the model ended here (saved or not): the pool notices that waited for it are acted on. */
  deployEnded(model: string): void {
    const waiting = this.#waiting.get(model) ?? [];
    this.#waiting.delete(model);
    for (const n of waiting) this.precompute(n);
  }

  /** server1/server2: server0 freed reserved indices: what server2 recorded or shipped for them goes. */
  unpool(n: UnpoolNotice): void {
    const { h } = this;
    // Also of the setup a renewal replaced, its grace over here too (server0 frees what is left of
    // its reservations as its own grace ends; a second renewal may end this server's first).
    const epoch = h.setup.epochFor(n.epoch) ?? (h.setup.previous?.id === n.epoch ? h.setup.previous : undefined);
    if (!epoch) return;
    for (const i of n.indices) {
      if (h.me === SERVER2) epoch.pool.unreserved(i);
      h.endpoint.endSession(poolSession(epoch.id, i));
    }
  }
}
