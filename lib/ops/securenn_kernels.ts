// Fused SecureNN kernels (see native/src/kernels/securenn.cc); the protocol lives in lib/protocol/securenn.
import type { RingTensor } from '../tensor/ring_tensor';
import * as K from './kernel_names';
import { runKernel1 } from './run_kernel';

/** One server's blinded, permuted PrivateCompare vector d [n, 64] (Algorithm 3, steps 1-2). */
export function privateCompareShares(xBits: RingTensor, r: RingTensor, beta: RingTensor, s: RingTensor, u: RingTensor, perm: RingTensor, party: 0 | 1): Promise<RingTensor> {
  return runKernel1(K.PrivateCompareShares, [xBits, r, beta, s, u, perm], { party });
}

/** [n, L] -> [n] bits: whether each row contains a zero. */
export function anyZeroLastAxis(a: RingTensor): Promise<RingTensor> {
  return runKernel1(K.AnyZeroLastAxis, [a]);
}
