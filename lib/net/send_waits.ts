// Sends waiting for their socket, by session. A send can wait for its socket to drain, which a
// stalled peer never does (a paused process, a link that stopped acknowledging; found by the
// heartbeat only after heartbeatMs x heartbeatMisses): the session's end (its timeout, an abort,
// or done) ends the wait, or a query would outlive its timeout on the servers still running.
// What was queued is still written, and the peer drops it as a straggler of a finished session.

export class SendWaits {
  #waits = new Map<string, Set<(reason?: string) => void>>();

  /**
   * Waits for `written`, or for `session` to end (end()): resolves when it ended as done, rejects
   * with the reason when it was aborted.
   */
  async wait(session: string, written: Promise<void>): Promise<void> {
    let stop!: (reason?: string) => void;
    const ended = new Promise<void>((resolve, reject) => (stop = (reason) => (reason === undefined ? resolve() : reject(new Error(reason)))));
    const waits = this.#waits.get(session) ?? new Set();
    this.#waits.set(session, waits.add(stop));
    written.catch(() => undefined); // when the session's end won the race
    try {
      await Promise.race([written, ended]);
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
