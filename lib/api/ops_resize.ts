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
import { dealTruncation, run, trailingZeros, truncated } from './ops_nonlinear';
import { type AnyTensor, PrivateTensor, PublicTensor } from './tensor';

/** One corner of the four: which taps of the rows and of the columns, and its weights per output pixel. */
interface Corner {
  rows: 'lo' | 'hi';
  cols: 'lo' | 'hi';
  weights: bigint[];
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
  const one = 2 ** f;
  const corners: Corner[] = [
    { rows: 'lo', cols: 'lo', weights: [] },
    { rows: 'lo', cols: 'hi', weights: [] },
    { rows: 'hi', cols: 'lo', weights: [] },
    { rows: 'hi', cols: 'hi', weights: [] },
  ];
  let gain = 0n;
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++) {
      const [fr, fc] = [rows.frac[i], cols.frac[j]];
      const hh = Math.round(fr * fc * one), hl = Math.round(fr * (1 - fc) * one), lh = Math.round((1 - fr) * fc * one);
      const w = [one - hh - hl - lh, lh, hl, hh];
      w.forEach((v, k) => corners[k].weights.push(BigInt(v)));
      const g = BigInt(w.reduce((s, v) => s + Math.abs(v), 0));
      if (g > gain) gain = g;
    }
  const used = corners.filter((k) => k.weights.some((v) => v !== 0n));
  const z = used.reduce((low, k) => k.weights.reduce((m, v) => (v === 0n ? m : Math.min(m, trailingZeros(v < 0n ? -v : v, f))), low), f);
  const bits = f - z;
  const combine = async (t: RingTensor): Promise<RingTensor> => {
    const byRows = new Map<'lo' | 'hi', RingTensor>();
    const terms: RingTensor[] = [];
    try {
      for (const k of used) {
        if (!byRows.has(k.rows)) byRows.set(k.rows, await R.gather(t, rows[k.rows], 1));
        const g = await R.gather(byRows.get(k.rows)!, cols[k.cols], 2);
        const w = RingTensor.fromBigInts(k.weights.map((v) => v >> BigInt(z)), [1, oh, ow, 1]);
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
  // Each output is a weighting of inputs by integers whose magnitudes sum to `gain` (2^f, or a unit more).
  return new PrivateTensor(c, shape, shares).withBound(scaledTruncatedBound(x.bound, gain >> BigInt(z), bits));
}
