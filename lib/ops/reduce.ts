import type { RingTensor } from '../tensor/ring_tensor';
import { normalizeAxis } from '../tensor/shape';
import * as K from './kernel_names';
import { runKernel1 } from './run_kernel';
import { requireTensor } from './validate';

/** Sum along axes (default: all) mod 2^64 for ring64, mod p for z<p>, parity for bit. */
export async function reduceSum(a: RingTensor, axes?: number | readonly number[], keepDims = false): Promise<RingTensor> {
  requireTensor('reduceSum', a);
  const list = axes === undefined ? [...a.shape.keys()] : typeof axes === 'number' ? [axes] : [...axes];
  const norm = list.map((ax) => normalizeAxis('reduceSum', ax, a.shape));
  if (new Set(norm).size !== norm.length) throw new RangeError(`reduceSum: axes ${JSON.stringify(list)} repeat an axis`);
  return runKernel1(K.ReduceSum, [a], { axes: norm, keepDims });
}
