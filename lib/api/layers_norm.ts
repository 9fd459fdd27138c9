// The normalisation layers: BatchNormalization and Keras's Normalization (folded by the owner into
// a private per-channel scale and shift), and LayerNormalization, RMSNormalization,
// GroupNormalization and UnitNormalization (per row, under the exact protocols: ops_norm.ts).
import { add, reshape, transpose } from './ops';
import { mul } from './ops_nonlinear';
import { LAYER_NORM_MAX_WIDTH, layerNormOp } from './ops_norm';
import { type LayerConfig, refuse } from './layers_graph';
import { SCALE_LOW_BITS } from './layers_spec';
import type { LayerContext, LayerPlan } from './layers_catalog';
import { ANY, bool, isNum, lastAxis, settings } from './layers_settings';
import type { AnyTensor, PrivateTensor } from './tensor';

/** The layer's axis setting (-1, n or [n]), checked when it runs: only the input's last axis is supported. */
function lastAxisOnly(l: LayerConfig, setting: unknown): (x: AnyTensor) => void {
  const axis = Number(Array.isArray(setting) ? setting[0] : (setting ?? -1));
  return (x) => {
    if (axis !== -1 && axis !== x.rank - 1) refuse(l, `axis = ${axis} is not the last axis of its rank-${x.rank} input; only the last (channel) axis is supported`);
  };
}

/**
 * x times a private per-channel scale given as its encoding `hi` and the part that encoding
 * rounded away, `lo` (layers_spec.ts, scaleLow): x hi + (x lo) 2^-SCALE_LOW_BITS, both products
 * in the same round (x's opening serves both), the second truncated by SCALE_LOW_BITS more. A
 * normalisation's scale is 1/sigma: on raw features (sigma in the thousands) hi alone kept two or
 * three significant bits, and the outputs were off by up to |x| 2^-17 (0.38 on features near 5e4).
 */
function scaled(x: AnyTensor, hi: PrivateTensor, lo: PrivateTensor): AnyTensor {
  return add(mul(x, hi), mul(mul(x, lo), 2 ** -SCALE_LOW_BITS));
}

/**
 * Inference-time batch normalisation, y = x * scale + shift on the last axis, with the scale and
 * shift folded by the owner from gamma, beta and the moving statistics before sharing: one
 * private product per element, or none where the scale is folded into the layer before
 * (ctx.scaleFolded): then only the shift is added, locally.
 */
export function batchNorm(l: LayerConfig, ctx: LayerContext): LayerPlan {
  // synchronized (Keras 2.12+ and 3) and renorm's settings (Keras 3) change only training: inference
  // uses the moving statistics either way.
  const c = settings(l, { axis: lastAxis, momentum: ANY, epsilon: (v) => v === undefined || (isNum(v) && v >= 0), center: bool, scale: bool, synchronized: bool, renorm: bool, renorm_clipping: ANY, renorm_momentum: ANY });
  const checkAxis = lastAxisOnly(l, c.axis);
  const n = l.config.name, epsilon = Number(c.epsilon ?? 1e-3);
  const gamma = c.scale === false ? undefined : `${n}/gamma`, beta = c.center === false ? undefined : `${n}/beta`;
  const mean = `${n}/moving_mean`, variance = `${n}/moving_variance`;
  const channels = ctx.shapeOf(variance);
  const scale = { kind: 'bnScale' as const, gamma, variance, epsilon };
  const s = ctx.scaleFolded ? -1 : ctx.derived('folded_scale', channels, scale);
  const lo = ctx.scaleFolded ? -1 : ctx.derived('folded_scale_low', channels, { kind: 'scaleLow', of: scale });
  const t = ctx.derived('folded_shift', channels, { kind: 'bnShift', gamma, beta, mean, variance, epsilon });
  const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => {
    checkAxis(x);
    return add(s < 0 ? x : scaled(x, p[s], p[lo]), p[t]);
  };
  return { step, comparisons: false, exactOnly: false };
}

