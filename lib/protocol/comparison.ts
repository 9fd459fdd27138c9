// DReLU, the one primitive the exact protocols implement differently: every exact op (relu, max
// pooling, reduceMax, argmax, comparisons) is built on it and Beaver products, so a new exact
// protocol supplies a DReLU and gets all of them.
import type { RingTensor } from '../tensor/ring_tensor';
import { fssDrelu, fssRelu, fssReluBit } from './fss/drelu';
import type { OpCtx, Party } from './party';
import { exactProtocolsText } from './protocols';
import { dreluOneCompare, reluBitOneCompare, reluOneCompare } from './securenn/drelu_one_compare';
import { drelu as dreluPaper } from './securenn/msb';

/** Shares over Z_2^64 of [a >= 0] for flat [n] shares a, under the party's protocol. */
export function drelu(p: Party, op: OpCtx, a: RingTensor | null, n: number): Promise<RingTensor | null> {
  switch (p.protocol) {
    case 'securenn':
      return p.securennDrelu === 'paper' ? dreluPaper(p, op, a, n) : dreluOneCompare(p, op, a, n);
    case 'fss':
      return fssDrelu(p, op, a, n);
    default:
      throw new Error(`${op.name}: the ${p.protocol} protocol has no exact comparison (use ${exactProtocolsText()})`);
  }
}

/**
 * relu(a) in one piece where the protocol has a gate for it (FSS: one online round instead of
 * DReLU and a Beaver product; SecureNN's one-compare form: server2's last deal carries r z, so no
 * Beaver product either); null where relu is DReLU times a.
 */
export function fusedRelu(p: Party): ((p: Party, op: OpCtx, a: RingTensor | null, n: number) => Promise<RingTensor | null>) | null {
  if (p.protocol === 'fss') return fssRelu;
  return p.protocol === 'securenn' && p.securennDrelu === 'one-compare' ? reluOneCompare : null;
}

/**
 * relu(a) and DReLU(a) from one gate, [relu; d] as a flat [2n] share, where the relu gate computes
 * d on the way (FSS, SecureNN's one-compare form): the same messages as fusedRelu's; null where
 * relu is DReLU times a (then d is at hand anyway).
 */
export function fusedReluBit(p: Party): ((p: Party, op: OpCtx, a: RingTensor | null, n: number) => Promise<RingTensor | null>) | null {
  if (p.protocol === 'fss') return fssReluBit;
  return p.protocol === 'securenn' && p.securennDrelu === 'one-compare' ? reluBitOneCompare : null;
}
