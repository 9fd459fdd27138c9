// What an exact protocol supplies (docs/protocols.md): its DReLU, from which every exact op is
// built (lib/protocol/exact/), and optionally cheaper gates for relu and products folded into
// them. Each exact protocol's folder exports one of these (securenn/index.ts, fss/index.ts), and
// exact_protocols.ts lists them by name: the one line a new protocol adds there.
import type { RingTensor } from '../tensor/ring_tensor';
import type { OpCtx, Party } from './party';
import type { ProductFolding } from './product_folding';
import type { FssGate } from './protocols';
import type { OneHotRows } from './one_hot_rows';

/** A step over flat [n] shares a (null on a party that holds none), to flat shares of its result. */
export type GateStep = (p: Party, op: OpCtx, a: RingTensor | null, n: number) => Promise<RingTensor | null>;

/** The cluster settings a protocol's product folding depends on. */
export interface FoldingSettings {
  fssGate: FssGate;
  fssBits: number;
  fssCompactFrom?: number;
}

export interface ExactProtocol {
  /** Shares over Z_2^64 of [a >= 0]. */
  drelu: GateStep;
  /** relu(a) in one piece, where the protocol has a cheaper gate than DReLU times a (under the party's settings); null otherwise. */
  fusedRelu?: (p: Party) => GateStep | null;
  /** [relu(a); DReLU(a)] as one flat [2n] share from that gate; null where relu is DReLU times a. */
  fusedReluBit?: (p: Party) => GateStep | null;
  /** Shares of [a = 0] from one gate where the protocol has one (FSS: a DPF key per element); else [a >= 0] - [a - 1 >= 0] from its DReLU (exact/relu.ts equalZero). */
  isZero?: GateStep;
  /** How server2 deals one-hot rows at its own points (shared_one_hot.ts) where the protocol has a cheaper form than the rows themselves (FSS: a DPF key per row). */
  oneHotRows?: OneHotRows;
  /** Products relu(a) W folded into the relu gate before them (product_folding.ts); null where products keep their round. */
  productFolding?: (settings: FoldingSettings) => ProductFolding | null;
}
