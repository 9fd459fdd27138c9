// Float64 references and fixed-point error bounds for the protocol suites.
//
// Notation: f = 16 fractional bits, U = 2^-16 (one unit in the last place). A value x is encoded
// as X = round(x / U) (ties to even, as the native encoder's nearbyint); its decoding
// enc(x) = X * U is within U/2 of x. Everything is derived from three facts:
//  1. Linear ops on shares are exact in Z_2^64, so they equal the same ops on the encodings.
//  2. A product of encodings X * Y is exact at scale U^2; one truncation then divides by 2^f and
//     is off by less than one unit: r = X*Y / 2^f + d with |d| < 1 (SecureML: server0 computes
//     floor(a), server1 -floor(-b) = ceil(b) with a + b = XY / 2^f, so the sum lies strictly
//     between XY / 2^f - 1 and XY / 2^f + 1), except with probability about |XY| / 2^64.
//  3. For operands known within ea and eb: |a~ b~ - a b| <= |a| eb + |b| ea + ea eb.
import type { ExecutionContext } from 'ava';

export const F = 16;
export const U = 2 ** -F;

/** Round to nearest, ties to even (std::nearbyint in the default rounding mode). */
export function rint(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The integer encoding X of x. */
export const encInt = (x: number): number => rint(x / U);
/** The value the ring holds for x, decoded: X * U. */
export const enc = (x: number): number => encInt(x) * U;

/**
 * n values uniform in (-scale, scale), never exactly zero (a zero would make products, and
 * their errors, vanish), and never on an encoding tie (so exact references need no tie rule).
 */
export function rand(n: number, scale: number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = 0;
    while (v === 0 || Math.abs((v / U) % 1) === 0.5) v = (Math.random() * 2 - 1) * scale;
    a[i] = v;
  }
  return a;
}

/** Overwrites random positions of `a` with `edges` (each once), returning `a`. */
export function withEdges(a: Float64Array, edges: readonly number[]): Float64Array {
  const slots = [...a.keys()].sort(() => Math.random() - 0.5).slice(0, edges.length);
  slots.forEach((s, i) => (a[s] = edges[i]));
  return a;
}

/** Rounding error of a float64 sum of k terms of total magnitude absSum (reference slack). */
export const f64 = (absSum: number, k = 1): number => (k + 1) * 2 ** -52 * absSum;

/** Error of a~ * b~ given |a~ - a| <= ea and |b~ - b| <= eb (fact 3). */
export const prodErr = (a: number, ea: number, b: number, eb: number): number => Math.abs(a) * eb + Math.abs(b) * ea + ea * eb;

/**
 * Bound on a truncated sum of k products of fresh encodings against the float64 value:
 * sum_p (|x_p| + |y_p|) U/2 + k U^2/4 (fact 3 with ea = eb = U/2), plus U for the single
 * truncation (fact 2). absSum = sum_p (|x_p| + |y_p|), absProd = sum_p |x_p y_p|.
 */
export const productBound = (absSum: number, k: number, absProd = 0): number => absSum * (U / 2) + (k * U * U) / 4 + U + f64(absProd, k);

/**
 * Bound on Pond's private polynomial sum_i c_i x^i against its float64 value, for an input known
 * within ex (U/2 for a fresh encoding). The protocol computes x^2 = trunc(x~ x~), x^3 =
 * trunc(x^2~ x~), then trunc(sum_i C_i P_i + C0) with C_i = round(c_i / U) and C0 = round(c0 / U^2)
 * (a single final truncation). Each power carries its product error plus one unit; each
 * coefficient its own encoding error.
 */
export function polyBound(coeffs: readonly number[], x: number, ex = U / 2): number {
  const pw = [1, x, x * x, x * x * x];
  const e = [0, ex, 0, 0];
  e[2] = prodErr(x, ex, x, ex) + U;
  e[3] = prodErr(x * x, e[2], x, ex) + U;
  let b = Math.abs(rint(coeffs[0] / (U * U)) * U * U - coeffs[0]) + U;
  for (let i = 1; i < coeffs.length; i++) {
    if (coeffs[i] === 0) continue; // skipped by the protocol; encodes exactly anyway
    b += prodErr(coeffs[i], Math.abs(enc(coeffs[i]) - coeffs[i]), pw[i], e[i]);
  }
  return b + f64(coeffs.reduce((s, c, i) => s + Math.abs(c * pw[i]), 0), coeffs.length);
}

