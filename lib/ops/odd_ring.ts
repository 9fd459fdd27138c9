// Arithmetic in Z_(2^64 - 1) on ring64 tensors (SecureNN's share conversion). 2^64 - 1 reads as 0.
import type { RingTensor } from '../tensor/ring_tensor';
import { broadcastShapes } from '../tensor/shape';
import * as K from './kernel_names';
import { runKernel1 } from './run_kernel';
import { requireDType, requireTensor } from './validate';

async function binary(op: string, kernel: K.KernelName, a: RingTensor, b: RingTensor): Promise<RingTensor> {
  requireTensor(op, a, 'first input');
  requireTensor(op, b, 'second input');
  requireDType(op, a, 'ring64');
  requireDType(op, b, 'ring64');
  broadcastShapes(op, a.shape, b.shape);
  return runKernel1(kernel, [a, b]);
}

/** a + b mod 2^64 - 1. */
export const oddAdd = (a: RingTensor, b: RingTensor) => binary('oddAdd', K.OddRingAdd, a, b);
/** a - b mod 2^64 - 1. */
export const oddSub = (a: RingTensor, b: RingTensor) => binary('oddSub', K.OddRingSub, a, b);