/**
 * Keras's Normalization (preprocessing) layer after adapt(): (x - mean) / max(sqrt(variance), 1e-7)
 * per channel of the last axis, or its inverse, folded by the owner into a private scale and shift.
 * Mean and variance given in the config are weights by the time the topology is read
 * (config_constants.ts); in a topology they would travel to the servers: refused.
 */
export function normalization(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const weightsOnly = (v: unknown) => v === undefined || v === null;
  // axis None (Keras writes [] or null): one mean and variance for every value.
  const whole = (v: unknown) => v === null || (Array.isArray(v) && v.length === 0);
  // Given in the config, the mean and variance would travel in the topology every server reads:
  // the owner's reader moves them into weights first (config_constants.ts), so a topology
  // that still has them did not come through it.
  for (const k of ['mean', 'variance'] as const)
    if (!weightsOnly(l.config[k]))
      refuse(l, `${k} = ${JSON.stringify(l.config[k])?.slice(0, 60)} given in its config would travel in the topology every server reads; the library's model readers (loadLayersModel, deploy, tfe deploy) move them into private weights first: deploy through one of them`);
  const c = settings(l, { axis: (v) => whole(v) || lastAxis(v), invert: bool, mean: weightsOnly, variance: weightsOnly });
  const checkAxis = whole(c.axis) ? () => undefined : lastAxisOnly(l, c.axis);
  const n = l.config.name, mean = `${n}/mean`, variance = `${n}/variance`, invert = c.invert === true;
  const channels = ctx.shapeOf(variance);
  if (whole(c.axis) && channels.reduce((a, b) => a * b, 1) !== 1) refuse(l, `axis = None takes one mean and variance, but '${variance}' has shape [${channels}]`);
  const scale = { kind: 'normScale' as const, variance, invert };
  const s = ctx.derived('folded_scale', channels, scale);
  const lo = ctx.derived('folded_scale_low', channels, { kind: 'scaleLow', of: scale });
  const t = ctx.derived('folded_shift', channels, { kind: 'normShift', mean, variance, invert });
  const count = channels.reduce((a, b) => a * b, 1);
  const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => {
    checkAxis(x);
    if (count !== 1 && x.shape[x.rank - 1] !== count) refuse(l, `has a mean and variance for ${count} channels, but its input has ${x.shape[x.rank - 1]} (its last axis)`);
    return add(scaled(x, p[s], p[lo]), p[t]);
  };
  return { step, comparisons: false, exactOnly: false };
}

/**
 * LayerNormalization over the last axis, gamma and beta the model's private weights: no private
 * division (ops_norm.ts: a power-of-two scale chosen by comparisons, then a fitted 1/sqrt), so
 * exact protocols only. Keras 3's rms_scaling is refused.
 */
export function layerNorm(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const c = settings(l, { axis: lastAxis, epsilon: (v) => v === undefined || (isNum(v) && v > 0), center: bool, scale: bool, rms_scaling: (v) => v === undefined || v === false });
  const checkAxis = lastAxisOnly(l, c.axis), epsilon = Number(c.epsilon ?? 1e-3);
  const g = c.scale === false ? -1 : ctx.take('gamma'), b = c.center === false ? -1 : ctx.take('beta');
  const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => {
    checkAxis(x);
    rowWidth(l, x);
    return layerNormOp(x, { epsilon, gamma: g < 0 ? undefined : p[g], beta: b < 0 ? undefined : p[b] });
  };
  return { step, comparisons: true, exactOnly: true };
}

/** The last axis's length, refused (naming the layer) past what ops_norm.ts takes. */
function rowWidth(l: LayerConfig, x: AnyTensor): number {
  const width = x.shape[x.rank - 1];
  if (width > LAYER_NORM_MAX_WIDTH) refuse(l, `rows of ${width} values are wider than the ${LAYER_NORM_MAX_WIDTH} supported`);
  return width;
}

