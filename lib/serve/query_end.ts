// How a query running on one server ends early, and everything it waits on with it (query_run.ts
// runQuery): its session, here and, when this server ends it, on the others; its pool session (a
// pooled query gets server2's messages there); and what it waits for outside any session (its
// setup's readiness, which `early` races). Ended by its timeout, a failure, its client or a
// server gone, or an abort from another party. Without all three, a wait could outlive the query:
// a recording a stalled server2 never ships, a setup that cannot finish.

export interface QueryEndHooks {
  /** Aborts the query's session here and tells the other servers. */
  abortSession(reason: string): void;
  /** Ends its pool session here (a no-op for a query that is not pooled). */
  abortPool(reason: string): void;
}

export class QueryEnd {
  /** Rejects with the reason once the query has ended early: race a wait outside its sessions with it. */
  readonly early: Promise<never>;
  #reject!: (e: Error) => void;
  #timer: NodeJS.Timeout;

  /** `timeoutMs` from now, it ends with `timed out after ${queryTimeoutMs} ms`. */
  constructor(private readonly hooks: QueryEndHooks, timeoutMs: number, queryTimeoutMs: number) {
    this.early = new Promise<never>((_, reject) => (this.#reject = reject));
    this.early.catch(() => undefined);
    this.#timer = setTimeout(() => this.abort(`timed out after ${queryTimeoutMs} ms`), Math.max(0, timeoutMs));
  }

  /** This server ends it (its timeout, a failure, its client or a server gone): everywhere. */
  abort(reason: string): void {
    this.hooks.abortSession(reason);
    this.aborted(reason);
  }

  /** Another party ended it (the endpoint has aborted the session here already). */
  aborted(reason: string): void {
    this.#reject(new Error(reason));
    this.hooks.abortPool(reason);
  }

  /** The query is over: its timer stops. */
  settle(): void {
    clearTimeout(this.#timer);
  }
}
