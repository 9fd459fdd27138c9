import test from 'ava';

import { cpuInfo, getBackend, matmul, type MatMulImpl, RingTensor } from '../lib/ring';
import { matmulImpls } from './helpers/impls';
import { randomU64 } from './helpers/random';
import { matmulRef } from './helpers/reference';
import { take } from './helpers/tensors';

// Every kernel the backend has is checked against BigInt, not just the one 'auto' picks.
const IMPLS: MatMulImpl[] = ['auto', ...matmulImpls()];

// Sizes cover the small-m row path (m <= 4: for each m, column blocks of every width the AVX-512
// row kernel uses, 128 down to 8, and a masked edge), partial micro-tiles in both directions,
// several KC slices (k > 256) and zero-size dimensions.
const SIZES: [number, number, number][] = [
  [1, 1, 1], [1, 784, 13], [1, 7, 255], [1, 3, 128], [2, 5, 127], [2, 2, 64], [3, 5, 7], [3, 4, 199], [4, 9, 33], [4, 3, 57],
  [5, 3, 2], [8, 24, 24], [17, 300, 29], [37, 513, 50], [96, 64, 97],
  // Edge panels 13, 16 and 20 columns wide: the AVX-512 partial tile computes 2, 2 and 3 vectors.
  [9, 40, 13], [12, 30, 40], [10, 20, 20],
  // The AMX kernel's 32 x 32 tiles: whole ones with k one 64-byte step, then edges in both
  // directions over three K slices of 367 (padded to 384), and a k short of one step.
  [64, 64, 64], [70, 1100, 65], [33, 5, 40],
  // Narrow products (n <= 12: the AVX-512 kernel computes C transposed, R strips of 8 rows at a
  // time): widths 1 to 12 across their strip counts (8 down to 1), a last tile with fewer strips
  // and a part-filled strip, k from 1 to past a KC slice (narrow tiles take all of k at once).
  [9, 17, 1], [70, 33, 2], [31, 1, 3], [200, 7, 4], [41, 25, 5], [57, 60, 7], [65, 25, 8], [129, 100, 10],
  [24, 300, 11], [23, 513, 12],
  [0, 4, 5], [3, 0, 5], [3, 4, 0],
];

for (const impl of IMPLS)
  test(`matmul (${impl}) matches BigInt on random values with edges`, async (t) => {
    for (const [m, k, n] of SIZES) {
      const av = [...randomU64(m * k)];
      const bv = [...randomU64(k * n)];
      const a = RingTensor.fromBigInts(av, [m, k]);
      const b = RingTensor.fromBigInts(bv, [k, n]);
      const c = await matmul(a, b, { impl });
      t.deepEqual(c.shape, [m, n]);
      t.deepEqual(take(c), matmulRef(av, bv, m, k, n), `${m}x${k}x${n}`);
      a.dispose();
      b.dispose();
    }
  });

test('matmul of all-ones-bits values wraps exactly (2^64-1 squared sums), with every kernel', async (t) => {
  // Also the IFMA kernel's worst case: every 52-bit limb and 12-bit part at its maximum, and the
  // AMX kernel's (every byte 255: its 32-bit sums at their largest). m = 9 takes the packed path
  // (m = 2, the row kernel), k = 1000 several KC slices, and n = 10 the narrow tiles.
  const max = (1n << 64n) - 1n;
  for (const impl of IMPLS)
    for (const [m, k, n] of [[2, 300, 3], [9, 1000, 17], [40, 1100, 33], [41, 1100, 10]]) {
      const a = RingTensor.fromBigInts(new Array(m * k).fill(max), [m, k]);
      const b = RingTensor.fromBigInts(new Array(k * n).fill(max), [k, n]);
      // (-1) * (-1) summed k times is k mod 2^64.
      t.deepEqual(take(await matmul(a, b, { impl })), new Array(m * n).fill(BigInt(k)), `${impl} ${m}x${k}x${n}`);
      a.dispose();
      b.dispose();
    }
});

test('batched matmul: equal batch dims, and a plain matrix broadcast over a batch', async (t) => {
  const [batch, m, k, n] = [3, 6, 10, 5];
  const av = [...randomU64(batch * m * k)];
  const bv = [...randomU64(batch * k * n)];
  const wv = [...randomU64(k * n)];
  const a = RingTensor.fromBigInts(av, [batch, m, k]);
  const b = RingTensor.fromBigInts(bv, [batch, k, n]);
  const w = RingTensor.fromBigInts(wv, [k, n]);
  const want = (bs: (i: number) => bigint[]) =>
    [...Array(batch).keys()].flatMap((i) => matmulRef(av.slice(i * m * k, (i + 1) * m * k), bs(i), m, k, n));
  const c1 = await matmul(a, b);
  t.deepEqual(c1.shape, [batch, m, n]);
  t.deepEqual(take(c1), want((i) => bv.slice(i * k * n, (i + 1) * k * n)));
  t.deepEqual(take(await matmul(a, w)), want(() => wv));
  for (const x of [a, b, w]) x.dispose();
});

test('matmul shape errors name both shapes', async (t) => {
  const a = RingTensor.fromBigInts(new Array(6).fill(1n), [2, 3]);
  const b = RingTensor.fromBigInts(new Array(20).fill(1n), [4, 5]);
  const v = RingTensor.fromBigInts([1n, 2n, 3n], [3]);
  const x = RingTensor.fromBigInts(new Array(24).fill(1n), [2, 3, 4]);
  const y = RingTensor.fromBigInts(new Array(60).fill(1n), [3, 4, 5]);
  await t.throwsAsync(() => matmul(a, b), { message: 'matmul: [2,3] x [4,5]: inner dimensions 3 and 4 differ' });
  await t.throwsAsync(() => matmul(a, v), { message: 'matmul: [2,3] x [3]: both inputs need rank >= 2' });
  await t.throwsAsync(() => matmul(x, y), { message: 'matmul: [2,3,4] x [3,4,5]: batch dimensions [2] and [3] differ' });
  for (const z of [a, b, v, x, y]) z.dispose();
});

test("'auto' is the micro-kernel measured fastest here, and every kernel this CPU runs was measured", (t) => {
  const info = cpuInfo();
  if (getBackend().name !== 'cpu') return t.pass('the CUDA backend chooses its own kernels');
  // "avx512 41.2, avx2 12.1, generic 3.4 GMAC/s per thread"
  const m = /^(.*) GMAC\/s per thread$/.exec(info.matmulRates ?? '');
  t.truthy(m, `matmulRates: ${info.matmulRates}`);
  const rates = new Map(m![1].split(', ').map((p) => [p.split(' ')[0], Number(p.split(' ')[1])] as const));
  t.deepEqual([...rates.keys()].sort(), [...matmulImpls()].sort());
  for (const r of rates.values()) t.true(r > 0);
  t.is(rates.get(info.matmulKernel), Math.max(...rates.values()));
});
