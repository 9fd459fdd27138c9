// Elementwise arithmetic with NumPy broadcasting. ring64 wraps mod 2^64, z<p> works mod p and
// bit works mod 2 (add = sub = xor, mul = and).
import { RingTensor } from '../tensor/ring_tensor';
import { broadcastShapes } from '../tensor/shape';
import * as K from './kernel_names';
import { runKernel1 } from './run_kernel';
import { requireDType, requireInt, requireSameDType, requireTensor, ringScalar } from './validate';

async function binary(op: string, kernel: K.KernelName, a: RingTensor, b: RingTensor): Promise<RingTensor> {
  requireTensor(op, a, 'first input');
  requireTensor(op, b, 'second input');
  requireSameDType(op, a, b);
  broadcastShapes(op, a.shape, b.shape);
  return runKernel1(kernel, [a, b]);
}

export const add = (a: RingTensor, b: RingTensor) => binary('add', K.Add, a, b);
export const sub = (a: RingTensor, b: RingTensor) => binary('sub', K.Sub, a, b);
export const mul = (a: RingTensor, b: RingTensor) => binary('mul', K.Mul, a, b);

/** Sum of several ring64 tensors of one shape, in one kernel call. */
export async function addN(ts: readonly RingTensor[]): Promise<RingTensor> {
  if (!Array.isArray(ts) || ts.length === 0) throw new RangeError('addN: needs at least one tensor');
  ts.forEach((t, i) => {
    requireTensor('addN', t, `tensor ${i}`);
    requireDType('addN', t, 'ring64');
    if (t.shape.length !== ts[0].shape.length || t.shape.some((d, j) => d !== ts[0].shape[j]))
      throw new RangeError(`addN: shapes [${ts[0].shape}] and [${t.shape}] differ`);
  });
  return runKernel1(K.AddN, ts);
}

export async function neg(a: RingTensor): Promise<RingTensor> {
  requireTensor('neg', a);
  return runKernel1(K.Neg, [a]);
}

async function scalarOp(op: string, kernel: K.KernelName, a: RingTensor, s: bigint | number): Promise<RingTensor> {
  requireTensor(op, a);
  return runKernel1(kernel, [a], { scalar: ringScalar(op, s) });
}

/** a + s for a public scalar s. */
export const addScalar = (a: RingTensor, s: bigint | number) => scalarOp('addScalar', K.AddScalar, a, s);
/** a - s for a public scalar s. */
export const subScalar = (a: RingTensor, s: bigint | number) => scalarOp('subScalar', K.SubScalar, a, s);
/** s - a for a public scalar s. */
export const scalarSub = (s: bigint | number, a: RingTensor) => scalarOp('scalarSub', K.ScalarSub, a, s);
/** a * s: multiplication by a public integer (negative integers wrap mod 2^64, or mod p). */
export const mulScalar = (a: RingTensor, s: bigint | number) => scalarOp('mulScalar', K.MulScalar, a, s);

async function shift(op: string, kernel: K.KernelName, a: RingTensor, bits: number, negate = false): Promise<RingTensor> {
  requireTensor(op, a);
  requireDType(op, a, 'ring64');
  return runKernel1(kernel, [a], { bits: requireInt(op, bits, 'bits', 0, 63), negate: negate || undefined });
}

/** Arithmetic (sign-extending) right shift of the two's-complement value: fixed-point truncation. */
export const shiftRightArithmetic = (a: RingTensor, bits: number) => shift('shiftRightArithmetic', K.ShiftRightArithmetic, a, bits);
/** -((-a) >> bits): the second server's half of SecureML's local truncation, in one pass. */
export const negShiftRightArithmetic = (a: RingTensor, bits: number) => shift('negShiftRightArithmetic', K.ShiftRightArithmetic, a, bits, true);
/** Logical right shift of the unsigned value. */
export const shiftRightLogical = (a: RingTensor, bits: number) => shift('shiftRightLogical', K.ShiftRightLogical, a, bits);
export const shiftLeft = (a: RingTensor, bits: number) => shift('shiftLeft', K.ShiftLeft, a, bits);
