// What a review of the native layer found, each checked through the public ops or the binding:
// a patch size that overflowed (a heap overflow in im2col), images without channels (a division
// by zero), Externals of one kind taken for another (a crash), a permutation that was not one
// (unwritten bytes of the allocator's sent to server2), a field's negative fill value, and sparse
// index arrays. Every one used to crash the process or give a wrong result; now each is a
// JavaScript error naming the problem, or the right value.
import test from 'ava';

import { cpuModulePath } from '../lib/backend/backends';
import type { NativeBinding } from '../lib/backend/native_binding';
import { conv2d, getBackend, im2col, RingTensor, sumPool2d } from '../lib/ring';

const onCpu = getBackend().name === 'cpu';
// eslint-disable-next-line @typescript-eslint/no-var-requires
const native = (): NativeBinding & Record<string, (...a: unknown[]) => unknown> => require(cpuModulePath());

test('a patch whose size overflows, or an image without channels, is refused before any buffer is sized', async (t) => {
  const x = RingTensor.fromBigInts([1n], [1, 1, 1, 1]);
  // 2049 x 9002803354665472 wraps to 512 in 64 bits; 2^32 x 2^32 to 0.
  await t.throwsAsync(() => im2col(x, { kernelSize: [2049, 9002803354665472], padding: 'SAME' }), { message: /Im2Col: a patch of kernel 2049x9002803354665472 over 1 channels is too large/ });
  await t.throwsAsync(() => im2col(x, { kernelSize: [2 ** 32, 2 ** 32], padding: 'SAME' }), { message: /too large/ });
  const empty = RingTensor.fromBigInts([], [1, 4, 4, 0]);
  await t.throwsAsync(() => im2col(empty, { kernelSize: 2 }), { message: /Im2Col: input \[1,4,4,0\] has no channels/ });
  await t.throwsAsync(() => sumPool2d(empty, { kernelSize: 2 }), { message: /has no channels/ });
  // 'auto' times im2col among its candidates on a later call: every call is refused alike.
  const x0 = RingTensor.fromBigInts([], [1, 2, 2, 0]), f0 = RingTensor.fromBigInts([], [2, 2, 0, 3]);
  for (let i = 0; i < 4; i++) await t.throwsAsync(() => conv2d(x0, f0, { impl: 'auto' }), { message: /Conv2D: input \[1,2,2,0\] has no channels/ });
});

// The CPU module's checks: on a CUDA backend these tests are skipped, saying so.
const cpuTest = onCpu ? test : test.skip;

cpuTest("an External of another kind is refused where a tensor handle or a lane's context goes", (t) => {
  const n = native();
  const ctx = n.laneOpenBegin(new Uint8Array(16), 0, new Uint8Array(0));
  const h = (n.fromBytes as (b: BigUint64Array, s: number[], d: string) => object)(new BigUint64Array([1n, 2n]), [2], 'ring64');
  t.throws(() => (n.runSync as (k: string, i: unknown[], a: object) => unknown)('Neg', [ctx], {}), { message: /Neg: input 0 is not a tensor handle/ });
  t.throws(() => n.laneOpenUpdate(h as never, new Uint8Array(64), new Uint8Array(64)), { message: /expected \(context, src/ });
  t.throws(() => n.laneOpenEnd(h as never, new Uint8Array(16)), { message: /expected \(context, tag/ });
  t.throws(() => (n.release as (x: unknown) => void)(ctx), { message: /expected \(handle\): a tensor handle/ });
  t.throws(() => (n.release as (x: unknown) => void)({}), { message: /a tensor handle/ });
});

cpuTest('PrivateCompareShares refuses a perm with a repeated position; Pad fills a field with a negative value as its residue', async (t) => {
  const n = native();
  const run = n.runSync as (k: string, i: unknown[], a: object) => { handle: object; shape: number[] }[];
  const from = n.fromBytes as (b: ArrayBufferView, s: number[], d: string) => object;
  const x = from(new Uint8Array(64), [1, 64], 'z67');
  const r = from(new BigUint64Array([5n]), [1], 'ring64');
  const beta = from(new Uint8Array([0]), [1], 'bit');
  const s = from(new Uint8Array(64).fill(1), [1, 64], 'z67');
  const perm = (p: number[]) => from(new BigUint64Array(p.map(BigInt)), [1, 64], 'ring64');
  t.throws(() => run('PrivateCompareShares', [x, r, beta, s, s, perm(new Array<number>(64).fill(0))], { party: 0 }), { message: /perm is not a permutation of 64 positions/ });
  t.notThrows(() => run('PrivateCompareShares', [x, r, beta, s, s, perm(Array.from({ length: 64 }, (_, i) => 63 - i))], { party: 0 }));
  const z = from(new Uint8Array([1]), [1], 'z67');
  const [padded] = run('Pad', [z], { paddings: [1, 0], value: -1n });
  t.deepEqual([...new Uint8Array((n.toBytes as (h: object) => ArrayBuffer)(padded.handle))], [66, 1]);
});

test('index arrays with holes are refused in JavaScript, before the native side sizes anything by their length', async (t) => {
  const { gather, transpose } = await import('../lib/ring');
  const a = RingTensor.fromBigInts([1n, 2n, 3n], [3]);
  await t.throwsAsync(async () => gather(a, new Array(1e9) as number[]), { message: /gather: indices must be an array of integers, got an array of 1000000000 \(element 0 is missing\)/ });
  await t.throwsAsync(async () => transpose(a, new Array(1) as number[]), { message: /transpose: perm must be an array of integers/ });
});

cpuTest('PrgPermutation refuses a shape without a last axis (it read past an empty shape and crashed the process)', (t) => {
  const run = native().runSync as (k: string, i: unknown[], a: object) => unknown;
  const attrs = (shape: number[]) => ({ seed: new Uint8Array(16), shape, offset: 0, nonce: 0n });
  t.throws(() => run('PrgPermutation', [], attrs([])), { message: /PrgPermutation: the last dimension must be in \[1, 256\], got shape \[\]/ });
  t.throws(() => run('PrgPermutation', [], attrs([4, 0])), { message: /the last dimension must be in \[1, 256\]/ });
  t.notThrows(() => run('PrgPermutation', [], attrs([2, 8])));
});
