// FSS's ProductFolding (lib/protocol/product_folding.ts) under the 'folded' and 'compact-folded'
// gate forms: the relu keeps its gate's openings ([x^] after a one-round gate, [x^, e] after a
// compact one) and a product right after, within FSS_STEPS.foldMaxCells, folds into the gate
// (folded_product.ts).
import type { PartyName } from '../../net/transport';
import type { RingTensor } from '../../tensor/ring_tensor';
import type { OpCtx } from '../party';
import type { FoldableGate, FoldCounts, ProductFolding } from '../product_folding';
import type { FssGate } from '../protocols';
import { fssReluKeepingOpened } from './drelu';
import { gateBits } from './gate_common';
import { foldedKeyWords, fssFoldedProduct } from './folded_product';
import { foldsGates, foldsProduct, takesCompactForm } from './steps';

/**
 * An FSS relu gate a product may fold into: whether it took the compact form, and the bits its DCF
 * compares (from its op's bound, gateBits), which the keys folded into it compare too.
 */
interface FssFoldableGate extends FoldableGate {
  readonly compact: boolean;
  readonly low: number;
}

const foldings = new Map<string, ProductFolding>();

/**
 * The folding under gate form `form`, width `fssBits` and compact threshold `compactFrom` (the
 * cluster's, as its gates take it: drelu.ts), or null where it does not fold ('auto', 'one-round',
 * 'compact').
 */
export function fssProductFolding(form: FssGate, fssBits: number, compactFrom?: number): ProductFolding | null {
  if (!foldsGates(form)) return null;
  const key = `${form}/${fssBits}/${compactFrom ?? ''}`;
  let f = foldings.get(key);
  if (!f) foldings.set(key, (f = makeFolding(form, fssBits, compactFrom)));
  return f;
}

function makeFolding(form: FssGate, fssBits: number, compactFrom: number | undefined): ProductFolding {
  const folding: ProductFolding = {
    relu: fssReluKeepingOpened,
    gate: (op: OpCtx, elements: number, kept: Map<PartyName, RingTensor[]>): FssFoldableGate => ({
      folding,
      opId: op.id,
      low: gateBits(fssBits, op) - 1,
      kept,
      holders: 0,
      compact: takesCompactForm(form, elements, compactFrom),
    }),
    folds: (_gate, cells) => foldsProduct(form, cells),
    count: (counts: FoldCounts, gate, m, n, k) => {
      counts.products++;
      counts.cells += m * n * k;
      const g = gate as FssFoldableGate;
      if (!g.compact) counts.keyBytes += 8 * foldedKeyWords(m * n, k, g.low);
    },
    product: (p, op, gate, x, w, m, n, k) =>
      fssFoldedProduct(p, op, { opId: gate.opId, low: (gate as FssFoldableGate).low, compact: (gate as FssFoldableGate).compact, opened: gate.kept.get(p.name) ?? null }, x, w, m, n, k),
  };
  return folding;
}
