import type { RingTensor } from '../tensor/ring_tensor';
import { reductionAxes } from '../tensor/shape';
import * as K from './kernel_names';
import { runKernel1 } from './run_kernel';
import { requireTensor } from './validate';

/** Sum along axes (default: all) mod 2^64 for ring64, mod p for z<p>, parity for bit. */
export async function reduceSum(a: RingTensor, axes?: number | readonly number[] | null, keepDims = false): Promise<RingTensor> {
  requireTensor('reduceSum', a);
  const norm = reductionAxes('reduceSum', axes, a.shape);
  return runKernel1(K.ReduceSum, [a], { axes: norm, keepDims });
}
