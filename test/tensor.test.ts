import test from 'ava';

import { add, getBackend, matmul, RingTensor } from '../lib/ring';
import { randomU64 } from './helpers/random';

test('BigUint64Array and BigInt64Array round-trip, including edge values', (t) => {
  const u = randomU64(100);
  const a = RingTensor.fromBigUint64Array(u, [4, 25]);
  t.deepEqual(a.shape, [4, 25]);
  t.is(a.dtype, 'ring64');
  t.deepEqual(a.toBigUint64Array(), u);
  t.deepEqual(a.toBigInt64Array(), new BigInt64Array(u.buffer));
  const s = BigInt64Array.from([-1n, -(1n << 63n), (1n << 63n) - 1n, 0n]);
  const b = RingTensor.fromBigInt64Array(s);
  t.deepEqual(b.toBigUint64Array(), BigUint64Array.from([(1n << 64n) - 1n, 1n << 63n, (1n << 63n) - 1n, 0n]));
  a.dispose();
  b.dispose();
});

test('toString is readable and elides long axes', (t) => {
  const a = RingTensor.fromBigInts([1n, 2n, 3n, 4n, 5n, -6n], [2, 3]);
  t.is(a.toString(), 'RingTensor<ring64>[2,3] [[1, 2, 3], [4, 5, 18446744073709551610]]');
  t.is(a.toString({ signed: true }), 'RingTensor<ring64>[2,3] [[1, 2, 3], [4, 5, -6]]');
  const long = RingTensor.fromBigInts([...Array(10).keys()].map(BigInt));
  t.is(long.toString(), 'RingTensor<ring64>[10] [0, 1, 2, ..., 7, 8, 9]');
  const bits = RingTensor.fromUint8Array(new Uint8Array([1, 0]), [2], 'bit');
  t.is(bits.toString(), 'RingTensor<bit>[2] [1, 0]');
  a.dispose();
  t.is(a.toString(), 'RingTensor<ring64>[2,3] (disposed)');
  long.dispose();
  bits.dispose();
});

test('use after dispose is a clear error; dispose twice is harmless', async (t) => {
  const a = RingTensor.fromBigInts([1n, 2n]);
  a.dispose();
  a.dispose();
  t.true(a.isDisposed);
  t.throws(() => a.toBigUint64Array(), { message: 'RingTensor ring64 [2] was used after dispose()' });
  await t.throwsAsync(() => add(a, a), { message: 'RingTensor ring64 [2] was used after dispose()' });
});

test('construction errors name the problem', (t) => {
  t.throws(() => RingTensor.fromBigUint64Array(new BigUint64Array(5), [2, 3]), { message: 'data has 5 elements but shape [2,3] needs 6' });
  t.throws(() => RingTensor.fromBigUint64Array(new BigUint64Array(2), [2, -1]), { message: /must hold non-negative integers/ });
  t.throws(() => RingTensor.fromUint8Array(new Uint8Array(2), [2], 'ring64'), { message: /needs a BigUint64Array/ });
  t.throws(() => RingTensor.fromUint8Array(new Uint8Array(2), [2], 'z4' as 'z5'), { message: /prime in \(2, 256\), got 4/ });
});

test('native failures become JS exceptions naming the kernel, and never crash the process', async (t) => {
  const native = getBackend().native;
  const a = RingTensor.fromBigInts([1n, 2n, 3n, 4n, 5n, 6n], [2, 3]);
  // Bypass TypeScript validation: the native layer must refuse on its own.
  t.throws(() => native.runSync('MatMul', [a.handle, a.handle]), { message: 'MatMul: [2,3] x [2,3]: inner dimensions 3 and 2 differ' });
  await t.throwsAsync(() => native.run('MatMul', [a.handle, a.handle]), { message: 'MatMul: [2,3] x [2,3]: inner dimensions 3 and 2 differ' });
  t.throws(() => native.runSync('NoSuchKernel', []), { message: /unknown kernel 'NoSuchKernel' \[.*convert\.h|addon\.cc:\d+\]/ });
  t.throws(() => native.runSync('Add', [a.handle]), { message: /Add: expected 2 inputs, got 1 \[.*addon\.cc:\d+\]/ });
  t.throws(() => native.runSync('Transpose', [a.handle], { perm: [0, 0] }), { message: 'Transpose: [0,0] is not a permutation of rank 2' });
  t.throws(() => native.runSync('Slice', [a.handle], {}), { message: "Slice: missing attribute 'begin'" });
  t.throws(() => native.runSync('Add', [{} as never, a.handle]), { message: /Add: input 0 is not a tensor handle/ });
  t.throws(() => native.fromBytes(new Uint8Array(3), [2], 'ring64'), { message: /data holds 3 bytes but shape \[2\] of ring64 needs 16/ });
  t.throws(() => native.fromBytes(new Uint8Array(2), [2], 'z9'), { message: /unknown dtype 'z9'/ });
  // The process is still healthy.
  const b = await matmul(a, RingTensor.fromBigInts([1n, 0n, 0n, 1n, 0n, 0n], [3, 2]));
  t.deepEqual(b.toBigInts(), [1n, 2n, 4n, 5n]);
  a.dispose();
  b.dispose();
});

test('toBytesAsync (the send path on a device) returns the same bytes as toBytes', async (t) => {
  const native = getBackend().native;
  const ring = RingTensor.fromBigUint64Array(randomU64(1000), [10, 100]);
  const bits = RingTensor.fromUint8Array(Uint8Array.from({ length: 77 }, () => (Math.random() < 0.5 ? 1 : 0)), [77], 'bit');
  for (const x of [ring, bits]) {
    t.deepEqual(new Uint8Array(await native.toBytesAsync(x.handle)), x.toBytes());
    t.deepEqual(await x.toBytesAsync(), x.toBytes());
  }
  const empty = RingTensor.fromBigInts([], [0, 3]);
  t.is((await native.toBytesAsync(empty.handle)).byteLength, 0);
  ring.dispose();
  t.throws(() => ring.handle, { message: /used after dispose/ });
});
