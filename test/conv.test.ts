import test from 'ava';

import { col2im, conv2d, type ConvImpl, cpuInfo, depthwiseConv2d, getBackend, im2col, type MatMulImpl, type Padding, RingTensor, sumPool2d } from '../lib/ring';
import { matmulImpls } from './helpers/impls';
import { randomU64, sizeOf } from './helpers/random';
import { conv2dRef, geometry, wrap } from './helpers/reference';
import { take } from './helpers/tensors';

interface Case { x: number[]; k: [number, number]; o: number; s: [number, number]; p: Padding }
const CASES: Case[] = [
  { x: [2, 7, 6, 3], k: [3, 3], o: 4, s: [1, 1], p: 'VALID' },
  { x: [2, 7, 6, 3], k: [3, 3], o: 4, s: [1, 1], p: 'SAME' },
  { x: [1, 9, 9, 2], k: [5, 5], o: 3, s: [2, 2], p: 'SAME' },
  { x: [1, 8, 10, 1], k: [2, 3], o: 5, s: [2, 3], p: 'VALID' },
  { x: [3, 5, 5, 4], k: [1, 1], o: 6, s: [1, 1], p: 'VALID' },
  { x: [1, 6, 6, 2], k: [4, 4], o: 2, s: [3, 1], p: 'SAME' },
  { x: [1, 1, 1, 1], k: [1, 1], o: 1, s: [1, 1], p: 'SAME' },
  // The image packer's paths (conv.cc): one channel, stride 1, with strips of 8 output pixels on
  // one output row (copied) and across rows (gathered), a last short strip, and SAME borders
  // read as zero; three channels along one row (strided).
  { x: [2, 9, 11, 1], k: [3, 3], o: 5, s: [1, 1], p: 'VALID' },
  { x: [2, 10, 8, 1], k: [3, 3], o: 4, s: [1, 1], p: 'SAME' },
  { x: [1, 6, 12, 3], k: [2, 2], o: 3, s: [1, 1], p: 'VALID' },
  { x: [0, 5, 5, 2], k: [3, 3], o: 2, s: [1, 1], p: 'VALID' },
];

/** Patches in (kh, kw, c) order, zeros for padding. */
function im2colRef(x: bigint[], xs: number[], kh: number, kw: number, s: [number, number], p: Padding): bigint[] {
  const [n, h, w, c] = xs;
  const g = geometry(h, w, kh, kw, s[0], s[1], p);
  const out: bigint[] = [];
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < g.oh; oy++)
      for (let ox = 0; ox < g.ow; ox++)
        for (let ky = 0; ky < kh; ky++)
          for (let kx = 0; kx < kw; kx++)
            for (let ch = 0; ch < c; ch++) {
              const y = oy * s[0] + ky - g.padTop;
              const xx = ox * s[1] + kx - g.padLeft;
              out.push(y < 0 || y >= h || xx < 0 || xx >= w ? 0n : x[((b * h + y) * w + xx) * c + ch]);
            }
  return out;
}

for (const c of CASES)
  test(`conv2d ${JSON.stringify(c)} matches a direct BigInt convolution`, async (t) => {
    const xs = c.x;
    const fs = [c.k[0], c.k[1], xs[3], c.o];
    const xv = [...randomU64(sizeOf(xs))];
    const fv = [...randomU64(sizeOf(fs))];
    const x = RingTensor.fromBigInts(xv, xs);
    const f = RingTensor.fromBigInts(fv, fs);
    const want = conv2dRef(xv, xs, fv, fs, c.s[0], c.s[1], c.p);
    const y = await conv2d(x, f, { strides: c.s, padding: c.p });
    t.deepEqual(y.shape, want.shape);
    t.deepEqual(take(y), want.data);
    const cols = await im2col(x, { kernelSize: c.k, strides: c.s, padding: c.p });
    t.deepEqual(take(cols), im2colRef(xv, xs, c.k[0], c.k[1], c.s, c.p));
    x.dispose();
    f.dispose();
  });

/** A depthwise filter [kh, kw, c, m] as a full one [kh, kw, c, c m]: output channel ci m + j reads input ci only. */
function expandedDepthwise(f: bigint[], [kh, kw, c, m]: number[]): bigint[] {
  const out = new Array<bigint>(kh * kw * c * c * m).fill(0n);
  for (let tap = 0; tap < kh * kw; tap++) for (let ci = 0; ci < c; ci++) for (let j = 0; j < m; j++) out[(tap * c + ci) * c * m + ci * m + j] = f[(tap * c + ci) * m + j];
  return out;
}