/** Asserts |got[i] - want[i]| <= bound(i) everywhere (one assertion; names the first miss). */
export function within(t: ExecutionContext, got: ArrayLike<number>, want: ArrayLike<number>, bound: number | ((i: number) => number), what: string): void {
  if (got.length !== want.length) return void t.fail(`${what}: ${got.length} values, expected ${want.length}`);
  let bad = -1;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const b = typeof bound === 'number' ? bound : bound(i);
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= b) && bad < 0) bad = i; // also catches NaN
    if (b > 0) worst = Math.max(worst, err / b);
  }
  if (bad >= 0) {
    const b = typeof bound === 'number' ? bound : bound(bad);
    t.fail(`${what}[${bad}]: got ${got[bad]}, want ${want[bad]}, error ${Math.abs(got[bad] - want[bad])} > bound ${b}`);
  } else {
    if (process.env.SUITE_LOG) t.log(`${what}: worst error / bound ${worst.toFixed(3)}`);
    t.pass();
  }
}

// ---------- float64 references ----------

export function matmulRef(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): { out: Float64Array; abs: Float64Array; absProd: Float64Array } {
  const out = new Float64Array(m * n), abs = new Float64Array(m * n), absProd = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++)
      for (let p = 0; p < k; p++) {
        const x = a[i * k + p], y = b[p * n + j];
        out[i * n + j] += x * y;
        abs[i * n + j] += Math.abs(x) + Math.abs(y);
        absProd[i * n + j] += Math.abs(x * y);
      }
  return { out, abs, absProd };
}

export type Padding = 'SAME' | 'VALID';

/** TensorFlow's output size and leading padding for one spatial axis. */
export function axisGeometry(n: number, k: number, s: number, pad: Padding): { out: number; before: number } {
  if (pad === 'VALID') return { out: Math.floor((n - k) / s) + 1, before: 0 };
  const out = Math.ceil(n / s);
  return { out, before: Math.floor(Math.max((out - 1) * s + k - n, 0) / 2) };
}

/**
 * Visits every window of a kh x kw NHWC window op: cb(outIndex, inIndex or -1 for padding,
 * window tap (ky, kx), channel of the input).
 */
function windows(shape: readonly number[], kh: number, kw: number, [sh, sw]: [number, number], pad: Padding, outC: number, cb: (o: number, y: number, x: number, b: number, oc: number, ky: number, kx: number) => void): number[] {
  const [n, h, w] = shape;
  const gy = axisGeometry(h, kh, sh, pad), gx = axisGeometry(w, kw, sw, pad);
  for (let b = 0; b < n; b++)
    for (let oy = 0; oy < gy.out; oy++)
      for (let ox = 0; ox < gx.out; ox++)
        for (let oc = 0; oc < outC; oc++)
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++) {
              const y = oy * sh + ky - gy.before, x = ox * sw + kx - gx.before;
              if (y >= 0 && y < h && x >= 0 && x < w) cb(((b * gy.out + oy) * gx.out + ox) * outC + oc, y, x, b, oc, ky, kx);
            }
  return [n, gy.out, gx.out, outC];
}

/** Direct NHWC convolution with a [kh, kw, in, out] filter, over the real (unpadded) pixels. */
export function conv2dRef(x: ArrayLike<number>, xs: readonly number[], f: ArrayLike<number>, fs: readonly number[], strides: [number, number], pad: Padding) {
  const [, h, w, ci] = xs, [kh, kw, , co] = fs;
  const size = axisGeometry(h, kh, strides[0], pad).out * axisGeometry(w, kw, strides[1], pad).out * xs[0] * co;
  const out = new Float64Array(size), abs = new Float64Array(size), absProd = new Float64Array(size), terms = new Float64Array(size);
  const shape = windows(xs, kh, kw, strides, pad, co, (o, y, xx, b, oc, ky, kx) => {
    for (let c = 0; c < ci; c++) {
      const xv = x[((b * h + y) * w + xx) * ci + c], fv = f[((ky * kw + kx) * ci + c) * co + oc];
      out[o] += xv * fv;
      abs[o] += Math.abs(xv) + Math.abs(fv);
      absProd[o] += Math.abs(xv * fv);
      terms[o]++;
    }
  });
  return { out, abs, absProd, terms, shape };
}

