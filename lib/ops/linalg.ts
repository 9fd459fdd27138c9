import type { RingTensor } from '../tensor/ring_tensor';
import { shapeString } from '../tensor/shape';
import * as K from './kernel_names';
import { runKernel1 } from './run_kernel';
import { requireDType, requireTensor } from './validate';

/**
 * Which ring-matmul kernel: 'auto' (the backend picks the fastest it measured), the CPU
 * micro-kernels 'generic', 'avx2', 'avx512' (vpmullq), 'ifma' (AVX-512 IFMA: three 52-bit
 * multiply-adds per product), 'amx' (AMX-INT8 tiles over 8-bit limbs), or the CUDA candidates 'uint64', 'fp64', 'int8'. A backend refuses
 * names it lacks. For tests and benchmarks.
 */
export type MatMulImpl = 'auto' | 'generic' | 'avx2' | 'avx512' | 'ifma' | 'amx' | 'uint64' | 'fp64' | 'int8';

/**
 * Ring matrix product: [..., m, k] x [..., k, n] -> [..., m, n] mod 2^64. Batch dims must be equal,
 * or one operand is a plain matrix that is applied to every batch entry of the other.
 */
export async function matmul(a: RingTensor, b: RingTensor, opts: { impl?: MatMulImpl } = {}): Promise<RingTensor> {
  requireTensor('matmul', a, 'first input');
  requireTensor('matmul', b, 'second input');
  requireDType('matmul', a, 'ring64');
  requireDType('matmul', b, 'ring64');
  const pair = `${shapeString(a.shape)} x ${shapeString(b.shape)}`;
  if (a.rank < 2 || b.rank < 2) throw new RangeError(`matmul: ${pair}: both inputs need rank >= 2`);
  const k = a.shape[a.rank - 1];
  const k2 = b.shape[b.rank - 2];
  if (k !== k2) throw new RangeError(`matmul: ${pair}: inner dimensions ${k} and ${k2} differ`);
  const ba = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  if (ba.length && bb.length && shapeString(ba) !== shapeString(bb))
    throw new RangeError(`matmul: ${pair}: batch dimensions ${shapeString(ba)} and ${shapeString(bb)} differ`);
  return runKernel1(K.MatMul, [a, b], { impl: opts.impl });
}