for (const [c, m] of CASES.map((c, i) => [c, 1 + (i % 3)] as const))
  test(`depthwiseConv2d ${JSON.stringify(c)} with multiplier ${m} matches a BigInt convolution with the filter expanded over every channel`, async (t) => {
    const xs = c.x, fs = [c.k[0], c.k[1], xs[3], m];
    const xv = [...randomU64(sizeOf(xs))], fv = [...randomU64(sizeOf(fs))];
    const x = RingTensor.fromBigInts(xv, xs), f = RingTensor.fromBigInts(fv, fs);
    const want = conv2dRef(xv, xs, expandedDepthwise(fv, fs), [c.k[0], c.k[1], xs[3], xs[3] * m], c.s[0], c.s[1], c.p);
    const y = await depthwiseConv2d(x, f, { strides: c.s, padding: c.p });
    t.deepEqual(y.shape, want.shape);
    t.deepEqual(take(y), want.data);
    for (const v of [x, f, y]) v.dispose();
  });

test('depthwiseConv2d refuses a filter of another rank or channel count, naming both shapes', async (t) => {
  const x = RingTensor.fromBigInts([...randomU64(2 * 5 * 5 * 3)], [2, 5, 5, 3]);
  await t.throwsAsync(() => depthwiseConv2d(x, RingTensor.fromBigInts([...randomU64(9 * 4)], [3, 3, 4, 1])), { message: 'depthwiseConv2d: input [2,5,5,3] has 3 channels but filter [3,3,4,1] expects 4' });
  await t.throwsAsync(() => depthwiseConv2d(x, RingTensor.fromBigInts([...randomU64(9 * 3)], [3, 3, 3])), { message: /filter must be \[kh, kw, channels, multiplier\], got shape \[3,3,3\]/ });
});

const IMPLS: MatMulImpl[] = matmulImpls();

for (const impl of IMPLS)
  test(`conv2d with the ${impl} matmul kernel, SAME padding and strides, matches BigInt`, async (t) => {
    const xs = [3, 11, 9, 2];
    const fs = [3, 4, 2, 27]; // 27 output channels: a full and a partial 24-wide panel
    const xv = [...randomU64(sizeOf(xs))];
    const fv = [...randomU64(sizeOf(fs))];
    const x = RingTensor.fromBigInts(xv, xs);
    const f = RingTensor.fromBigInts(fv, fs);
    for (const s of [[1, 1], [2, 3]] as [number, number][]) {
      const want = conv2dRef(xv, xs, fv, fs, s[0], s[1], 'SAME');
      t.deepEqual(take(await conv2d(x, f, { strides: s, padding: 'SAME', impl })), want.data, `strides ${s}`);
    }
    x.dispose();
    f.dispose();
  });

// The direct kernel (conv_direct_avx512.cc) on the paths it has: one channel read in place
// (VALID) or copied into padded planes (SAME), several channels, output rows whose last vector is
// part-filled (ow 5, 13) or exactly full (24), vectors grouped across rows and images, filter
// blocks of 1 to 8 and balanced blocks above 8 (9, 20, 27), a 1x1 kernel, an empty batch, and a
// wide many-channel image whose segments are one output row each.
const DIRECT_CASES: Case[] = [
  { x: [2, 28, 28, 1], k: [5, 5], o: 20, s: [1, 1], p: 'VALID' },
  { x: [3, 9, 9, 1], k: [5, 5], o: 1, s: [1, 1], p: 'VALID' },
  { x: [2, 7, 13, 1], k: [3, 3], o: 8, s: [1, 1], p: 'SAME' },
  { x: [2, 6, 6, 3], k: [3, 3], o: 9, s: [1, 1], p: 'SAME' },
  { x: [1, 5, 17, 2], k: [2, 4], o: 27, s: [1, 1], p: 'VALID' },
  { x: [2, 4, 4, 5], k: [1, 1], o: 7, s: [1, 1], p: 'VALID' },
  { x: [1, 3, 10, 4], k: [3, 3], o: 3, s: [1, 1], p: 'SAME' },
  { x: [0, 5, 5, 1], k: [3, 3], o: 2, s: [1, 1], p: 'VALID' },
  // SAME with no padding at the top or left but a row at the bottom (kh 2, kw 1): read in place,
  // the last output row took the next image's first row (or memory past the last image).
  { x: [3, 4, 4, 1], k: [2, 1], o: 1, s: [1, 1], p: 'SAME' },
  { x: [2, 6, 9, 1], k: [2, 1], o: 5, s: [1, 1], p: 'SAME' },
  { x: [1, 4, 300, 40], k: [3, 3], o: 2, s: [1, 1], p: 'VALID' },
];

