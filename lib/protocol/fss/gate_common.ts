// What both FSS gate forms (drelu.ts, compact_gate.ts) share.
import { addScalar, mulScalar } from '../../ops';
import { prgRing } from '../../prg/prg';
import type { RingTensor } from '../../tensor/ring_tensor';

/** The DCF compares the low 63 bits; the top bit is handled in the clear (fssSign, drelu.ts). */
export const LOW_BITS = 63;

export const ringPrg = (shape: readonly number[]) => (s: Uint8Array, n: bigint) => prgRing(s, shape, { nonce: n });

/** 1 - 2t, elementwise. */
export async function oneMinusTwice(t: RingTensor): Promise<RingTensor> {
  const d = await mulScalar(t, -2n);
  return freeing([d], addScalar(d, 1n));
}

async function freeing<T>(ts: (RingTensor | null | undefined)[], v: Promise<T>): Promise<T> {
  try {
    return await v;
  } finally {
    for (const t of ts) t?.dispose();
  }
}

