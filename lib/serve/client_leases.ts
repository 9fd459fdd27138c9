// The client's side of session-index leases (leases.ts): after a batch-1 query on a model it asks
// for the next query's index in the background, and its next batch-1 query on that model presents
// it, so server1 and server2 need not wait for server0's notice. A lease refused, expired or
// unknown costs nothing but the plain path: the query is sent again without it.
import type { LeaseRef } from './leases';

/** A lease this close to its expiry (2 s, a quarter of a short one) is not used: the servers' clocks started it earlier. */
const marginMs = (ttlMs: number) => Math.min(2_000, ttlMs / 4);

export class ClientLeases {
  #held = new Map<string, { ref: LeaseRef; expiresAt: number }>();
  #asking = new Map<string, Promise<void>>();
  #enabled: boolean;

  /** `ask`: one lease request to the cluster (undefined: granted nothing). */
  constructor(enabled: boolean, private readonly ask: (model: string) => Promise<(LeaseRef & { ttlMs: number }) | undefined>) {
    this.#enabled = enabled;
  }

  /** The lease for `model`'s next batch-1 query, if one is held and fresh (it is used up). */
  take(model: string): LeaseRef | undefined {
    const l = this.#held.get(model);
    this.#held.delete(model);
    return l && Date.now() < l.expiresAt ? l.ref : undefined;
  }

  /** Asks for the next lease on `model` in the background (at most one request at a time per model). */
  renew(model: string): void {
    if (!this.#enabled || this.#held.has(model) || this.#asking.has(model)) return;
    const t0 = Date.now();
    const p = this.ask(model)
      .then((l) => {
        if (l) this.#held.set(model, { ref: { id: l.id, index: l.index }, expiresAt: t0 + l.ttlMs - marginMs(l.ttlMs) });
      })
      .catch((e: Error) => {
        // A cluster that grants none: stop asking. Anything else (busy, a limit): the plain path.
        if (/grants no leases/.test(e.message)) this.#enabled = false;
      })
      .finally(() => this.#asking.delete(model));
    this.#asking.set(model, p);
  }

  /** Lease requests still on their way (close waits for them). */
  async settle(): Promise<void> {
    this.#enabled = false;
    await Promise.allSettled([...this.#asking.values()]);
  }
}

/** Whether a query failed because of its lease (unknown, expired, mismatched), so it may go again without. */
export const isLeaseFailure = (e: unknown): boolean => /lease [0-9a-f]{8} (is unknown or expired|does not match)/.test(String((e as Error)?.message));
