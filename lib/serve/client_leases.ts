// The client's side of session-index leases (leases.ts): after a batch-1 query on a model it asks
// for the next query's index in the background, and its next batch-1 query on that model presents
// it, so server1 and server2 need not wait for server0's notice. A lease refused, expired or
// unknown costs nothing but the plain path: the query is sent again without it. A lease asked for
// with an input shape comes with that query's input mask (input_mask.ts), used by one query only.
import type { RingTensor } from '../tensor/ring_tensor';
import type { LeaseRef } from './leases';

/** A granted lease: its reference, and the input mask server2 sent for it (if any). */
export interface Granted extends LeaseRef {
  ttlMs: number;
  mask?: RingTensor;
}

/** A lease to use: its reference, and its input mask when the query's shape is the one it was dealt for. */
export interface HeldLease {
  ref: LeaseRef;
  mask?: RingTensor;
}

/** A lease this close to its expiry (2 s, a quarter of a short one) is not used: the servers' clocks started it earlier. */
const marginMs = (ttlMs: number) => Math.min(2_000, ttlMs / 4);

export class ClientLeases {
  #held = new Map<string, { ref: LeaseRef; expiresAt: number; mask?: RingTensor }>();
  #asking = new Map<string, Promise<void>>();
  #enabled: boolean;

  /** `ask`: one lease request to the cluster for an input of `shape` (undefined: granted nothing). */
  constructor(enabled: boolean, private readonly ask: (model: string, shape: readonly number[]) => Promise<Granted | undefined>) {
    this.#enabled = enabled;
  }

  /**
   * The lease for `model`'s next batch-1 query, if one is held and fresh (it is used up), with its
   * input mask if that was dealt for `shape` (a mask of another shape is freed: never used twice).
   */
  take(model: string, shape: readonly number[]): HeldLease | undefined {
    const l = this.#held.get(model);
    this.#held.delete(model);
    if (!l || Date.now() >= l.expiresAt) {
      l?.mask?.dispose();
      return undefined;
    }
    const fits = l.mask && l.mask.shape.length === shape.length && l.mask.shape.every((d, i) => d === shape[i]);
    if (!fits) l.mask?.dispose();
    return { ref: l.ref, ...(fits ? { mask: l.mask } : {}) };
  }

  /** Asks for the next lease on `model`, with the mask of an input of `shape`, in the background (at most one request at a time per model). */
  renew(model: string, shape: readonly number[]): void {
    if (!this.#enabled || this.#held.has(model) || this.#asking.has(model)) return;
    const t0 = Date.now();
    const p = this.ask(model, shape)
      .then((l) => {
        if (l && this.#enabled) this.#held.set(model, { ref: { id: l.id, index: l.index }, expiresAt: t0 + l.ttlMs - marginMs(l.ttlMs), ...(l.mask ? { mask: l.mask } : {}) });
        else l?.mask?.dispose();
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
    for (const l of this.#held.values()) l.mask?.dispose();
    this.#held.clear();
  }
}

/** Whether a query failed because of its lease (unknown, expired, mismatched), so it may go again without. */
export const isLeaseFailure = (e: unknown): boolean => /lease [0-9a-f]{8} (is unknown or expired|does not match)/.test(String((e as Error)?.message));
