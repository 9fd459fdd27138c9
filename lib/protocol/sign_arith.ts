// Arithmetic shared by the gates that read a sign from the carry of a masked opening: FSS's gates
// (fss/drelu.ts, fss/compact_gate.ts) and SecureNN's one-compare DReLU
// (securenn/drelu_one_compare.ts), each of which turns a bit t into the factor 1 - 2t.
import { addScalar, mulScalar } from '../ops';
import type { RingTensor } from '../tensor/ring_tensor';

/** 1 - 2t, elementwise. */
export async function oneMinusTwice(t: RingTensor): Promise<RingTensor> {
  const d = await mulScalar(t, -2n);
  try {
    return await addScalar(d, 1n);
  } finally {
    d.dispose();
  }
}
