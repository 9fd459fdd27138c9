// The client's side of session-index leases (leases.ts): each batch-1 query on a model asks for the
// next query's lease (leaseNext) and comes back with it, and the next batch-1 query on that model
// presents it, so server1 and server2 need not wait for server0's notice. A lease comes with its
// query's input mask (input_mask.ts), used by one query only. A lease refused, expired or unknown
// costs nothing but the plain path: the query is sent again without it.
import type { RingTensor } from '../tensor/ring_tensor';
import { sameShape } from '../tensor/shape';
import type { LeaseRef } from './leases';

/** A granted lease: its reference, and the next input's mask from server0's and server1's shares (if both came). */
export interface Granted extends LeaseRef {
  ttlMs: number;
  mask?: RingTensor;
}

/** A lease to use: its reference, and its input mask when the query's shape is the one it was made for. */
export interface HeldLease {
  ref: LeaseRef;
  mask?: RingTensor;
}

/** A lease this close to its expiry (2 s, a quarter of a short one) is not used: the servers' clocks started it earlier. */
const marginMs = (ttlMs: number) => Math.min(2_000, ttlMs / 4);

export class ClientLeases {
  #held = new Map<string, { ref: LeaseRef; expiresAt: number; mask?: RingTensor }>();
  /** Models whose next lease a query in flight has asked for. */
  #asking = new Set<string>();

  constructor(readonly enabled: boolean) {}

  /**
   * Whether a batch-1 query on `model` asks for the next lease (leaseNext): when none is held or
   * asked for already. One is kept per model, so with queries side by side a second lease would
   * only replace the first, which then holds a pooled recording on every server, and a place in
   * this client's bound on leases, until it expires. Call after take(); `answered` when it is over.
   */
  ask(model: string): boolean {
    if (!this.enabled || this.#asking.has(model) || this.#held.has(model)) return false;
    this.#asking.add(model);
    return true;
  }

  /** The query that asked for `model`'s next lease is over (with the lease, put() came first). */
  answered(model: string): void {
    this.#asking.delete(model);
  }

  /**
   * The lease for `model`'s next batch-1 query, if one is held and fresh (it is used up), with its
   * input mask if that was made for `shape` (a mask of another shape is freed: never used twice).
   */
  take(model: string, shape: readonly number[]): HeldLease | undefined {
    const l = this.#held.get(model);
    this.#held.delete(model);
    if (!l || Date.now() >= l.expiresAt) {
      l?.mask?.dispose();
      return undefined;
    }
    const fits = l.mask && sameShape(l.mask.shape, shape);
    if (!fits) l.mask?.dispose();
    return { ref: l.ref, ...(fits ? { mask: l.mask } : {}) };
  }

  /** Keeps the lease a query on `model` came back with (asked for at `askedAt`, Date.now()), replacing any held. */
  put(model: string, l: Granted, askedAt: number): void {
    this.#held.get(model)?.mask?.dispose();
    this.#held.set(model, { ref: { id: l.id, index: l.index }, expiresAt: askedAt + l.ttlMs - marginMs(l.ttlMs), ...(l.mask ? { mask: l.mask } : {}) });
  }

  /** Frees every held mask (the client closes). */
  clear(): void {
    for (const l of this.#held.values()) l.mask?.dispose();
    this.#held.clear();
    this.#asking.clear();
  }
}

/** Whether a query failed because of its lease (unknown, expired, mismatched), so it may go again without. */
export const isLeaseFailure = (e: unknown): boolean => /lease [0-9a-f]{8} (is unknown or expired|does not match)/.test(String((e as Error)?.message));
