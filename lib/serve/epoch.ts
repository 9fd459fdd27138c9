// An epoch is one setup of the three servers: fresh seeds (correlated randomness) exchanged when
// the cluster (re)connects, and every deployed model's weights masked once under them. server0
// starts one whenever it holds links to both other servers; queries run as sessions of it.
import { Cluster, MAX_SESSIONS } from '../protocol/cluster';
import { SERVERS } from '../protocol/party';
import { disposeMasked } from '../protocol/pond/arith';
import type { PartyName } from '../net/transport';
import type { WsEndpoint } from '../net/ws_endpoint';
import { WebSocketTransport } from '../net/ws_transport';
import type { DeployedModel } from './model_store';
import { type MaskedWeights, maskWeights } from './programs';

export class Epoch {
  readonly root: Cluster;
  readonly masks = new Map<string, MaskedWeights>();
  readonly ready: Promise<void>;
  /** Queries of this epoch still running; its masks are freed when it is replaced and idle. */
  running = 0;
  retired = false;
  #nextIndex = 1;

  constructor(readonly id: string, me: PartyName, endpoint: WsEndpoint, fracBits: number, models: readonly DeployedModel[], timeoutMs: number) {
    const transport = new WebSocketTransport(SERVERS, new Map([[me, endpoint]]), `epoch:${id}`);
    const root = (this.root = new Cluster({ players: [], transport, hosted: [me], fixedPoint: { fracBits } }));
    const setup = (async () => {
      await root.ready();
      // Every server masks the same models in the same order, so op ids (and nonces) agree.
      for (const m of models) this.masks.set(m.name, await maskWeights(root, me, m.spec, m.shares));
    })();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        endpoint.abortSession(`epoch:${id}`, 'setup timed out');
        reject(new Error(`cluster setup ${id} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
    });
    this.ready = Promise.race([setup, timeout]).finally(() => clearTimeout(timer));
    this.ready.catch(() => undefined);
  }

  /** The next session index (server0 hands them out in order; they never repeat in an epoch). */
  nextIndex(): number {
    if (this.#nextIndex > MAX_SESSIONS) throw new Error('this setup has run out of session indices; reconnect the cluster');
    return this.#nextIndex++;
  }

  /** Frees the masked weights once nothing uses them. */
  maybeFree(): void {
    if (!this.retired || this.running > 0) return;
    for (const m of this.masks.values())
      for (const p of m.masked) void p.then((v) => v.forEach((s) => disposeMasked(s)), () => undefined);
    this.masks.clear();
  }
}
