// Sends waiting for their socket, by session. A send can wait for its link to come back (up to
// RECONNECT_WAIT_MS) or for its socket to drain, which a stalled peer never does (a paused
// process, a link that stopped acknowledging; found by the heartbeat only after heartbeatMs x
// heartbeatMisses): the session's end (its timeout, an abort, or done) ends the wait, or a query
// would outlive its timeout on the servers still running. What was queued is still written, and
// the peer drops it as a straggler of a finished session.

export class SendWaits {
  #waits = new Map<string, Set<(reason?: string) => void>>();

  /**
   * Waits for `pending` (a write, or the link it goes on), or for `session` to end (end()): its
   * value, undefined when the session ended as done first; rejects with the reason when aborted.
   */
  async wait<T>(session: string, pending: Promise<T>): Promise<T | undefined> {
    let stop!: (reason?: string) => void;
    const ended = new Promise<undefined>((resolve, reject) => (stop = (reason) => (reason === undefined ? resolve(undefined) : reject(new Error(reason)))));
    const waits = this.#waits.get(session) ?? new Set();
    this.#waits.set(session, waits.add(stop));
    pending.catch(() => undefined); // when the session's end won the race
    try {
      return await Promise.race([pending, ended]);
    } finally {
      waits.delete(stop);
      if (waits.size === 0 && this.#waits.get(session) === waits) this.#waits.delete(session);
    }
  }

  /** Ends the session's waits: as done (no reason) or aborted (`abortReason`). */
  end(session: string, abortReason?: string): void {
    const waits = this.#waits.get(session);
    this.#waits.delete(session);
    for (const stop of waits ?? []) stop(abortReason);
  }

  /** Sessions with a send waiting (for leak checks). */
  get size(): number {
    return this.#waits.size;
  }
}