/**
 * Keras's RMSNormalization (3.9+): x / sqrt(mean(x^2) + epsilon) times a private `scale`, over the
 * last axis; LayerNormalization's steps without centring the row (ops_norm.ts).
 */
export function rmsNorm(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const c = settings(l, { axis: lastAxis, epsilon: (v) => v === undefined || (isNum(v) && v > 0) });
  const checkAxis = lastAxisOnly(l, c.axis), epsilon = Number(c.epsilon ?? 1e-6);
  const g = ctx.take('scale');
  const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => {
    checkAxis(x);
    rowWidth(l, x);
    return layerNormOp(x, { epsilon, gamma: p[g], centred: false });
  };
  return { step, comparisons: true, exactOnly: true };
}

/**
 * Keras's GroupNormalization over the last (channel) axis: each example's channels in `groups`
 * groups, each group normalised over its channels and every position (LayerNormalization's steps
 * on rows of positions x C / groups values, moved there and back by local reshapes and
 * transposes), then a private per-channel gamma and beta.
 */
export function groupNorm(l: LayerConfig, ctx: LayerContext): LayerPlan {
  const c = settings(l, { groups: (v) => v === undefined || (Number.isInteger(v) && (v as number) >= 1), axis: lastAxis, epsilon: (v) => v === undefined || (isNum(v) && v > 0), center: bool, scale: bool });
  const checkAxis = lastAxisOnly(l, c.axis), epsilon = Number(c.epsilon ?? 1e-3), G = Number(c.groups ?? 32);
  const g = c.scale === false ? -1 : ctx.take('gamma'), b = c.center === false ? -1 : ctx.take('beta');
  const step = (p: PrivateTensor[]) => ([x]: AnyTensor[]) => {
    checkAxis(x);
    const [B, ...rest] = x.shape, C = rest[rest.length - 1], S = rest.slice(0, -1).reduce((a, e) => a * e, 1);
    if (C % G !== 0) refuse(l, `groups = ${G} does not divide its input's ${C} channels`);
    const width = S * (C / G);
    if (width > LAYER_NORM_MAX_WIDTH) refuse(l, `each group holds ${width} values (positions x channels per group), more than the ${LAYER_NORM_MAX_WIDTH} supported`);
    // [B, S, G, C/G] -> [B, G, S, C/G]: each group's values as one row.
    const rows = reshape(transpose(reshape(x, [B, S, G, C / G]), [0, 2, 1, 3]), [B, G, width]);
    const normed = transpose(reshape(layerNormOp(rows, { epsilon }), [B, G, S, C / G]), [0, 2, 1, 3]);
    let y = reshape(normed, x.shape);
    if (g >= 0) y = mul(y, p[g]);
    if (b >= 0) y = add(y, p[b]);
    return y;
  };
  return { step, comparisons: true, exactOnly: true };
}

/**
 * Keras's UnitNormalization over the last axis: x / ||x|| (Keras: x min(rsqrt(sum x^2), 1e12), the
 * same but for rows of norm below 1e-12), as RMSNormalization's steps times 1/sqrt(n): x /
 * sqrt(mean(x^2)) = sqrt(n) x / ||x||. A row of zeros gives zeros, as Keras's.
 */
/** UnitNormalization's epsilon on the mean square of a row of n values: Keras's 1e-12 floor on the sum. */
export const unitNormEpsilon = (n: number): number => 1e-12 / n;

export function unitNorm(l: LayerConfig): LayerPlan {
  const c = settings(l, { axis: lastAxis });
  const checkAxis = lastAxisOnly(l, c.axis);
  const step = () => ([x]: AnyTensor[]) => {
    checkAxis(x);
    const width = rowWidth(l, x);
    // (An epsilon far below any row's mean square but 0's.)
    return mul(layerNormOp(x, { epsilon: unitNormEpsilon(width), centred: false }), 1 / Math.sqrt(width));
  };
  return { step, comparisons: true, exactOnly: true };
}