/** Window sums and real-pixel counts of an NHWC pooling (TensorFlow divides by the count). */
export function poolRef(x: ArrayLike<number>, xs: readonly number[], k: [number, number], strides: [number, number], pad: Padding) {
  const [, h, w, c] = xs;
  const size = axisGeometry(h, k[0], strides[0], pad).out * axisGeometry(w, k[1], strides[1], pad).out * xs[0] * c;
  const sum = new Float64Array(size), count = new Float64Array(size), abs = new Float64Array(size);
  const shape = windows(xs, k[0], k[1], strides, pad, c, (o, y, xx, b, oc) => {
    const v = x[((b * h + y) * w + xx) * c + oc];
    sum[o] += v;
    abs[o] += Math.abs(v);
    count[o]++;
  });
  return { sum, count, abs, shape };
}

/** NHWC max pooling over the real pixels (SAME ignores its padding, as TensorFlow does). */
export function maxPoolRef(x: ArrayLike<number>, xs: readonly number[], k: number, s: number, pad: Padding = 'VALID'): number[] {
  const [, h, w, c] = xs;
  const out = new Float64Array(axisGeometry(h, k, s, pad).out * axisGeometry(w, k, s, pad).out * xs[0] * c).fill(-Infinity);
  windows(xs, k, k, [s, s], pad, c, (o, y, xx, b, oc) => (out[o] = Math.max(out[o], x[((b * h + y) * w + xx) * c + oc])));
  return [...out];
}

/**
 * NDHWC conv3d as TensorFlow defines it (SAME: the smaller half of the padding before), filter
 * [kd, kh, kw, in, out], dilations d; with conv2dRef's bounds' terms. `transpose`: conv3d_transpose
 * instead (filter [kd, kh, kw, out, in], Keras's output size), as a scatter of each input voxel.
 */
export function conv3dRef(x: ArrayLike<number>, xs: readonly number[], f: ArrayLike<number>, fs: readonly number[], s: number[], pad: Padding, d = [1, 1, 1], transpose = false) {
  const [n, D, H, W, ci] = xs, k = fs.slice(0, 3), co = transpose ? fs[3] : fs[4];
  const dims = [D, H, W];
  const od = transpose ? dims.map((e, a) => e * s[a] + (pad === 'SAME' ? 0 : Math.max(k[a] - s[a], 0))) : dims.map((e, a) => axisGeometry(e, (k[a] - 1) * d[a] + 1, s[a], pad).out);
  const before = transpose ? k.map((e, a) => (pad === 'SAME' ? Math.floor(Math.max(e - s[a], 0) / 2) : 0)) : dims.map((e, a) => axisGeometry(e, (k[a] - 1) * d[a] + 1, s[a], pad).before);
  const size = n * od[0] * od[1] * od[2] * co;
  const out = new Float64Array(size), abs = new Float64Array(size), absProd = new Float64Array(size), terms = new Float64Array(size);
  const add = (o: number, xv: number, fv: number) => ((out[o] += xv * fv), (abs[o] += Math.abs(xv) + Math.abs(fv)), (absProd[o] += Math.abs(xv * fv)), terms[o]++);
  for (let b = 0; b < n; b++)
    for (let z = 0; z < (transpose ? D : od[0]); z++)
      for (let y = 0; y < (transpose ? H : od[1]); y++)
        for (let q = 0; q < (transpose ? W : od[2]); q++)
          for (let tz = 0; tz < k[0]; tz++)
            for (let ty = 0; ty < k[1]; ty++)
              for (let tq = 0; tq < k[2]; tq++) {
                const t = (tz * k[1] + ty) * k[2] + tq;
                if (transpose) {
                  const [oz, oy, oq] = [z * s[0] + tz - before[0], y * s[1] + ty - before[1], q * s[2] + tq - before[2]];
                  if (oz < 0 || oy < 0 || oq < 0 || oz >= od[0] || oy >= od[1] || oq >= od[2]) continue;
                  for (let oc = 0; oc < co; oc++)
                    for (let c = 0; c < ci; c++) add((((b * od[0] + oz) * od[1] + oy) * od[2] + oq) * co + oc, x[(((b * D + z) * H + y) * W + q) * ci + c], f[(t * co + oc) * ci + c]);
                } else {
                  const [iz, iy, iq] = [z * s[0] + tz * d[0] - before[0], y * s[1] + ty * d[1] - before[1], q * s[2] + tq * d[2] - before[2]];
                  if (iz < 0 || iy < 0 || iq < 0 || iz >= D || iy >= H || iq >= W) continue;
                  for (let oc = 0; oc < co; oc++)
                    for (let c = 0; c < ci; c++) add((((b * od[0] + z) * od[1] + y) * od[2] + q) * co + oc, x[(((b * D + iz) * H + iy) * W + iq) * ci + c], f[(t * ci + c) * co + oc]);
                }
              }
  return { out, abs, absProd, terms, shape: [n, ...od, co] };
}
