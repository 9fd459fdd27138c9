// What both FSS gate forms (drelu.ts, compact_gate.ts) share.
import { add, shiftLeft, shiftRightLogical } from '../../ops';
import type { RingTensor } from '../../tensor/ring_tensor';
import { type OpCtx, type Party, tag } from '../party';
import { FSS_BITS_MIN } from '../protocols';
import { FSS_STEPS } from './steps';

/**
 * The width n of op's gates: the sign of a mod 2^n is a's while |a| < 2^(n-1), so a bound B on
 * the inputs (OpCtx.gateBound, from the model's structure: docs/fss.md "Gate widths") needs
 * n - 1 = bitLength(B) (B < 2^bitLength(B)); never wider than the deployment's fssBits (64 unless
 * narrowed) unless the op is internal (its values are the library's, which fssBits does not
 * bound), never below FSS_BITS_MIN. server2 and the compute servers derive it alike from the
 * same program. FSS_STEPS.widthCut (tests only) narrows it further: the control that must fail.
 */
export function gateBits(fssBits: number, op: Pick<OpCtx, 'gateBound' | 'internal'>): number {
  const b = op.gateBound;
  const derived = b === undefined || b < 0n ? 64 : b.toString(2).length + 1 - FSS_STEPS.widthCut;
  return Math.max(FSS_BITS_MIN, Math.min(op.internal && FSS_STEPS.internalWide ? 64 : fssBits, derived));
}

/**
 * The bits a gate's DCF compares: n - 1 for comparisons of width n (gateBits; 63 on the whole
 * ring), bit n - 1 being the sign, handled in the clear (fssSign, drelu.ts).
 */
export const lowBits = (p: Party, op: Pick<OpCtx, 'gateBound' | 'internal'>): number => gateBits(p.fssBits, op) - 1;

/** Bit `bit` of each element of t, as ring64 0 or 1 (the sign bit of a gate of width bit + 1). */
export async function bitOf(t: RingTensor, bit: number): Promise<RingTensor> {
  if (bit === 63) return shiftRightLogical(t, 63);
  const up = await shiftLeft(t, 63 - bit);
  try {
    return await shiftRightLogical(up, 63);
  } finally {
    up.dispose();
  }
}

/** The tensors a gate makes on its way, disposed together when it ends (what it returns taken out first). */
export class Held {
  readonly #all: (RingTensor | null)[] = [];

  async keep<T extends RingTensor | null>(t: Promise<T> | T): Promise<T> {
    const v = await t;
    this.#all.push(v);
    return v;
  }

  /** Takes t out of the set (the gate returns it). */
  release(t: RingTensor): RingTensor {
    this.#all.splice(this.#all.lastIndexOf(t), 1);
    return t;
  }

  dispose(): void {
    for (const t of this.#all) t?.dispose();
  }
}

/** server0 and server1: open x^ = a + r, each sending its share to the other (one round). */
export async function openMasked(p: Party, op: OpCtx, a: RingTensor, rj: RingTensor): Promise<RingTensor> {
  const mine = await add(a, rj);
  try {
    const theirs = await p.exchange(tag(op, 'fss.open'), mine);
    try {
      return await add(mine, theirs);
    } finally {
      theirs.dispose();
    }
  } finally {
    mine.dispose();
  }
}
