// A resize of [batch, height, width, channels] by public taps (image_resize.ts), local on the
// shares: no message, no key, nothing dealt beyond one truncation.
// - Nearest: copies of input pixels (two gathers), exact.
// - Bilinear: each output pixel sum_k w_k x_k over its four neighbours, the weights w_k the
//   products of the two axes' weights encoded as integers at f bits that sum to exactly 2^f (a
//   constant image stays constant), then one truncation. Weights are multiples of 2^z for a
//   common z (1/16, 3/16, 9/16 for an upsampling by 2: z = f - 4), which is left out so only
//   f - z bits are truncated (as avgPool2d does with its reciprocals).
import * as R from '../ops';
import { type OpCtx, type Party } from '../protocol/party';
import { required, type Share } from '../protocol/pond/share';
import { RingTensor } from '../tensor/ring_tensor';
import { shapeString } from '../tensor/shape';
import { scaledTruncatedBound } from './bounds';
import type { AxisTaps } from './image_resize';
import { gather } from './ops';
import { dealTruncation, run, truncated } from './ops_nonlinear';
import { type AnyTensor, PrivateTensor, PublicTensor } from './tensor';

/** One corner of the four: which taps of the rows and of the columns, and its weights per output pixel. */
interface Corner {
  rows: 'lo' | 'hi';
  cols: 'lo' | 'hi';
  /** Integers at f - z bits (the common factor 2^z left out). */
  weights: BigInt64Array;
}

interface Weights {
  /** The corners whose weights are not all 0. */
  used: Corner[];
  /** What the sums are truncated by: f - z. */
  bits: number;
  /** The largest sum of |weights| of an output pixel, about 2^bits. */
  gain: bigint;
}

/** The trailing zero bits of an integer 0 < |v| < 2^31. */
const ctz = (v: number): number => 31 - Math.clz32(Math.abs(v) & -Math.abs(v));

// Per pair of taps (a model's plan keeps them: layers_catalog.ts), so a query does not recompute them.
const cache = new WeakMap<AxisTaps, WeakMap<AxisTaps, Map<number, Weights>>>();

/**
 * The four corners' weights of each output pixel: products of the axes' weights at f bits, three
 * rounded and the fourth 2^f minus them, so that they sum to exactly 2^f; then the common factor
 * 2^z of all of them left out.
 */
function weightsOf(rows: AxisTaps, cols: AxisTaps, f: number): Weights {
  const byCols = cache.get(rows) ?? cache.set(rows, new WeakMap()).get(rows)!;
  const byBits = byCols.get(cols) ?? byCols.set(cols, new Map()).get(cols)!;
  const known = byBits.get(f);
  if (known) return known;
  const oh = rows.lo.length, ow = cols.lo.length, one = 2 ** f;
  const w = [0, 1, 2, 3].map(() => new Float64Array(oh * ow));
  let gain = 0;
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++) {
      const [fr, fc] = [rows.frac[i], cols.frac[j]], at = i * ow + j;
      const hh = Math.round(fr * fc * one), hl = Math.round(fr * (1 - fc) * one), lh = Math.round((1 - fr) * fc * one);
      [w[0][at], w[1][at], w[2][at], w[3][at]] = [one - hh - hl - lh, lh, hl, hh];
      gain = Math.max(gain, Math.abs(w[0][at]) + lh + hl + hh);
    }
  const corners = (['lo', 'hi'] as const).flatMap((r) => (['lo', 'hi'] as const).map((c) => ({ rows: r, cols: c })));
  const kept = [0, 1, 2, 3].filter((k) => w[k].some((v) => v !== 0));
  const z = kept.reduce((low, k) => w[k].reduce((m, v) => (v === 0 ? m : Math.min(m, ctz(v))), low), f);
  const out: Weights = {
    used: kept.map((k) => ({ ...corners[k], weights: BigInt64Array.from(w[k], (v) => BigInt(v / 2 ** z)) })),
    bits: f - z,
    gain: BigInt(gain / 2 ** z),
  };
  byBits.set(f, out);
  return out;
}

function checkTaps(x: AnyTensor, t: AxisTaps, axis: number): void {
  const n = x.shape[axis];
  const ok = t.lo.length === t.hi.length && t.lo.length === t.frac.length && t.lo.length > 0 &&
    t.lo.every((v, i) => Number.isInteger(v) && v >= 0 && v < n && Number.isInteger(t.hi[i]) && t.hi[i] >= 0 && t.hi[i] < n && t.frac[i] >= 0 && t.frac[i] < 1);
  if (!ok) throw new RangeError(`resizeImage: the taps of axis ${axis} do not fit ${shapeString(x.shape)}`);
}

/** x [batch, height, width, channels] resized by the taps of its rows and columns. */
export function resizeImage(x: AnyTensor, rows: AxisTaps, cols: AxisTaps): AnyTensor {
  if (x.rank !== 4) throw new RangeError(`resizeImage: expects [batch, height, width, channels], got ${shapeString(x.shape)}`);
  checkTaps(x, rows, 1);
  checkTaps(x, cols, 2);
  if (rows.frac.every((v) => v === 0) && cols.frac.every((v) => v === 0)) return gather(gather(x, rows.lo, 1), cols.lo, 2);
  const c = x.cluster, f = c.fixed.fracBits;
  const oh = rows.lo.length, ow = cols.lo.length;
  const shape = [x.shape[0], oh, ow, x.shape[3]];
  const { used, bits, gain } = weightsOf(rows, cols, f);
  const combine = async (t: RingTensor): Promise<RingTensor> => {
    const byRows = new Map<'lo' | 'hi', RingTensor>();
    const terms: RingTensor[] = [];
    try {
      for (const k of used) {
        if (!byRows.has(k.rows)) byRows.set(k.rows, await R.gather(t, rows[k.rows], 1));
        const g = await R.gather(byRows.get(k.rows)!, cols[k.cols], 2);
        const w = RingTensor.fromBigInt64Array(k.weights, [1, oh, ow, 1]);
        try {
          terms.push(await R.mul(g, w));
        } finally {
          g.dispose();
          w.dispose();
        }
      }
      return await R.addN(terms);
    } finally {
      for (const r of byRows.values()) r.dispose();
      for (const r of terms) r.dispose();
    }
  };
  if (x.kind === 'public') {
    const values = run(c, 'resizeImage', [x.values], async (p, _o, [a]) => {
      if (!p.isCompute) return null;
      const sum = await combine(a as RingTensor);
      try {
        return await R.shiftRightArithmetic(sum, bits);
      } finally {
        sum.dispose();
      }
    });
    return new PublicTensor(c, shape, values);
  }
  const shares = run(
    c,
    'resizeImage',
    [x.shares],
    async (p: Party, o: OpCtx, [a]) => truncated(p, o, p.isCompute ? await combine(required(o, a as Share)) : null, shape, bits),
    dealTruncation(shape, bits),
  );
  // Each output is a weighting of inputs by integers whose magnitudes sum to `gain` (2^(f - z), or a unit more).
  return new PrivateTensor(c, shape, shares).withBound(scaledTruncatedBound(x.bound, gain, bits));
}
