// A model's own conditioning, from plaintext alone: how far its float64 answer moves when every
// layer's output is nudged by up to 2^-12 (random signs; 16 times fixed point's own rounding,
// about an activation's piecewise error). A random draw can be ill-conditioned (two
// LayerNormalizations over nearly constant rows multiply an earlier layer's rounding by about
// 1000), and then no 16-bit fixed-point implementation meets a fixed bound: the random-model
// tests allow 1e-2, or four times this where that is more.
import type * as tfe from '../../lib';

type Rows = { data: Float64Array; shape: number[] };

/** Nudges a layer's output in place (not the inputs: token ids stay whole). */
function nudger(rnd: () => number): (layer: string, y: Rows) => void {
  return (layer, y) => {
    if (!layer.startsWith('InputLayer:')) for (let i = 0; i < y.data.length; i++) y.data[i] += (rnd() < 0.5 ? -1 : 1) * 2 ** -12;
  };
}

/** Largest |a - b| relative to max(1, |b|), over everything. */
function moved(a: Float64Array, b: Float64Array): number {
  let worst = 0, scale = 1;
  b.forEach((v, i) => ((worst = Math.max(worst, Math.abs(a[i] - v))), (scale = Math.max(scale, Math.abs(v)))));
  return worst / scale;
}

/** Each output's movement (its final activation applied), in the model's order. */
export function outputSensitivity(plain: tfe.PlainModel, x: Parameters<tfe.PlainModel['predictOutputs']>[0], rnd: () => number): number[] {
  const clean = plain.predictOutputs(x);
  const nudged = plain.predictOutputs(x, nudger(rnd));
  return clean.map((c, k) => moved(nudged[k].data, c.data));
}

/** The bound a random model's private answer is held to: 1e-2, or four times its sensitivity. */
export const boundFor = (sensitivity: number): number => Math.max(1e-2, 4 * sensitivity);
