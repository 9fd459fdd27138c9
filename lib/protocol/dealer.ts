// server2 dealing a value to server0 and server1 with seed compression: server0 expands its share
// from the seed it shares with server2 (s02), and server1 receives only value - share0. server1
// lacks s02, so what it receives is uniform; server0 receives nothing.
import { prgRing } from '../prg/prg';
import type { RingTensor } from '../tensor/ring_tensor';
import { nonceFor } from './correlated';
import { type OpCtx, type Party, SERVER1, SERVER2, tag } from './party';
import { defineGuardedSwitches } from './test_switches';

/**
 * `maskDeal` is a test control (test_switches.ts): false makes server0's share zero, so that
 * server1 receives every dealt value itself (test/fss_view_attacks.test.ts: the attacks on what
 * server1 is dealt must then succeed).
 */
export const DEALER_STEPS = defineGuardedSwitches({}, 'DEALER_STEPS', { maskDeal: true });

/** server0's share of a deal: from the seed it shares with server2; zero under the control. */
async function share0(make: (seed: Uint8Array, nonce: bigint) => Promise<RingTensor>, minus: (a: RingTensor, b: RingTensor) => Promise<RingTensor>, seed: Uint8Array, nonce: bigint): Promise<RingTensor> {
  const s = await make(seed, nonce);
  if (DEALER_STEPS.maskDeal) return s;
  try {
    return await minus(s, s);
  } finally {
    s.dispose();
  }
}

/** deal()'s `make` for a share over Z_2^64 of `shape`. */
export const ringPrg = (shape: readonly number[]) => (s: Uint8Array, n: bigint): Promise<RingTensor> => prgRing(s, shape, { nonce: n });

/**
 * Runs on every party. `value` is server2's (null elsewhere); `make` expands a share from a seed
 * and nonce, `minus` subtracts in the value's ring or field. Returns the party's share (null on
 * server2 and players).
 */
export async function deal(p: Party, op: OpCtx, step: string, slot: number, value: RingTensor | null, make: (seed: Uint8Array, nonce: bigint) => Promise<RingTensor>, minus: (a: RingTensor, b: RingTensor) => Promise<RingTensor>, shape: readonly number[]): Promise<RingTensor | null> {
  const seed02 = p.role === 1 ? undefined : p.crypto!.dealerSeed(p);
  const nonce = nonceFor(op.id, slot);
  if (p.role === 0) return share0(make, minus, seed02!, nonce);
  if (p.role === 1) return p.recvTensor(SERVER2, tag(op, step, String(slot)), shape);
  if (p.role !== 2 || !value) return null;
  const s0 = await share0(make, minus, seed02!, nonce);
  const s1 = await minus(value, s0);
  s0.dispose();
  await p.sendTensor(SERVER1, tag(op, step, String(slot)), s1);
  s1.dispose();
  return null;
}
