// Plain BigInt reference implementations: slow, obvious, and independent of the native code.
import { sizeOf } from './random';

export const MASK = (1n << 64n) - 1n;
export const wrap = (v: bigint): bigint => v & MASK;

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[i - (r - a.length)] ?? 1;
    const db = b[i - (r - b.length)] ?? 1;
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Elementwise op with NumPy broadcasting over bigint arrays. */
export function broadcastMap<T>(a: readonly T[], as: readonly number[], b: readonly T[], bs: readonly number[], f: (x: T, y: T) => T): { data: T[]; shape: number[] } {
  const shape = broadcastShape(as, bs);
  const n = sizeOf(shape);
  const sa = strides(as);
  const sb = strides(bs);
  const data: T[] = [];
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, shape);
    let oa = 0;
    let ob = 0;
    for (let d = 0; d < shape.length; d++) {
      const da = d - (shape.length - as.length);
      const db = d - (shape.length - bs.length);
      if (da >= 0 && as[da] !== 1) oa += idx[d] * sa[da];
      if (db >= 0 && bs[db] !== 1) ob += idx[d] * sb[db];
    }
    data.push(f(a[oa], b[ob]));
  }
  return { data, shape };
}

export function matmulRef(a: readonly bigint[], b: readonly bigint[], m: number, k: number, n: number): bigint[] {
  const c: bigint[] = new Array(m * n).fill(0n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0n;
      for (let p = 0; p < k; p++) acc += a[i * k + p] * b[p * n + j];
      c[i * n + j] = wrap(acc);
    }
  return c;
}

export interface Geometry { oh: number; ow: number; padTop: number; padLeft: number }

export function geometry(h: number, w: number, kh: number, kw: number, sh: number, sw: number, padding: 'SAME' | 'VALID'): Geometry {
  if (padding === 'VALID') return { oh: Math.floor((h - kh) / sh) + 1, ow: Math.floor((w - kw) / sw) + 1, padTop: 0, padLeft: 0 };
  const oh = Math.ceil(h / sh);
  const ow = Math.ceil(w / sw);
  return {
    oh,
    ow,
    padTop: Math.floor(Math.max((oh - 1) * sh + kh - h, 0) / 2),
    padLeft: Math.floor(Math.max((ow - 1) * sw + kw - w, 0) / 2),
  };
}

/** Direct convolution, NHWC input and [kh, kw, c, o] filter, mod 2^64. */
export function conv2dRef(x: readonly bigint[], xs: readonly number[], f: readonly bigint[], fs: readonly number[], sh: number, sw: number, padding: 'SAME' | 'VALID'): { data: bigint[]; shape: number[] } {
  const [n, h, w, c] = xs;
  const [kh, kw, , o] = fs;
  const g = geometry(h, w, kh, kw, sh, sw, padding);
  const out: bigint[] = [];
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < g.oh; oy++)
      for (let ox = 0; ox < g.ow; ox++)
        for (let q = 0; q < o; q++) {
          let acc = 0n;
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const y = oy * sh + ky - g.padTop;
              const xx = ox * sw + kx - g.padLeft;
              if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
              for (let ch = 0; ch < c; ch++) acc += x[((b * h + y) * w + xx) * c + ch] * f[((ky * kw + kx) * c + ch) * o + q];
            }
          out.push(wrap(acc));
        }
  return { data: out, shape: [n, g.oh, g.ow, o] };
}

export function transposeRef<T>(a: readonly T[], shape: readonly number[], perm: readonly number[]): T[] {
  const outShape = perm.map((p) => shape[p]);
  const s = strides(shape);
  const out: T[] = [];
  for (let i = 0; i < sizeOf(outShape); i++) {
    const idx = unravel(i, outShape);
    let off = 0;
    for (let d = 0; d < perm.length; d++) off += idx[d] * s[perm[d]];
    out.push(a[off]);
  }
  return out;
}

export function sliceRef<T>(a: readonly T[], shape: readonly number[], begin: readonly number[], size: readonly number[]): T[] {
  const s = strides(shape);
  const out: T[] = [];
  for (let i = 0; i < sizeOf(size); i++) {
    const idx = unravel(i, size);
    out.push(a[idx.reduce((acc, v, d) => acc + (v + begin[d]) * s[d], 0)]);
  }
  return out;
}

export function reduceSumRef(a: readonly bigint[], shape: readonly number[], axes: readonly number[], mod: bigint): bigint[] {
  const outShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const out: bigint[] = new Array(sizeOf(outShape)).fill(0n);
  const so = strides(outShape);
  for (let i = 0; i < a.length; i++) {
    const idx = unravel(i, shape);
    const o = idx.reduce((acc, v, d) => acc + (axes.includes(d) ? 0 : v * so[d]), 0);
    out[o] = (out[o] + a[i]) % mod;
  }
  return out;
}