const onCpu = getBackend().name === 'cpu';
const DIRECT_FORMS: ConvImpl[] = [
  ...(onCpu && cpuInfo().cpuFeatures.includes('avx512f') ? ['direct-avx512' as const] : []),
  ...(onCpu && cpuInfo().cpuFeatures.includes('avx512ifma') ? ['direct-ifma' as const] : []),
];
const hasDirect = DIRECT_FORMS.length > 0;
for (const impl of DIRECT_FORMS)
  test(`conv2d with ${impl} matches BigInt over the direct kernel's paths`, async (t) => {
    for (const c of DIRECT_CASES) {
      const fs = [c.k[0], c.k[1], c.x[3], c.o];
      const xv = [...randomU64(sizeOf(c.x))];
      // All-ones words too: the IFMA form's 52-bit halves and cross sums at their largest.
      const fv = [...randomU64(sizeOf(fs))].map((v, i) => (i % 7 === 0 ? (1n << 64n) - 1n : v));
      const x = RingTensor.fromBigInts(xv.map((v, i) => (i % 5 === 0 ? (1n << 64n) - 1n : v)), c.x);
      const f = RingTensor.fromBigInts(fv, fs);
      const want = conv2dRef(x.toBigInts(), c.x, fv, fs, 1, 1, c.p);
      const y = await conv2d(x, f, { padding: c.p, impl });
      t.deepEqual(y.shape, want.shape, JSON.stringify(c));
      t.deepEqual(take(y), want.data, JSON.stringify(c));
      x.dispose();
      f.dispose();
    }
  });

test("conv2d 'auto' matches BigInt on every call: while it times the direct kernel's forms and im2col + matmul on a shape, and after", async (t) => {
  // A shape of its own (the plan is per shape), stride 1 and SAME; ten calls with fresh inputs:
  // up to three candidates three times each, then the fastest.
  const xs = [2, 9, 10, 3];
  const fs = [3, 3, 3, 11];
  for (let call = 0; call < 10; call++) {
    const xv = [...randomU64(sizeOf(xs))];
    const fv = [...randomU64(sizeOf(fs))];
    const x = RingTensor.fromBigInts(xv, xs);
    const f = RingTensor.fromBigInts(fv, fs);
    t.deepEqual(take(await conv2d(x, f, { padding: 'SAME' })), conv2dRef(xv, xs, fv, fs, 1, 1, 'SAME').data, `call ${call}`);
    x.dispose();
    f.dispose();
  }
});

(DIRECT_FORMS.includes('direct-ifma') ? test : test.skip)('direct-ifma sums up to 4095 taps exactly, and refuses more', async (t) => {
  // 4095 taps of all-ones words: every cross-form sum at its largest (a0' b0' = (2^12 - 1)^2 per tap).
  const ones = (n: number) => new Array<bigint>(n).fill((1n << 64n) - 1n);
  const xs = [1, 1, 8, 4095];
  const fs = [1, 1, 4095, 2];
  const x = RingTensor.fromBigInts(ones(8 * 4095), xs);
  const f = RingTensor.fromBigInts(ones(4095 * 2), fs);
  const want = conv2dRef(x.toBigInts(), xs, f.toBigInts(), fs, 1, 1, 'VALID');
  t.deepEqual(take(await conv2d(x, f, { impl: 'direct-ifma' })), want.data);
  const x2 = RingTensor.fromBigInts(ones(8 * 4096), [1, 1, 8, 4096]);
  const f2 = RingTensor.fromBigInts(ones(4096), [1, 1, 4096, 1]);
  await t.throwsAsync(() => conv2d(x2, f2, { impl: 'direct-ifma' }), { message: "Conv2D: impl 'direct-ifma' takes at most 4095 taps (kh*kw*c), got 4096" });
  // 'direct' takes the vpmullq form there instead.
  t.deepEqual(take(await conv2d(x2, f2, { impl: 'direct' })), conv2dRef(x2.toBigInts(), [1, 1, 8, 4096], f2.toBigInts(), [1, 1, 4096, 1], 1, 1, 'VALID').data);
  for (const z of [x, f, x2, f2]) z.dispose();
});

