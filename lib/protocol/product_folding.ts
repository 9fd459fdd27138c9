// Products folded into the relu gate before them: a protocol whose relu gate opens values that a
// product relu(a) W right after can finish locally (given what the dealer also dealt for it)
// offers a ProductFolding, and the API runs such a relu and such a product through it without
// knowing the protocol, as it runs DReLU through comparison.ts (a protocol offers it as
// ExactProtocol.productFolding: exact_protocol.ts). Today only FSS under its 'folded' and
// 'compact-folded' gate forms folds (lib/protocol/fss/fold.ts; docs/fss.md, "Folded products");
// a protocol that does not returns null and its products keep their round.
import type { PartyName } from '../net/transport';
import type { RingTensor } from '../tensor/ring_tensor';
import type { FoldingSettings } from './exact_protocol';
import { EXACT_PROTOCOLS } from './exact_protocols';
import type { OpCtx, Party } from './party';
import type { MaskedShare } from './pond/arith';
import type { ProtocolName } from './protocols';

/** The counts a cluster keeps of the products it folded (Cluster.folds). */
export interface FoldCounts {
  products: number;
  cells: number;
  /** The bytes of the keys folded cells cost each compute server (FSS: cells folded into a one-round gate; the others cost dealt words). */
  keyBytes: number;
}

/**
 * A relu that kept what a fold needs: its op (the dealer draws the gate's masks again from it)
 * and each hosted compute server's kept tensors (filled once the relu's shares are), shared by the
 * tensors that carry it (the relu's output and reshapes of it; the last one disposed frees
 * `kept`). Protocols extend it with their own fields.
 */
export interface FoldableGate {
  readonly folding: ProductFolding;
  readonly opId: number;
  readonly kept: Map<PartyName, RingTensor[]>;
  holders: number;
}

export interface ProductFolding {
  /** relu over flat [n] shares a that hands `keep` what a fold will need (the same messages as the protocol's relu). */
  relu(p: Party, op: OpCtx, a: RingTensor | null, n: number, keep: (kept: RingTensor[]) => void): Promise<RingTensor | null>;
  /** The record of one such relu (its op, with the op's gateBound), for the tensors that carry its output. */
  gate(op: OpCtx, elements: number, kept: Map<PartyName, RingTensor[]>): FoldableGate;
  /** Whether x W, x [m, n] the gate's output (or a reshape of it) and W [n, k], folds (cells = m n k). */
  folds(gate: FoldableGate, cells: number): boolean;
  /** Counts a fold of x [m, n] W [n, k] into a cluster's `counts` (cells = m n k). */
  count(counts: FoldCounts, gate: FoldableGate, m: number, n: number, k: number): void;
  /** Shares of x W, not truncated (as a Beaver product's), with W in masked form; on server2, its dealing. */
  product(p: Party, op: OpCtx, gate: FoldableGate, x: RingTensor | null, w: MaskedShare, m: number, n: number, k: number): Promise<RingTensor | null>;
}

/** The folding a cluster's protocol and settings offer, or null where products keep their round. */
export function productFolding(c: { protocol: ProtocolName } & FoldingSettings): ProductFolding | null {
  return EXACT_PROTOCOLS[c.protocol]?.productFolding?.(c) ?? null;
}

/** Frees what a gate kept once no tensor carries it any more. */
export function releaseGate(g: FoldableGate): void {
  if (--g.holders > 0) return;
  for (const ts of g.kept.values()) for (const t of ts) t.dispose();
  g.kept.clear();
}
