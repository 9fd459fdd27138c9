// Ops that each compute server applies to its own share, with no communication.
import { concat, flatten, gather, pad, reduceSum, reshape, slice, sumPool2d, transpose } from '../../ops';
import type { Padding } from '../../ops/conv';
import type { RingTensor } from '../../tensor/ring_tensor';
import type { OpCtx, Party } from '../party';
import { required, type Share } from './share';

export type LocalFn = (s: RingTensor) => Promise<RingTensor> | RingTensor;

/** Applies a share-wise linear map on server0 and server1. */
export async function local(p: Party, op: OpCtx, x: Share, f: LocalFn): Promise<Share> {
  return p.isCompute ? f(required(op, x)) : null;
}

export const localOps = {
  reshape: (shape: readonly number[]): LocalFn => (s) => reshape(s, shape),
  flatten: (): LocalFn => (s) => flatten(s),
  transpose: (perm?: readonly number[]): LocalFn => (s) => transpose(s, perm),
  slice: (begin: readonly number[], size?: readonly number[]): LocalFn => (s) => slice(s, begin, size),
  pad: (paddings: readonly (readonly [number, number])[]): LocalFn => (s) => pad(s, paddings, 0n),
  reduceSum: (axes?: number | readonly number[], keepDims = false): LocalFn => (s) => reduceSum(s, axes, keepDims),
  gather: (indices: readonly number[], axis: number): LocalFn => (s) => gather(s, indices, axis),
  sumPool2d: (kernelSize: [number, number], strides: [number, number], padding: Padding): LocalFn => (s) => sumPool2d(s, { kernelSize, strides, padding }),
};

/** Concatenation of several shares along an axis. */
export async function concatShares(p: Party, op: OpCtx, xs: Share[], axis: number): Promise<Share> {
  return p.isCompute ? concat(xs.map((x) => required(op, x)), axis) : null;
}