(hasDirect ? test : test.skip)('conv2d refuses the direct kernel for strides other than 1, and unknown kernels', async (t) => {
  const x = RingTensor.fromBigInts(new Array(2 * 6 * 6).fill(1n), [2, 6, 6, 1]);
  const f = RingTensor.fromBigInts(new Array(9).fill(1n), [3, 3, 1, 1]);
  await t.throwsAsync(() => conv2d(x, f, { strides: [1, 2], impl: 'direct' }), {
    message: "Conv2D: impl 'direct' computes stride-1 convolutions only, got strides 1x2",
  });
  await t.throwsAsync(() => conv2d(x, f, { impl: 'fast' as ConvImpl }), {
    message: "Conv2D: unknown impl 'fast' (auto, direct, direct-avx512, direct-ifma, generic, avx2, avx512, ifma or amx)",
  });
  x.dispose();
  f.dispose();
});

test('col2im is the adjoint of im2col: <im2col(x), y> = <x, col2im(y)>', async (t) => {
  for (const c of CASES.filter((q) => q.x[0] > 0)) {
    const x = RingTensor.fromBigInts([...randomU64(sizeOf(c.x))], c.x);
    const cols = await im2col(x, { kernelSize: c.k, strides: c.s, padding: c.p });
    const yv = [...randomU64(cols.size)];
    const y = RingTensor.fromBigInts(yv, cols.shape);
    const back = await col2im(y, { inputShape: c.x, kernelSize: c.k, strides: c.s, padding: c.p });
    t.deepEqual(back.shape, c.x);
    const dot = (u: bigint[], v: bigint[]) => wrap(u.reduce((acc, ui, i) => acc + ui * v[i], 0n));
    t.is(dot(take(cols), yv), dot(x.toBigInts(), take(back)), JSON.stringify(c));
    x.dispose();
    y.dispose();
  }
});

test('sumPool2d sums each window (2x2 stride 2 and overlapping 3x3 stride 1)', async (t) => {
  const xs = [2, 6, 6, 3];
  const xv = [...randomU64(sizeOf(xs))];
  const x = RingTensor.fromBigInts(xv, xs);
  for (const [k, s] of [[2, 2], [3, 1]]) {
    // Sum pooling equals convolution with a per-channel identity filter of ones.
    const fv: bigint[] = [];
    for (let i = 0; i < k * k; i++) for (let a = 0; a < 3; a++) for (let b = 0; b < 3; b++) fv.push(a === b ? 1n : 0n);
    const want = conv2dRef(xv, xs, fv, [k, k, 3, 3], s, s, 'VALID');
    const y = await sumPool2d(x, { kernelSize: k, strides: s });
    t.deepEqual(y.shape, want.shape);
    t.deepEqual(take(y), want.data);
  }
  x.dispose();
});

test('conv errors name the shapes', async (t) => {
  const x = RingTensor.fromBigInts(new Array(2 * 5 * 5 * 3).fill(1n), [2, 5, 5, 3]);
  const f = RingTensor.fromBigInts(new Array(3 * 3 * 2 * 4).fill(1n), [3, 3, 2, 4]);
  const big = RingTensor.fromBigInts(new Array(6 * 6 * 3).fill(1n), [6, 6, 3, 1]);
  const flat = RingTensor.fromBigInts(new Array(75).fill(1n), [5, 5, 3]);
  await t.throwsAsync(() => conv2d(x, f), { message: 'conv2d: input [2,5,5,3] has 3 channels but filter [3,3,2,4] expects 2' });
  await t.throwsAsync(() => conv2d(x, big), { message: 'conv2d: window 6x6 is larger than the input [2,5,5,3] with VALID padding' });
  await t.throwsAsync(() => conv2d(flat, f), { message: 'conv2d: input must be NHWC (rank 4), got shape [5,5,3]' });
  await t.throwsAsync(() => conv2d(x, f, { padding: 'FULL' as Padding }), { message: /padding must be 'SAME' or 'VALID'/ });
  await t.throwsAsync(() => im2col(x, { kernelSize: [0, 2] }), { message: /kernelSize must be a positive integer/ });
  for (const z of [x, f, big, flat]) z.dispose();
});
