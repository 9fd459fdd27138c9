// A resize of [batch, height, width, channels] by public taps (image_resize.ts), local on the
// shares: no message, no key, nothing dealt beyond a truncation per axis.
// - Nearest (one tap of weight 1 per output): copies of input pixels (a gather), exact.
// - Otherwise, per axis, each output sum_k w_k x_k over its taps, the weights encoded as
//   integers at f bits that sum to exactly 2^f (a constant image stays constant), then one
//   truncation: the rows, then the columns. Weights are multiples of 2^z for a common z (1/4 and
//   3/4 for an upsampling by 2: z = f - 2), which is left out so only f - z bits are truncated (as
//   avgPool2d does with its reciprocals). An axis whose taps are copies (its size unchanged) is a
//   gather.
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

/** One axis's weights: the taps not all 0, each with its integer weights at f - z bits per output. */
interface Weights {
  used: { index: number[]; weights: BigInt64Array }[];
  /** What the sums are truncated by: f - z (0: the taps are copies). */
  bits: number;
  /** The largest sum of |weights| of an output, about 2^bits. */
  gain: bigint;
}

/** The trailing zero bits of an integer 0 < |v| < 2^31. */
const ctz = (v: number): number => 31 - Math.clz32(Math.abs(v) & -Math.abs(v));

// Per axis's taps (a model's plan keeps them: layers_catalog.ts), so a query does not recompute them.
const cache = new WeakMap<AxisTaps, Map<number, Weights>>();

/**
 * Each output's weights at f bits: every tap's rounded but the largest one's, which is 2^f minus
 * the others (so that they sum to exactly 2^f); then the common factor 2^z of all of them left out.
 */
function weightsOf(t: AxisTaps, f: number): Weights {
  const byBits = cache.get(t) ?? cache.set(t, new Map()).get(t)!;
  const known = byBits.get(f);
  if (known) return known;
  const out = t.index[0].length, one = 2 ** f;
  const w = t.weight.map(() => new Float64Array(out));
  let gain = 0;
  for (let i = 0; i < out; i++) {
    let big = 0, sum = 0;
    t.weight.forEach((ws, k) => Math.abs(ws[i]) > Math.abs(t.weight[big][i]) && (big = k));
    t.weight.forEach((ws, k) => k !== big && (sum += w[k][i] = Math.round(ws[i] * one)));
    w[big][i] = one - sum;
    gain = Math.max(gain, w.reduce((g, v) => g + Math.abs(v[i]), 0));
  }
  const kept = w.map((_, k) => k).filter((k) => w[k].some((v) => v !== 0));
  const z = kept.reduce((low, k) => w[k].reduce((m, v) => (v === 0 ? m : Math.min(m, ctz(v))), low), f);
  const weights: Weights = {
    used: kept.map((k) => ({ index: t.index[k], weights: BigInt64Array.from(w[k], (v) => BigInt(v / 2 ** z)) })),
    bits: f - z,
    gain: BigInt(gain / 2 ** z),
  };
  byBits.set(f, weights);
  return weights;
}

function checkTaps(x: AnyTensor, t: AxisTaps, axis: number): void {
  const n = x.shape[axis], out = t.index[0]?.length ?? 0;
  const ok = out > 0 && t.index.length === t.weight.length &&
    t.index.every((idx, k) => idx.length === out && t.weight[k].length === out && idx.every((v) => Number.isInteger(v) && v >= 0 && v < n) && t.weight[k].every(Number.isFinite));
  if (!ok) throw new RangeError(`resizeImage: the taps of axis ${axis} do not fit ${shapeString(x.shape)}`);
}

/** x [batch, height, width, channels] resized by the taps of its rows and columns. */
export function resizeImage(x: AnyTensor, rows: AxisTaps, cols: AxisTaps): AnyTensor {
  if (x.rank !== 4) throw new RangeError(`resizeImage: expects [batch, height, width, channels], got ${shapeString(x.shape)}`);
  checkTaps(x, rows, 1);
  checkTaps(x, cols, 2);
  return resizeAxis(resizeAxis(x, rows, 1), cols, 2);
}

/** One axis (1: rows, 2: columns) resized: a gather where its taps are copies, else the weighted sums and a truncation. */
function resizeAxis(x: AnyTensor, t: AxisTaps, axis: 1 | 2): AnyTensor {
  const c = x.cluster, f = c.fixed.fracBits;
  const { used, bits, gain } = weightsOf(t, f);
  if (bits === 0 && used.length === 1) return gather(x, used[0].index, axis);
  const out = t.index[0].length;
  const shape = x.shape.map((d, i) => (i === axis ? out : d));
  const combine = async (v: RingTensor): Promise<RingTensor> => {
    const terms: RingTensor[] = [];
    try {
      for (const k of used) {
        const g = await R.gather(v, k.index, axis);
        const w = RingTensor.fromBigInt64Array(k.weights, axis === 1 ? [1, out, 1, 1] : [1, 1, out, 1]);
        try {
          terms.push(await R.mul(g, w));
        } finally {
          g.dispose();
          w.dispose();
        }
      }
      return await R.addN(terms);
    } finally {
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
  // Each output is a weighting of inputs by integers whose magnitudes sum to `gain` (2^(f - z), or more with negative weights).
  return new PrivateTensor(c, shape, shares).withBound(scaledTruncatedBound(x.bound, gain, bits));
}
