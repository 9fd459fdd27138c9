// A benchmark of a wrong kernel is worthless, and a kernel that is quietly broken often looks
// fast. Before timing, each matmul/conv2d result is compared with BigInt arithmetic (mod 2^64)
// at a few positions. This is a sanity check, not a test: test/ owns correctness.

const MASK = (1n << 64n) - 1n;

/** Corners (where edge handling goes wrong) plus random positions in [0, dims). */
function positions(dims: number[], count: number): number[][] {
  const out = [dims.map(() => 0), dims.map((d) => d - 1)];
  while (out.length < count) out.push(dims.map((d) => Math.floor(Math.random() * d)));
  return out;
}

function describe(what: string, at: number[], got: bigint, want: bigint): string {
  return `${what}: spot check FAILED at [${at.join(', ')}]: kernel gave ${got}, BigInt reference ${want}; its rate below is meaningless`;
}

/** Returns undefined if a·b matches at every sampled position, else a description of the first mismatch. */
export function checkMatmul(a: BigUint64Array, b: BigUint64Array, c: BigUint64Array, m: number, k: number, n: number, samples = 8): string | undefined {
  for (const [i, j] of positions([m, n], samples)) {
    let acc = 0n;
    for (let l = 0; l < k; l++) acc += a[i * k + l] * b[l * n + j];
    const want = acc & MASK;
    if (c[i * n + j] !== want) return describe(`matmul ${m}x${k}x${n}`, [i, j], c[i * n + j], want);
  }
  return undefined;
}

/** Shapes for a VALID, stride-1 NHWC convolution with [kh, kw, c, o] filters. */
export interface ConvDims {
  n: number;
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  o: number;
}

export function checkConv2dValid(x: BigUint64Array, f: BigUint64Array, y: BigUint64Array, d: ConvDims, samples = 8): string | undefined {
  const oh = d.h - d.kh + 1;
  const ow = d.w - d.kw + 1;
  for (const [b, i, j, o] of positions([d.n, oh, ow, d.o], samples)) {
    let acc = 0n;
    for (let di = 0; di < d.kh; di++)
      for (let dj = 0; dj < d.kw; dj++)
        for (let ch = 0; ch < d.c; ch++)
          acc += x[((b * d.h + i + di) * d.w + j + dj) * d.c + ch] * f[((di * d.kw + dj) * d.c + ch) * d.o + o];
    const want = acc & MASK;
    const got = y[((b * oh + i) * ow + j) * d.o + o];
    if (got !== want) return describe('conv2d', [b, i, j, o], got, want);
  }
  return undefined;
}
