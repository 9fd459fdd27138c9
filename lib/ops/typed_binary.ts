// A binary elementwise op that requires one dtype for both inputs (bit ops, odd-ring ops).
import type { DType } from '../tensor/dtype';
import type { RingTensor } from '../tensor/ring_tensor';
import { broadcastShapes } from '../tensor/shape';
import type { KernelName } from './kernel_names';
import { runKernel1 } from './run_kernel';
import { requireDType, requireTensor } from './validate';

export async function typedBinary(op: string, kernel: KernelName, dtype: DType, a: RingTensor, b: RingTensor): Promise<RingTensor> {
  requireTensor(op, a, 'first input');
  requireTensor(op, b, 'second input');
  requireDType(op, a, dtype);
  requireDType(op, b, dtype);
  broadcastShapes(op, a.shape, b.shape);
  return runKernel1(kernel, [a, b]);
}
