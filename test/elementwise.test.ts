import test from 'ava';

import { add, addScalar, type DType, mul, mulScalar, neg, RingTensor, scalarSub, shiftLeft, shiftRightArithmetic, shiftRightLogical, sub, subScalar } from '../lib/ring';
import { randomSmall, randomU64, sizeOf } from './helpers/random';
import { broadcastMap } from './helpers/reference';
import { make, modOf, randomValues, take } from './helpers/tensors';

const DTYPES: DType[] = ['ring64', 'z67', 'z251', 'bit'];
const SHAPE_PAIRS: [number[], number[]][] = [
  [[37], [37]],
  [[5, 7], [5, 7]],
  [[4, 3, 9], [9]],
  [[4, 3, 9], [3, 1]],
  [[6, 1], [1, 5]],
  [[2, 1, 4], [3, 1]],
  [[], [3, 2]],
  [[1], [1]],
  [[0, 3], [3]],
  [[2, 0], [1, 0]],
  [[3000, 17], [17]],
];

const OPS = [
  { name: 'add', fn: add, ref: (x: bigint, y: bigint) => x + y },
  { name: 'sub', fn: sub, ref: (x: bigint, y: bigint) => x - y },
  { name: 'mul', fn: mul, ref: (x: bigint, y: bigint) => x * y },
];

const norm = (v: bigint, m: bigint) => ((v % m) + m) % m;

for (const dtype of DTYPES)
  for (const op of OPS)
    test(`${op.name} ${dtype}: random values, edges and broadcasting match BigInt`, async (t) => {
      const m = modOf(dtype);
      for (const [as, bs] of SHAPE_PAIRS) {
        const av = randomValues(sizeOf(as), dtype, randomU64, randomSmall);
        const bv = randomValues(sizeOf(bs), dtype, randomU64, randomSmall);
        const a = make(av, as, dtype);
        const b = make(bv, bs, dtype);
        const out = await op.fn(a, b);
        const want = broadcastMap(av, as, bv, bs, (x, y) => norm(op.ref(x, y), m));
        t.deepEqual(out.shape, want.shape, `${as} ${bs}`);
        t.is(out.dtype, dtype);
        t.deepEqual(take(out), want.data, `${op.name} ${JSON.stringify(as)} ${JSON.stringify(bs)}`);
        a.dispose();
        b.dispose();
      }
    });

for (const dtype of DTYPES)
  test(`neg and scalar ops ${dtype} match BigInt`, async (t) => {
    const m = modOf(dtype);
    const shape = [13, 7];
    const av = randomValues(sizeOf(shape), dtype, randomU64, randomSmall);
    const a = make(av, shape, dtype);
    t.deepEqual(take(await neg(a)), av.map((x) => norm(-x, m)));
    // Scalars include the ring's edge values and negative integers (which wrap).
    for (const s of [0n, 1n, 2n, -1n, 12345n, 1n << 63n, (1n << 64n) - 1n, -7]) {
      const sv = BigInt(s);
      const sm = dtype === 'ring64' ? BigInt.asUintN(64, sv) : norm(BigInt.asIntN(64, sv), m);
      t.deepEqual(take(await addScalar(a, s)), av.map((x) => norm(x + sm, m)), `addScalar ${s}`);
      t.deepEqual(take(await subScalar(a, s)), av.map((x) => norm(x - sm, m)), `subScalar ${s}`);
      t.deepEqual(take(await scalarSub(s, a)), av.map((x) => norm(sm - x, m)), `scalarSub ${s}`);
      t.deepEqual(take(await mulScalar(a, s)), av.map((x) => norm(x * sm, m)), `mulScalar ${s}`);
    }
    a.dispose();
  });

test('shifts match BigInt on random and edge values', async (t) => {
  const av = [...randomU64(500)];
  const a = RingTensor.fromBigInts(av, [500]);
  for (const k of [0, 1, 7, 16, 32, 63]) {
    t.deepEqual(take(await shiftRightLogical(a, k)), av.map((x) => x >> BigInt(k)), `shr ${k}`);
    t.deepEqual(take(await shiftRightArithmetic(a, k)), av.map((x) => BigInt.asUintN(64, BigInt.asIntN(64, x) >> BigInt(k))), `sar ${k}`);
    t.deepEqual(take(await shiftLeft(a, k)), av.map((x) => BigInt.asUintN(64, x << BigInt(k))), `shl ${k}`);
  }
  a.dispose();
});

test('elementwise errors name the shapes, dtypes and bad arguments', async (t) => {
  const a = RingTensor.fromBigInts([1n, 2n, 3n], [3]);
  const b = RingTensor.fromBigInts([1n, 2n, 3n, 4n], [2, 2]);
  const bits = RingTensor.fromUint8Array(new Uint8Array([1, 0, 1]), [3], 'bit');
  await t.throwsAsync(() => add(a, b), { message: 'add: shapes [3] and [2,2] cannot be broadcast (dimension 1: 3 vs 2)' });
  await t.throwsAsync(() => mul(a, bits), { message: 'mul: dtypes ring64 and bit differ' });
  await t.throwsAsync(() => shiftRightArithmetic(a, 64), { message: /bits must be an integer in \[0, 63\], got 64/ });
  await t.throwsAsync(() => shiftRightArithmetic(bits, 1), { message: /dtype bit is not supported/ });
  await t.throwsAsync(() => mulScalar(a, 1.5), { message: /scalar must be a bigint or a safe integer/ });
  await t.throwsAsync(() => addScalar(a, 1n << 64n), { message: /outside \[-2\^63, 2\^64\)/ });
  for (const x of [a, b, bits]) x.dispose();
});
