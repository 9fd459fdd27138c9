// DReLU, the one primitive the exact protocols implement differently: every exact op (relu, max
// pooling, reduceMax, argmax, comparisons) is built on it and Beaver products, so a new exact
// protocol supplies a DReLU (exact_protocol.ts) and gets all of them. Dispatched by the party's
// protocol through exact_protocols.ts.
import type { RingTensor } from '../tensor/ring_tensor';
import type { GateStep } from './exact_protocol';
import { EXACT_PROTOCOLS } from './exact_protocols';
import type { OpCtx, Party } from './party';
import { exactProtocolsText } from './protocols';

/** Shares over Z_2^64 of [a >= 0] for flat [n] shares a, under the party's protocol. */
export function drelu(p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> {
  const exact = EXACT_PROTOCOLS[p.protocol];
  if (!exact) throw new Error(`${op.name}: the ${p.protocol} protocol has no exact comparison (use ${exactProtocolsText()})`);
  return exact.drelu(p, op, a, n);
}

/**
 * relu(a) in one piece where the protocol has a gate for it (FSS: one online round instead of
 * DReLU and a Beaver product; SecureNN's one-compare form: server2's last deal carries r z, so no
 * Beaver product either); null where relu is DReLU times a.
 */
export function fusedRelu(p: Party): GateStep | null {
  return EXACT_PROTOCOLS[p.protocol]?.fusedRelu?.(p) ?? null;
}

/**
 * relu(a) and DReLU(a) from one gate, [relu; d] as a flat [2n] share, where the relu gate computes
 * d on the way (FSS, SecureNN's one-compare form): the same messages as fusedRelu's; null where
 * relu is DReLU times a (then d is at hand anyway).
 */
export function fusedReluBit(p: Party): GateStep | null {
  return EXACT_PROTOCOLS[p.protocol]?.fusedReluBit?.(p) ?? null;
}

/** [a = 0] in one gate where the protocol has one (FSS: a DPF key per element); null where it is built from DReLU. */
export function zeroGate(p: Party): GateStep | null {
  return EXACT_PROTOCOLS[p.protocol]?.isZero ?? null;
}
