// server1 and server2 run a client's request only once server0's notice for it has come too (its
// session index in the current epoch); either half may arrive first. RequestPairing holds the half
// that came first, for at most `timeoutMs`, and hands both over when they meet. server0 pairs
// nothing: it sends the notices.
//
// A client may send each server a different request in one session (a hostile one would: another
// shape to server2, a lease to server1 only). A start notice names the request server0 admitted
// (requestKey), and a request that meets a notice for another, or a second notice (server0's and
// a lease's), never runs: both indices are freed and the client is refused (PairingHooks.mismatched).
import type { PartyName } from '../net/transport';
import { requestKey, type ClientRequest } from './messages';

/** server0's go-ahead for a request: its session index, and whether it was reserved for the pool. */
export interface Notice {
  epoch: string;
  index: number;
  pooled: boolean;
  /** The request server0 admitted (requestKey); absent for a lease's index (the lease names its model). */
  request?: string;
}

/** A client's half: who asked, and what. */
export interface ClientHalf {
  peer: PartyName;
  req: ClientRequest;
}

export interface Halves {
  client?: ClientHalf;
  notice?: Notice;
}

export interface PairingHooks {
  /** Both halves are here: run the request; `since`: when the first of them came (Date.now()), which its timeout counts from. */
  paired(session: string, client: ClientHalf, notice: Notice, since: number): void;
  /** A request that will never run is forgotten: free what its client uploaded and what server2 made for its index. */
  unused(session: string, halves: Halves): void;
  /** One half waited `timeoutMs` for the other (after `unused`): tell whoever is waiting. */
  timedOut(session: string, halves: Halves): void;
  /**
   * The halves do not belong together (another request than server0 admitted, or two notices):
   * nothing runs; free every notice's index and refuse the client if it is here (each server
   * checks its own copy of the request).
   */
  mismatched(session: string, client: ClientHalf | undefined, notices: Notice[], why: string): void;
}

export class RequestPairing {
  #pending = new Map<string, Halves & { timer: NodeJS.Timeout; since: number }>();
  /** Leased requests that came before server0's lease notice: session by lease id. */
  #waitingLease = new Map<string, string>();

  constructor(
    private readonly timeoutMs: number,
    private readonly hooks: PairingHooks,
  ) {}

  get size(): number {
    return this.#pending.size;
  }

  /** What has come for `session` so far (undefined: nothing waits). */
  get(session: string): Halves | undefined {
    return this.#pending.get(session);
  }

  sessions(): string[] {
    return [...this.#pending.keys()];
  }

  /** Whether a waiting client request satisfies `pred`. */
  someClient(pred: (c: ClientHalf) => boolean): boolean {
    return [...this.#pending.values()].some((p) => p.client !== undefined && pred(p.client));
  }

  /** A request for lease `leaseId` came before server0's notice of the lease. */
  awaitLease(leaseId: string, session: string): void {
    this.#waitingLease.set(leaseId, session);
  }

  /** The session whose request waits for lease `leaseId`'s notice, no longer waiting for it. */
  takeLeaseWaiter(leaseId: string): string | undefined {
    const session = this.#waitingLease.get(leaseId);
    this.#waitingLease.delete(leaseId);
    return session;
  }

  /** Adds one half; hands the request over if that makes two. */
  pair(session: string, part: Halves): void {
    let p = this.#pending.get(session);
    if (!p) {
      const timer = setTimeout(() => {
        const left = this.#pending.get(session);
        this.drop(session, true);
        this.hooks.timedOut(session, { client: left?.client, notice: left?.notice });
      }, this.timeoutMs);
      this.#pending.set(session, (p = { timer, since: Date.now() }));
    }
    if (part.notice && p.notice) {
      const client = p.client ?? part.client, notices = [p.notice, part.notice];
      this.drop(session, false);
      return this.hooks.mismatched(session, client, notices, 'two session indices came for this request (a lease and server0\'s notice)');
    }
    Object.assign(p, part);
    if (p.client && p.notice) {
      const { client, notice, since } = p;
      this.drop(session, false);
      if (notice.request !== undefined && notice.request !== requestKey(client.req))
        return this.hooks.mismatched(session, client, [notice], 'this request differs from the one server0 admitted in this session');
      this.hooks.paired(session, client, notice, since);
    }
  }

  /** Forgets a waiting request; `unused`: it will never run (PairingHooks.unused). */
  drop(session: string, unused: boolean): void {
    const p = this.#pending.get(session);
    if (!p) return;
    clearTimeout(p.timer);
    this.#pending.delete(session);
    const req = p.client?.req;
    if (req?.type === 'predict' && req.lease && this.#waitingLease.get(req.lease.id) === session) this.#waitingLease.delete(req.lease.id);
    if (unused) this.hooks.unused(session, { client: p.client, notice: p.notice });
  }
}
