// FSS as an exact protocol (exact_protocol.ts): server2 deals DCF keys offline and receives
// nothing online; relu is one gate, and under the folded gate forms the product after it folds
// into the gate's keys; an equality test is one DPF key, and a one-hot row dealt as one (docs/fss.md).
import type { ExactProtocol } from '../exact_protocol';
import { fssDrelu, fssRelu, fssReluBit } from './drelu';
import { fssIsZero } from './equality';
import { fssProductFolding } from './fold';
import { DPF_ROWS } from '../one_hot_rows';

export const fss: ExactProtocol = {
  drelu: fssDrelu,
  fusedRelu: () => fssRelu,
  fusedReluBit: () => fssReluBit,
  isZero: fssIsZero,
  oneHotRows: DPF_ROWS,
  productFolding: (s) => fssProductFolding(s.fssGate, s.fssBits, s.fssCompactFrom),
};
