// The client's side of session-index leases (leases.ts): each batch-1 query on a model asks for the
// next query's lease (leaseNext) and comes back with it, and the next batch-1 query on that model
// presents it, so server1 and server2 need not wait for server0's notice. A lease comes with its
// query's input mask (input_mask.ts), used by one query only. A lease refused, expired or unknown
// costs nothing but the plain path: the query is sent again without it.
import type { RingTensor } from '../tensor/ring_tensor';
import { sameShape } from '../tensor/shape';
import type { LeaseRef } from './leases';

/**
 * A granted lease: its reference, and the next input's mask from server0's and server1's shares
 * (undefined unless both came), which the servers send after their answers: still on its way
 * when the query that took the lease returns.
 */
export interface Granted extends LeaseRef {
  ttlMs: number;
  mask?: Promise<RingTensor | undefined>;
}

/** A lease to use: its reference, and its input mask when the query's shape is the one it was made for. */
export interface HeldLease {
  ref: LeaseRef;
  mask?: RingTensor;
}

/** A lease this close to its expiry (2 s, a quarter of a short one) is not used: the servers' clocks started it earlier. */
const marginMs = (ttlMs: number) => Math.min(2_000, ttlMs / 4);

/**
 * How long a query waits for its lease's mask still on its way. It normally came within a
 * millisecond of the answers, long before the next query; a query sent at once after the last
 * one's return waits that millisecond. Without the mask the lease still serves, the input going
 * shared (one round more), so waiting much longer than a round would only lose time.
 */
export const MASK_WAIT_MS = 500;

/** Frees a mask that may still be on its way, whenever it comes (never used: a mask serves one query). */
export function dropMask(mask: Promise<RingTensor | undefined> | undefined): void {
  mask?.then((m) => m?.dispose(), () => undefined);
}

/** The mask if it came within `ms` (a failure: none); one that comes later is freed. */
async function maskWithin(mask: Promise<RingTensor | undefined>, ms: number): Promise<RingTensor | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), ms)));
  try {
    const got = await Promise.race([mask.catch(() => undefined), late]);
    if (got !== 'late') return got;
    dropMask(mask);
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

export class ClientLeases {
  #held = new Map<string, { ref: LeaseRef; expiresAt: number; mask?: Promise<RingTensor | undefined> }>();

  constructor(readonly enabled: boolean) {}

  /**
   * The lease for `model`'s next batch-1 query, if one is held and fresh (it is used up), with its
   * input mask if that came (within MASK_WAIT_MS) and was made for `shape` (a mask of another
   * shape is freed: never used twice).
   */
  async take(model: string, shape: readonly number[]): Promise<HeldLease | undefined> {
    const l = this.#held.get(model);
    this.#held.delete(model);
    if (!l) return undefined;
    const mask = l.mask && (await maskWithin(l.mask, MASK_WAIT_MS));
    if (Date.now() >= l.expiresAt) {
      mask?.dispose();
      return undefined;
    }
    const fits = mask && sameShape(mask.shape, shape);
    if (!fits) mask?.dispose();
    return { ref: l.ref, ...(fits ? { mask } : {}) };
  }

  /** Keeps the lease a query on `model` came back with (asked for at `askedAt`, Date.now()), replacing any held. */
  put(model: string, l: Granted, askedAt: number): void {
    dropMask(this.#held.get(model)?.mask);
    this.#held.set(model, { ref: { id: l.id, index: l.index }, expiresAt: askedAt + l.ttlMs - marginMs(l.ttlMs), ...(l.mask ? { mask: l.mask } : {}) });
  }

  /** Frees every held mask, also those still on their way (the client closes). */
  clear(): void {
    for (const l of this.#held.values()) dropMask(l.mask);
    this.#held.clear();
  }
}

/** Whether a query failed because of its lease (unknown, expired, mismatched), so it may go again without. */
export const isLeaseFailure = (e: unknown): boolean => /lease [0-9a-f]{8} (is unknown or expired|does not match)/.test(String((e as Error)?.message));
