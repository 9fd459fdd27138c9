// server2's part of input masks (input_mask.ts): a client's lease request that names an input
// shape, and server0's notice of the lease it granted (which names that request's session), meet
// here in either order; then server2 sends the client the input mask of the leased index.
// Either half waits at most `timeoutMs`, and at most `max` of each wait: a request whose notice
// never comes (server0 refused the lease) is answered without a mask, a notice whose request never
// comes is forgotten. A mask is sent only when the two agree on the model and the shape.
import type { PartyName } from '../net/transport';
import type { LeaseNotice } from './messages';

export interface LeaseMaskHooks {
  /** Both halves agree: send `peer` the mask of `index` for `shape` in `session`, then answer. */
  serve(peer: PartyName, session: string, index: number, shape: number[]): void;
  /** No mask for this request (why): answer `peer` without one. */
  decline(peer: PartyName, session: string, why: string): void;
}

interface Asked {
  peer: PartyName;
  model: string;
  shape: number[];
  timer: NodeJS.Timeout;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

export class LeaseMasks {
  #asked = new Map<string, Asked>();
  #noticed = new Map<string, { notice: LeaseNotice; timer: NodeJS.Timeout }>();
  served = 0;
  declined = 0;

  constructor(
    private readonly timeoutMs: number,
    private readonly max: number,
    private readonly hooks: LeaseMaskHooks,
  ) {}

  /** A client's lease request in `session` asks for a mask of `shape`. */
  request(peer: PartyName, session: string, model: string, shape: number[]): void {
    const noticed = this.#noticed.get(session);
    if (noticed) {
      clearTimeout(noticed.timer);
      this.#noticed.delete(session);
      return this.#match(peer, session, model, shape, noticed.notice);
    }
    if (this.#asked.has(session)) return this.#decline(peer, session, 'this session already asked for a mask');
    if (this.#asked.size >= this.max) return this.#decline(peer, session, `${this.#asked.size} mask requests are waiting for their leases`);
    const timer = setTimeout(() => {
      if (this.#asked.delete(session)) this.#decline(peer, session, "server0's notice of the lease did not come");
    }, this.timeoutMs);
    timer.unref();
    this.#asked.set(session, { peer, model, shape, timer });
  }

  /** server0's notice of a lease granted to a request that asked for a mask. */
  notice(n: LeaseNotice): void {
    if (!n.session || !n.shape) return;
    const asked = this.#asked.get(n.session);
    if (asked) {
      clearTimeout(asked.timer);
      this.#asked.delete(n.session);
      return this.#match(asked.peer, n.session, asked.model, asked.shape, n);
    }
    if (this.#noticed.size >= this.max || this.#noticed.has(n.session)) return;
    const session = n.session;
    const timer = setTimeout(() => this.#noticed.delete(session), this.timeoutMs);
    timer.unref();
    this.#noticed.set(session, { notice: n, timer });
  }

  /** A new epoch or shutdown: every waiting request is answered without a mask. */
  clear(): void {
    for (const [session, a] of [...this.#asked]) {
      clearTimeout(a.timer);
      this.#asked.delete(session);
      this.#decline(a.peer, session, 'the cluster is being set up again');
    }
    for (const n of this.#noticed.values()) clearTimeout(n.timer);
    this.#noticed.clear();
  }

  get waiting(): number {
    return this.#asked.size + this.#noticed.size;
  }

  #match(peer: PartyName, session: string, model: string, shape: number[], n: LeaseNotice): void {
    if (n.model !== model || !sameShape(n.shape!, shape)) return this.#decline(peer, session, 'the lease granted is for another model or shape');
    this.served++;
    this.hooks.serve(peer, session, n.index, shape);
  }

  #decline(peer: PartyName, session: string, why: string): void {
    this.declined++;
    this.hooks.decline(peer, session, why);
  }
}
